//! The FUSE bridge as a session mounts it: each projected mount point is a FUSE mount of
//! that subtree of the session's name space.

use std::path::Path;
use std::sync::Arc;

use ninefold_fs::Tree;
use ninefold_fuse::{MountOptions, mount};
use ninefold_hostfs::HostTree;
use ninefold_procfs::ReaderView;
use ninefold_session::{FuseMount, FuseMounter};

/// Where Linux programs look for processes.
const PROC: &str = "/proc";

/// This machine's /proc as a read-only tree, if /proc is Linux's proc file system now.
fn local_proc() -> Option<Arc<dyn Tree>> {
    let fs = rustix::fs::statfs(PROC).ok()?;
    if fs.f_type != rustix::fs::PROC_SUPER_MAGIC {
        return None;
    }
    Some(Arc::new(HostTree::new(Path::new(PROC), true).ok()?))
}

pub fn mounter() -> FuseMounter {
    let user = std::env::var("USER").unwrap_or_else(|_| "none".into());
    // Opened now, before anything is mounted over /proc. Whatever the session mounts
    // there later (another machine's /proc, for procps) is shown with each reader's own
    // process directory from this one: Linux programs look themselves up in /proc.
    let near = local_proc();
    Arc::new(move |tree, at| {
        let user = user.clone();
        let tree: Arc<dyn Tree> = match &near {
            Some(near) if at == Path::new(PROC) => Arc::new(ReaderView::new(
                tree,
                near.clone(),
                Arc::new(ninefold_fuse::caller),
            )),
            _ => tree,
        };
        Box::pin(async move {
            // The session never uses its mounts itself; its libraries may try (glibc
            // reads /proc/sys/vm/overcommit_memory by name), and must not wait on them.
            let opts = MountOptions {
                refuse_own_process: true,
                ..MountOptions::default()
            };
            let m = mount(tree, &user, "", &at, opts).await?;
            Ok(Box::new(m) as Box<dyn std::any::Any + Send>) as FuseMount
        })
    })
}
