//! The session loop: one thread reads requests from `/dev/fuse` and hands each to a
//! tokio task of its own, which answers when the tree does. INTERRUPT cancels the task
//! of the request it names; FORGET is applied on the spot.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::abi::{self, Cursor, InHeader, MAX_MINOR, MIN_MINOR, Op, Out, errno, init};
use crate::bridge::{Bridge, lock};
use crate::conn::{Conn, Reply, Sent};

/// Requests in flight, by `unique`: firing the sender cancels the request.
/// Requests that can be interrupted: their unique id, the thread that made them, and what
/// cancels them.
type Inflight = Arc<Mutex<HashMap<u64, (u32, oneshot::Sender<()>)>>>;

/// What the session loop shares with the mount handle.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) conn: Arc<Conn>,
    pub(crate) bridge: Arc<Bridge>,
    pub(crate) rt: Handle,
    /// Readable once the mount handle wants the loop to stop.
    pub(crate) stop: Arc<OwnedFd>,
    inflight: Inflight,
    /// Requests of our own threads are refused (see `MountOptions::refuse_own_process`).
    refuse_own: bool,
}

/// Why the loop ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The kernel ended the connection (unmounted, or aborted).
    Unmounted,
    /// The handle asked.
    Stopped,
    Failed(std::io::Error),
}

impl Session {
    pub(crate) fn new(
        conn: Arc<Conn>,
        bridge: Arc<Bridge>,
        rt: Handle,
        stop: Arc<OwnedFd>,
        refuse_own: bool,
    ) -> Session {
        Session {
            conn,
            bridge,
            rt,
            stop,
            inflight: Arc::default(),
            refuse_own,
        }
    }

    /// Runs until unmounted or stopped. `ready` hears once INIT has been answered.
    pub(crate) fn run(self, ready: oneshot::Sender<std::io::Result<()>>) -> End {
        let mut ready = Some(ready);
        let mut buf = vec![0u8; abi::BUFFER_SIZE];
        let end = loop {
            match self.next(&mut buf) {
                Ok(Some(n)) => match self.handle(&buf[..n], &mut ready) {
                    Ok(true) => {}
                    Ok(false) => break End::Unmounted,
                    Err(e) => break End::Failed(e),
                },
                Ok(None) => break End::Stopped,
                Err(Errno::NODEV) => break End::Unmounted,
                Err(e) => break End::Failed(e.into()),
            }
        };
        if let Some(r) = ready.take() {
            let _ = r.send(Err(std::io::Error::other(format!(
                "fuse session ended before INIT: {end:?}"
            ))));
        }
        // Cancel whatever is still running: each answers EINTR (or finds the kernel gone).
        let pending: Vec<_> = lock(&self.inflight).drain().collect();
        for (_, (_, tx)) in pending {
            let _ = tx.send(());
        }
        end
    }

    /// The next request, or `None` when asked to stop.
    fn next(&self, buf: &mut [u8]) -> Result<Option<usize>, Errno> {
        loop {
            let mut fds = [
                PollFd::new(self.conn.owned_fd(), PollFlags::IN),
                PollFd::new(&*self.stop, PollFlags::IN),
            ];
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e),
            }
            if !fds[1].revents().is_empty() {
                return Ok(None);
            }
            if fds[0].revents().is_empty() {
                continue;
            }
            match rustix::io::read(self.conn.fd(), &mut *buf) {
                Ok(n) => return Ok(Some(n)),
                // No request after all; or one that was interrupted before we read it.
                Err(Errno::AGAIN | Errno::INTR | Errno::NOENT) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Handles one request; false when the kernel said DESTROY.
    fn handle(
        &self,
        msg: &[u8],
        ready: &mut Option<oneshot::Sender<std::io::Result<()>>>,
    ) -> std::io::Result<bool> {
        let mut c = Cursor::new(msg);
        let Some(h) = InHeader::parse(&mut c) else {
            tracing::warn!(len = msg.len(), "fuse request shorter than its header");
            return Ok(true);
        };
        let reply = Reply::new(self.conn.clone(), h.unique);
        if h.len as usize != msg.len() {
            reply.err(errno::EINVAL);
            return Ok(true);
        }
        let Some(op) = Op::parse(h.opcode, c.rest()) else {
            reply.err(errno::EINVAL);
            return Ok(true);
        };
        tracing::trace!(
            unique = h.unique,
            nodeid = h.nodeid,
            uid = h.uid,
            gid = h.gid,
            pid = h.pid,
            ?op,
            "fuse"
        );
        match op {
            Op::Init {
                major,
                minor,
                max_readahead,
                flags,
            } => {
                let r = self.init(reply, major, minor, max_readahead, flags);
                if let Some(tx) = ready.take() {
                    let _ = tx.send(match &r {
                        Ok(()) => Ok(()),
                        Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                    });
                }
                r.map(|()| true)
            }
            Op::Destroy => {
                reply.ok(&[]);
                Ok(false)
            }
            Op::Interrupt { unique } => {
                // The kernel expects no answer unless we ask it to try again (EAGAIN).
                // With one reader, the request it names was dispatched before we read
                // this: if it is not in flight it has been answered already.
                reply.none();
                let tid = lock(&self.inflight).get(&unique).map(|(tid, _)| *tid);
                // Read outside the lock: /proc of a caller stopped by a debugger can wait.
                if let Some(tid) = tid
                    && crate::signals::cancels(tid)
                    && let Some((_, tx)) = lock(&self.inflight).remove(&unique)
                {
                    let _ = tx.send(());
                }
                Ok(true)
            }
            Op::Forget { nlookup } => {
                reply.none();
                self.bridge.forget(h.nodeid, nlookup);
                Ok(true)
            }
            Op::BatchForget { items } => {
                reply.none();
                for (nodeid, n) in items {
                    self.bridge.forget(nodeid, n);
                }
                Ok(true)
            }
            // Served by the runtime our own thread may be blocking: never waited on.
            _ if self.refuse_own
                && crate::signals::ours(h.pid)
                && !crate::signals::served(h.pid) =>
            {
                reply.err(errno::EDEADLK);
                Ok(true)
            }
            op => {
                self.spawn(h, op, reply);
                Ok(true)
            }
        }
    }

    fn init(
        &self,
        reply: Reply,
        major: u32,
        minor: u32,
        max_readahead: u32,
        flags: u32,
    ) -> std::io::Result<()> {
        if major != abi::KERNEL_VERSION || minor < MIN_MINOR {
            reply.err(71); // EPROTO
            return Err(std::io::Error::other(format!(
                "unsupported FUSE protocol {major}.{minor}"
            )));
        }
        let want = init::ASYNC_READ
            | init::ATOMIC_O_TRUNC
            | init::BIG_WRITES
            | init::AUTO_INVAL_DATA
            | init::DO_READDIRPLUS
            | init::READDIRPLUS_AUTO
            | init::PARALLEL_DIROPS
            | init::MAX_PAGES;
        let mut o = Out::with_capacity(64);
        abi::init_out(&mut o, minor.min(MAX_MINOR), max_readahead, flags & want);
        match reply.ok(&o.0) {
            Sent::Delivered => Ok(()),
            _ => Err(std::io::Error::other("INIT reply not taken")),
        }
    }

    /// Runs one request in a task of its own; an INTERRUPT naming it cancels it.
    fn spawn(&self, h: InHeader, op: Op, reply: Reply) {
        // POLL answers within moments and is not cancelled: the kernel would report an
        // EINTR answer as POLLERR on that file. An interrupt of it is ignored.
        let rx = (!matches!(op, Op::Poll { .. })).then(|| {
            let (tx, rx) = oneshot::channel::<()>();
            lock(&self.inflight).insert(h.unique, (h.pid, tx));
            rx
        });
        let bridge = self.bridge.clone();
        let inflight = self.inflight.clone();
        self.rt.spawn(crate::CALLER.scope(h.pid, async move {
            let _done = Deregister(inflight, h.unique);
            let outcome = match rx {
                Some(rx) => tokio::select! {
                    biased;
                    o = bridge.call(h.nodeid, op) => o,
                    // Dropping the call cancels the tree's work (a 9P tree sends Tflush).
                    _ = rx => crate::bridge::Outcome::err(errno::EINTR),
                },
                None => bridge.call(h.nodeid, op).await,
            };
            let undo = outcome.undo;
            if reply.result(outcome.reply) == Sent::Gone
                && let Some(u) = undo
            {
                bridge.undo(u);
            }
        }));
    }
}

/// Removes a finished request from the in-flight table.
struct Deregister(Inflight, u64);

impl Drop for Deregister {
    fn drop(&mut self) {
        lock(&self.0).remove(&self.1);
    }
}
