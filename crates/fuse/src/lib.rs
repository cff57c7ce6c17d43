//! The FUSE bridge: any ninefold [`Tree`] mounted at a Linux directory.
//!
//! ```no_run
//! # async fn f(tree: std::sync::Arc<dyn ninefold_fs::Tree>) -> std::io::Result<()> {
//! use ninefold_fuse::{MountOptions, mount};
//! let m = mount(tree, "glenda", "", "/n/net".as_ref(), MountOptions::default()).await?;
//! // … programs use /n/net …
//! m.unmount()?; // or drop it
//! # Ok(()) }
//! ```
//!
//! # Design
//!
//! The FUSE protocol is spoken directly over `/dev/fuse` (module `abi`: requests parsed
//! with bounds checks into owned values, replies encoded by hand), mounted with mount(2)
//! (`fd=N,rootmode=…,user_id=…`; fstype `fuse.ninefold`). No FUSE crate is used:
//! fuser 0.18 answers FUSE_INTERRUPT with ENOSYS (after which the kernel never sends
//! another, so a reader killed by Ctrl-C would hang until data came), and fuse3 needs Rust
//! 1.91 and unmounts by path with a plain umount. Speaking the protocol ourselves costs
//! about as much code as adapting either, and needs no dependency beyond rustix.
//!
//! - **Threads and tasks**: one thread (`ninefold-fuse`) polls the device and a stop pipe
//!   and reads requests. Every request but FORGET and INTERRUPT runs in a tokio task of
//!   its own on the runtime that called [`mount`], and replies when the tree answers, so
//!   a read blocked on a `/net` data file or a pipe holds up nothing else. POLL never
//!   waits on the tree; the reads it starts are tasks of their own. Trees and the
//!   I/O objects they make belong to that runtime, as they would anyway.
//! - **Interrupts**: FUSE_INTERRUPT (a signal to a blocked caller) fires the
//!   cancellation of the request it names: its future is dropped — for a 9P tree that is
//!   a Tflush — and the request answers EINTR. Unless every signal pending for the caller
//!   is a housekeeping one it catches (SIGCHLD, SIGWINCH …: see `signals`): then the
//!   request goes on, as a Linux file's wait would restart. With a single reader an interrupt is always
//!   read after its request, so an interrupt whose request is not in flight was answered
//!   already and is ignored. POLL, which answers within moments, is not interrupted (the
//!   kernel would show an EINTR answer as POLLERR).
//! - **Every request is answered once**: a reply object answers EIO if dropped unanswered
//!   (a tree that panicked, a runtime shut down).
//!
//! # What maps to what
//!
//! | FUSE | tree |
//! |---|---|
//! | inode | one qid (path, and whether a directory) ↔ one node id, holding an *unopened* node of the file and the parent and name it was found by; the most recent lookup's node replaces the older one (a host tree's nodes are lexical paths) |
//! | LOOKUP | from the stat the parent's most recent READDIR brought, if younger than the shorter of the entry and attribute timeouts and nothing was changed through the mount since: no call at all, the inode's node is walked (from its parent) when first needed; else `walk1` from the parent's node, then `stat`. `.` is the parent itself, `..` never reaches the tree (the kernel resolves it) |
//! | FORGET, BATCH_FORGET | drop the kernel's references; at zero the inode and its node go (clunked): memory stays bounded by what the kernel caches |
//! | OPEN | `clone_node` of the inode's node, then `open`: *every open is its own fid*, so opening `/net/tcp/clone` gives the ctl of a new conversation and reads of that file handle read that ctl |
//! | RELEASE | `clunk` of that fid |
//! | FLUSH | never sent: every open says FOPEN_NOFLUSH (and a FLUSH gets ENOSYS, after which the kernel sends none), so close(2) never waits on the bridge |
//! | READ, WRITE | `read`/`write` of the open fid at the kernel's offset, as given |
//! | OPENDIR, READDIR, READDIRPLUS | a fid per open directory; READDIRPLUS (the kernel picks it when lookups follow listings, as `ls -l`'s do) gives each entry the inode and attributes a LOOKUP would answer from the same stat, so a listing needs no LOOKUP at all; 9P directory reads in order (the offset rule), entries kept, the kernel's offsets served as indices into them (`.` and `..` first); offset 0 reloads (rewinddir) — except that a directory the server versions (qid.version ≠ 0: a host directory, never a synthetic one) read to its end less than the shorter timeout ago, with no change through the mount since, is listed again from that listing. The entries' stats are also kept for LOOKUP, per directory inode (at most 64 directories and 131,072 stats; a write, setattr, create, mkdir, mknod, unlink, rmdir or rename through the mount drops them all) |
//! | GETATTR | `stat` of the inode's node (of an inode not walked yet: the READDIR stat it was looked up from, while that is young enough), or of the open fid when the kernel names one (it does from read and write paths; fstat(2) stats the inode, so an fd opened on `clone` still shows clone's inode, as on v9fs) |
//! | SETATTR | one `wstat` with "don't touch" in every field not set: mode (permission bits), size, atime, mtime; chown to anyone but the mounting user: EPERM |
//! | CREATE, MKDIR, MKNOD (regular files) | `create` on a clone of the parent's node, then a `walk1` for the inode |
//! | UNLINK, RMDIR | `walk1`, then `remove` |
//! | RENAME in one directory | `wstat` of the name, after removing an existing target (Linux replaces, 9P does not; not atomic) |
//! | RENAME across directories | EXDEV (mv copies) |
//! | SYMLINK, LINK, READLINK, other MKNODs | EPERM: 9P2000 has none |
//! | FSYNC | a `wstat` that changes nothing (9P's sync) |
//! | STATFS | zeros, names up to 255 bytes |
//! | POLL | a synthetic file open for reading: readable once a background `read` of its fid has brought something (below); anything else at once; writable always |
//! | ACCESS, xattrs, locks, lseek … | ENOSYS, which the kernel remembers: access(2) always succeeds (the tree checks on open), locks are local |
//!
//! Errors are the tree's Plan 9 strings mapped by [`ninefold_fs::Error::errno`].
//!
//! **Attributes**: `DMDIR` gives `S_IFDIR`, anything else `S_IFREG`, with the permission
//! bits; `DMAPPEND`, `DMEXCL` and the rest are not shown. Every file is owned by the
//! mounting user (euid and egid), whatever the tree's names are: 9P users are names, and
//! `id` inside must not surprise. st_ino is qid.path; nlink is 1 (for directories too,
//! so find(1) does not guess); size is the stat length; ctime is mtime; times in seconds.
//! The kernel may trust an entry and its attributes for [`MountOptions::entry_timeout`]
//! and [`MountOptions::attr_timeout`] (1 s by default).
//!
//! **Synthetic files and the page cache**: a file whose qid.version is 0 — the server
//! does not track versions, so nothing it returns can be cached — or whose qid says
//! append-only or exclusive is opened with `direct_io`: each read(2) is one tree read,
//! and returns what the tree returns whatever the stat length says (a `/net` ctl says 0).
//! So is a file opened only for reading whose size, as last told to the kernel, is 0:
//! through the page cache the kernel reads nothing past that size, and Linux's /proc
//! files (exported with `exportfs -r /proc`) stat as empty and are not; a file that is
//! empty reads as empty either way. (Opens for writing keep the page cache: the kernel
//! learns the sizes they write, and shared mmap, which direct_io refuses, keeps working.)
//! Other files (a host tree's: version from mtime) go through the page cache; its
//! contents are kept across opens only while qid.version is unchanged (`keep_cache`),
//! and the kernel also drops them when it sees size or mtime change (auto_inval_data).
//! [`DirectIo`] overrides the rule. Through the page cache a short read means end of
//! file, so a cached read is filled with as many tree reads as it takes; a direct one is
//! a single tree read, and a direct write a single tree write (its count is the answer).
//!
//! **poll, select and epoll** — readiness learned by reading, since a tree has no poll.
//! A synthetic file open for reading with direct_io (so a read(2) may wait) answers POLL
//! at once: readable (POLLIN) if its read-ahead slot holds bytes or an end of file,
//! POLLERR if it holds an error, and otherwise not readable — after starting, if none
//! runs yet, one background read of the open file's fid (as many bytes as the last
//! READ asked for, at least 64 KiB, at most the largest READ) at the offset the next
//! read(2) will come with. When that read ends its result goes into the slot and, if the
//! kernel asked (FUSE_POLL_SCHEDULE_NOTIFY with its handle `kh`), a FUSE_NOTIFY_POLL wakes
//! the pollers, who poll again. A poll that has just started a read waits up to 2 ms for
//! it, so a zero-timeout poll on a tree that answers at once sees what is there.
//! Writable (POLLOUT) is reported always; a handle open only for writing is never
//! readable. Files through the page cache, which never wait, are ready at once.
//!
//! - **Order**: the fid is read either by READs themselves or by the one background
//!   read, never both at once. A READ that comes while the background read runs waits for
//!   it and takes its result first; a poll that comes while READs run starts nothing and
//!   is woken when they end. A READ takes bytes from the slot up to its size, the rest
//!   stays for the next (bytes are given whatever the offset — a stream has none; an end
//!   of file or error only to a READ at the offset where it was met).
//! - **Nothing lost, memory bounded**: a result is stored in the same step that ends the
//!   background read and stays until read or released; one slot per open file, at most
//!   one READ's worth. RELEASE, an interrupted READ that was waiting for the background
//!   read, and unmount cancel a read still in flight (its future is dropped — a Tflush for
//!   a 9P tree — before the fid is clunked), never a result already in.
//! - read(2) never answers EAGAIN (O_NONBLOCK does not reach the tree): select, poll and
//!   level-triggered epoll loops, which read once per readiness, work; an edge-triggered
//!   loop that reads until EAGAIN blocks on its last read.
//!
//! **O_TRUNC** (`echo text > ctl`): FUSE_ATOMIC_O_TRUNC is negotiated, so the flag comes
//! with the open and becomes OTRUNC; a synthetic file (version 0) that refuses to open
//! with OTRUNC is opened without it. A kernel that sends SETATTR(size 0) after the open
//! instead gets success for it on a synthetic file even when the tree refuses the wstat.
//!
//! # Where this differs from a kernel 9P mount, and why
//!
//! - FUSE sees inodes, not fids: an inode's node is an unopened fid kept while the
//!   kernel caches the inode, and each open clones it, as v9fs does.
//! - Unknown or sloppy qids: two files with the same qid.path are one inode here (v9fs
//!   does the same).
//! - A host tree's nodes are lexical paths, so after a directory is renamed through the
//!   mount the nodes of what lies beneath it name the old path. Each inode remembers the
//!   parent and name it was last looked up by; a rename marks everything beneath the
//!   directory stale, and a stale inode is walked again from its nearest sound ancestor
//!   before its next use. (A rename made on the host directly is seen when the kernel's
//!   entries expire.)
//! - Ownership is always the mounting user (v9fs shows numeric ids of 9P2000.u); chown
//!   fails unless it is a no-op.
//! - rename replaces an existing target by removing it first (v9fs with 9P2000 fails);
//!   git and editors rename over files.
//! - poll works on synthetic files, by reading ahead; v9fs has no poll at all (every
//!   file is always ready there, so a select loop blocks in read(2)). The tree sees the
//!   Tread when the program polls rather than when it reads, and bytes read ahead belong
//!   to that open file: closed unread, they are gone, where on a kernel mount they would
//!   have stayed queued for another reader of the same pipe or connection.
//! - Blocking reads, interrupts and per-open fids behave as on a Plan 9 kernel mount.
//!   One Linux rule shows through: the kernel serialises writes to one file (a direct
//!   write past the stat length takes the inode lock), so a write blocked on a full pipe
//!   holds up other writes to that same file — not reads, and not other files.
//! - Linux resolves `..` itself, from its dentries; a tree's own idea of `..` (a union,
//!   a bind) is not asked.
//!
//! # Mounting and unmounting
//!
//! Mounting needs CAP_SYS_ADMIN in the user namespace owning the mount namespace (root,
//! or `unshare -Urm`) and access to `/dev/fuse` (mode 0600 on some hosts); the setuid
//! fusermount3 path for unprivileged users outside a user namespace is not here yet. Without `allow_other` only the mounting user may use the mount.
//! [`MountHandle::unmount`] (or dropping the handle) detaches the mount (MNT_DETACH, only
//! if what is mounted there is still ours), stops the session thread, cancels what is
//! in flight and closes `/dev/fuse`, which aborts the connection for anyone who still had
//! a file open; every fid is clunked. A child forked at that moment holds a copy of the
//! `/dev/fuse` descriptor until its exec closes it, which keeps the connection alive but
//! unserved meanwhile; since close(2) never sends FLUSH, the exec's closing of inherited
//! files of the mount does not wait on it, and the connection ends once the exec is done.

mod abi;
mod ahead;
mod bridge;
mod conn;
mod mnt;
mod prefetch;
mod session;
mod signals;

pub use signals::serving_own_thread;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ninefold_fs::Tree;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::bridge::{Bridge, Config};
use crate::conn::Conn;
use crate::session::{End, Session};

tokio::task_local! {
    /// The thread that made the request being served (see [`caller`]).
    static CALLER: u32;
}

/// While a tree serves a request that came through a FUSE mount: the id of the thread
/// that made it, in the pid namespace of the process that mounted (`None` for a caller
/// outside that namespace, and outside a request). A tree may show each process
/// something of its own (a /proc in which a process finds itself).
pub fn caller() -> Option<u32> {
    CALLER.try_with(|&tid| tid).ok().filter(|&tid| tid != 0)
}

/// Which open files bypass the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirectIo {
    /// Files with qid.version 0, or an append-only or exclusive qid (see the crate docs).
    #[default]
    Auto,
    /// Every file: each read(2) is one tree read. No mmap, no exec.
    Always,
    /// No file: only for trees whose stat lengths are true.
    Never,
}

/// How to mount.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// The source shown in /proc/mounts (`ninefold` by default).
    pub fsname: String,
    /// Let other users use the mount (the kernel's `allow_other`; for anyone but root this
    /// also needs `user_allow_other` in /etc/fuse.conf when mounting through fusermount).
    pub allow_other: bool,
    /// Let the kernel check permission bits (against the mounting user, who owns every
    /// file) instead of leaving every check to the tree.
    pub default_permissions: bool,
    /// Mount read-only (MS_RDONLY): the kernel refuses every change.
    pub read_only: bool,
    /// How long the kernel may cache attributes.
    pub attr_timeout: Duration,
    /// How long the kernel may cache a name's lookup.
    pub entry_timeout: Duration,
    pub direct_io: DirectIo,
    /// Answer requests made by the mounting process's own threads at once, with EDEADLK,
    /// instead of serving them. A process that serves its mount on its own runtime must
    /// never wait on that mount from it — and libraries do reach for files by name: glibc's
    /// malloc reads /proc/sys/vm/overcommit_memory, so with another /proc mounted over
    /// /proc a worker thread would wait for the runtime it blocks. For processes that
    /// never mean to use the mount themselves (a session); not for tests that mount and
    /// read in one process.
    pub refuse_own_process: bool,
}

impl Default for MountOptions {
    fn default() -> MountOptions {
        MountOptions {
            fsname: "ninefold".to_owned(),
            allow_other: false,
            default_permissions: false,
            read_only: false,
            attr_timeout: Duration::from_secs(1),
            entry_timeout: Duration::from_secs(1),
            direct_io: DirectIo::Auto,
            refuse_own_process: false,
        }
    }
}

/// Runs `f` — mount(2), umount2(2), anything that looks a path up — on a thread of the
/// blocking pool that this process's mounts serve ([`serving_own_thread`]). A path beneath
/// one of them (a mount on /mnt/term under a FUSE /mnt) is looked up through it, and a
/// mount made with `refuse_own_process` refuses the runtime's threads: from one of those
/// the call fails with EDEADLK.
pub async fn served_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(move || serving_own_thread(f))
        .await
        .map_err(std::io::Error::other)
}

/// How long [`mount`] waits for the kernel's INIT.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Attaches to `tree` as `uname` with `aname` and mounts the result at `mountpoint`.
/// Requests are served on the calling tokio runtime until the handle is dropped or
/// [`MountHandle::unmount`]ed.
///
/// Do not touch the mount from a thread the runtime needs to serve it (a current-thread
/// runtime's own thread): the request would wait for a task that cannot run.
pub async fn mount(
    tree: Arc<dyn Tree>,
    uname: &str,
    aname: &str,
    mountpoint: &Path,
    opts: MountOptions,
) -> std::io::Result<MountHandle> {
    let rt = Handle::try_current().map_err(std::io::Error::other)?;
    signals::open_proc();
    let mountpoint = {
        let m = mountpoint.to_path_buf();
        served_blocking(move || std::fs::canonicalize(m)).await??
    };
    let root = tree
        .attach(uname, aname)
        .await
        .map_err(|e| std::io::Error::from_raw_os_error(e.errno()))?;
    if !root.qid().is_dir() {
        root.clunk().await;
        return Err(std::io::Error::from_raw_os_error(20)); // ENOTDIR
    }
    let cfg = Config {
        uid: rustix::process::geteuid().as_raw(),
        gid: rustix::process::getegid().as_raw(),
        validity: abi::Validity {
            entry: opts.entry_timeout,
            attr: opts.attr_timeout,
        },
        direct_io: opts.direct_io,
    };
    let conn = Arc::new(Conn::open()?);
    let wake = conn::Notifier::new(conn.clone());
    let bridge = Arc::new(Bridge::new(root, rt.clone(), cfg.clone(), wake));
    let (stop_r, stop_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let stop_r = Arc::new(stop_r);
    let ident = {
        let (conn, at, opts, uid, gid) = (
            conn.clone(),
            mountpoint.clone(),
            opts.clone(),
            cfg.uid,
            cfg.gid,
        );
        served_blocking(move || {
            mnt::mount(&conn, &at, &opts, uid, gid)?;
            Ok::<_, std::io::Error>(mnt::ident(&at))
        })
        .await??
    };
    let session = Session::new(
        conn.clone(),
        bridge.clone(),
        rt,
        stop_r.clone(),
        opts.refuse_own_process,
    );
    let (ready_tx, ready_rx) = oneshot::channel();
    let mut handle = MountHandle {
        inner: Some(Inner {
            mountpoint,
            ident,
            stop_r,
            stop_w,
            thread: None,
            bridge,
            conn,
        }),
    };
    let thread = std::thread::Builder::new()
        .name("ninefold-fuse".to_owned())
        .spawn(move || {
            let end = session.run(ready_tx);
            match &end {
                End::Failed(e) => tracing::warn!(error = %e, "fuse session failed"),
                _ => tracing::debug!(?end, "fuse session ended"),
            }
        });
    match (thread, handle.inner.as_mut()) {
        (Ok(t), Some(inner)) => inner.thread = Some(t),
        (Err(e), _) => return Err(e), // the handle's Drop detaches
        (Ok(_), None) => return Err(std::io::Error::other("mount handle lost")),
    }
    match tokio::time::timeout(INIT_TIMEOUT, ready_rx).await {
        Ok(Ok(Ok(()))) => Ok(handle),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(_)) => Err(std::io::Error::other("fuse session ended before INIT")),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no FUSE INIT from the kernel",
        )),
    }
}

/// A live mount. Dropping it unmounts, as [`MountHandle::unmount`] does (errors are then
/// only logged).
#[derive(Debug)]
pub struct MountHandle {
    inner: Option<Inner>,
}

#[derive(Debug)]
struct Inner {
    mountpoint: PathBuf,
    ident: Option<mnt::Ident>,
    /// Kept open so a write to `stop_w` never meets a closed pipe.
    stop_r: Arc<OwnedFd>,
    stop_w: OwnedFd,
    thread: Option<JoinHandle<()>>,
    bridge: Arc<Bridge>,
    conn: Arc<Conn>,
}

impl MountHandle {
    /// Where the tree is mounted (canonical).
    pub fn mountpoint(&self) -> &Path {
        self.inner
            .as_ref()
            .map_or(Path::new(""), |i| i.mountpoint.as_path())
    }

    /// Inodes the kernel holds references to (the root included), and open files: for
    /// diagnostics, and tests that memory stays bounded.
    pub fn held(&self) -> (usize, usize) {
        self.inner.as_ref().map_or((0, 0), |i| i.bridge.counts())
    }

    /// Makes the kernel forget what it looked up at `path` (relative to the mount's root),
    /// after a change there that did not come through the mount: a Linux mount taken
    /// away from it, which had hidden the entry the kernel keeps for its entry timeout.
    /// Mounts still beneath that place are detached by the kernel. Not from a request's
    /// handler.
    pub fn forget(&self, path: &Path) {
        let Some(inner) = &self.inner else { return };
        inner.bridge.forget_listings();
        let names: Vec<&str> = path.iter().filter_map(|n| n.to_str()).collect();
        let Some((name, dir)) = names.split_last() else {
            return;
        };
        if let Some(parent) = inner.bridge.known(dir) {
            let _ = inner.conn.inval_entry(parent, name);
        }
    }

    /// Unmounts: detaches the mount (if it is still ours), stops serving, cancels what is
    /// in flight and clunks every fid. Processes that still had files open get errors.
    pub fn unmount(mut self) -> std::io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        let Some(mut inner) = self.inner.take() else {
            return Ok(());
        };
        let detached = mnt::detach(&inner.mountpoint, inner.ident);
        // Stop the session thread, which then cancels every request in flight.
        let _ = rustix::io::write(&inner.stop_w, &[1]);
        if let Some(t) = inner.thread.take()
            && t.join().is_err()
        {
            tracing::warn!("fuse session thread panicked");
        }
        inner.bridge.close_all();
        drop(inner.stop_r);
        detached
    }
}

/// A handle may be kept anywhere (a session boxes it as `dyn Any + Send`).
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<MountHandle>();
};

impl Drop for MountHandle {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(error = %e, "fuse unmount failed");
        }
    }
}
