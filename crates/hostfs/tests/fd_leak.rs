//! Every file descriptor a connection's fids held is closed when the client hangs up.
//! One test alone in its binary, so no other test's descriptors disturb the count.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use ninefold_client::{Client, walk_path};
use ninefold_fs::{Node, Tree};
use ninefold_hostfs::HostTree;
use ninefold_proto::om;
use ninefold_server::{Config, serve_stream};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangup_closes_every_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..50 {
        std::fs::write(dir.path().join(format!("f{i}")), b"data").unwrap();
    }
    let tree: Arc<dyn Tree> = Arc::new(HostTree::new(dir.path(), false).unwrap());
    let before = open_fds();

    // client <-> wire <-> server, so the test can cut the wire like a dropped network.
    let (a, mut wire_a) = tokio::io::duplex(1 << 16);
    let (mut wire_b, b) = tokio::io::duplex(1 << 16);
    let wire = tokio::spawn(async move {
        let _ = tokio::io::copy_bidirectional(&mut wire_a, &mut wire_b).await;
    });
    let server = tokio::spawn(serve_stream(tree.clone(), b, Config::default()));
    let c = Client::connect_stream(a, 1 << 16).await.unwrap();
    let root = c.attach_node("me", "").await.unwrap();
    let mut held = Vec::new();
    for i in 0..50 {
        let n = walk_path(&root, &format!("f{i}")).await.unwrap();
        if i % 2 == 0 {
            n.open(om::OREAD).await.unwrap();
        }
        held.push(n);
    }
    assert!(
        open_fds() >= before + 50,
        "the fids hold descriptors while alive"
    );

    // The client vanishes without clunking anything.
    wire.abort();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // spawn_blocking closes may trail the server's end by a moment.
    for _ in 0..100 {
        if open_fds() <= before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(open_fds(), before);
    drop((held, root, c));
}
