//! Lifetimes seen from the tree itself: several users of one tree, fids dropped without a
//! clunk, the conversation limit, cancelled waits, and a 9P connection that dies with calls
//! in progress.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use ninefold_fs::{NodeRef, Tree};
use ninefold_netfs::NetTree;
use ninefold_proto::om;

#[tokio::test]
async fn a_conversation_in_use_belongs_to_its_owner() {
    let tree = NetTree::new();
    let alice = tree.attach("alice", "").await.unwrap();
    let bob = tree.attach("bob", "").await.unwrap();

    let a = open(&alice, "tcp/clone", om::ORDWR).await;
    assert_eq!(text(&a).await, "0");
    for f in ["tcp/0/ctl", "tcp/0/data", "tcp/0/err", "tcp/0/listen"] {
        let e = try_open(&bob, f, om::ORDWR).await.unwrap_err();
        assert_eq!(e.as_str(), "permission denied", "{f}");
    }
    // Anyone may read the address and status files.
    assert_eq!(cat(&bob, "tcp/0/status").await, "Closed\n");
    let st = walk(&bob, "tcp/0").await.unwrap().stat().await.unwrap();
    assert_eq!(st.uid, "alice");

    let b = open(&bob, "tcp/clone", om::ORDWR).await;
    assert_eq!(text(&b).await, "1");
    a.clunk().await;
    // Free again, so bob may take conversation 0 by opening its ctl.
    let b0 = open(&bob, "tcp/0/ctl", om::ORDWR).await;
    let st = walk(&alice, "tcp/0/ctl")
        .await
        .unwrap()
        .stat()
        .await
        .unwrap();
    assert_eq!(st.uid, "bob");
    b0.clunk().await;
    b.clunk().await;
}

#[tokio::test]
async fn dropping_an_open_node_frees_its_conversation() {
    let tree = NetTree::new();
    let root = tree.attach("glenda", "").await.unwrap();
    let a = open(&root, "tcp/clone", om::ORDWR).await;
    assert_eq!(text(&a).await, "0");
    drop(a);
    let b = open(&root, "tcp/clone", om::ORDWR).await;
    assert_eq!(text(&b).await, "0");
    // Clunk then drop releases once, not twice: 0 stays in use by c.
    let c = open(&root, "tcp/0/ctl", om::ORDWR).await;
    b.clunk().await;
    drop(b);
    let d = open(&root, "tcp/clone", om::ORDWR).await;
    assert_eq!(text(&d).await, "1");
    drop((c, d));
}

/// Opens `n` clones of `proto` and keeps them.
async fn clones(root: &NodeRef, proto: &str, n: usize) -> Vec<NodeRef> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let c = walk(root, &format!("{proto}/clone")).await.unwrap();
        c.open(om::ORDWR).await.unwrap();
        held.push(c);
    }
    held
}

#[tokio::test]
async fn the_table_has_an_end() {
    let tree = NetTree::with_max_conversations(16);
    let root = tree.attach("glenda", "").await.unwrap();
    let clone = walk(&root, "tcp/clone").await.unwrap();
    let mut held = clones(&root, "tcp", 16).await;
    assert_eq!(text(&held[15]).await, "15");
    let e = clone.open(om::ORDWR).await.unwrap_err();
    assert_eq!(e.as_str(), "no free devices");
    assert!(cat(&root, "tcp/stats").await.starts_with("MaxConn: 16\n"));
    // Each protocol has a table of its own.
    let u = clones(&root, "udp", 1).await;
    assert_eq!(text(&u[0]).await, "0");
    // A conversation let go is the next one handed out.
    held.remove(5).clunk().await;
    clone.open(om::ORDWR).await.unwrap();
    assert_eq!(text(&clone).await, "5");
    let _keep: Arc<Vec<NodeRef>> = Arc::new(held);
}

#[tokio::test]
async fn the_default_table_holds_65536_conversations_with_distinct_qids() {
    let tree = NetTree::new();
    let root = tree.attach("glenda", "").await.unwrap();
    assert_eq!(NetTree::DEFAULT_MAX_CONVERSATIONS, 65_536);
    let held = clones(&root, "tcp", 65_536).await;
    assert_eq!(text(&held[4096]).await, "4096");
    assert_eq!(text(&held[65_535]).await, "65535");
    let e = try_open(&root, "tcp/clone", om::ORDWR).await.unwrap_err();
    assert_eq!(e.as_str(), "no free devices");
    // Every ctl's qid is distinct, and so is every directory's, past devip's 4096.
    let mut qids: std::collections::HashSet<u64> = held.iter().map(|n| n.qid().path).collect();
    assert_eq!(qids.len(), 65_536);
    for n in [0, 1, 4095, 4096, 4097, 8192, 65_535] {
        let dir = walk(&root, &format!("tcp/{n}")).await.unwrap();
        assert!(qids.insert(dir.qid().path), "tcp/{n}");
        let data = walk(&root, &format!("tcp/{n}/data")).await.unwrap();
        assert!(qids.insert(data.qid().path), "tcp/{n}/data");
    }
    assert!(walk(&root, "tcp/65536").await.is_err());
}

#[tokio::test]
async fn the_lowest_free_conversation_comes_first() {
    let tree = NetTree::new();
    let root = tree.attach("glenda", "").await.unwrap();
    let mut held = clones(&root, "tcp", 6).await;
    // Free 4, 1 and 3; then take 1 back by opening its ctl, as anyone may.
    let four = held.remove(4);
    let three = held.remove(3);
    let one = held.remove(1);
    for n in [four, one, three] {
        n.clunk().await;
    }
    let ctl1 = open(&root, "tcp/1/ctl", om::ORDWR).await;
    let next: Vec<NodeRef> = clones(&root, "tcp", 3).await;
    let mut got = Vec::new();
    for n in &next {
        got.push(text(n).await);
    }
    assert_eq!(got, ["3", "4", "6"]);
    drop((ctl1, held, next));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_9p_connection_releases_everything() {
    let tree = NetTree::new();
    let observer = tree.attach("glenda", "").await.unwrap();

    // The 9P connection runs over loopback TCP so the test can cut it from outside.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = tokio::net::TcpStream::connect(l.local_addr().unwrap())
        .await
        .unwrap();
    let (s, _) = l.accept().await.unwrap();
    let served: Arc<dyn Tree> = Arc::new(tree.clone());
    let server = tokio::spawn(ninefold_server::serve_stream(
        served,
        s,
        ninefold_server::Config::default(),
    ));
    let c = c.into_std().unwrap();
    let cutter = c.try_clone().unwrap();
    let c = tokio::net::TcpStream::from_std(c).unwrap();
    let client = ninefold_client::Client::connect_stream(c, 1 << 16)
        .await
        .unwrap();
    let root: NodeRef = Arc::new(client.attach_node("glenda", "").await.unwrap());

    let ctl = open(&root, "tcp/clone", om::ORDWR).await;
    write(&ctl, "announce 127.0.0.1!0").await.unwrap();
    let port = port_of(&cat(&observer, "tcp/0/local").await);
    // A listen in progress when the connection dies.
    let listen = walk(&root, "tcp/0/listen").await.unwrap();
    let waiting = tokio::spawn(async move { listen.open(om::ORDWR).await });
    // Give the open time to reach the server (the test holds either way).
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;

    cutter.shutdown(std::net::Shutdown::Both).unwrap();
    // The server cancels the listen and clunks every fid: the announcement is gone.
    bounded(server).await.unwrap().ok();
    eventually(|| async { cat(&observer, "tcp/0/status").await == "Closed\n" }).await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    );
    assert!(bounded(waiting).await.unwrap().is_err());
    let again = open(&observer, "tcp/clone", om::ORDWR).await;
    assert_eq!(text(&again).await, "0");
}

/// Cancelling a blocked read or listen (what a Tflush does to the request's future) loses
/// nothing: the next read gets the bytes, the next listen the call. Only checked directly:
/// over 9P, a reply that beats the Rflush counts, so the race is the protocol's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_reads_and_listens_take_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tree = NetTree::new();
    let root = tree.attach("glenda", "").await.unwrap();
    let give_up = std::time::Duration::from_millis(100);

    let ctl = open(&root, "tcp/clone", om::ORDWR).await;
    write(&ctl, "announce 127.0.0.1!0").await.unwrap();
    let port = port_of(&cat(&root, "tcp/0/local").await);
    let waiting = walk(&root, "tcp/0/listen").await.unwrap();
    assert!(
        tokio::time::timeout(give_up, waiting.open(om::ORDWR))
            .await
            .is_err()
    );
    let mut peer = bounded(tokio::net::TcpStream::connect(("127.0.0.1", port)))
        .await
        .unwrap();
    // The call is still queued; give the abandoned future every chance to have taken it.
    tokio::time::sleep(give_up).await;
    let call = open(&root, "tcp/0/listen", om::ORDWR).await;
    assert_eq!(text(&call).await, "1");

    let data = open(&root, "tcp/1/data", om::ORDWR).await;
    assert!(
        tokio::time::timeout(give_up, data.read(0, 100))
            .await
            .is_err()
    );
    bounded(peer.write_all(b"again")).await.unwrap();
    assert_eq!(read_exactly(&data, 5).await, b"again");
    write(&data, "back").await.unwrap();
    let mut buf = [0u8; 4];
    bounded(peer.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"back");
    drop((data, call, ctl, waiting));
}
