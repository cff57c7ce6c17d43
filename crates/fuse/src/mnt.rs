//! mount(2) and umount2(2) of the FUSE file system, and how we recognise our own mount.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::Path;

use rustix::fs::{AtFlags, CWD, StatxFlags, statx};
use rustix::mount::{MountFlags, UnmountFlags};

use crate::MountOptions;
use crate::conn::Conn;

/// Mounts the connection at `target` (an absolute path).
pub(crate) fn mount(
    conn: &Conn,
    target: &Path,
    opts: &MountOptions,
    uid: u32,
    gid: u32,
) -> std::io::Result<()> {
    let mut data = format!(
        "fd={},rootmode=40000,user_id={uid},group_id={gid}",
        conn.fd().as_raw_fd()
    );
    if opts.allow_other {
        data.push_str(",allow_other");
    }
    if opts.default_permissions {
        data.push_str(",default_permissions");
    }
    let data = CString::new(data).map_err(std::io::Error::other)?;
    let mut flags = MountFlags::NOSUID | MountFlags::NODEV;
    if opts.read_only {
        flags |= MountFlags::RDONLY;
    }
    let fsname = if opts.fsname.is_empty() || opts.fsname.contains('\0') {
        "ninefold"
    } else {
        opts.fsname.as_str()
    };
    rustix::mount::mount(fsname, target, "fuse.ninefold", flags, data.as_c_str())?;
    Ok(())
}

/// What identifies a mount: device and mount id of what `path` resolves to. Read with
/// AT_STATX_DONT_SYNC, so the FUSE server is never asked (it may be us, or gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ident {
    dev: (u32, u32),
    mnt_id: u64,
}

pub(crate) fn ident(path: &Path) -> Option<Ident> {
    let st = statx(
        CWD,
        path,
        AtFlags::STATX_DONT_SYNC | AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
    )
    .ok()?;
    Some(Ident {
        dev: (st.stx_dev_major, st.stx_dev_minor),
        mnt_id: st.stx_mnt_id,
    })
}

/// Detaches our mount at `path`, unless something else is mounted there now (ours was
/// unmounted by someone else, or covered by a later mount): then it is left alone.
pub(crate) fn detach(path: &Path, ours: Option<Ident>) -> std::io::Result<()> {
    if let Some(ours) = ours
        && ident(path) != Some(ours)
    {
        return Ok(());
    }
    match rustix::mount::unmount(path, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW) {
        Ok(()) => Ok(()),
        // Not a mount point (any more): nothing to do.
        Err(rustix::io::Errno::INVAL) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
