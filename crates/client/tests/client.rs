//! The client against our server, over in-memory streams and a real unix socket.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use ninefold_client::{Client, RemoteNode, walk_path};
use ninefold_fs::synth::{Entry, StaticFile, SynthFile, SynthTree};
use ninefold_fs::{Node, Result, Tree};
use ninefold_proto::om;
use ninefold_server::{Config, serve_stream};

#[derive(Debug, Default)]
struct Blocking {
    cancelled: Arc<AtomicUsize>,
}

struct CountDrop(Arc<AtomicUsize>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl SynthFile for Blocking {
    async fn read(&self, _offset: u64, _count: u32) -> Result<Bytes> {
        let _g = CountDrop(self.cancelled.clone());
        std::future::pending::<()>().await;
        unreachable!()
    }
}

fn big() -> Bytes {
    Bytes::from(
        (0..100_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn tree(cancelled: Arc<AtomicUsize>) -> SynthTree {
    let mut deep = Entry::file(StaticFile(Bytes::from_static(b"bottom")));
    for i in (0..20).rev() {
        deep = Entry::dir([(format!("d{i}"), deep)]);
    }
    SynthTree::new(Entry::dir([
        (
            "hello",
            Entry::file(StaticFile(Bytes::from_static(b"hello, world\n"))),
        ),
        ("big", Entry::file(StaticFile(big()))),
        ("block", Entry::file(Blocking { cancelled })),
        ("deep", deep),
    ]))
}

async fn connect(t: Arc<dyn Tree>, max_msize: u32, want: u32) -> Client {
    let (a, b) = tokio::io::duplex(1 << 16);
    let config = Config {
        max_msize,
        principal: None,
    };
    tokio::spawn(serve_stream(t, b, config));
    Client::connect_stream(a, want).await.unwrap()
}

async fn open(root: &RemoteNode, path: &str) -> RemoteNode {
    let n = walk_path(root, path).await.unwrap();
    n.open(om::OREAD).await.unwrap();
    n
}

#[tokio::test]
async fn walks_longer_than_sixteen_names_are_split() {
    let c = connect(Arc::new(tree(Default::default())), 65536, 65536).await;
    let root = c.attach_node("me", "").await.unwrap();
    let path: String = std::iter::once("deep".to_string())
        .chain((0..20).map(|i| format!("d{i}")))
        .collect::<Vec<_>>()
        .join("/");
    let n = open(&root, &path).await;
    assert_eq!(&n.read(0, 100).await.unwrap()[..], b"bottom");
    let missing = walk_path(&root, &format!("{path}/../nope"))
        .await
        .unwrap_err();
    assert!(missing.as_str().contains("does not exist"), "{missing}");
}

#[tokio::test]
async fn msize_is_negotiated_down_and_reads_respect_it() {
    let c = connect(Arc::new(tree(Default::default())), 8192, 1 << 20).await;
    assert_eq!(c.msize(), 8192);
    let root = c.attach_node("me", "").await.unwrap();
    let n = open(&root, "big").await;
    let first = n.read(0, 1 << 20).await.unwrap();
    assert_eq!(first.len(), 8192 - 24);
    let all = n.read_exact_or_eof(0, 1 << 20).await.unwrap();
    assert_eq!(Bytes::from(all), big());
}

#[tokio::test]
async fn many_requests_share_one_connection() {
    let c = connect(Arc::new(tree(Default::default())), 65536, 65536).await;
    let root = Arc::new(c.attach_node("me", "").await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..64u64 {
        let root = root.clone();
        tasks.push(tokio::spawn(async move {
            let n = open(&root, "big").await;
            let off = i * 1000;
            let got = n.read(off, 500).await.unwrap();
            assert_eq!(got, big().slice(off as usize..off as usize + 500));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn giving_up_on_a_request_flushes_it() {
    let cancelled = Arc::new(AtomicUsize::new(0));
    let c = connect(Arc::new(tree(cancelled.clone())), 65536, 65536).await;
    let root = c.attach_node("me", "").await.unwrap();
    let n = open(&root, "block").await;
    let r = tokio::time::timeout(Duration::from_millis(100), n.read(0, 10)).await;
    assert!(r.is_err(), "the read blocks");
    for _ in 0..100 {
        if cancelled.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(cancelled.load(Ordering::SeqCst), 1, "server saw the flush");
    let h = open(&root, "hello").await;
    assert_eq!(&h.read(0, 5).await.unwrap()[..], b"hello");
}

#[tokio::test]
async fn a_client_is_a_tree_that_can_be_served_again() {
    let inner = connect(Arc::new(tree(Default::default())), 65536, 65536).await;
    let outer = connect(Arc::new(inner), 65536, 65536).await;
    let root = outer.attach_node("me", "").await.unwrap();
    let n = open(&root, "hello").await;
    assert_eq!(&n.read(0, 100).await.unwrap()[..], b"hello, world\n");
    let st = n.stat().await.unwrap();
    assert_eq!(st.name, "hello");
}

#[tokio::test]
async fn a_dead_connection_fails_requests_cleanly() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(serve_stream(
        Arc::new(tree(Default::default())),
        b,
        Config::default(),
    ));
    let c = Client::connect_stream(a, 65536).await.unwrap();
    let root = c.attach_node("me", "").await.unwrap();
    server.abort();
    let _ = server.await;
    let e = root.stat().await.unwrap_err();
    assert_eq!(e.as_str(), "i/o on hungup channel");
}

#[tokio::test]
async fn works_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("ninefold-client-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let t: Arc<dyn Tree> = Arc::new(tree(Default::default()));
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        serve_stream(t, s, Config::default()).await
    });
    let s = tokio::net::UnixStream::connect(&path).await.unwrap();
    let c = Client::connect_stream(s, 1 << 20).await.unwrap();
    let root = c.attach_node("me", "").await.unwrap();
    let n = open(&root, "big").await;
    assert_eq!(n.read(0, 200_000).await.unwrap(), big());
    std::fs::remove_dir_all(&dir).unwrap();
}
