//! Host metadata as 9P: qids that never collide across filesystems, stat entries, and the
//! user and group names they carry.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ninefold_proto::dm::{DMDIR, PERM_MASK};
use ninefold_proto::{Qid, QidType, Stat};
use nix::unistd::{Gid, Group, Uid, User};
use rustix::fs::FileType;

/// Host metadata, as `fstat` gives it.
pub(crate) type HostStat = rustix::fs::Stat;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded maps stay consistent even if a holder panicked.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Numbers the devices seen beneath the root: 0, 1, 2… in order of appearance. The root's
/// device is registered first, so there qid.path is the inode number itself.
#[derive(Debug, Default)]
pub(crate) struct DevTable(Mutex<Vec<u64>>);

impl DevTable {
    fn index(&self, dev: u64) -> u64 {
        let mut devs = lock(&self.0);
        let i = match devs.iter().position(|&d| d == dev) {
            Some(i) => i,
            None => {
                devs.push(dev);
                devs.len() - 1
            }
        };
        // Only the top byte is free: past 256 devices, indices share it.
        (i as u64) & 0xff
    }

    /// qid.path: the inode, with the device's index in the top byte.
    pub(crate) fn path(&self, st: &HostStat) -> u64 {
        #[allow(clippy::unnecessary_cast)] // c_ulong: u64 here, u32 on 32-bit targets
        let (dev, ino) = (st.st_dev as u64, st.st_ino as u64);
        ino ^ (self.index(dev) << 56)
    }
}

pub(crate) fn is_dir(st: &HostStat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

pub(crate) fn is_symlink(st: &HostStat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Symlink
}

pub(crate) fn is_regular(st: &HostStat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
}

/// The qid of a host file: its version follows the modification time.
pub(crate) fn qid(devs: &DevTable, st: &HostStat) -> Qid {
    let version = (st.st_mtime as u32) ^ (st.st_mtime_nsec as u32);
    Qid {
        ty: if is_dir(st) {
            QidType::DIR
        } else {
            QidType::FILE
        },
        version,
        path: devs.path(st),
    }
}

/// User and group names by number, looked up once each (the lookup may ask NSS, which can
/// be slow, so callers outside blocking threads check [`Names::cached`] first).
#[derive(Debug, Default)]
pub(crate) struct Names {
    users: Mutex<HashMap<u32, String>>,
    groups: Mutex<HashMap<u32, String>>,
}

impl Names {
    /// The owner and group names of `st`, if both are already known.
    pub(crate) fn cached(&self, st: &HostStat) -> Option<(String, String)> {
        let user = lock(&self.users).get(&st.st_uid).cloned()?;
        let group = lock(&self.groups).get(&st.st_gid).cloned()?;
        Some((user, group))
    }

    /// The owner and group names of `st`; numbers when the system has no name for them.
    pub(crate) fn lookup(&self, st: &HostStat) -> (String, String) {
        (self.user(st.st_uid), self.group(st.st_gid))
    }

    pub(crate) fn user(&self, uid: u32) -> String {
        if let Some(name) = lock(&self.users).get(&uid) {
            return name.clone();
        }
        let name = match User::from_uid(Uid::from_raw(uid)) {
            Ok(Some(u)) => u.name,
            _ => uid.to_string(),
        };
        lock(&self.users).insert(uid, name.clone());
        name
    }

    pub(crate) fn group(&self, gid: u32) -> String {
        if let Some(name) = lock(&self.groups).get(&gid) {
            return name.clone();
        }
        let name = match Group::from_gid(Gid::from_raw(gid)) {
            Ok(Some(g)) => g.name,
            _ => gid.to_string(),
        };
        lock(&self.groups).insert(gid, name.clone());
        name
    }

    /// The group called `name`; a number names itself, as [`Names::group`] prints unknown
    /// groups that way.
    pub(crate) fn gid_of(&self, name: &str) -> Option<u32> {
        match Group::from_name(name) {
            Ok(Some(g)) => Some(g.gid.as_raw()),
            _ => name.parse().ok(),
        }
    }
}

/// A 9P stat entry for a host file called `name`.
pub(crate) fn to_stat(
    devs: &DevTable,
    st: &HostStat,
    name: String,
    owner: (String, String),
) -> Stat {
    let dir = is_dir(st);
    let (uid, gid) = owner;
    let (atime, mtime) = (st.st_atime as u32, st.st_mtime as u32);
    Stat {
        ty: 0,
        dev: 0,
        qid: qid(devs, st),
        mode: (st.st_mode & PERM_MASK) | if dir { DMDIR } else { 0 },
        atime,
        mtime,
        length: if dir {
            0
        } else {
            u64::try_from(st.st_size).unwrap_or(0)
        },
        name,
        muid: uid.clone(),
        uid,
        gid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_numbered_in_order_and_stay_put() {
        let t = DevTable::default();
        assert_eq!(t.index(77), 0);
        assert_eq!(t.index(5), 1);
        assert_eq!(t.index(77), 0);
        assert_eq!(t.index(9), 2);
    }
}
