//! `#|`: pipes. Every attach makes a new pipe, a directory holding its two ends.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use ninefold_fs::{DirCursor, Error, Node, NodeRef, Opened, Qid, QidType, Result, Stat, Tree};
use ninefold_proto::dm;
use tokio::sync::Notify;

use crate::common::{
    check_open, check_open_dir, lock, now_secs, read_dir, stat, written, wstat_nothing,
};

/// The most bytes queued in one direction; a writer waits while the queue is full.
pub const PIPE_BUF: usize = 256 << 10;

/// What a write on a pipe whose reading end has been closed fails with.
pub const CLOSED_PIPE: Error = Error::from_static("write on closed pipe");

/// Queues left empty keep at most this much memory.
const IDLE_CAPACITY: usize = 16 << 10;

/// Permission of `data` and `data1` (Plan 9's).
const END_PERM: u32 = 0o600;

/// The pipe device `#|`. Each attach makes a new pipe: a directory with the files `data`
/// and `data1`. Bytes written on one are read from the other, in both directions.
///
/// - A read returns what is queued, up to the count; while nothing is, it waits. The
///   future may be dropped at any time without losing data, so a Tflush ends the wait
///   cleanly — unless bytes arrive first and the read completes, in which case by the 9P
///   rules its reply stands and a client that abandoned it loses those bytes.
/// - A pipe is a byte stream: a read may return parts of several writes, and a write may
///   be read in parts. (Plan 9 keeps write boundaries: each read ends at the end of a
///   write.) A zero-length write does nothing (in Plan 9 the reader sees it as a 0-byte
///   read).
/// - At most [`PIPE_BUF`] bytes are queued in each direction. A write of up to
///   `PIPE_BUF` bytes waits until it fits whole, so it is never interleaved with other
///   writes; a longer one is queued in pieces as room appears, and a Tflush in the middle
///   leaves the pieces already queued.
/// - An end is *closed* once it has been opened and every fid that opened it has been
///   clunked. Reads on the other end then return what is still queued, then 0 bytes (EOF);
///   writes on the other end fail with "write on closed pipe", and what was queued for the
///   closed end is thrown away. Until the other end has been opened at all, writes
///   queue (and wait when full) and reads wait. Opening a closed end again reopens it,
///   as a Unix FIFO would.
/// - `stat` of an end gives as its length the bytes waiting to be read there.
#[derive(Debug, Clone)]
pub struct PipeTree {
    /// The number of the next pipe, shared by clones.
    next_id: Arc<AtomicU64>,
    owner: Arc<str>,
}

impl PipeTree {
    /// A pipe device whose files are owned by "none".
    pub fn new() -> PipeTree {
        PipeTree {
            next_id: Arc::new(AtomicU64::new(0)),
            owner: "none".into(),
        }
    }

    /// The same device with the files of the pipes it makes from now on owned by `owner`.
    pub fn with_owner(mut self, owner: impl Into<String>) -> PipeTree {
        self.owner = owner.into().into();
        self
    }
}

impl Default for PipeTree {
    fn default() -> PipeTree {
        PipeTree::new()
    }
}

#[async_trait]
impl Tree for PipeTree {
    /// A new pipe; `uname` and `aname` are ignored.
    async fn attach(&self, _uname: &str, _aname: &str) -> Result<NodeRef> {
        // 62 bits of pipe number leave two for the file; wrapping would take centuries.
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) & (u64::MAX >> 2);
        let pipe = Arc::new(Pipe {
            id,
            owner: self.owner.clone(),
            made: now_secs(),
            state: Mutex::new(PipeState::default()),
            readable: [Notify::new(), Notify::new()],
            writable: [Notify::new(), Notify::new()],
        });
        Ok(Arc::new(PipeNode::new(pipe, File::Root)))
    }
}

/// One pipe. End 0 is `data`, end 1 is `data1`.
struct Pipe {
    id: u64,
    owner: Arc<str>,
    made: u32,
    state: Mutex<PipeState>,
    /// `readable[e]`: something changed for readers of end `e` (bytes arrived, or the
    /// other end closed).
    readable: [Notify; 2],
    /// `writable[e]`: something changed for writers on end `e` (room appeared, or the
    /// other end closed).
    writable: [Notify; 2],
}

impl std::fmt::Debug for Pipe {
    // Not the bytes queued; try_lock: formatting never waits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Pipe");
        d.field("id", &self.id);
        if let Ok(s) = self.state.try_lock() {
            let queued = [s.queue[0].len(), s.queue[1].len()];
            d.field("queued", &queued).field("opens", &s.opens);
        }
        d.finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct PipeState {
    /// `queue[e]`: bytes written on end `e`, to be read from the other end.
    queue: [VecDeque<u8>; 2],
    /// Fids that have end `e` open.
    opens: [usize; 2],
    /// Whether end `e` has ever been opened.
    ever: [bool; 2],
}

impl PipeState {
    fn closed(&self, end: usize) -> bool {
        self.ever[end] && self.opens[end] == 0
    }
}

/// The other end.
fn other(end: usize) -> usize {
    1 - end
}

impl Pipe {
    /// Up to `count` bytes for a reader of `end`; waits while none are queued and the
    /// other end is not closed.
    async fn read(&self, end: usize, count: u32) -> Result<Bytes> {
        if count == 0 {
            return Ok(Bytes::new());
        }
        let from = other(end);
        loop {
            let mut notified = pin!(self.readable[end].notified());
            notified.as_mut().enable();
            {
                let mut s = lock(&self.state);
                let q = &mut s.queue[from];
                if !q.is_empty() {
                    let n = q.len().min(count as usize);
                    let mut out = Vec::with_capacity(n);
                    let (a, b) = q.as_slices();
                    let from_a = n.min(a.len());
                    out.extend_from_slice(&a[..from_a]);
                    out.extend_from_slice(&b[..n - from_a]);
                    q.drain(..n);
                    if q.is_empty() && q.capacity() > IDLE_CAPACITY {
                        *q = VecDeque::new();
                    }
                    drop(s);
                    self.writable[from].notify_waiters();
                    return Ok(Bytes::from(out));
                }
                if s.closed(from) {
                    return Ok(Bytes::new());
                }
            }
            notified.await;
        }
    }

    /// Queues `data` for the other end, waiting for room.
    async fn write(&self, end: usize, data: &[u8]) -> Result<u32> {
        let to = other(end);
        // A write that can fit whole goes in whole.
        let whole = data.len() <= PIPE_BUF;
        let mut done = 0;
        while done < data.len() {
            let mut notified = pin!(self.writable[end].notified());
            notified.as_mut().enable();
            {
                let mut s = lock(&self.state);
                if s.closed(to) {
                    return Err(CLOSED_PIPE);
                }
                let q = &mut s.queue[end];
                let room = PIPE_BUF.saturating_sub(q.len());
                let left = data.len() - done;
                let n = if whole {
                    if room >= left { left } else { 0 }
                } else {
                    room.min(left)
                };
                if n > 0 {
                    q.extend(&data[done..done + n]);
                    done += n;
                    drop(s);
                    self.readable[to].notify_waiters();
                    continue;
                }
            }
            notified.await;
        }
        Ok(written(done))
    }

    /// Bytes waiting to be read at `end`.
    fn queued_for(&self, end: usize) -> usize {
        lock(&self.state).queue[other(end)].len()
    }

    fn open_end(self: &Arc<Self>, end: usize) -> EndOpen {
        let mut s = lock(&self.state);
        s.opens[end] += 1;
        s.ever[end] = true;
        EndOpen {
            pipe: self.clone(),
            end,
        }
    }
}

/// One fid's open of an end: dropping it (at clunk) closes the fid's share of the end.
#[derive(Debug)]
struct EndOpen {
    pipe: Arc<Pipe>,
    end: usize,
}

impl Drop for EndOpen {
    fn drop(&mut self) {
        let end = self.end;
        let mut s = lock(&self.pipe.state);
        s.opens[end] = s.opens[end].saturating_sub(1);
        if s.opens[end] > 0 {
            return;
        }
        // Nobody will read what was written for this end.
        s.queue[other(end)] = VecDeque::new();
        drop(s);
        // Readers of the other end drain, then see EOF; its writers fail.
        self.pipe.readable[other(end)].notify_waiters();
        self.pipe.writable[other(end)].notify_waiters();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum File {
    Root,
    /// `data` (0) or `data1` (1).
    End(usize),
}

impl File {
    fn name(self) -> &'static str {
        match self {
            File::Root => "/",
            File::End(0) => "data",
            File::End(_) => "data1",
        }
    }
}

#[derive(Debug)]
enum Open {
    No,
    Dir(DirCursor),
    End(#[allow(dead_code)] EndOpen),
}

#[derive(Debug)]
struct PipeNode {
    pipe: Arc<Pipe>,
    file: File,
    open: Mutex<Open>,
}

impl PipeNode {
    fn new(pipe: Arc<Pipe>, file: File) -> PipeNode {
        PipeNode {
            pipe,
            file,
            open: Mutex::new(Open::No),
        }
    }

    fn qid_of(&self, file: File) -> Qid {
        let (ty, n) = match file {
            File::Root => (QidType::DIR, 0),
            File::End(e) => (QidType::FILE, e as u64 + 1),
        };
        Qid {
            ty,
            version: 0,
            path: self.pipe.id << 2 | n,
        }
    }

    fn stat_of(&self, file: File) -> Stat {
        let (mode, length) = match file {
            File::Root => (dm::DMDIR | 0o555, 0),
            File::End(e) => (END_PERM, self.pipe.queued_for(e) as u64),
        };
        let mut st = stat(
            self.qid_of(file),
            mode,
            length,
            file.name(),
            &self.pipe.owner,
        );
        st.atime = self.pipe.made;
        st.mtime = self.pipe.made;
        st
    }
}

#[async_trait]
impl Node for PipeNode {
    fn qid(&self) -> Qid {
        self.qid_of(self.file)
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        Ok(Arc::new(PipeNode::new(self.pipe.clone(), self.file)))
    }

    async fn walk1(&self, name: &str) -> Result<NodeRef> {
        if self.file != File::Root {
            return Err(Error::WALK_NO_DIR);
        }
        let next = match name {
            ".." => File::Root,
            "data" => File::End(0),
            "data1" => File::End(1),
            _ => return Err(Error::NOT_FOUND),
        };
        Ok(Arc::new(PipeNode::new(self.pipe.clone(), next)))
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        let open = match self.file {
            File::Root => {
                check_open_dir(mode)?;
                Open::Dir(DirCursor::new())
            }
            File::End(e) => {
                check_open(END_PERM, mode)?;
                Open::End(self.pipe.open_end(e))
            }
        };
        // Replacing an earlier open (only possible outside the 9P rules) closes it.
        let old = std::mem::replace(&mut *lock(&self.open), open);
        drop(old);
        Ok(Opened {
            qid: self.qid(),
            iounit: 0,
        })
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        match self.file {
            File::Root => {
                let mut open = lock(&self.open);
                let Open::Dir(cursor) = &mut *open else {
                    return Err(Error::BAD_USE);
                };
                read_dir(cursor, offset, count, || {
                    vec![self.stat_of(File::End(0)), self.stat_of(File::End(1))]
                })
            }
            File::End(e) => {
                if !matches!(*lock(&self.open), Open::End(_)) {
                    return Err(Error::BAD_USE);
                }
                self.pipe.read(e, count).await
            }
        }
    }

    async fn write(&self, _offset: u64, data: Bytes) -> Result<u32> {
        match self.file {
            File::Root => Err(Error::IS_DIR),
            File::End(e) => {
                if !matches!(*lock(&self.open), Open::End(_)) {
                    return Err(Error::BAD_USE);
                }
                self.pipe.write(e, &data).await
            }
        }
    }

    async fn clunk(&self) {
        let old = std::mem::replace(&mut *lock(&self.open), Open::No);
        drop(old);
    }

    async fn stat(&self) -> Result<Stat> {
        Ok(self.stat_of(self.file))
    }

    async fn wstat(&self, req: &Stat) -> Result<()> {
        wstat_nothing(&self.stat_of(self.file), req)
    }
}
