use std::io::{self, IoSlice};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One encoded frame: its head and, for Rread/Twrite, the payload that follows it uncopied.
#[derive(Debug)]
pub struct Frame {
    pub head: Bytes,
    pub payload: Option<Bytes>,
}

/// The sending side of a connection's writer task. Cloning it is cheap.
#[derive(Debug, Clone)]
pub struct FrameSender {
    tx: mpsc::Sender<Frame>,
}

/// Frames queued but not yet written. Bounded so that a peer that stops reading slows the
/// connection down instead of growing memory without limit.
const QUEUE: usize = 256;
/// Frames gathered into one vectored write at most.
const BATCH: usize = 64;

impl FrameSender {
    /// Queues a frame; fails only once the writer has stopped (the peer is gone).
    pub async fn send(&self, frame: Frame) -> io::Result<()> {
        self.tx
            .send(frame)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "connection writer stopped"))
    }
}

/// Starts the task that owns the write half. It ends, shutting the stream down, when every
/// sender is dropped, or at the first write error.
pub fn spawn_writer<W>(mut w: W) -> (FrameSender, JoinHandle<io::Result<()>>)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Frame>(QUEUE);
    let task = tokio::spawn(async move {
        let mut batch: Vec<Frame> = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            write_batch(&mut w, &batch).await?;
            batch.clear();
        }
        w.flush().await?;
        // Shutting down may fail if the peer already left; that is not our error.
        let _ = w.shutdown().await;
        Ok(())
    });
    (FrameSender { tx }, task)
}

async fn write_batch<W: AsyncWrite + Unpin>(w: &mut W, batch: &[Frame]) -> io::Result<()> {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(batch.len() * 2);
    for f in batch {
        parts.push(&f.head);
        if let Some(p) = &f.payload
            && !p.is_empty()
        {
            parts.push(p);
        }
    }
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = w.write_vectored(rest).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    w.flush().await
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

    /// Many senders on several threads, large frames, a small pipe: every frame must
    /// arrive whole, never interleaved with another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_senders_never_interleave_frames() {
        use crate::FrameReader;
        let (a, b) = tokio::io::duplex(16 * 1024);
        let (tx, task) = spawn_writer(a);
        let mut senders = Vec::new();
        for t in 0..6u8 {
            let tx = tx.clone();
            senders.push(tokio::spawn(async move {
                for seq in 0..40u32 {
                    let len = 1000 + (seq as usize * 7919 + t as usize * 104_729) % 300_000;
                    let mut head = ((7 + len) as u32).to_le_bytes().to_vec();
                    head.extend([117, t, seq as u8]);
                    let payload = Bytes::from(vec![t ^ seq as u8; len]);
                    tx.send(Frame {
                        head: Bytes::from(head),
                        payload: Some(payload),
                    })
                    .await
                    .unwrap();
                }
            }));
        }
        drop(tx);
        let reader = tokio::spawn(async move {
            let mut frames = FrameReader::new(b);
            let mut seen = [0u32; 6];
            while let Some(f) = frames.next(1 << 20).await.unwrap() {
                let (t, seq) = (f[5], f[6]);
                assert!(
                    f[7..].iter().all(|&x| x == t ^ seq),
                    "frame {t}/{seq} mixed with another"
                );
                seen[t as usize] += 1;
            }
            seen
        });
        for s in senders {
            s.await.unwrap();
        }
        task.await.unwrap().unwrap();
        let seen = tokio::time::timeout(std::time::Duration::from_secs(30), reader)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen, [40; 6]);
    }
}
