//! A host directory served by our server and used through our client: the behaviour that
//! only shows once the layers meet (ORCLOSE, unlinked-but-open files, hang-up).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use ninefold_client::{Client, RemoteNode, walk_path};
use ninefold_fs::{Node, Tree};
use ninefold_hostfs::HostTree;
use ninefold_proto::om;
use ninefold_server::{Config, serve_stream};

async fn connect(dir: &std::path::Path) -> (Client, RemoteNode) {
    let tree: Arc<dyn Tree> = Arc::new(HostTree::new(dir, false).unwrap());
    let (a, b) = tokio::io::duplex(1 << 20);
    tokio::spawn(serve_stream(tree, b, Config::default()));
    let c = Client::connect_stream(a, 1 << 20).await.unwrap();
    let root = c.attach_node("me", "").await.unwrap();
    (c, root)
}

#[tokio::test]
async fn orclose_removes_the_file_at_clunk() {
    let dir = tempfile::tempdir().unwrap();
    let (_c, root) = connect(dir.path()).await;
    let parent = walk_path(&root, "").await.unwrap();
    parent
        .create("scratch", 0o600, om::ORDWR | om::ORCLOSE)
        .await
        .unwrap();
    parent.write(0, Bytes::from_static(b"temp")).await.unwrap();
    assert!(dir.path().join("scratch").exists());
    parent.clunk().await;
    assert!(!dir.path().join("scratch").exists());
}

#[tokio::test]
async fn an_open_file_survives_its_removal_by_another_fid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"still here").unwrap();
    let (_c, root) = connect(dir.path()).await;
    let reader = walk_path(&root, "f").await.unwrap();
    reader.open(om::OREAD).await.unwrap();
    walk_path(&root, "f").await.unwrap().remove().await.unwrap();
    assert!(!dir.path().join("f").exists());
    assert_eq!(&reader.read(0, 100).await.unwrap()[..], b"still here");
}

#[tokio::test]
async fn create_write_rename_truncate_through_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let (_c, root) = connect(dir.path()).await;
    let d = walk_path(&root, "").await.unwrap();
    d.create("sub", ninefold_proto::dm::DMDIR | 0o755, om::OREAD)
        .await
        .unwrap();
    let f = walk_path(&root, "sub").await.unwrap();
    f.create("a", 0o644, om::OWRITE).await.unwrap();
    assert_eq!(
        f.write(0, Bytes::from_static(b"0123456789")).await.unwrap(),
        10
    );
    let mut st = ninefold_proto::Stat::dont_touch();
    st.name = "b".into();
    st.length = 4;
    f.wstat(&st).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("sub/b")).unwrap(), b"0123");
    let e = walk_path(&root, "sub/a").await.unwrap_err();
    assert!(e.as_str().contains("does not exist"));
    let st = walk_path(&root, "sub/b")
        .await
        .unwrap()
        .stat()
        .await
        .unwrap();
    assert_eq!((st.name.as_str(), st.length), ("b", 4));
}

#[tokio::test]
async fn a_hangup_removes_files_opened_orclose() {
    let dir = tempfile::tempdir().unwrap();
    let tree: Arc<dyn Tree> = Arc::new(HostTree::new(dir.path(), false).unwrap());
    // client <-> wire <-> server, so the test can cut the wire like a dropped network.
    let (a, mut wire_a) = tokio::io::duplex(1 << 16);
    let (mut wire_b, b) = tokio::io::duplex(1 << 16);
    let wire = tokio::spawn(async move {
        let _ = tokio::io::copy_bidirectional(&mut wire_a, &mut wire_b).await;
    });
    let server = tokio::spawn(serve_stream(tree, b, Config::default()));
    let c = Client::connect_stream(a, 1 << 16).await.unwrap();
    let root = c.attach_node("me", "").await.unwrap();
    let d = walk_path(&root, "").await.unwrap();
    d.create("lock", 0o600, om::OWRITE | om::ORCLOSE)
        .await
        .unwrap();
    assert!(dir.path().join("lock").exists());
    wire.abort();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!dir.path().join("lock").exists());
    drop((d, root, c));
}

/// Large replies to concurrent requests arrive whole and in the right places over a real
/// TCP socket, with pooled buffers reused underneath (1 MiB messages, 4 reads in flight).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_large_reads_over_tcp_arrive_intact() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..16u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("big"), &data).unwrap();
    let tree: Arc<dyn Tree> = Arc::new(HostTree::new(dir.path(), true).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve_stream(tree.clone(), s, Config::default()));
        }
    });
    let data = Arc::new(data);
    for _ in 0..3 {
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let c = Client::connect_stream(s, 1 << 20).await.unwrap();
        let root = c.attach_node("me", "").await.unwrap();
        let f = Arc::new(walk_path(&root, "big").await.unwrap());
        f.open(om::OREAD).await.unwrap();
        let chunk = c.max_io() as usize;
        let mut tasks = Vec::new();
        for t in 0..4usize {
            let (f, data) = (f.clone(), data.clone());
            tasks.push(tokio::spawn(async move {
                let mut off = t * chunk;
                while off < data.len() {
                    let got = f.read(off as u64, chunk as u32).await.unwrap();
                    let end = (off + chunk).min(data.len());
                    assert!(got[..] == data[off..end], "bytes at {off} differ");
                    off += 4 * chunk;
                }
            }));
        }
        for t in tasks {
            tokio::time::timeout(std::time::Duration::from_secs(60), t)
                .await
                .unwrap()
                .unwrap();
        }
    }
}
