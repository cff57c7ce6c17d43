//! Helpers shared by the device tests: a tree reached directly or through ninefold's own
//! server and client, and bounded versions of the usual file calls.
#![allow(clippy::unwrap_used, dead_code, unused_imports)]

use bytes::Bytes;
use ninefold_fs::{NodeRef, Result, Stat};
use ninefold_proto::om;
pub use ninefold_testkit::{
    BLOCKED, USER, Via, attach, bounded, open, stays_blocked, try_open, walk,
};

/// Creates `name` in the directory `dir` (a path from `root`); the node is the new file.
pub async fn create(root: &NodeRef, dir: &str, name: &str, perm: u32, mode: u8) -> Result<NodeRef> {
    let d = walk(root, dir).await?;
    bounded(d.create(name, perm, mode)).await?;
    Ok(d)
}

/// A whole file, read at increasing offsets until an empty read.
pub async fn read_all(n: &NodeRef) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = bounded(n.read(out.len() as u64, 65536)).await.unwrap();
        if b.is_empty() {
            return out;
        }
        out.extend_from_slice(&b);
    }
}

/// Opens, reads and clunks a file.
pub async fn cat(root: &NodeRef, path: &str) -> Vec<u8> {
    let n = open(root, path, om::OREAD).await;
    let b = read_all(&n).await;
    bounded(n.clunk()).await;
    b
}

pub async fn cat_text(root: &NodeRef, path: &str) -> String {
    String::from_utf8(cat(root, path).await).unwrap()
}

pub async fn write_at(n: &NodeRef, offset: u64, data: &[u8]) -> Result<u32> {
    bounded(n.write(offset, Bytes::copy_from_slice(data))).await
}

/// Reads a stream until `len` bytes have come.
pub async fn read_exactly(n: &NodeRef, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < len {
        let want = (len - out.len()).min(1 << 19) as u32;
        let b = bounded(n.read(0, want)).await.unwrap();
        assert!(!b.is_empty(), "unexpected EOF after {} bytes", out.len());
        out.extend_from_slice(&b);
    }
    out
}

/// The entries of a directory, read in small pieces to exercise the offset rule.
pub async fn list(root: &NodeRef, path: &str) -> Vec<Stat> {
    let d = open(root, path, om::OREAD).await;
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let b = bounded(d.read(offset, 200)).await.unwrap();
        if b.is_empty() {
            break;
        }
        offset += b.len() as u64;
        all.extend(ninefold_proto::read_dir_entries(b).unwrap());
    }
    bounded(d.clunk()).await;
    all
}

pub async fn list_names(root: &NodeRef, path: &str) -> Vec<String> {
    list(root, path).await.into_iter().map(|s| s.name).collect()
}

pub async fn stat(root: &NodeRef, path: &str) -> Stat {
    let n = walk(root, path).await.unwrap();
    let st = bounded(n.stat()).await.unwrap();
    bounded(n.clunk()).await;
    st
}

/// The error's text, for errors that may come back over the wire.
pub fn text<T: std::fmt::Debug>(r: Result<T>) -> String {
    r.expect_err("expected an error").as_str().to_owned()
}
