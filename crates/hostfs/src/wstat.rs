//! Twstat: change what the request does not mark "don't touch", after checking all of it.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use ninefold_fs::{Error, Result};
use ninefold_proto::Stat;
use ninefold_proto::dm::DMDIR;
use rustix::fs::{
    AtFlags, Gid, Mode, OFlags, RenameFlags, Timespec, Timestamps, UTIME_OMIT, chmod, chownat,
    fchmod, fstat, fsync, ftruncate, renameat, renameat_with, statat, utimensat,
};
use rustix::io::Errno;

use crate::io::blocking;
use crate::node::{HostNode, OpenFile, StateRef, lock};
use crate::resolve::{check_name, errno, open_beneath, open_self};
use crate::stat::{HostStat, is_dir};
use crate::tree::Shared;

/// The changes one request asks for, all checked before any is made.
#[derive(Debug, Default)]
struct Plan {
    truncate: Option<u64>,
    chmod: Option<u32>,
    chgrp: Option<u32>,
    times: Option<Timestamps>,
    rename: Option<String>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.truncate.is_none()
            && self.chmod.is_none()
            && self.chgrp.is_none()
            && self.times.is_none()
            && self.rename.is_none()
    }
}

/// What the node has open, if anything: fchmod and ftruncate want a real fd.
struct Opened {
    fd: Arc<OwnedFd>,
    writable: bool,
}

pub(crate) async fn wstat(node: &HostNode, req: &Stat) -> Result<()> {
    // A wstat that changes nothing is how 9P clients ask for fsync: allowed when read-only.
    if *req != Stat::dont_touch() {
        node.shared.check_writable()?;
    }
    let (path, held, open) = {
        let st = lock(&node.state);
        let open = st.open.as_ref().map(|o| Opened {
            fd: o.fd().clone(),
            writable: matches!(o, OpenFile::File { writable: true, .. }),
        });
        (st.path.clone(), st.fd.clone(), open)
    };
    let shared = node.shared.clone();
    let state = node.state.clone();
    let req = req.clone();
    blocking(move || apply(&shared, &state, &path, &held, open, &req)).await
}

/// Turns a request into a plan, refusing what cannot be done. Fields equal to the current
/// values are no change, so a client may send back a whole stat it read.
fn plan(shared: &Shared, path: &[String], host: &HostStat, req: &Stat) -> Result<Plan> {
    let dir = is_dir(host);
    let mut plan = Plan::default();
    if !req.name.is_empty() && path.last() != Some(&req.name) {
        if path.is_empty() {
            return Err(Error::PERM);
        }
        check_name(&req.name)?;
        plan.rename = Some(req.name.clone());
    }
    let size = if dir {
        0
    } else {
        u64::try_from(host.st_size).unwrap_or(0)
    };
    if req.length != u64::MAX && req.length != size {
        if dir {
            return Err(Error::IS_DIR);
        }
        plan.truncate = Some(req.length);
    }
    if req.mode != u32::MAX {
        if (req.mode & DMDIR != 0) != dir {
            return Err(Error::BAD_ARG);
        }
        if req.mode & 0o777 != host.st_mode & 0o777 {
            // 9P2000 cannot express set-id and sticky bits: keep the host's.
            plan.chmod = Some((host.st_mode & 0o7000) | (req.mode & 0o777));
        }
    }
    if !req.uid.is_empty() && req.uid != shared.names.user(host.st_uid) {
        return Err(Error::PERM);
    }
    if !req.gid.is_empty() && req.gid != shared.names.group(host.st_gid) {
        plan.chgrp = Some(shared.names.gid_of(&req.gid).ok_or(Error::BAD_ARG)?);
    }
    // A time equal to the current one (in whole seconds) keeps its nanoseconds.
    let (atime, mtime) = (host.st_atime as u32, host.st_mtime as u32);
    let keep = |want: u32, now: u32| if want == now { u32::MAX } else { want };
    let (atime, mtime) = (keep(req.atime, atime), keep(req.mtime, mtime));
    if atime != u32::MAX || mtime != u32::MAX {
        let time = |t: u32| Timespec {
            tv_sec: t.into(),
            tv_nsec: if t == u32::MAX { UTIME_OMIT } else { 0 },
        };
        plan.times = Some(Timestamps {
            last_access: time(atime),
            last_modification: time(mtime),
        });
    }
    Ok(plan)
}

fn apply(
    shared: &Shared,
    state: &StateRef,
    path: &[String],
    held: &OwnedFd,
    open: Option<Opened>,
    req: &Stat,
) -> Result<()> {
    let root = shared.root.as_fd();
    let host = fstat(held).map_err(errno)?;
    let plan = plan(shared, path, &host, req)?;
    if plan.is_empty() {
        // A wstat that changes nothing asks for the file to reach the disk.
        if let Some(o) = &open {
            fsync(&*o.fd).map_err(errno)?;
        }
        return Ok(());
    }
    // The file must still be at its path beneath the root.
    open_self(root, path, held, OFlags::PATH)?;
    // All or nothing (stat(5)): take everything that can be refused before changing
    // anything, rename first since it is what most often fails, and undo the rename if a
    // later step fails after all.
    let trunc_fd = match (plan.truncate, &open) {
        (None, _) => None,
        (Some(_), Some(o)) if o.writable => Some(o.fd.clone()),
        (Some(_), _) => Some(Arc::new(open_self(
            root,
            path,
            held,
            OFlags::WRONLY | OFlags::NONBLOCK,
        )?)),
    };
    let changes_inode = plan.chmod.is_some() || plan.chgrp.is_some() || plan.times.is_some();
    let euid = rustix::process::geteuid();
    if changes_inode && !euid.is_root() && host.st_uid != euid.as_raw() {
        return Err(Error::PERM);
    }
    let renamed = match &plan.rename {
        None => None,
        Some(new) => {
            let Some((old, parent_path)) = path.split_last() else {
                return Err(Error::PERM);
            };
            let parent = open_beneath(root, parent_path, OFlags::PATH | OFlags::DIRECTORY)?;
            rename_noreplace(&parent, old, new)?;
            Some((parent, old.clone(), new.clone()))
        }
    };
    let rest = change_inode(held, &open, trunc_fd.as_deref(), &plan);
    match (rest, renamed) {
        (Err(e), Some((parent, old, new))) => {
            if let Err(undo) = rename_noreplace(&parent, &new, &old) {
                tracing::warn!(error = %undo, "could not undo a rename after a failed wstat");
            }
            Err(e)
        }
        (Err(e), None) => Err(e),
        (Ok(()), Some((_, _, new))) => {
            if let Some(last) = lock(state).path.last_mut() {
                *last = new;
            }
            Ok(())
        }
        (Ok(()), None) => Ok(()),
    }
}

/// The changes that stay with the inode: length, mode, group, times.
fn change_inode(
    held: &OwnedFd,
    open: &Option<Opened>,
    trunc_fd: Option<&OwnedFd>,
    plan: &Plan,
) -> Result<()> {
    if let (Some(len), Some(fd)) = (plan.truncate, trunc_fd) {
        ftruncate(fd, len).map_err(errno)?;
    }
    if let Some(mode) = plan.chmod {
        let mode = Mode::from_raw_mode(mode);
        match open {
            Some(o) => fchmod(&*o.fd, mode).map_err(errno)?,
            None => chmod_held(held, mode)?,
        }
    }
    if let Some(gid) = plan.chgrp {
        chownat(
            held,
            "",
            None,
            Some(Gid::from_raw(gid)),
            AtFlags::EMPTY_PATH,
        )
        .map_err(errno)?;
    }
    if let Some(times) = &plan.times {
        utimensat(held, "", times, AtFlags::EMPTY_PATH).map_err(errno)?;
    }
    Ok(())
}

/// chmod of a file known only by an `O_PATH` fd. Linux refuses fchmod on those (and
/// fchmodat2's AT_EMPTY_PATH is not wrapped by rustix), so go through the fd's own entry
/// in /proc: it names exactly this file, and no client-supplied name is involved.
fn chmod_held(held: &OwnedFd, mode: Mode) -> Result<()> {
    let proc_path = format!("/proc/self/fd/{}", held.as_raw_fd());
    chmod(proc_path.as_str(), mode).map_err(|e| match e {
        Errno::NOENT => Error::NOT_SUPPORTED,
        e => errno(e),
    })
}

/// Renames within one directory, refusing to replace an existing name as Plan 9 does.
fn rename_noreplace(dir: &OwnedFd, old: &str, new: &str) -> Result<()> {
    match renameat_with(dir, old, dir, new, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // A filesystem without RENAME_NOREPLACE: check, then rename.
        Err(Errno::INVAL) => match statat(dir, new, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Err(Error::EXISTS),
            Err(Errno::NOENT) => renameat(dir, old, dir, new).map_err(errno),
            Err(e) => Err(errno(e)),
        },
        Err(e) => Err(errno(e)),
    }
}
