//! Readiness of synthetic files, learned the Plan 9 way: by reading.
//!
//! A tree has no poll. When the kernel polls a synthetic (direct_io) file for reading and
//! nothing is known yet, a read of the file's fid starts in the background and the answer
//! is "not ready". What that read brings — bytes, end of file, or an error — is kept in
//! the handle's one read-ahead slot, the kernel's pollers are woken (FUSE_NOTIFY_POLL),
//! and the next poll says readable. The next READ takes the kept result before anything
//! else.
//!
//! Order: at any moment the fid is read either by READs of their own (possibly several
//! at once, as before) or by the one background read, never both. A READ that finds a
//! background read running waits for it; a poll that finds READs running starts nothing
//! and is woken when they end. So bytes come out in the order the tree gave them.
//!
//! Loss: a result is stored in the same step that ends the background read, and stays
//! until a READ takes it or the handle is released. Cancelling (RELEASE, an interrupted
//! READ that was waiting, unmount) drops a read still in flight — for a 9P tree a
//! Tflush, as for an interrupted READ — and never a result already in.

use std::pin::pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::abi::{MAX_WRITE, POLL_SCHEDULE_NOTIFY, pollev};
use crate::bridge::{Fid, lock};
use crate::conn::Notifier;

/// How much a background read asks for, at least (or as much as the last READ did).
pub(crate) const AHEAD_MIN: u32 = 64 << 10;
/// And at most: the largest READ the kernel sends.
const AHEAD_MAX: u32 = MAX_WRITE;

/// How long a poll that has just started a background read waits for it, so that
/// poll(2) with a zero timeout on a file whose tree answers at once sees its data.
const POLL_GRACE: Duration = Duration::from_millis(2);

/// What a background read brought.
#[derive(Debug)]
enum Got {
    /// Bytes not yet given to a READ (never empty).
    Data(Bytes),
    /// End of file, met at offset `at`.
    Eof { at: u64 },
    /// The tree's error (an errno), met at offset `at`.
    Err { at: u64, errno: i32 },
}

/// A background read in flight.
#[derive(Debug)]
struct Bg {
    /// Dropped (or fired) to cancel the read.
    cancel: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct State {
    /// READs reading the fid themselves.
    readers: usize,
    /// The background read, until it has stored its result (or given up).
    bg: Option<Bg>,
    /// Its result, until a READ takes it.
    got: Option<Got>,
    /// The kernel's handle of a file whose pollers wait to hear of a change.
    notify: Option<u64>,
    /// Where the next read(2) is expected: after the last READ's answer.
    next: u64,
    /// The size of the last READ.
    last_size: u32,
}

/// The read-ahead slot of one open synthetic file.
#[derive(Debug, Default)]
pub(crate) struct ReadAhead {
    st: Mutex<State>,
    /// Fired when a background read ends, for READs waiting on it.
    changed: Notify,
}

impl ReadAhead {
    /// A READ of `size` bytes at `offset`: what a background read kept, else one read of
    /// the fid (`count` is `size` within the fid's iounit).
    pub(crate) async fn read(
        &self,
        fid: &Fid,
        offset: u64,
        size: u32,
        count: u32,
        wake: &Notifier,
    ) -> Result<Bytes, i32> {
        loop {
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            {
                let mut s = lock(&self.st);
                s.last_size = size;
                if let Some(r) = s.take(offset, size) {
                    return r;
                }
                if s.bg.is_none() {
                    s.readers += 1;
                    break;
                }
            }
            // The background read's answer comes first in the stream: wait for it. If
            // this READ is interrupted meanwhile, that read is cancelled with it.
            let mut waiting = CancelOnDrop(Some(self));
            changed.await;
            waiting.0 = None;
        }
        let _reading = Reading { ahead: self, wake };
        let data = fid.node.read(offset, count).await.map_err(|e| e.errno())?;
        let n = data.len().min(size as usize);
        lock(&self.st).next = offset.saturating_add(n as u64);
        Ok(data.slice(..n))
    }

    /// A poll of a readable handle: the revents for `events`. Starts a background read
    /// (of `fid`, within `iounit` when that is not 0) when nothing is known and none runs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn poll(
        self: &Arc<Self>,
        fid: &Arc<Fid>,
        iounit: u32,
        kh: u64,
        flags: u32,
        events: u32,
        rt: &Handle,
        wake: &Notifier,
    ) -> u32 {
        let wants_read = events == 0 || events & pollev::ASK_READ != 0;
        if !wants_read {
            return pollev::WRITABLE;
        }
        let mut changed = pin!(self.changed.notified());
        changed.as_mut().enable();
        let started = {
            let mut s = lock(&self.st);
            if let Some(r) = s.readiness() {
                return r | pollev::WRITABLE;
            }
            if flags & POLL_SCHEDULE_NOTIFY != 0 {
                s.notify = Some(kh);
            }
            let start = s.bg.is_none() && s.readers == 0;
            if start {
                let mut count = s.last_size.clamp(AHEAD_MIN, AHEAD_MAX);
                if iounit > 0 {
                    count = count.min(iounit);
                }
                s.bg = Some(self.spawn(fid.clone(), s.next, count, rt, wake.clone()));
            }
            start
        };
        if started {
            let _ = tokio::time::timeout(POLL_GRACE, changed).await;
            if let Some(r) = lock(&self.st).readiness() {
                return r | pollev::WRITABLE;
            }
        }
        pollev::WRITABLE
    }

    /// Starts the background read of `count` bytes at `offset`.
    fn spawn(
        self: &Arc<Self>,
        fid: Arc<Fid>,
        offset: u64,
        count: u32,
        rt: &Handle,
        wake: Notifier,
    ) -> Bg {
        let (cancel, cancelled) = oneshot::channel::<()>();
        // Weak: a handle dropped without a release (unmount) drops `cancel` with it.
        let me: Weak<ReadAhead> = Arc::downgrade(self);
        let task = rt.spawn(async move {
            let got = tokio::select! {
                // A result that is in is kept, even if a cancel came at the same time.
                biased;
                r = fid.node.read(offset, count) => Some(match r {
                    Ok(d) if d.is_empty() => Got::Eof { at: offset },
                    Ok(d) => Got::Data(d),
                    Err(e) => Got::Err { at: offset, errno: e.errno() },
                }),
                // Dropping the read cancels it (a 9P tree sends Tflush).
                _ = cancelled => None,
            };
            drop(fid);
            let Some(me) = me.upgrade() else {
                return;
            };
            let kh = {
                let mut s = lock(&me.st);
                s.bg = None;
                if got.is_some() {
                    s.got = got;
                }
                s.notify.take()
            };
            me.changed.notify_waiters();
            // Also after a cancel: a poller then polls again and starts another read.
            if let Some(kh) = kh {
                wake.poll_wakeup(kh);
            }
        });
        Bg {
            cancel: Some(cancel),
            task: Some(task),
        }
    }

    /// Cancels the background read, if one runs: the task to await before the fid is
    /// clunked (RELEASE). What it already brought stays.
    pub(crate) fn stop(&self) -> Option<JoinHandle<()>> {
        let mut s = lock(&self.st);
        let bg = s.bg.as_mut()?;
        drop(bg.cancel.take());
        bg.task.take()
    }

    /// Whether a background read is running.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> bool {
        lock(&self.st).bg.is_some()
    }
}

impl State {
    /// What a poll reports for what is kept, if anything is.
    fn readiness(&self) -> Option<u32> {
        match self.got.as_ref()? {
            Got::Data(_) | Got::Eof { .. } => Some(pollev::READABLE),
            Got::Err { .. } => Some(pollev::POLLERR),
        }
    }

    /// Gives a READ what is kept. Bytes are given whatever the offset (they were taken
    /// from the fid; a stream has no offsets, and losing them would be worse); an end
    /// of file or error only to a READ at the offset where it was met — at another
    /// offset the READ reads for itself.
    fn take(&mut self, offset: u64, size: u32) -> Option<Result<Bytes, i32>> {
        match self.got.take()? {
            Got::Data(mut data) => {
                let n = data.len().min(size as usize);
                let out = data.split_to(n);
                if !data.is_empty() {
                    self.got = Some(Got::Data(data));
                }
                self.next = offset.saturating_add(n as u64);
                Some(Ok(out))
            }
            Got::Eof { at } if at == offset => Some(Ok(Bytes::new())),
            Got::Err { at, errno } if at == offset => Some(Err(errno)),
            Got::Eof { .. } | Got::Err { .. } => None,
        }
    }
}

/// A READ reading the fid itself; at the end, pollers that waited for it are woken.
struct Reading<'a> {
    ahead: &'a ReadAhead,
    wake: &'a Notifier,
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        let kh = {
            let mut s = lock(&self.ahead.st);
            s.readers = s.readers.saturating_sub(1);
            if s.readers == 0 {
                s.notify.take()
            } else {
                None
            }
        };
        if let Some(kh) = kh {
            self.wake.poll_wakeup(kh);
        }
    }
}

/// A READ waiting for the background read: dropped while still waiting (interrupted,
/// or the session ended), it cancels that read, as an interrupt cancels a READ's own.
struct CancelOnDrop<'a>(Option<&'a ReadAhead>);

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(a) = self.0 {
            let mut s = lock(&a.st);
            if let Some(bg) = s.bg.as_mut() {
                drop(bg.cancel.take());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The bridge's poll and read of a `#|` pipe, with no kernel: requests are made up,
    //! wakeups go to a channel.
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::time::Duration;

    use ninefold_devs::PipeTree;
    use ninefold_fs::Tree;
    use tokio::sync::mpsc;

    use super::*;
    use crate::DirectIo;
    use crate::abi::{Op, Validity};
    use crate::bridge::{Bridge, Config};

    const LIMIT: Duration = Duration::from_secs(10);
    const O_RDONLY: u32 = 0;
    const O_WRONLY: u32 = 1;
    const KH: u64 = 77;

    struct Rig {
        bridge: Arc<Bridge>,
        woken: tokio::sync::Mutex<mpsc::UnboundedReceiver<u64>>,
        /// The inodes of `data` and `data1`.
        data: u64,
        data1: u64,
    }

    async fn rig() -> Rig {
        let root = PipeTree::new().attach("glenda", "").await.unwrap();
        let (tx, woken) = mpsc::unbounded_channel();
        let cfg = Config {
            uid: 0,
            gid: 0,
            validity: Validity::default(),
            direct_io: DirectIo::Auto,
        };
        let wake = Notifier::with(move |kh| {
            let _ = tx.send(kh);
        });
        let bridge = Arc::new(Bridge::new(root, Handle::current(), cfg, wake));
        let mut ids = [0u64; 2];
        for (i, name) in ["data", "data1"].iter().enumerate() {
            let name = name.as_bytes().to_vec();
            let body = bridge.call(1, Op::Lookup { name }).await.reply.unwrap();
            ids[i] = u64::from_le_bytes(body[..8].try_into().unwrap());
        }
        Rig {
            bridge,
            woken: tokio::sync::Mutex::new(woken),
            data: ids[0],
            data1: ids[1],
        }
    }

    impl Rig {
        async fn open(&self, nodeid: u64, flags: u32) -> u64 {
            let body = self
                .bridge
                .call(nodeid, Op::Open { flags })
                .await
                .reply
                .unwrap();
            // Synthetic: direct_io; and no FLUSH at close.
            let flags = u32::from_le_bytes(body[8..12].try_into().unwrap());
            assert_eq!(flags & 1, 1);
            assert_eq!(flags & (1 << 5), 1 << 5);
            u64::from_le_bytes(body[..8].try_into().unwrap())
        }

        async fn poll(&self, fh: u64, notify: bool) -> u32 {
            let op = Op::Poll {
                fh,
                kh: KH,
                flags: if notify { POLL_SCHEDULE_NOTIFY } else { 0 },
                events: pollev::POLLIN | pollev::POLLOUT,
            };
            let body = self.bridge.call(self.data1, op).await.reply.unwrap();
            u32::from_le_bytes(body[..4].try_into().unwrap())
        }

        async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Bytes, i32> {
            let op = Op::Read { fh, offset, size };
            tokio::time::timeout(LIMIT, self.bridge.call(self.data1, op))
                .await
                .unwrap()
                .reply
        }

        async fn write(&self, fh: u64, data: &'static [u8]) {
            let op = Op::Write {
                fh,
                offset: 0,
                data: Bytes::from_static(data),
            };
            self.bridge.call(self.data, op).await.reply.unwrap();
        }

        async fn release(&self, fh: u64) {
            self.bridge.call(0, Op::Release { fh }).await.reply.unwrap();
        }

        async fn woken(&self) -> u64 {
            let mut w = self.woken.lock().await;
            tokio::time::timeout(LIMIT, w.recv())
                .await
                .unwrap()
                .unwrap()
        }

        fn ahead(&self, fh: u64) -> Arc<ReadAhead> {
            self.bridge.ahead(fh).unwrap()
        }
    }

    /// Waits until no background read runs on `a`.
    async fn settled(a: &ReadAhead) {
        tokio::time::timeout(LIMIT, async {
            while a.in_flight() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
    }

    fn readable(revents: u32) -> bool {
        revents & pollev::POLLIN != 0
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn poll_reads_ahead_and_the_next_read_gets_it() {
        let r = rig().await;
        let rd = r.open(r.data1, O_RDONLY).await;
        let wr = r.open(r.data, O_WRONLY).await;
        // Nothing queued: not readable, always writable; asking again starts nothing new.
        let ev = r.poll(rd, true).await;
        assert!(!readable(ev) && ev & pollev::POLLOUT != 0, "{ev:#x}");
        assert!(r.ahead(rd).in_flight());
        assert!(!readable(r.poll(rd, true).await));
        r.write(wr, b"hello").await;
        assert_eq!(r.woken().await, KH);
        assert!(readable(r.poll(rd, false).await));
        // The kept bytes, in parts, at the offsets read(2) goes through.
        assert_eq!(&r.read(rd, 0, 2).await.unwrap()[..], b"he");
        assert_eq!(&r.read(rd, 2, 100).await.unwrap()[..], b"llo");
        // Taken: the next poll is not ready again, and the next bytes come in order.
        assert!(!readable(r.poll(rd, true).await));
        r.write(wr, b"1").await;
        r.write(wr, b"2").await;
        assert_eq!(r.woken().await, KH);
        let mut got = Vec::new();
        while got.len() < 2 {
            got.extend_from_slice(&r.read(rd, 5 + got.len() as u64, 100).await.unwrap());
        }
        assert_eq!(got, b"12");
        // The writer closes: end of file shows as readable, then reads 0 bytes.
        assert!(!readable(r.poll(rd, true).await));
        r.release(wr).await;
        assert_eq!(r.woken().await, KH);
        assert!(readable(r.poll(rd, false).await));
        assert!(r.read(rd, 7, 100).await.unwrap().is_empty());
        r.release(rd).await;
        assert_eq!(r.bridge.counts().1, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_waits_for_the_background_read() {
        let r = Arc::new(rig().await);
        let rd = r.open(r.data1, O_RDONLY).await;
        let wr = r.open(r.data, O_WRONLY).await;
        assert!(!readable(r.poll(rd, false).await));
        let reader = tokio::spawn({
            let r = r.clone();
            async move { r.read(rd, 0, 3).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!reader.is_finished());
        r.write(wr, b"abcdef").await;
        // The background read took all six bytes; the READ gets its three, then the rest.
        assert_eq!(&reader.await.unwrap().unwrap()[..], b"abc");
        assert!(readable(r.poll(rd, false).await));
        assert_eq!(&r.read(rd, 3, 100).await.unwrap()[..], b"def");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_poll_during_a_read_starts_nothing_and_is_woken_after() {
        let r = Arc::new(rig().await);
        let rd = r.open(r.data1, O_RDONLY).await;
        let wr = r.open(r.data, O_WRONLY).await;
        // A READ of its own, blocked on the empty pipe.
        let reader = tokio::spawn({
            let r = r.clone();
            async move { r.read(rd, 0, 100).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!readable(r.poll(rd, true).await));
        assert!(!r.ahead(rd).in_flight());
        r.write(wr, b"x").await;
        // The READ got the byte (no background read raced it), then the poller is woken.
        assert_eq!(&reader.await.unwrap().unwrap()[..], b"x");
        assert_eq!(r.woken().await, KH);
        // Polling again now reads ahead.
        assert!(!readable(r.poll(rd, true).await));
        assert!(r.ahead(rd).in_flight());
        r.write(wr, b"y").await;
        assert_eq!(r.woken().await, KH);
        assert_eq!(&r.read(rd, 1, 100).await.unwrap()[..], b"y");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn release_and_interrupts_cancel_the_background_read() {
        let r = Arc::new(rig().await);
        let a = r.open(r.data1, O_RDONLY).await;
        let b = r.open(r.data1, O_RDONLY).await;
        let wr = r.open(r.data, O_WRONLY).await;
        // A released handle's background read is gone: it takes nothing from the pipe.
        assert!(!readable(r.poll(a, false).await));
        let ahead_a = r.ahead(a);
        assert!(ahead_a.in_flight());
        r.release(a).await;
        assert!(!ahead_a.in_flight());
        assert_eq!(r.bridge.counts().1, 2);
        r.write(wr, b"for b").await;
        assert_eq!(&r.read(b, 0, 100).await.unwrap()[..], b"for b");
        // A READ waiting on a background read, cancelled (an interrupt): the background
        // read goes too, and the bytes written after go to the next READ.
        assert!(!readable(r.poll(b, false).await));
        let waiting = tokio::spawn({
            let r = r.clone();
            async move { r.read(b, 5, 100).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(r.ahead(b).in_flight());
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        settled(&r.ahead(b)).await;
        r.write(wr, b"again").await;
        assert_eq!(&r.read(b, 5, 100).await.unwrap()[..], b"again");
        r.release(b).await;
        r.release(wr).await;
        assert_eq!(r.bridge.counts().1, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn write_only_handles_are_only_writable() {
        let r = rig().await;
        let wr = r.open(r.data, O_WRONLY).await;
        assert_eq!(r.poll(wr, true).await, pollev::WRITABLE);
        // Readiness is not asked for: nothing is read.
        let rd = r.open(r.data1, O_RDONLY).await;
        let op = Op::Poll {
            fh: rd,
            kh: KH,
            flags: 0,
            events: pollev::POLLOUT,
        };
        let body = r.bridge.call(r.data1, op).await.reply.unwrap();
        assert_eq!(body[..4], pollev::WRITABLE.to_le_bytes());
        r.write(wr, b"z").await;
        assert_eq!(&r.read(rd, 0, 100).await.unwrap()[..], b"z");
    }
}
