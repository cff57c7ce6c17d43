//! Making and removing directory entries, always in a directory resolved beneath the root.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use ninefold_fs::{DirCursor, Error, Opened, Result};
use ninefold_proto::dm::DMDIR;
use ninefold_proto::om::{OACCMODE, ORDWR, OTRUNC, OWRITE};
use rustix::fs::{AtFlags, Mode, OFlags, fchmod, fstat, mkdirat, openat, statat, unlinkat};
use rustix::io::Errno;

use crate::io::blocking;
use crate::node::{HostNode, OpenFile, lock};
use crate::resolve::{check_name, errno, open_beneath, open_self};
use crate::stat::{is_dir, qid};

/// Plan 9's rule: a new file takes its read/write bits only where the directory has them
/// (execute bits as asked); a new directory, all its bits.
fn new_perm(perm: u32, dir_perm: u32) -> u32 {
    let keep = if perm & DMDIR != 0 { 0o777 } else { 0o666 };
    perm & (!keep | (dir_perm & keep)) & 0o777
}

/// Gives a new file exactly `perm`: Plan 9's rule replaces the host umask, and the client
/// has applied its own umask already. Inherited set-id and sticky bits are kept.
fn set_exact_perm(fd: &OwnedFd, perm: u32) -> Result<()> {
    let st = fstat(fd).map_err(errno)?;
    if st.st_mode & 0o777 != perm {
        fchmod(fd, Mode::from_raw_mode((st.st_mode & 0o7000) | perm)).map_err(errno)?;
    }
    Ok(())
}

/// Creates `name` in the directory `node`, which then refers to the new file, open.
pub(crate) async fn create(node: &HostNode, name: &str, perm: u32, mode: u8) -> Result<Opened> {
    node.shared.check_writable()?;
    check_name(name)?;
    let acc = mode & OACCMODE;
    let writing = acc == OWRITE || acc == ORDWR;
    if perm & DMDIR != 0 && (writing || mode & OTRUNC != 0) {
        return Err(Error::IS_DIR);
    }
    let shared = node.shared.clone();
    let state = node.state.clone();
    let (path, held) = node.snapshot();
    let name = name.to_owned();
    blocking(move || {
        if !is_dir(&fstat(&held).map_err(errno)?) {
            return Err(Error::NOT_DIR);
        }
        let dir = open_self(
            shared.root.as_fd(),
            &path,
            &held,
            OFlags::PATH | OFlags::DIRECTORY,
        )?;
        let dir_perm = fstat(&dir).map_err(errno)?.st_mode & 0o777;
        let perm_now = new_perm(perm, dir_perm);
        let fd = if perm & DMDIR != 0 {
            // Owner rwx at first, so the new directory can be opened to set its bits.
            mkdirat(&dir, name.as_str(), Mode::from_raw_mode(perm_now | 0o700)).map_err(errno)?;
            let opened = openat(
                &dir,
                name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno)
            .and_then(|fd| set_exact_perm(&fd, perm_now).map(|()| fd));
            if opened.is_err() {
                let _ = unlinkat(&dir, name.as_str(), AtFlags::REMOVEDIR);
            }
            opened?
        } else {
            let access = match acc {
                OWRITE => OFlags::WRONLY,
                ORDWR => OFlags::RDWR,
                _ => OFlags::RDONLY,
            };
            // O_EXCL: never through a symlink, never onto an existing file.
            let flags = access | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOCTTY;
            let fd =
                openat(&dir, name.as_str(), flags, Mode::from_raw_mode(perm_now)).map_err(errno)?;
            set_exact_perm(&fd, perm_now)?;
            fd
        };
        let fd = Arc::new(fd);
        let qid = qid(&shared.devs, &fstat(&fd).map_err(errno)?);
        let open = if perm & DMDIR != 0 {
            OpenFile::Dir {
                fd: fd.clone(),
                cursor: DirCursor::new(),
            }
        } else {
            OpenFile::File {
                fd: fd.clone(),
                writable: writing,
            }
        };
        let mut st = lock(&state);
        st.path.push(name);
        st.fd = fd;
        st.qid = qid;
        st.open = Some(open);
        Ok(Opened { qid, iounit: 0 })
    })
    .await
}

/// Removes the node's file (rmdir for a directory) through its parent directory. The node
/// is clunked whether or not that succeeds.
pub(crate) async fn remove(node: &HostNode) -> Result<()> {
    lock(&node.state).open = None;
    node.shared.check_writable()?;
    let (path, held) = node.snapshot();
    let Some((name, parent_path)) = path.split_last() else {
        return Err(Error::PERM);
    };
    let (name, parent_path) = (name.clone(), parent_path.to_vec());
    let shared = node.shared.clone();
    blocking(move || {
        let root = shared.root.as_fd();
        let parent = open_beneath(root, &parent_path, OFlags::PATH | OFlags::DIRECTORY)?;
        // The name must still lead to this node's file; what sits at the name itself (a
        // symlink, if the walk came through one) is what goes.
        open_self(root, &path, &held, OFlags::PATH)?;
        let entry = statat(&parent, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
        let flags = if is_dir(&entry) {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        unlinkat(&parent, name.as_str(), flags).map_err(|e| match e {
            // POSIX lets rmdir of a non-empty directory say either.
            Errno::NOTEMPTY | Errno::EXIST => Error::NOT_EMPTY,
            e => errno(e),
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan9_permission_rule() {
        assert_eq!(new_perm(0o666, 0o755), 0o644);
        assert_eq!(new_perm(0o777, 0o750), 0o751);
        assert_eq!(new_perm(DMDIR | 0o777, 0o750), 0o750);
        assert_eq!(new_perm(DMDIR | 0o700, 0o777), 0o700);
    }
}
