//! [`HostTree`]: the root fd and the state its nodes share.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use ninefold_fs::{Error, NodeRef, Result, Tree};
use rustix::fs::{Mode, OFlags, fstat, open};

use crate::node::HostNode;
use crate::resolve::{errno, open_beneath, parse_aname};
use crate::stat::{DevTable, Names};

/// What every node of one tree shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// `O_PATH | O_DIRECTORY` fd of the root: every lookup starts here.
    pub(crate) root: OwnedFd,
    pub(crate) read_only: bool,
    pub(crate) devs: DevTable,
    pub(crate) names: Names,
}

impl Shared {
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::READ_ONLY);
        }
        Ok(())
    }
}

/// A host directory served as a tree, confined beneath its root.
#[derive(Debug, Clone)]
pub struct HostTree {
    shared: Arc<Shared>,
}

impl HostTree {
    /// Serve `root` (must be an existing directory); read_only refuses every change.
    pub fn new(root: &Path, read_only: bool) -> std::io::Result<HostTree> {
        let fd = open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = fstat(&fd)?;
        let shared = Shared {
            root: fd,
            read_only,
            devs: DevTable::default(),
            names: Names::default(),
        };
        // The root's device gets index 0, so qid.path is the plain inode number there.
        shared.devs.path(&st);
        // Fail now, not at the first walk, on a kernel without openat2 (before 5.6).
        open_beneath(shared.root.as_fd(), &[], OFlags::PATH).map_err(|e| {
            std::io::Error::other(format!("cannot resolve beneath {}: {e}", root.display()))
        })?;
        Ok(HostTree {
            shared: Arc::new(shared),
        })
    }
}

#[async_trait]
impl Tree for HostTree {
    /// The node for `aname` beneath the root; `uname` is ignored because the host
    /// permissions of the serving user apply.
    async fn attach(&self, _uname: &str, aname: &str) -> Result<NodeRef> {
        let path = parse_aname(aname)?;
        let shared = self.shared.clone();
        let node = crate::io::blocking(move || {
            let fd = open_beneath(shared.root.as_fd(), &path, OFlags::PATH)?;
            let st = fstat(&fd).map_err(errno)?;
            Ok(HostNode::new(shared, path, Arc::new(fd), &st))
        })
        .await?;
        Ok(Arc::new(node))
    }
}
