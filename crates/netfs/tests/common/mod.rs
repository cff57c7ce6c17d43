//! Helpers shared by the tests: a root reached either directly through the `Node` trait or
//! through ninefold's own server and client, and bounded versions of the usual file calls.
#![allow(clippy::unwrap_used, dead_code, unused_imports)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ninefold_fs::{NodeRef, Result, Stat};
use ninefold_netfs::NetTree;
pub use ninefold_testkit::{
    STEP, USER, Via, attach, bounded, open, try_open, walk, within_scenario,
};

/// Runs `scenario` on a fresh tree, failing if the whole of it takes too long.
pub async fn run<F, Fut>(via: Via, scenario: F)
where
    F: FnOnce(NodeRef) -> Fut,
    Fut: Future<Output = ()>,
{
    let root = attach(Arc::new(NetTree::new()), via).await;
    within_scenario(scenario(root)).await;
}

/// One read from offset 0, as text.
pub async fn text(n: &NodeRef) -> String {
    let b = bounded(n.read(0, 8192)).await.unwrap();
    String::from_utf8(b.to_vec()).unwrap()
}

/// Opens, reads and clunks a small file.
pub async fn cat(root: &NodeRef, path: &str) -> String {
    let n = open(root, path, ninefold_proto::om::OREAD).await;
    let s = text(&n).await;
    bounded(n.clunk()).await;
    s
}

pub async fn write(n: &NodeRef, s: &str) -> Result<u32> {
    bounded(n.write(0, Bytes::from(s.to_owned()))).await
}

/// Reads a stream until `len` bytes have come.
pub async fn read_exactly(n: &NodeRef, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < len {
        let b = bounded(n.read(0, (len - out.len()) as u32)).await.unwrap();
        assert!(!b.is_empty(), "unexpected EOF after {} bytes", out.len());
        out.extend_from_slice(&b);
    }
    out
}

/// The entries of a directory.
pub async fn list(root: &NodeRef, path: &str) -> Vec<Stat> {
    let d = open(root, path, ninefold_proto::om::OREAD).await;
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let b = bounded(d.read(offset, 65536)).await.unwrap();
        if b.is_empty() {
            break;
        }
        offset += b.len() as u64;
        all.extend(ninefold_proto::read_dir_entries(b).unwrap());
    }
    bounded(d.clunk()).await;
    all
}

/// The port of an `addr!port\n` file.
pub fn port_of(addr_file: &str) -> u16 {
    addr_file
        .trim_end()
        .rsplit('!')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Polls `cond` until it holds, within [`STEP`].
pub async fn eventually<F, Fut>(mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    bounded(async {
        while !cond().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Declares a scenario (a function in the file's `scenarios` module) as two tests: one
/// straight through the `Node` trait, one through ninefold's server and client.
#[allow(unused_macros)] // dial.rs and lifetime.rs declare their tests by hand.
macro_rules! scenario {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn direct() {
                crate::common::run(crate::common::Via::Direct, super::scenarios::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn served() {
                crate::common::run(crate::common::Via::Served, super::scenarios::$name).await
            }
        }
    };
}
