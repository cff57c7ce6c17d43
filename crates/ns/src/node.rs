//! A name space served as a tree: what `exportfs` of a composed name space serves. A node
//! is a name in the name space (a [`Place`]) plus, once opened, the member file it opened.
//! The attach name picks the subtree; `..` is lexical and stops at that subtree's top, so
//! nothing above it can be reached.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use ninefold_fs::{Error, Node, NodeRef, Opened, Qid, Result, Stat, Tree};
use ninefold_proto::om;
use tokio::sync::Mutex as AsyncMutex;

use crate::chan::Chan;
use crate::namespace::{Namespace, Place};
use crate::path::NsPath;
use crate::union::UnionDir;

pub const E_NO_CREATE: Error = Error::from_static("mounted directory forbids creation");

/// A name space as a [`Tree`].
#[derive(Debug, Clone)]
pub struct NsTree {
    ns: Namespace,
    compact: bool,
    read_only: bool,
    root: NsPath,
}

impl NsTree {
    /// All of `ns`, unions listed as Plan 9 lists them, writable.
    pub fn new(ns: Namespace) -> NsTree {
        NsTree {
            ns,
            compact: false,
            read_only: false,
            root: NsPath::root(),
        }
    }

    /// Union directories list each name once (the first), as Linux programs expect.
    pub fn compact(mut self, on: bool) -> NsTree {
        self.compact = on;
        self
    }

    /// Refuse every create, remove, wstat, write and open for writing.
    pub fn read_only(mut self, on: bool) -> NsTree {
        self.read_only = on;
        self
    }

    /// Serve only the subtree at `root`: attach names are taken below it.
    pub fn rooted_at(mut self, root: NsPath) -> NsTree {
        self.root = root;
        self
    }
}

#[async_trait]
impl Tree for NsTree {
    /// The attach name picks a subtree of the served root; it cannot climb above it, and
    /// `#` device names in it are plain names.
    async fn attach(&self, _uname: &str, aname: &str) -> Result<NodeRef> {
        let mut base = self.root.clone();
        for e in aname.split('/') {
            match e {
                "" | "." => {}
                ".." if base.elems.len() > self.root.elems.len() => {
                    base.elems.pop();
                }
                ".." => {}
                e => base.elems.push(e.to_string()),
            }
        }
        let place = self.ns.resolve(&base, true).await?;
        Ok(Arc::new(NsNode::new(self, base, place)))
    }
}

#[derive(Debug)]
enum Open {
    No,
    File(NodeRef),
    Union(UnionDir),
}

#[derive(Debug)]
pub struct NsNode {
    ns: Namespace,
    compact: bool,
    read_only: bool,
    /// The attach name: `..` stops here.
    base: NsPath,
    place: Mutex<Place>,
    open: AsyncMutex<Open>,
}

/// qid paths of different trees may collide; mix the tree into them (the root tree,
/// dev 0, keeps its own, so host inode numbers stay as they are).
fn export_qid(chan: &Chan, qid: Qid) -> Qid {
    mix(chan.dev, qid)
}

fn mix(dev: u64, qid: Qid) -> Qid {
    Qid {
        path: qid.path ^ dev.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ..qid
    }
}

/// A directory read of tree `dev`, its entries' qids mixed as [`export_qid`] mixes
/// walks' and stats': a listing must name each file by the same qid a walk to it gives
/// (FUSE takes both for inode numbers).
pub(crate) fn export_entries(dev: u64, data: Bytes) -> Result<Bytes> {
    if dev == 0 || data.is_empty() {
        return Ok(data);
    }
    let entries = ninefold_proto::read_dir_entries(data).map_err(|_| Error::IO)?;
    let mut out = bytes::BytesMut::new();
    for mut st in entries {
        st.qid = mix(dev, st.qid);
        st.encode(&mut out);
    }
    Ok(out.freeze())
}

impl NsNode {
    fn new(tree: &NsTree, base: NsPath, place: Place) -> NsNode {
        NsNode {
            ns: tree.ns.clone(),
            compact: tree.compact,
            read_only: tree.read_only,
            base,
            place: Mutex::new(place),
            open: AsyncMutex::new(Open::No),
        }
    }

    fn sibling(&self, place: Place) -> NodeRef {
        Arc::new(NsNode {
            ns: self.ns.clone(),
            compact: self.compact,
            read_only: self.read_only,
            base: self.base.clone(),
            place: Mutex::new(place),
            open: AsyncMutex::new(Open::No),
        })
    }

    fn writable(&self) -> Result<()> {
        if self.read_only {
            Err(Error::READ_ONLY)
        } else {
            Ok(())
        }
    }

    fn place(&self) -> Place {
        self.place.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The node I/O goes to: the opened member file, or (unopened) the chan's node.
    async fn target(&self) -> Result<NodeRef> {
        match &*self.open.lock().await {
            Open::File(n) => Ok(n.clone()),
            Open::Union(_) => Err(Error::IS_DIR),
            Open::No => Ok(self.place().chan.node),
        }
    }
}

#[async_trait]
impl Node for NsNode {
    fn qid(&self) -> Qid {
        let p = self.place();
        export_qid(&p.chan, p.chan.qid)
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        Ok(self.sibling(self.place()))
    }

    async fn walk1(&self, name: &str) -> Result<NodeRef> {
        let place = self.place();
        if name == ".." {
            if place.path == self.base || !place.path.starts_with(&self.base) {
                return Ok(self.sibling(place));
            }
            let up = self.ns.resolve(&place.path.parent(), true).await?;
            return Ok(self.sibling(up));
        }
        if name.is_empty() || name == "." || name.contains('/') {
            return Err(Error::NOT_FOUND);
        }
        let chan = self.ns.step(&place, name).await?;
        Ok(self.sibling(self.ns.domount(place.path.join(name), chan)))
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        let writes = mode & om::OACCMODE == om::OWRITE
            || mode & om::OACCMODE == om::ORDWR
            || mode & (om::OTRUNC | om::ORCLOSE) != 0;
        if writes {
            self.writable()?;
        }
        let place = self.place();
        let mut open = self.open.lock().await;
        if !matches!(*open, Open::No) {
            return Err(Error::BAD_USE);
        }
        let members = place.members();
        if members.len() > 1 && place.chan.is_dir() {
            if mode & om::OACCMODE != om::OREAD && mode & om::OACCMODE != om::OEXEC {
                return Err(Error::IS_DIR);
            }
            *open = Open::Union(UnionDir::new(members, self.compact));
            return Ok(Opened {
                qid: export_qid(&place.chan, place.chan.qid),
                iounit: 0,
            });
        }
        let node = place.chan.node.clone_node().await?;
        let opened = node.open(mode).await?;
        *open = Open::File(node);
        Ok(Opened {
            qid: export_qid(&place.chan, opened.qid),
            iounit: opened.iounit,
        })
    }

    async fn create(&self, name: &str, perm: u32, mode: u8) -> Result<Opened> {
        self.writable()?;
        let place = self.place();
        let mut open = self.open.lock().await;
        if !matches!(*open, Open::No) {
            return Err(Error::BAD_USE);
        }
        if !place.chan.is_dir() {
            return Err(Error::NOT_DIR);
        }
        // A name any member has is taken; the kernel's create(2) would open it instead.
        if self.ns.step(&place, name).await.is_ok() {
            return Err(Error::EXISTS);
        }
        // At a mount point only a member bound with -c takes new files, and the first
        // such member decides: no other is tried when it fails.
        let dir = match &place.union {
            None => place.chan.clone(),
            Some(u) => u
                .iter()
                .find(|m| m.flags.create)
                .map(|m| m.to.clone())
                .ok_or(E_NO_CREATE)?,
        };
        let node = dir.node.clone_node().await?;
        let opened = node.create(name, perm, mode).await?;
        let chan = Chan::new(dir.dev, node.clone());
        *open = Open::File(node);
        *self.place.lock().unwrap_or_else(|e| e.into_inner()) = Place {
            path: place.path.join(name),
            chan: chan.clone(),
            union: None,
        };
        Ok(Opened {
            qid: export_qid(&chan, opened.qid),
            iounit: opened.iounit,
        })
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        let mut open = self.open.lock().await;
        match &mut *open {
            Open::File(n) => {
                let n = n.clone();
                drop(open);
                let data = n.read(offset, count).await?;
                if n.qid().is_dir() {
                    return export_entries(self.place().chan.dev, data);
                }
                Ok(data)
            }
            Open::Union(u) => u.read(offset, count).await,
            Open::No => Err(Error::BAD_USE),
        }
    }

    async fn write(&self, offset: u64, data: Bytes) -> Result<u32> {
        let node = match &*self.open.lock().await {
            Open::File(n) => n.clone(),
            Open::Union(_) => return Err(Error::IS_DIR),
            Open::No => return Err(Error::BAD_USE),
        };
        node.write(offset, data).await
    }

    async fn clunk(&self) {
        let mut open = self.open.lock().await;
        match std::mem::replace(&mut *open, Open::No) {
            Open::File(n) => n.clunk().await,
            Open::Union(mut u) => u.close().await,
            Open::No => {}
        }
    }

    async fn remove(&self) -> Result<()> {
        if let Err(e) = self.writable() {
            self.clunk().await;
            return Err(e);
        }
        let opened = match std::mem::replace(&mut *self.open.lock().await, Open::No) {
            Open::File(n) => Some(n),
            Open::Union(mut u) => {
                u.close().await;
                None
            }
            Open::No => None,
        };
        let node = match opened {
            Some(n) => n,
            // The chan's node may be shared with the mount table: remove through a clone.
            None => self.place().chan.node.clone_node().await?,
        };
        node.remove().await
    }

    async fn stat(&self) -> Result<Stat> {
        let place = self.place();
        let mut st = self.target().await?.stat().await?;
        // As Plan 9's dirsetname: a file bound elsewhere is called by the name it is at.
        if let Some(last) = place.path.last() {
            st.name = last.to_string();
        }
        st.qid = export_qid(&place.chan, st.qid);
        Ok(st)
    }

    async fn wstat(&self, stat: &Stat) -> Result<()> {
        self.writable()?;
        self.target().await?.wstat(stat).await?;
        // A rename changes the name this node is at (and stat reports).
        if !stat.name.is_empty() {
            let mut place = self.place.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(last) = place.path.elems.last_mut() {
                *last = stat.name.clone();
            }
        }
        Ok(())
    }
}
