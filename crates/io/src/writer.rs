use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One encoded frame: its head and, for Rread/Twrite, the payload that follows it uncopied.
#[derive(Debug)]
pub struct Frame {
    pub head: Bytes,
    pub payload: Option<Bytes>,
}

/// The sending side of a connection's writer. Cloning it is cheap.
///
/// A frame is written on the spot when nothing is queued and the socket takes it whole
/// without waiting: that saves a hand-off to the writer task on every request of a
/// lightly loaded connection. Everything else goes through the writer task, which batches.
/// Frames are never reordered behind the queue and never interleaved.
#[derive(Clone)]
pub struct FrameSender {
    tx: mpsc::Sender<Frame>,
    shared: Arc<Shared>,
}

type Writer = Box<dyn AsyncWrite + Unpin + Send>;

struct Shared {
    /// Only ever locked without an await in between, so a std mutex.
    w: Mutex<Writer>,
    /// Frames queued or being written by the task; a direct write needs this to be 0.
    pending: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Writer> {
        self.w.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for FrameSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSender")
            .field("pending", &self.shared.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Frames queued but not yet written. Bounded so that a peer that stops reading slows the
/// connection down instead of growing memory without limit.
const QUEUE: usize = 256;
/// Frames gathered into one vectored write at most.
const BATCH: usize = 64;

impl FrameSender {
    /// Sends a frame; fails only once the writer has stopped (the peer is gone).
    pub async fn send(&self, frame: Frame) -> io::Result<()> {
        let frame = match self.try_direct(frame)? {
            None => return Ok(()),
            Some(rest) => rest,
        };
        let stopped = || io::Error::new(io::ErrorKind::BrokenPipe, "connection writer stopped");
        // Reserve first: a caller that gives up while waiting leaves nothing half done.
        let permit = self.tx.reserve().await.map_err(|_| stopped())?;
        self.shared.pending.fetch_add(1, Ordering::SeqCst);
        permit.send(frame);
        Ok(())
    }

    /// Writes the frame now if that needs no waiting. Returns what is left to queue: the
    /// whole frame, or the rest of a partly written one (already queued, first in line).
    fn try_direct(&self, frame: Frame) -> io::Result<Option<Frame>> {
        let Ok(mut w) = self.shared.w.try_lock() else {
            return Ok(Some(frame));
        };
        if self.shared.pending.load(Ordering::SeqCst) != 0 {
            return Ok(Some(frame));
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut written = 0;
        let total = frame.head.len() + frame.payload.as_ref().map_or(0, Bytes::len);
        while written < total {
            let parts = remaining(&frame, written);
            let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
            match Pin::new(&mut **w).poll_write_vectored(&mut cx, &slices) {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => break,
            }
        }
        let rest = if written == total {
            // Sockets flush at once; buffered writers (stdout) may not: then the task
            // finishes the flush.
            match Pin::new(&mut **w).poll_flush(&mut cx) {
                Poll::Ready(r) => return r.map(|()| None),
                Poll::Pending => Frame {
                    head: Bytes::new(),
                    payload: None,
                },
            }
        } else {
            // The socket is full. The rest must be the very next bytes written, so it is
            // queued while we still hold the writer; the task polls again with a real waker.
            rest_of(&frame, written)
        };
        self.shared.pending.fetch_add(1, Ordering::SeqCst);
        if self.tx.try_send(rest).is_err() {
            // Nothing was queued (pending was 0), so the queue has room unless the task is
            // gone: then the connection is dead anyway.
            self.shared.pending.fetch_sub(1, Ordering::SeqCst);
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "connection writer stopped",
            ));
        }
        drop(w);
        Ok(None)
    }
}

/// The byte ranges of `frame` still to write after `done` bytes.
fn remaining(frame: &Frame, done: usize) -> Vec<&[u8]> {
    let head = frame.head.len();
    let mut parts = Vec::with_capacity(2);
    if done < head {
        parts.push(&frame.head[done..]);
    }
    if let Some(p) = &frame.payload {
        let skip = done.saturating_sub(head);
        if skip < p.len() {
            parts.push(&p[skip..]);
        }
    }
    parts
}

fn rest_of(frame: &Frame, done: usize) -> Frame {
    let head = frame.head.len();
    if done < head {
        Frame {
            head: frame.head.slice(done..),
            payload: frame.payload.clone(),
        }
    } else {
        let p = frame.payload.clone().unwrap_or_default();
        Frame {
            head: p.slice((done - head).min(p.len())..),
            payload: None,
        }
    }
}

/// Starts the task that writes queued frames. It ends, shutting the stream down, when every
/// sender is dropped, or at the first write error.
pub fn spawn_writer<W>(w: W) -> (FrameSender, JoinHandle<io::Result<()>>)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Frame>(QUEUE);
    let shared = Arc::new(Shared {
        w: Mutex::new(Box::new(w)),
        pending: AtomicUsize::new(0),
    });
    let sh = shared.clone();
    let task = tokio::spawn(async move {
        let mut batch: Vec<Frame> = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            let r = write_batch(&sh, &batch).await;
            // Only now may senders write directly again: the batch is out.
            sh.pending.fetch_sub(batch.len(), Ordering::SeqCst);
            r?;
            batch.clear();
        }
        poll_fn(|cx| Pin::new(&mut **sh.lock()).poll_flush(cx)).await?;
        // Shutting down may fail if the peer already left; that is not our error.
        let _ = poll_fn(|cx| Pin::new(&mut **sh.lock()).poll_shutdown(cx)).await;
        Ok(())
    });
    (FrameSender { tx, shared }, task)
}

async fn write_batch(shared: &Shared, batch: &[Frame]) -> io::Result<()> {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(batch.len() * 2);
    for f in batch {
        // Empty parts (a flush-only frame) must not reach the writer: a zero-byte write
        // reads as WriteZero.
        parts.extend(
            std::iter::once(&f.head)
                .chain(f.payload.as_ref())
                .filter(|p| !p.is_empty())
                .map(|p| &p[..]),
        );
    }
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        // The lock is taken per poll, never across a wait; senders stay out meanwhile
        // because `pending` is not zero.
        let n = poll_fn(|cx| Pin::new(&mut **shared.lock()).poll_write_vectored(cx, rest)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    poll_fn(|cx| Pin::new(&mut **shared.lock()).poll_flush(cx)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn writes_heads_and_payloads_in_order() {
        let (a, mut b) = tokio::io::duplex(4);
        let (tx, task) = spawn_writer(a);
        for i in 0..10u8 {
            tx.send(Frame {
                head: Bytes::from(vec![i; 3]),
                payload: Some(Bytes::from(vec![i + 100; 5])),
            })
            .await
            .unwrap();
        }
        drop(tx);
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        task.await.unwrap().unwrap();
        let mut want = Vec::new();
        for i in 0..10u8 {
            want.extend([i; 3]);
            want.extend([i + 100; 5]);
        }
        assert_eq!(got, want);
    }
}
