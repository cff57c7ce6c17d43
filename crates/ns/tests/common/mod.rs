//! A name space over a temporary host directory, and small helpers that go through the
//! name space as a served tree would.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use ninefold_fs::{NodeRef, Tree};
use ninefold_hostfs::HostTree;
use ninefold_ns::{Devices, Namespace, NsTree};
use ninefold_proto::{om, read_dir_entries};

pub struct World {
    pub dir: tempfile::TempDir,
    pub ns: Namespace,
}

/// Files to make: `("a/x", "text")`; a name ending in `/` is a directory.
pub async fn world(files: &[(&str, &str)]) -> World {
    world_with(files, Devices::new()).await
}

pub async fn world_with(files: &[(&str, &str)], devices: Devices) -> World {
    let dir = tempfile::tempdir().unwrap();
    make(dir.path(), files);
    let root: Arc<dyn Tree> = Arc::new(HostTree::new(dir.path(), false).unwrap());
    let ns = Namespace::new(root, devices, "glenda").await.unwrap();
    World { dir, ns }
}

pub fn make(root: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = root.join(name);
        if name.ends_with('/') {
            std::fs::create_dir_all(&p).unwrap();
        } else {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
    }
}

/// The node at `path`, reached by walking from the name space's root as a 9P client would.
pub async fn walk(ns: &Namespace, path: &str) -> ninefold_fs::Result<NodeRef> {
    walk_in(&NsTree::new(ns.clone()), "/", path).await
}

pub async fn walk_in(tree: &NsTree, aname: &str, path: &str) -> ninefold_fs::Result<NodeRef> {
    let mut node = tree.attach("glenda", aname).await?;
    for name in path.split('/').filter(|s| !s.is_empty()) {
        node = node.walk1(name).await?;
    }
    Ok(node)
}

pub async fn cat(ns: &Namespace, path: &str) -> ninefold_fs::Result<String> {
    let node = walk(ns, path).await?;
    node.open(om::OREAD).await?;
    let data = node.read(0, 1 << 16).await?;
    node.clunk().await;
    Ok(String::from_utf8(data.to_vec()).unwrap())
}

/// Directory entries' names, in the order a reader gets them.
pub async fn ls(ns: &Namespace, path: &str) -> ninefold_fs::Result<Vec<String>> {
    ls_tree(&NsTree::new(ns.clone()), path).await
}

pub async fn ls_tree(tree: &NsTree, path: &str) -> ninefold_fs::Result<Vec<String>> {
    let node = walk_in(tree, "/", path).await?;
    node.open(om::OREAD).await?;
    let mut names = Vec::new();
    let mut offset = 0;
    // Small reads, so that reads cross member boundaries.
    for _ in 0..10_000 {
        let data: Bytes = node.read(offset, 200).await?;
        if data.is_empty() {
            break;
        }
        offset += data.len() as u64;
        names.extend(read_dir_entries(data).unwrap().into_iter().map(|s| s.name));
    }
    node.clunk().await;
    Ok(names)
}

pub async fn create(ns: &Namespace, dir: &str, name: &str, text: &str) -> ninefold_fs::Result<()> {
    let node = walk(ns, dir).await?;
    node.create(name, 0o644, om::OWRITE).await?;
    node.write(0, Bytes::copy_from_slice(text.as_bytes()))
        .await?;
    node.clunk().await;
    Ok(())
}
