//! Shared by the FUSE tests: a mount on a runtime of its own, skips when FUSE is not
//! available (failures when NINEFOLD_REQUIRE_PRIVILEGED=1), bounded waits.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use ninefold_fs::Tree;
use ninefold_fuse::{MountHandle, MountOptions, mount};

/// The longest any single step may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(20);

/// A tree mounted at a fresh directory. Dropping it unmounts (before the runtime goes),
/// also when the test failed.
pub struct Mounted {
    pub handle: Option<MountHandle>,
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
}

impl Mounted {
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    pub fn at(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    /// Unmounts now, returning the mount point.
    pub fn unmount(&mut self) -> PathBuf {
        if let Some(h) = self.handle.take() {
            h.unmount().unwrap();
        }
        self.path()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        drop(self.handle.take());
    }
}

/// Why FUSE tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        return Some(format!("cannot open /dev/fuse: {e}"));
    }
    None
}

fn skip(why: &str) -> Option<Mounted> {
    if std::env::var("NINEFOLD_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("FUSE test cannot run and NINEFOLD_REQUIRE_PRIVILEGED=1: {why}");
    }
    // Straight to stderr: libtest captures eprintln!, and a skip should be seen.
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
    None
}

/// How the mounted tree is reached.
#[derive(Debug, Clone, Copy)]
pub enum Via {
    /// The tree itself.
    Direct,
    /// The tree served by ninefold's 9P server and reached through its client over an
    /// in-memory pipe: cancelling a call is then a Tflush.
    Served,
}

/// Mounts `tree` as `via` says.
pub fn mount_via(via: Via, tree: Arc<dyn Tree>, opts: MountOptions) -> Option<Mounted> {
    match via {
        Via::Direct => mount_tree(tree, opts),
        Via::Served => mount_with(opts, move || async move {
            let (a, b) = tokio::io::duplex(1 << 20);
            tokio::spawn(ninefold_server::serve_stream(
                tree,
                b,
                ninefold_server::Config::default(),
            ));
            let c = ninefold_client::Client::connect_stream(a, 1 << 20)
                .await
                .unwrap();
            Arc::new(c) as Arc<dyn Tree>
        }),
    }
}

/// Mounts `tree` (attached as "glenda"), or says why not and returns None.
pub fn mount_tree(tree: Arc<dyn Tree>, opts: MountOptions) -> Option<Mounted> {
    mount_with(opts, move || async move { tree })
}

/// Mounts the tree `make` gives (made on the mount's runtime).
pub fn mount_with<F, Fut>(opts: MountOptions, make: F) -> Option<Mounted>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn Tree>>,
{
    if let Some(why) = unavailable() {
        return skip(&why);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::Builder::new()
        .prefix("ninefold-fuse-")
        .tempdir()
        .unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let r = rt.block_on(async {
        let tree = make().await;
        tokio::time::timeout(LIMIT, mount(tree, "glenda", "", &mnt, opts)).await
    });
    match r {
        Ok(Ok(handle)) => Some(Mounted {
            handle: Some(handle),
            rt,
            dir,
        }),
        Ok(Err(e)) if matches!(e.raw_os_error(), Some(1 | 13)) => {
            skip(&format!("no privilege to mount FUSE: {e}"))
        }
        Ok(Err(e)) => panic!("mount failed: {e}"),
        Err(_) => panic!("mount timed out"),
    }
}

/// Runs `f` on a thread of its own; fails the test if it takes longer than `LIMIT`.
pub fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    within(what, LIMIT, f)
}

pub fn within<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        // The closure panicked: fail with its message.
        Err(mpsc::RecvTimeoutError::Disconnected) => match t.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => panic!("{what}: ended without an answer"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no answer within {limit:?}"),
    }
}

/// Whether `path` is a mount point in this process's namespace.
pub fn is_mounted(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.to_str().unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(p))
}

/// Names in a directory, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}
