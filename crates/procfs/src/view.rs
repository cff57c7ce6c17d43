//! Another Linux /proc, in which each reader still finds itself.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use ninefold_fs::{Error, NodeRef, Opened, Qid, Result, Stat, Tree, Walked};
use ninefold_proto::read_dir_entries;

use crate::linux::{self, parse_pid};

/// Who is asking, while a request is being served: the thread id of the calling process
/// (as FUSE tells it), or `None` when nobody in particular is.
pub type Reader = Arc<dyn Fn() -> Option<u32> + Send + Sync>;

/// A tree laid out as Linux's /proc — another machine's, served by `ninefold exportfs -r
/// /proc` and mounted over /proc in a session — in which the process reading it finds
/// itself: `N`, when N is the reader's pid (or the id of the reading thread), is this
/// machine's /proc/N, from `near`; every other name is the far tree's.
///
/// Linux programs look themselves up by pid in /proc, and procps's `ps` stops ("fatal
/// library error, lookup self") when it is not there, which on another machine it
/// usually is not. Nothing else changes: the listing is the far machine's alone, and
/// `self` is what the far side makes of it. The near files' qids are mixed with a
/// constant so that they never pass for the far side's (two machines' inode numbers
/// collide). A reader is told from its thread id, so the kernel's cache of names may
/// show a process's own directory to another process that looks up the same pid within
/// the entry timeout.
pub struct ReaderView {
    far: Arc<dyn Tree>,
    near: Arc<dyn Tree>,
    reader: Reader,
}

impl std::fmt::Debug for ReaderView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReaderView")
    }
}

impl ReaderView {
    /// `far` seen by readers who find themselves in `near` (this machine's /proc, opened
    /// as a tree), told apart by `reader`.
    pub fn new(far: Arc<dyn Tree>, near: Arc<dyn Tree>, reader: Reader) -> ReaderView {
        ReaderView { far, near, reader }
    }
}

#[async_trait]
impl Tree for ReaderView {
    async fn attach(&self, uname: &str, aname: &str) -> Result<NodeRef> {
        let far = self.far.attach(uname, aname).await?;
        Ok(Arc::new(ViewRoot {
            far,
            near: self.near.clone(),
            uname: uname.to_owned(),
            reader: self.reader.clone(),
        }))
    }
}

/// The root: the far root, but for the reader's own directory.
struct ViewRoot {
    far: NodeRef,
    near: Arc<dyn Tree>,
    uname: String,
    reader: Reader,
}

impl std::fmt::Debug for ViewRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewRoot").field("far", &self.far).finish()
    }
}

impl ViewRoot {
    /// Whether `name` is the reader's own process directory: the reading thread's id, or
    /// the pid of the process that thread belongs to (per this machine's /proc).
    fn readers_own(&self, name: &str) -> bool {
        let (Some(tid), Some(pid)) = ((self.reader)(), parse_pid(name)) else {
            return false;
        };
        tid == pid || linux::stat(&format!("{pid}/task/{tid}")).is_ok()
    }

    async fn near_root(&self) -> Result<NodeRef> {
        self.near.attach(&self.uname, "").await
    }
}

#[async_trait]
impl ninefold_fs::Node for ViewRoot {
    fn qid(&self) -> Qid {
        self.far.qid()
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        Ok(Arc::new(ViewRoot {
            far: self.far.clone_node().await?,
            near: self.near.clone(),
            uname: self.uname.clone(),
            reader: self.reader.clone(),
        }))
    }

    async fn walk1(&self, name: &str) -> Result<NodeRef> {
        if name == ".." {
            return self.clone_node().await;
        }
        if self.readers_own(name) {
            let root = self.near_root().await?;
            let node = root.walk1(name).await;
            root.clunk().await;
            return Ok(Arc::new(Near(node?)));
        }
        self.far.walk1(name).await
    }

    async fn walk(&self, names: &[String]) -> Result<Walked> {
        match names.first() {
            None => Ok(Walked {
                qids: Vec::new(),
                node: Some(self.clone_node().await?),
            }),
            Some(first) if first != ".." && self.readers_own(first) => {
                let root = self.near_root().await?;
                let walked = root.walk(names).await;
                root.clunk().await;
                let walked = walked?;
                Ok(Walked {
                    qids: walked.qids.into_iter().map(mix).collect(),
                    node: walked.node.map(|n| Arc::new(Near(n)) as NodeRef),
                })
            }
            Some(_) => self.far.walk(names).await,
        }
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        self.far.open(mode).await
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        self.far.read(offset, count).await
    }

    async fn write(&self, offset: u64, data: Bytes) -> Result<u32> {
        self.far.write(offset, data).await
    }

    async fn create(&self, name: &str, perm: u32, mode: u8) -> Result<Opened> {
        self.far.create(name, perm, mode).await
    }

    async fn clunk(&self) {
        self.far.clunk().await
    }

    async fn remove(&self) -> Result<()> {
        self.far.remove().await
    }

    async fn stat(&self) -> Result<Stat> {
        self.far.stat().await
    }

    async fn wstat(&self, stat: &Stat) -> Result<()> {
        self.far.wstat(stat).await
    }
}

/// What near qid paths are mixed with.
const NEAR: u64 = 0x6e65_6172_0000_0000;

fn mix(q: Qid) -> Qid {
    Qid {
        path: q.path ^ NEAR,
        ..q
    }
}

/// A node of this machine's /proc beneath the reader's own directory, its qids mixed.
#[derive(Debug)]
struct Near(NodeRef);

#[async_trait]
impl ninefold_fs::Node for Near {
    fn qid(&self) -> Qid {
        mix(self.0.qid())
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        Ok(Arc::new(Near(self.0.clone_node().await?)))
    }

    async fn walk1(&self, name: &str) -> Result<NodeRef> {
        Ok(Arc::new(Near(self.0.walk1(name).await?)))
    }

    async fn walk(&self, names: &[String]) -> Result<Walked> {
        let w = self.0.walk(names).await?;
        Ok(Walked {
            qids: w.qids.into_iter().map(mix).collect(),
            node: w.node.map(|n| Arc::new(Near(n)) as NodeRef),
        })
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        let o = self.0.open(mode).await?;
        Ok(Opened {
            qid: mix(o.qid),
            ..o
        })
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        let data = self.0.read(offset, count).await?;
        if !self.0.qid().is_dir() || data.is_empty() {
            return Ok(data);
        }
        // A directory's entries carry qids too; their sizes do not change.
        let entries = read_dir_entries(data).map_err(|_| Error::IO)?;
        let mut out = BytesMut::new();
        for mut st in entries {
            st.qid = mix(st.qid);
            st.encode(&mut out);
        }
        Ok(out.freeze())
    }

    async fn write(&self, offset: u64, data: Bytes) -> Result<u32> {
        self.0.write(offset, data).await
    }

    async fn clunk(&self) {
        self.0.clunk().await
    }

    async fn remove(&self) -> Result<()> {
        self.0.remove().await
    }

    async fn stat(&self) -> Result<Stat> {
        let mut st = self.0.stat().await?;
        st.qid = mix(st.qid);
        Ok(st)
    }

    async fn wstat(&self, stat: &Stat) -> Result<()> {
        self.0.wstat(stat).await
    }
}
