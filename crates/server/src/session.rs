//! One connection: the read loop, the table of requests in flight, Tversion and Tflush.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use ninefold_fs::Tree;
use ninefold_io::{Frame, FrameReader, FrameSender, spawn_writer};
use ninefold_proto::{HEADER_SIZE, MIN_MSIZE, Rmsg, Tmsg, VERSION_9P2000, decode_t, encode_r};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::fids::FidTable;
use crate::order::{Gates, Holder, in_turn, keys_of};
use crate::{Config, handlers};

/// What every request task of a connection shares.
pub(crate) struct Session {
    pub tree: Arc<dyn Tree>,
    pub fids: FidTable,
    pub principal: Option<String>,
    msize: AtomicU32,
    gates: Arc<Gates>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("fids", &self.fids.len())
            .field("msize", &self.msize())
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn msize(&self) -> u32 {
        self.msize.load(Ordering::Relaxed)
    }
}

/// A request being worked on: how to cancel it and how to know it has finished.
#[derive(Debug)]
struct Running {
    cancel: oneshot::Sender<()>,
    done: JoinHandle<()>,
}

impl Running {
    /// Cancels the request and waits until its task has ended: after this, it has either
    /// queued its reply or never will.
    async fn cancel_and_wait(self) {
        let _ = self.cancel.send(());
        let _ = self.done.await;
    }
}

/// Requests in flight by tag: O(1) lookup, and a tag in use is refused.
#[derive(Debug, Default)]
struct InFlight(Mutex<HashMap<u16, Running>>);

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, HashMap<u16, Running>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self, tag: u16) -> Option<Running> {
        self.lock().remove(&tag)
    }

    fn drain(&self) -> Vec<Running> {
        self.lock().drain().map(|(_, r)| r).collect()
    }
}

/// Serves `tree` on a read half and a write half until the peer hangs up or sends a frame
/// that cannot be delimited. Everything the connection held is released before returning.
pub async fn serve<R, W>(tree: Arc<dyn Tree>, r: R, w: W, config: Config) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out, writer) = spawn_writer(w);
    let sess = Arc::new(Session {
        tree,
        fids: FidTable::default(),
        principal: config.principal.clone(),
        msize: AtomicU32::new(0),
        gates: Arc::default(),
    });
    let inflight = Arc::new(InFlight::default());
    let mut frames = FrameReader::new(r);

    let result = loop {
        let limit = match sess.msize() {
            0 => config.max_msize,
            m => m,
        };
        let frame = match frames.next(limit).await {
            Ok(Some(f)) => f,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        if let Err(e) = dispatch(&sess, &inflight, &out, &config, frame).await {
            break Err(e);
        }
    };

    reset(&sess, &inflight).await;
    drop(out);
    // The writer ends once every reply task has dropped its sender.
    match writer.await {
        Ok(Err(e)) if result.is_ok() && e.kind() != io::ErrorKind::BrokenPipe => Err(e),
        _ => result,
    }
}

/// Handles one frame. An error here ends the connection.
async fn dispatch(
    sess: &Arc<Session>,
    inflight: &Arc<InFlight>,
    out: &FrameSender,
    config: &Config,
    frame: Bytes,
) -> io::Result<()> {
    let tag = u16::from_le_bytes([frame[5], frame[6]]);
    let msg = match decode_t(frame) {
        Ok((_, msg)) => msg,
        Err(e) => {
            tracing::debug!(tag, error = %e, "malformed request");
            return reply(out, tag, Err(format!("malformed message: {e}"))).await;
        }
    };
    tracing::trace!(tag, ?msg, "request");
    match msg {
        Tmsg::Version { msize, version } => {
            // Tversion aborts everything outstanding and starts a fresh session.
            reset(sess, inflight).await;
            let r = negotiate(sess, config, msize, &version);
            reply(out, tag, r).await
        }
        _ if sess.msize() == 0 => reply(out, tag, Err("version not negotiated".into())).await,
        Tmsg::Flush { oldtag } => {
            let old = inflight.take(oldtag);
            let work = async move {
                if let Some(old) = old {
                    old.cancel_and_wait().await;
                }
                Ok(Rmsg::Flush)
            };
            start(inflight, out, tag, work, || None).await
        }
        msg => {
            let s = sess.clone();
            let keys = keys_of(&msg);
            let closed = sess.gates.closed(keys.waits);
            if closed.waits.is_empty() {
                let work = async move { handlers::handle(&s, msg).await };
                // Its gates are closed only if it turns out to wait.
                return start(inflight, out, tag, work, || sess.gates.close(keys.closes)).await;
            }
            // In line behind an earlier request: later ones queue behind this one.
            let queued = sess.gates.close(closed.keys);
            let holding = sess.gates.close(keys.closes);
            let work = in_turn(closed.waits, queued, holding, async move {
                handlers::handle(&s, msg).await
            });
            start(inflight, out, tag, work, || None).await
        }
    }
}

/// Runs a request in its own task, registered under its tag until it has replied.
///
/// Most requests (stat, walk, clunk on most trees) finish without ever waiting. Such a
/// request is polled once right here and answered at once: no task, no table entry, and the
/// reply leaves before the next request is read, so a later Tflush finds nothing to wait
/// for. Only work that really waits gets a task of its own, and the gates `gate` closes
/// (see [`crate::order`]) for as long as it runs.
async fn start<F>(
    inflight: &Arc<InFlight>,
    out: &FrameSender,
    tag: u16,
    work: F,
    gate: impl FnOnce() -> Option<Holder>,
) -> io::Result<()>
where
    F: Future<Output = Result<Rmsg, ninefold_fs::Error>> + Send + 'static,
{
    if inflight.lock().contains_key(&tag) {
        return reply(out, tag, Err("duplicate tag".into())).await;
    }
    let mut work = Box::pin(work);
    if let Poll::Ready(r) = poll_once(work.as_mut()) {
        return reply(out, tag, r.map_err(|e| e.to_string())).await;
    }
    // The task polls it again with a real waker, which replaces the no-op one. Only this
    // loop adds tags, so the tag checked above is still free.
    spawn_request(inflight, out, tag, work, gate());
    Ok(())
}

fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// Spawns the request's task and registers it under its tag.
fn spawn_request<F>(
    inflight: &Arc<InFlight>,
    out: &FrameSender,
    tag: u16,
    work: F,
    gate: Option<Holder>,
) where
    F: Future<Output = Result<Rmsg, ninefold_fs::Error>> + Send + 'static,
{
    // Held across the spawn so the task cannot finish and deregister before it is entered.
    let mut table = inflight.lock();
    let (cancel, cancelled) = oneshot::channel::<()>();
    let out = out.clone();
    let flights = inflight.clone();
    let done = tokio::spawn(async move {
        // Cancellation can only cut the work short, never the reply: a request whose work
        // finished is answered even if a flush arrives at that moment.
        // Cancellation first: when a flush and the work's completion are both ready, the
        // flush wins, so a read that was flushed does not consume data (a pipe's, a
        // socket's) whose reply the client would only throw away.
        let r = tokio::select! {
            biased;
            _ = cancelled => return,
            r = work => r,
        };
        // The request's effect is done: what waits on its fids may go.
        drop(gate);
        flights.take(tag);
        let _ = send(
            &out,
            tag,
            &r.unwrap_or_else(|e| Rmsg::Error {
                ename: e.to_string(),
            }),
        )
        .await;
    });
    table.insert(tag, Running { cancel, done });
}

/// Cancels every request in flight and clunks every fid, as Tversion and hang-up require.
async fn reset(sess: &Arc<Session>, inflight: &InFlight) {
    for r in inflight.drain() {
        r.cancel_and_wait().await;
    }
    handlers::clunk_all(sess).await;
}

fn negotiate(sess: &Session, config: &Config, msize: u32, version: &str) -> Result<Rmsg, String> {
    if msize < MIN_MSIZE {
        return Err(format!("msize {msize} too small (minimum {MIN_MSIZE})"));
    }
    // "9P2000" and any dialect of it ("9P2000.u", "9P2000.L") get plain 9P2000 back.
    let ours = version == VERSION_9P2000 || version.starts_with("9P2000.");
    if !ours {
        sess.msize.store(0, Ordering::Relaxed);
        return Ok(Rmsg::Version {
            msize,
            version: "unknown".into(),
        });
    }
    let msize = msize.min(config.max_msize);
    sess.msize.store(msize, Ordering::Relaxed);
    Ok(Rmsg::Version {
        msize,
        version: VERSION_9P2000.into(),
    })
}

async fn reply(out: &FrameSender, tag: u16, r: Result<Rmsg, String>) -> io::Result<()> {
    let msg = r.unwrap_or_else(|ename| Rmsg::Error { ename });
    send(out, tag, &msg).await
}

async fn send(out: &FrameSender, tag: u16, msg: &Rmsg) -> io::Result<()> {
    tracing::trace!(tag, ?msg, "reply");
    let mut head = BytesMut::with_capacity(HEADER_SIZE + 64);
    let payload = encode_r(tag, msg, &mut head, true);
    out.send(Frame {
        head: head.freeze(),
        payload,
    })
    .await
}
