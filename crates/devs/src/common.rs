//! What the four devices share: open-mode checks, stat entries, names, locks.

use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ninefold_fs::{DirCursor, Error, Qid, Result, Stat};
use ninefold_proto::om;

/// The longest name `#e` and `#s` accept for a new file.
pub(crate) const MAX_NAME: usize = 255;

/// Locks `m`, carrying on after a panic elsewhere: every critical section here leaves the
/// state consistent at each step, so a poisoned lock holds nothing half-done.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether an open mode reads and whether it writes (OEXEC reads, as Plan 9's `openmode`).
pub(crate) fn access(mode: u8) -> (bool, bool) {
    match mode & om::OACCMODE {
        om::OWRITE => (false, true),
        om::ORDWR => (true, true),
        _ => (true, false),
    }
}

/// Checks an open of a file whose permission bits are `perm`: anyone may do what any of
/// the owner, group or other bits allow (these devices do not check users). OTRUNC needs
/// write permission.
pub(crate) fn check_open(perm: u32, mode: u8) -> Result<()> {
    let (read, write) = access(mode);
    let write = write || mode & om::OTRUNC != 0;
    if (read && perm & 0o444 == 0) || (write && perm & 0o222 == 0) {
        return Err(Error::PERM);
    }
    Ok(())
}

/// Checks an open of a directory: reading only, no OTRUNC.
pub(crate) fn check_open_dir(mode: u8) -> Result<()> {
    match access(mode) {
        (true, false) if mode & om::OTRUNC == 0 => Ok(()),
        _ => Err(Error::IS_DIR),
    }
}

/// The count a write reports for `len` bytes.
pub(crate) fn written(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Seconds since the epoch, as a stat's times carry them.
pub(crate) fn now_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// A stat entry owned by `owner`.
pub(crate) fn stat(qid: Qid, mode: u32, length: u64, name: &str, owner: &str) -> Stat {
    Stat {
        qid,
        mode,
        length,
        name: name.into(),
        uid: owner.into(),
        gid: owner.into(),
        muid: owner.into(),
        ..Stat::default()
    }
}

/// A directory read through `cursor`, listing afresh (with `list`) at offset 0.
pub(crate) fn read_dir(
    cursor: &mut DirCursor,
    offset: u64,
    count: u32,
    list: impl FnOnce() -> Vec<Stat>,
) -> Result<Bytes> {
    if cursor.wants_reload(offset) {
        cursor.reset(list());
    }
    cursor.read(offset, count)
}

/// Checks the name of a file to be made (or renamed to) in a flat directory.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(Error::BAD_ARG);
    }
    if name.len() > MAX_NAME {
        return Err(Error::NAME_TOO_LONG);
    }
    Ok(())
}

/// What a Twstat asks of a file in a flat directory, once checked against its current
/// stat `cur`. Fields equal to the current values are no change, so a client may send
/// back a whole stat it read; type, dev and qid are ignored.
#[derive(Debug, Default)]
pub(crate) struct WstatPlan {
    pub rename: Option<String>,
    pub length: Option<u64>,
    pub perm: Option<u32>,
    pub mtime: Option<u32>,
}

/// Turns a Twstat into a plan. `perm_ok` says whether permission changes are allowed,
/// `length_ok` whether the length may change; uid and gid never change.
pub(crate) fn plan_wstat(
    cur: &Stat,
    req: &Stat,
    perm_ok: bool,
    length_ok: bool,
) -> Result<WstatPlan> {
    let mut plan = WstatPlan::default();
    if !req.name.is_empty() && req.name != cur.name {
        check_name(&req.name)?;
        plan.rename = Some(req.name.clone());
    }
    if req.length != u64::MAX && req.length != cur.length {
        if !length_ok {
            return Err(Error::PERM);
        }
        plan.length = Some(req.length);
    }
    if req.mode != u32::MAX && req.mode != cur.mode {
        // The file's type bits (DMDIR and the like) cannot change.
        if !perm_ok || req.mode & !0o777 != cur.mode & !0o777 {
            return Err(Error::PERM);
        }
        plan.perm = Some(req.mode & 0o777);
    }
    if (!req.uid.is_empty() && req.uid != cur.uid) || (!req.gid.is_empty() && req.gid != cur.gid) {
        return Err(Error::PERM);
    }
    if req.mtime != u32::MAX && req.mtime != cur.mtime {
        plan.mtime = Some(req.mtime);
    }
    Ok(plan)
}

/// A Twstat on a file nothing may change: allowed only if it asks for no change (a sync,
/// or a stat sent back as it was read).
pub(crate) fn wstat_nothing(cur: &Stat, req: &Stat) -> Result<()> {
    let plan = plan_wstat(cur, req, false, false)?;
    if plan.rename.is_some() || plan.mtime.is_some() {
        return Err(Error::PERM);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("a").is_ok());
        for bad in ["", ".", "..", "a/b", "a\0"] {
            assert_eq!(check_name(bad), Err(Error::BAD_ARG), "{bad:?}");
        }
        assert_eq!(check_name(&"x".repeat(256)), Err(Error::NAME_TOO_LONG));
    }

    #[test]
    fn open_modes() {
        assert!(check_open(0o444, om::OREAD).is_ok());
        assert!(check_open(0o444, om::OEXEC).is_ok());
        assert_eq!(check_open(0o444, om::OWRITE), Err(Error::PERM));
        assert_eq!(check_open(0o444, om::ORDWR), Err(Error::PERM));
        assert_eq!(check_open(0o222, om::OREAD), Err(Error::PERM));
        assert_eq!(check_open(0o444, om::OREAD | om::OTRUNC), Err(Error::PERM));
        assert!(check_open_dir(om::OREAD).is_ok());
        assert_eq!(check_open_dir(om::OREAD | om::OTRUNC), Err(Error::IS_DIR));
        assert_eq!(check_open_dir(om::OWRITE), Err(Error::IS_DIR));
    }
}
