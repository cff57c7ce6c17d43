//! The `/dev/fuse` connection: one fd, replies written whole with one `writev` each, and
//! [`Reply`], which makes sure every request is answered exactly once.

use std::io::IoSlice;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::abi::{OUT_HEADER_SIZE, errno, notify};

/// The open `/dev/fuse`. Writes may come from any thread: the kernel takes each `write`
/// as one whole reply.
#[derive(Debug)]
pub(crate) struct Conn {
    fd: OwnedFd,
}

/// What became of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Delivered,
    /// The kernel no longer waits for this request (interrupted, or the caller was
    /// killed): a reply that handed out a reference was not taken.
    Gone,
    Failed,
}

impl Conn {
    pub(crate) fn open() -> std::io::Result<Conn> {
        let fd = rustix::fs::open(
            "/dev/fuse",
            OFlags::RDWR | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )?;
        Ok(Conn { fd })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn owned_fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Writes one reply: `error` is a positive errno or 0; `body` only when 0.
    pub(crate) fn send(&self, unique: u64, error: i32, body: &[u8]) -> Sent {
        let body = if error == 0 { body } else { &[] };
        self.write(unique, -error, body)
    }

    /// Writes one notification: `unique` 0, the code where a reply has its error.
    fn notify(&self, code: i32, body: &[u8]) -> Sent {
        self.write(0, code, body)
    }

    fn write(&self, unique: u64, error: i32, body: &[u8]) -> Sent {
        let len = (OUT_HEADER_SIZE + body.len()) as u32;
        let mut header = [0u8; OUT_HEADER_SIZE];
        header[0..4].copy_from_slice(&len.to_le_bytes());
        header[4..8].copy_from_slice(&error.to_le_bytes());
        header[8..16].copy_from_slice(&unique.to_le_bytes());
        let bufs = [IoSlice::new(&header), IoSlice::new(body)];
        loop {
            match rustix::io::writev(&self.fd, &bufs) {
                Ok(_) => return Sent::Delivered,
                Err(Errno::INTR) => continue,
                Err(Errno::NOENT) => return Sent::Gone,
                Err(e) => {
                    // ENODEV after an unmount is expected; anything else is worth a note.
                    if e != Errno::NODEV {
                        tracing::warn!(error = %e, unique, "fuse reply not written");
                    }
                    return Sent::Failed;
                }
            }
        }
    }
}

impl Conn {
    /// Makes the kernel forget the entry `name` of directory `parent` (it looks it up
    /// again next time). Never from a request's handler for that directory: the kernel
    /// takes the directory's lock for it.
    pub(crate) fn inval_entry(&self, parent: u64, name: &str) -> Sent {
        let mut body = Vec::with_capacity(16 + name.len() + 1);
        body.extend_from_slice(&parent.to_le_bytes());
        body.extend_from_slice(&(name.len() as u32).to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        self.notify(notify::INVAL_ENTRY, &body)
    }
}

/// Tells the kernel that a polled file may be ready (FUSE_NOTIFY_POLL): its pollers
/// wake and poll again. Cheap to clone; any thread may use it.
#[derive(Clone)]
pub(crate) struct Notifier(Arc<dyn Fn(u64) + Send + Sync>);

impl Notifier {
    pub(crate) fn new(conn: Arc<Conn>) -> Notifier {
        Notifier(Arc::new(move |kh: u64| {
            // A kernel that no longer knows `kh` (the file was released) ignores it.
            if conn.notify(notify::POLL, &kh.to_le_bytes()) == Sent::Failed {
                tracing::debug!(kh, "poll wakeup not delivered");
            }
        }))
    }

    /// A notifier that calls `f` (for tests of the bridge without a kernel).
    #[cfg(test)]
    pub(crate) fn with(f: impl Fn(u64) + Send + Sync + 'static) -> Notifier {
        Notifier(Arc::new(f))
    }

    /// Wakes whoever polls the kernel's file `kh`.
    pub(crate) fn poll_wakeup(&self, kh: u64) {
        (self.0)(kh)
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notifier")
    }
}

/// The obligation to answer one request. Dropped unanswered (a panic in a tree, a task
/// dropped when its runtime shut down), it answers EIO, so no caller waits forever.
#[derive(Debug)]
pub(crate) struct Reply {
    conn: Arc<Conn>,
    unique: u64,
    done: bool,
}

impl Reply {
    pub(crate) fn new(conn: Arc<Conn>, unique: u64) -> Reply {
        Reply {
            conn,
            unique,
            done: false,
        }
    }

    pub(crate) fn ok(mut self, body: &[u8]) -> Sent {
        self.done = true;
        self.conn.send(self.unique, 0, body)
    }

    pub(crate) fn err(mut self, errno: i32) -> Sent {
        self.done = true;
        self.conn.send(self.unique, errno, &[])
    }

    /// For requests the kernel expects no answer to (FORGET, INTERRUPT).
    pub(crate) fn none(mut self) {
        self.done = true;
    }

    pub(crate) fn result(self, r: Result<bytes::Bytes, i32>) -> Sent {
        match r {
            Ok(body) => self.ok(&body),
            Err(e) => self.err(e),
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if !self.done {
            self.conn.send(self.unique, errno::EIO, &[]);
        }
    }
}
