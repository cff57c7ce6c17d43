//! Sequential read-ahead for files read through the page cache.
//!
//! The kernel asks a FUSE file system for at most 128 KiB at a time, however large the
//! reader's read(2): its readahead window for a FUSE mount is capped at the default, and a
//! file system cannot raise it. Each such request served on its own is a 9P round trip.
//! Once a handle's reads follow each other, this fetches the next few MiB in large Treads,
//! several in flight, and answers the kernel's requests from them.
//!
//! Only page-cached files get this: their contents the kernel caches anyway, so holding a
//! few MiB more for the length of an open changes nothing a reader could rely on. Any write
//! through the mount (the bridge counts them) throws what was fetched away.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use ninefold_fs::NodeRef;
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

/// One fetch: two Treads' worth at the default msize would be wasteful for small files,
/// and a chunk must be large to amortise the round trip.
const CHUNK: u64 = 2 << 20;
/// Chunks fetched ahead of the one being read.
const DEPTH: u64 = 4;

type Fetch = Shared<BoxFuture<'static, Result<Bytes, i32>>>;

#[derive(Debug)]
struct Chunk {
    at: u64,
    data: Fetch,
    abort: AbortHandle,
}

/// What one open file has fetched ahead.
#[derive(Debug, Default)]
pub(crate) struct Prefetch {
    state: std::sync::Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Where the last read ended, once there was one: a read starting there follows it.
    end: Option<u64>,
    /// The bridge's count of writes when the chunks were fetched.
    writes: u64,
    /// Consecutive chunks, in order.
    chunks: VecDeque<Chunk>,
    /// A chunk came back short: the file ends there.
    eof: Option<u64>,
}

impl State {
    fn clear(&mut self) {
        for c in self.chunks.drain(..) {
            c.abort.abort();
        }
        self.eof = None;
    }

    /// Whether the chunks hold `offset`.
    fn covers(&self, offset: u64) -> bool {
        match (self.chunks.front(), self.chunks.back()) {
            (Some(f), Some(b)) => f.at <= offset && offset < b.at + CHUNK,
            _ => false,
        }
    }
}

impl Prefetch {
    /// `size` bytes at `offset`, fewer only at the end of the file, if reads have been
    /// following each other; None when the caller should read for itself (the first
    /// read, or one elsewhere). `writes` is the bridge's count of writes.
    pub(crate) async fn read(
        &self,
        node: &NodeRef,
        rt: &Handle,
        writes: u64,
        offset: u64,
        size: u32,
    ) -> Option<Result<Bytes, i32>> {
        let end = offset.saturating_add(u64::from(size));
        let wanted: Vec<(u64, Fetch)> = {
            let mut s = crate::bridge::lock(&self.state);
            if s.writes != writes {
                s.clear();
                s.writes = writes;
            }
            let follows = s.end == Some(offset);
            s.end = Some(end);
            if !s.covers(offset) {
                s.clear();
                if !follows {
                    return None;
                }
                s.chunks.push_back(fetch(node, rt, offset));
            }
            // Keep one chunk behind (the kernel's requests can arrive out of order) and
            // DEPTH ahead of the one holding `offset`.
            while s.chunks.len() > 1 && s.chunks[1].at + CHUNK <= offset {
                if let Some(c) = s.chunks.pop_front() {
                    c.abort.abort();
                }
            }
            while let Some(last) = s.chunks.back()
                && last.at + CHUNK < offset + (DEPTH + 1) * CHUNK
                && s.eof.is_none_or(|e| last.at + CHUNK < e)
            {
                let next = last.at + CHUNK;
                s.chunks.push_back(fetch(node, rt, next));
            }
            s.chunks
                .iter()
                .filter(|c| c.at < end && offset < c.at + CHUNK)
                .map(|c| (c.at, c.data.clone()))
                .collect()
        };
        let mut out = Pieces::default();
        for (at, data) in wanted {
            let data = match data.await {
                Ok(d) => d,
                Err(e) => {
                    crate::bridge::lock(&self.state).clear();
                    return Some(Err(e));
                }
            };
            if (data.len() as u64) < CHUNK {
                let mut s = crate::bridge::lock(&self.state);
                let e = at + data.len() as u64;
                s.eof = Some(s.eof.map_or(e, |old| old.min(e)));
            }
            let from = offset.saturating_sub(at).min(data.len() as u64) as usize;
            let to = (end - at).min(data.len() as u64) as usize;
            out.push(data.slice(from..to.max(from)));
            if to < (end - at).min(CHUNK) as usize {
                break; // the file ends in this chunk
            }
        }
        Some(Ok(out.finish()))
    }

    /// The file is closed: stop every fetch.
    pub(crate) fn stop(&self) {
        crate::bridge::lock(&self.state).clear();
    }
}

/// Starts fetching the chunk at `at`: Treads until it is full or the file ends.
fn fetch(node: &NodeRef, rt: &Handle, at: u64) -> Chunk {
    let node = node.clone();
    let task = rt.spawn(async move {
        let mut got = Pieces::default();
        let mut have = 0u64;
        while have < CHUNK {
            let want = u32::try_from(CHUNK - have).unwrap_or(u32::MAX);
            let data = node.read(at + have, want).await.map_err(|e| e.errno())?;
            if data.is_empty() {
                break;
            }
            have += data.len() as u64;
            got.push(data);
        }
        Ok(got.finish())
    });
    let abort = task.abort_handle();
    let data = async move { task.await.unwrap_or(Err(crate::abi::errno::EIO)) }
        .boxed()
        .shared();
    Chunk { at, data, abort }
}

/// Bytes gathered piece by piece: one piece is kept as it is (no copy), more are joined.
#[derive(Default)]
struct Pieces {
    first: Option<Bytes>,
    joined: Option<BytesMut>,
}

impl Pieces {
    fn push(&mut self, piece: Bytes) {
        match (&mut self.joined, self.first.take()) {
            (Some(b), _) => b.extend_from_slice(&piece),
            (None, None) => self.first = Some(piece),
            (None, Some(f)) => {
                let mut b = BytesMut::with_capacity(f.len() + piece.len());
                b.extend_from_slice(&f);
                b.extend_from_slice(&piece);
                self.joined = Some(b);
            }
        }
    }

    fn finish(self) -> Bytes {
        match self.joined {
            Some(b) => b.freeze(),
            None => self.first.unwrap_or_default(),
        }
    }
}
