//! Helpers shared by the integration tests: a tree on a temporary directory, and short
//! forms of the Node calls.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use bytes::Bytes;
use ninefold_fs::{Error, NodeRef, Tree};
use ninefold_hostfs::HostTree;
use ninefold_proto::{Stat, read_dir_entries};

/// A temporary directory whose subdirectory `root` is served; the parent holds files
/// outside the root for escape tests.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub tree: HostTree,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with(false)
    }

    pub fn read_only() -> Fixture {
        Fixture::with(true)
    }

    fn with(read_only: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::write(dir.path().join("secret"), b"outside").unwrap();
        let tree = HostTree::new(&dir.path().join("root"), read_only).unwrap();
        Fixture { dir, tree }
    }

    /// The served directory on the host.
    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    pub fn host(&self, rel: &str) -> std::path::PathBuf {
        self.root().join(rel)
    }

    pub fn write(&self, rel: &str, data: &[u8]) {
        let p = self.host(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, data).unwrap();
    }

    pub fn mkdir(&self, rel: &str) {
        std::fs::create_dir_all(self.host(rel)).unwrap();
    }

    pub async fn attach(&self) -> NodeRef {
        self.tree.attach("nobody", "").await.unwrap()
    }

    /// The node at `path` ("a/b/c"), walked from the root in one walk.
    pub async fn walk(&self, path: &str) -> Result<NodeRef, Error> {
        let root = self.attach().await;
        walk(&root, path).await
    }
}

pub async fn walk(from: &NodeRef, path: &str) -> Result<NodeRef, Error> {
    let names: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let walked = from.walk(&names).await?;
    walked.node.ok_or(Error::NOT_FOUND)
}

/// Reads the whole of an open file in `chunk`-byte reads.
pub async fn read_all(node: &NodeRef, chunk: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let data = node.read(out.len() as u64, chunk).await.unwrap();
        if data.is_empty() {
            return out;
        }
        out.extend_from_slice(&data);
    }
}

/// Every entry of an open directory, read from offset 0 in `count`-byte reads; each read
/// must hold whole entries.
pub async fn read_dir(node: &NodeRef, count: u32) -> Vec<Stat> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let data: Bytes = node.read(offset, count).await.unwrap();
        if data.is_empty() {
            return out;
        }
        assert!(data.len() <= count as usize);
        offset += data.len() as u64;
        out.extend(read_dir_entries(data).unwrap());
    }
}

pub fn names(entries: &[Stat]) -> Vec<String> {
    let mut names: Vec<String> = entries.iter().map(|s| s.name.clone()).collect();
    names.sort();
    names
}

pub fn host_mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}
