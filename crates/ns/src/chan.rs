//! A channel: one file of one tree, as a name space sees it (Plan 9's `Chan`).

use ninefold_fs::{Error, NodeRef, Qid, Result};

/// An unopened node and the tree instance (`dev`) it belongs to. `dev` and the qid
/// together say which file this is, so a later walk that reaches the same file by another
/// name finds the same mount point, as in Plan 9.
#[derive(Debug, Clone)]
pub struct Chan {
    pub dev: u64,
    pub node: NodeRef,
    pub qid: Qid,
}

/// What a mount point is keyed by: Plan 9's `eqchan` (type and dev, qid path, dir bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChanKey {
    pub dev: u64,
    pub path: u64,
    pub dir: bool,
}

impl Chan {
    pub fn new(dev: u64, node: NodeRef) -> Chan {
        let qid = node.qid();
        Chan { dev, node, qid }
    }

    pub fn key(&self) -> ChanKey {
        ChanKey {
            dev: self.dev,
            path: self.qid.path,
            dir: self.qid.is_dir(),
        }
    }

    pub fn is_dir(&self) -> bool {
        self.qid.is_dir()
    }

    /// One step down. Walking leaves `self` as it was (nodes are unopened fids).
    pub async fn walk1(&self, name: &str) -> Result<Chan> {
        if !self.is_dir() {
            return Err(Error::WALK_NO_DIR);
        }
        let node = self.node.walk1(name).await?;
        Ok(Chan::new(self.dev, node))
    }
}

/// A tree kept alive by whoever holds this (trees need not be `Debug`).
#[derive(Clone)]
pub struct TreeRef(pub std::sync::Arc<dyn ninefold_fs::Tree>);

impl std::fmt::Debug for TreeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TreeRef")
    }
}
