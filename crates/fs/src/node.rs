//! [`Tree`] and [`Node`]: what a file server implements.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ninefold_proto::{Qid, Stat};

use crate::{Error, Result};

/// A shared handle to a node, as the fid tables of servers and namespaces hold them.
pub type NodeRef = Arc<dyn Node>;

/// A file tree that can be attached to.
#[async_trait]
pub trait Tree: Send + Sync {
    /// A new node at the root of the tree (or of the subtree `aname` names). `uname` is the
    /// principal the transport authenticated, not a name the peer merely claimed.
    async fn attach(&self, uname: &str, aname: &str) -> Result<NodeRef>;
}

/// The outcome of a walk: the qids of the elements walked and, if every element was walked,
/// the node they lead to. A walk that fails on its first element is an `Err` instead.
#[derive(Debug)]
pub struct Walked {
    pub qids: Vec<Qid>,
    pub node: Option<NodeRef>,
}

/// The reply to open and create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub qid: Qid,
    /// Largest read or write the file does atomically; 0 means "msize permits".
    pub iounit: u32,
}

/// What [`Node::walk_open`] gives back: the opened node and what its first read returned.
#[derive(Debug)]
pub struct WalkOpened {
    pub node: NodeRef,
    pub opened: Opened,
    /// The bytes at offset 0, if a read was asked for.
    pub data: Option<Bytes>,
}

/// One fid's view of one file.
///
/// The serving layer guarantees the 9P preconditions before calling: a node is walked only
/// while not open, read and written only once opened with a mode that allows it, created in
/// only if it is a directory. A node may still see concurrent calls (two reads in flight),
/// so state it keeps after open sits behind interior mutability. The server starts calls
/// (polls them first) in the order their requests came: a stream whose writes must land in
/// order takes its place, a fair lock, before its first await, and a client may then keep
/// several writes in flight.
#[async_trait]
pub trait Node: Send + Sync + std::fmt::Debug {
    /// The qid of the file this node currently refers to.
    fn qid(&self) -> Qid;

    /// A new, unopened node for the same file: a walk of zero elements.
    async fn clone_node(&self) -> Result<NodeRef>;

    /// A new node for the entry `name` of this directory. `..` of the root is the root.
    async fn walk1(&self, _name: &str) -> Result<NodeRef> {
        Err(Error::NOT_FOUND)
    }

    /// Walks several elements at once. The default walks them one by one; trees that can do
    /// better (a remote client) override it.
    async fn walk(&self, names: &[String]) -> Result<Walked> {
        let mut cur = self.clone_node().await?;
        let mut qids = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            if !cur.qid().is_dir() {
                if i == 0 {
                    return Err(Error::WALK_NO_DIR);
                }
                return Ok(Walked { qids, node: None });
            }
            match cur.walk1(name).await {
                Ok(next) => {
                    qids.push(next.qid());
                    cur = next;
                }
                Err(e) if i == 0 => return Err(e),
                Err(_) => return Ok(Walked { qids, node: None }),
            }
        }
        Ok(Walked {
            qids,
            node: Some(cur),
        })
    }

    /// Walks `names` to a new node, opens it with `mode` and, if `read` says how much,
    /// reads that much from offset 0: what opening a clone or a status file and reading it
    /// does. The default does the three in turn; a remote node sends them together, so
    /// through 9P they cost one round trip instead of three. On failure nothing stays open.
    async fn walk_open(&self, names: &[String], mode: u8, read: Option<u32>) -> Result<WalkOpened> {
        let node = self.walk(names).await?.node.ok_or(Error::NOT_FOUND)?;
        let r = async {
            let opened = node.open(mode).await?;
            let data = match read {
                Some(n) => Some(node.read(0, n).await?),
                None => None,
            };
            Ok((opened, data))
        }
        .await;
        match r {
            Ok((opened, data)) => Ok(WalkOpened { node, opened, data }),
            Err(e) => {
                node.clunk().await;
                Err(e)
            }
        }
    }

    /// Prepares the node for I/O. `mode` is the 9P open mode (OREAD… with OTRUNC etc.);
    /// ORCLOSE is carried out by the serving layer, which calls [`Node::remove`] on clunk.
    async fn open(&self, mode: u8) -> Result<Opened>;

    /// Creates `name` in this directory and makes this node refer to it, opened with `mode`.
    async fn create(&self, _name: &str, _perm: u32, _mode: u8) -> Result<Opened> {
        Err(Error::PERM)
    }

    /// Up to `count` bytes at `offset`. Directories return whole stat entries and may
    /// refuse offsets they did not return (see [`crate::DirCursor`]).
    async fn read(&self, _offset: u64, _count: u32) -> Result<Bytes> {
        Err(Error::PERM)
    }

    /// Writes `data` at `offset`, returning how much was written.
    async fn write(&self, _offset: u64, _data: Bytes) -> Result<u32> {
        Err(Error::PERM)
    }

    /// The fid is gone: release what open acquired.
    async fn clunk(&self) {}

    /// Removes the file; the fid is gone whether or not this succeeds.
    async fn remove(&self) -> Result<()> {
        self.clunk().await;
        Err(Error::PERM)
    }

    async fn stat(&self) -> Result<Stat>;

    /// Changes the fields of `stat` that do not hold their "don't touch" values.
    async fn wstat(&self, _stat: &Stat) -> Result<()> {
        Err(Error::PERM)
    }
}
