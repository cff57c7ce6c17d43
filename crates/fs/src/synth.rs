//! Synthetic trees: a fixed directory structure whose files are small Rust objects.
//!
//! The Plan 9 way to write a device: list the files, say what reading and writing each
//! one does, inherit everything else. A file is anything that implements [`SynthFile`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use ninefold_proto::{Qid, QidType, Stat, dm, om};

use crate::{DirCursor, Error, Node, NodeRef, Opened, Result, Tree};

/// What a synthetic file does when opened, read, written and closed.
#[async_trait]
pub trait SynthFile: Send + Sync + std::fmt::Debug {
    /// Permission bits (and DM flags other than DMDIR).
    fn mode(&self) -> u32 {
        0o444
    }

    fn length(&self) -> u64 {
        0
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes>;

    async fn write(&self, _offset: u64, _data: Bytes) -> Result<u32> {
        Err(Error::PERM)
    }

    /// Called when a fid that opened the file is clunked.
    async fn close(&self) {}
}

/// A file whose contents are fixed bytes.
#[derive(Debug, Clone)]
pub struct StaticFile(pub Bytes);

#[async_trait]
impl SynthFile for StaticFile {
    fn length(&self) -> u64 {
        self.0.len() as u64
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        Ok(slice_at(&self.0, offset, count))
    }
}

/// The part of `data` a read at `offset` of `count` bytes returns.
pub fn slice_at(data: &Bytes, offset: u64, count: u32) -> Bytes {
    let start = offset.min(data.len() as u64) as usize;
    let end = start.saturating_add(count as usize).min(data.len());
    data.slice(start..end)
}

/// A directory entry of a synthetic tree.
#[derive(Debug, Clone)]
pub enum Entry {
    Dir(BTreeMap<String, Entry>),
    File(Arc<dyn SynthFile>),
}

impl Entry {
    pub fn dir<I, S>(entries: I) -> Entry
    where
        I: IntoIterator<Item = (S, Entry)>,
        S: Into<String>,
    {
        Entry::Dir(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn file(f: impl SynthFile + 'static) -> Entry {
        Entry::File(Arc::new(f))
    }
}

/// A fixed tree of synthetic files. qid paths are assigned in tree order at construction.
#[derive(Debug, Clone)]
pub struct SynthTree(Arc<Items>);

#[derive(Debug)]
struct Items {
    nodes: Vec<Item>,
}

#[derive(Debug)]
struct Item {
    name: String,
    parent: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Dir(BTreeMap<String, usize>),
    File(Arc<dyn SynthFile>),
}

impl SynthTree {
    pub fn new(root: Entry) -> SynthTree {
        let mut nodes = Vec::new();
        flatten(&mut nodes, "/".into(), 0, root);
        SynthTree(Arc::new(Items { nodes }))
    }
}

impl Items {
    fn qid(&self, i: usize) -> Qid {
        let ty = match self.nodes[i].kind {
            Kind::Dir(_) => QidType::DIR,
            Kind::File(_) => QidType::FILE,
        };
        Qid {
            ty,
            version: 0,
            path: i as u64,
        }
    }

    fn stat(&self, i: usize) -> Stat {
        let item = &self.nodes[i];
        let (mode, length) = match &item.kind {
            Kind::Dir(_) => (dm::DMDIR | 0o555, 0),
            Kind::File(f) => (f.mode(), f.length()),
        };
        Stat {
            qid: self.qid(i),
            mode,
            length,
            name: item.name.clone(),
            uid: "none".into(),
            gid: "none".into(),
            muid: "none".into(),
            ..Stat::default()
        }
    }
}

fn flatten(nodes: &mut Vec<Item>, name: String, parent: usize, e: Entry) -> usize {
    let me = nodes.len();
    nodes.push(Item {
        name,
        parent,
        kind: Kind::Dir(BTreeMap::new()),
    });
    match e {
        Entry::File(f) => nodes[me].kind = Kind::File(f),
        Entry::Dir(children) => {
            let mut idx = BTreeMap::new();
            for (n, child) in children {
                let c = flatten(nodes, n.clone(), me, child);
                idx.insert(n, c);
            }
            nodes[me].kind = Kind::Dir(idx);
        }
    }
    me
}

#[async_trait]
impl Tree for SynthTree {
    async fn attach(&self, _uname: &str, _aname: &str) -> Result<NodeRef> {
        Ok(Arc::new(SynthNode::new(self.0.clone(), 0)))
    }
}

/// A fid in a synthetic tree.
#[derive(Debug)]
struct SynthNode {
    tree: Arc<Items>,
    index: usize,
    open: Mutex<Option<DirCursor>>,
    opened: AtomicBool,
}

impl SynthNode {
    fn new(tree: Arc<Items>, index: usize) -> SynthNode {
        SynthNode {
            tree,
            index,
            open: Mutex::new(None),
            opened: false.into(),
        }
    }

    fn file(&self) -> Option<&Arc<dyn SynthFile>> {
        match &self.tree.nodes[self.index].kind {
            Kind::File(f) => Some(f),
            Kind::Dir(_) => None,
        }
    }
}

#[async_trait]
impl Node for SynthNode {
    fn qid(&self) -> Qid {
        self.tree.qid(self.index)
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        Ok(Arc::new(SynthNode::new(self.tree.clone(), self.index)))
    }

    async fn walk1(&self, name: &str) -> Result<NodeRef> {
        let item = &self.tree.nodes[self.index];
        let next = match (&item.kind, name) {
            (Kind::File(_), _) => return Err(Error::WALK_NO_DIR),
            (Kind::Dir(_), "..") => item.parent,
            (Kind::Dir(children), n) => *children.get(n).ok_or(Error::NOT_FOUND)?,
        };
        Ok(Arc::new(SynthNode::new(self.tree.clone(), next)))
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        match self.file() {
            None if mode & om::OACCMODE != om::OREAD || mode & om::OTRUNC != 0 => {
                return Err(Error::IS_DIR);
            }
            None => *self.open.lock().unwrap_or_else(|p| p.into_inner()) = Some(DirCursor::new()),
            Some(f) => {
                let m = f.mode();
                let wants_write = matches!(mode & om::OACCMODE, om::OWRITE | om::ORDWR);
                let wants_read = matches!(mode & om::OACCMODE, om::OREAD | om::ORDWR | om::OEXEC);
                if (wants_write && m & 0o222 == 0) || (wants_read && m & 0o444 == 0) {
                    return Err(Error::PERM);
                }
            }
        }
        self.opened.store(true, Ordering::Relaxed);
        Ok(Opened {
            qid: self.qid(),
            iounit: 0,
        })
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        if let Some(f) = self.file() {
            return f.read(offset, count).await;
        }
        let entries = match &self.tree.nodes[self.index].kind {
            Kind::Dir(children) => children.values().map(|&c| self.tree.stat(c)).collect(),
            Kind::File(_) => Vec::new(),
        };
        let mut guard = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let cursor = guard.get_or_insert_with(DirCursor::new);
        if cursor.wants_reload(offset) {
            cursor.reset(entries);
        }
        cursor.read(offset, count)
    }

    async fn write(&self, offset: u64, data: Bytes) -> Result<u32> {
        match self.file() {
            Some(f) => f.write(offset, data).await,
            None => Err(Error::IS_DIR),
        }
    }

    async fn clunk(&self) {
        if self.opened.swap(false, Ordering::Relaxed)
            && let Some(f) = self.file()
        {
            f.close().await;
        }
    }

    async fn stat(&self) -> Result<Stat> {
        Ok(self.tree.stat(self.index))
    }
}
