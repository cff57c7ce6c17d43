//! The standard name space, served over 9P: a host directory unioned with #I, /srv posting
//! by dial string, mount of a posted connection.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ninefold_client::Client;
use ninefold_fs::{NodeRef, Tree};
use ninefold_ns::{Dialer, NsPath, NsTree, standard};
use ninefold_proto::{om, read_dir_entries};
use ninefold_server::{Config, serve_stream};

const LIMIT: Duration = Duration::from_secs(20);

async fn served(tree: NsTree, aname: &str) -> NodeRef {
    let (a, b) = tokio::io::duplex(1 << 20);
    tokio::spawn(serve_stream(Arc::new(tree), b, Config::default()));
    let c = Client::connect_stream(a, 1 << 20).await.unwrap();
    c.attach("glenda", aname).await.unwrap()
}

async fn names(dir: &NodeRef) -> Vec<String> {
    let d = dir.clone_node().await.unwrap();
    d.open(om::OREAD).await.unwrap();
    let mut out = Vec::new();
    let mut off = 0;
    for _ in 0..1000 {
        let b = d.read(off, 8192).await.unwrap();
        if b.is_empty() {
            break;
        }
        off += b.len() as u64;
        out.extend(read_dir_entries(b).unwrap().into_iter().map(|s| s.name));
    }
    d.clunk().await;
    out
}

async fn read_all(node: &NodeRef) -> String {
    let n = node.clone_node().await.unwrap();
    n.open(om::OREAD).await.unwrap();
    let b = n.read(0, 4096).await.unwrap();
    n.clunk().await;
    String::from_utf8(b.to_vec()).unwrap()
}

async fn walk(root: &NodeRef, path: &str) -> ninefold_fs::Result<NodeRef> {
    let names: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    root.walk(&names)
        .await?
        .node
        .ok_or(ninefold_fs::Error::NOT_FOUND)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_directory_unioned_with_the_network_served_over_9p() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hello"), "from the host").unwrap();
        let extra = format!(
            "bind {} /n\nbind -a '#I' /n\n",
            ninefold_ns::quote(&dir.path().display().to_string())
        );
        let (ns, _) = standard("glenda", Arc::new(Dialer::default()), Some(&extra))
            .await
            .unwrap();
        // The default name space: the host's root, /net and /srv.
        let text = ns.ns_text();
        assert!(text.contains("bind -a #/ /\n"), "{text}");
        assert!(text.contains("bind  #I /net\n"), "{text}");

        let root = served(NsTree::new(ns.clone()).compact(true), "/n").await;
        let list = names(&root).await;
        for want in ["hello", "tcp", "udp", "cs", "dns"] {
            assert!(list.contains(&want.to_string()), "{want} in {list:?}");
        }
        assert_eq!(
            read_all(&walk(&root, "hello").await.unwrap()).await,
            "from the host"
        );
        // The network through the union: clone gives a conversation number.
        let clone = walk(&root, "tcp/clone").await.unwrap();
        clone.open(om::ORDWR).await.unwrap();
        let n = String::from_utf8(clone.read(0, 64).await.unwrap().to_vec()).unwrap();
        assert!(n.trim().parse::<u32>().is_ok(), "{n:?}");
        clone.clunk().await;
        // Nothing above the attach name: .. stays at /n.
        let up = root.walk1("..").await.unwrap();
        assert!(names(&up).await.contains(&"hello".to_string()));
        // The whole name space from /: /net is #I, and the host's /etc is there.
        let top = served(NsTree::new(ns.clone()), "").await;
        assert!(
            names(&walk(&top, "net").await.unwrap())
                .await
                .contains(&"tcp".to_string())
        );
        assert!(walk(&top, "etc").await.is_ok());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_export_refuses_changes() {
    tokio::time::timeout(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "x").unwrap();
        let (ns, _) = standard("glenda", Arc::new(Dialer::default()), None)
            .await
            .unwrap();
        let root = NsPath::parse(&dir.path().display().to_string(), &NsPath::root()).unwrap();
        let tree = NsTree::new(ns).read_only(true).rooted_at(root);
        let top = served(tree, "").await;
        let f = walk(&top, "f").await.unwrap();
        assert_eq!(
            f.open(om::OWRITE).await.unwrap_err().as_str(),
            "read-only file system"
        );
        assert_eq!(read_all(&f).await, "x");
        let d = top.clone_node().await.unwrap();
        assert!(d.create("new", 0o644, om::OWRITE).await.is_err());
        assert!(!dir.path().join("new").exists());
        assert!(walk(&top, "f").await.unwrap().remove().await.is_err());
        assert!(dir.path().join("f").exists());
        // The attach name cannot climb out.
        let out = served(
            NsTree::new(top_ns().await).rooted_at(
                NsPath::parse(&dir.path().display().to_string(), &NsPath::root()).unwrap(),
            ),
            "../../..",
        )
        .await;
        assert!(names(&out).await.contains(&"f".to_string()));
    })
    .await
    .unwrap();
}

async fn top_ns() -> ninefold_ns::Namespace {
    standard("glenda", Arc::new(Dialer::default()), None)
        .await
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_posts_a_dial_string_and_mount_attaches_it() {
    tokio::time::timeout(LIMIT, async {
        // A 9P server on a unix socket: a host directory.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("served"), "over unix").unwrap();
        let sock = dir.path().join("fs.sock");
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let tree: Arc<dyn Tree> =
            Arc::new(ninefold_hostfs::HostTree::new(dir.path(), true).unwrap());
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve_stream(tree.clone(), s, Config::default()));
            }
        });

        let (ns, std) = standard("glenda", Arc::new(Dialer::default()), None)
            .await
            .unwrap();
        // Post it as Plan 9 does by hand: create /srv/NAME and write the address.
        let top = served(NsTree::new(ns.clone()), "").await;
        let srvdir = walk(&top, "srv").await.unwrap();
        srvdir.create("fs", 0o600, om::OWRITE).await.unwrap();
        let addr = format!("unix!{}", sock.display());
        srvdir.write(0, Bytes::from(addr.clone())).await.unwrap();
        srvdir.clunk().await;
        assert!(std.srv.get("fs").is_some());
        assert_eq!(
            read_all(&walk(&top, "srv/fs").await.unwrap()).await,
            format!("{addr}\n")
        );

        let mut ns = ns;
        let lines = ninefold_ns::parse("mount -a /srv/fs /n\n", &|_| None).unwrap();
        let cx = ninefold_ns::Context {
            connector: &Dialer::default(),
            vars: &|_| None,
        };
        ns.apply(&lines, &cx).await.unwrap();
        assert_eq!(ns.read_file("/n/served").await.unwrap(), "over unix");
        assert!(ns.ns_text().contains("mount -a /srv/fs /n \n"));
        // A dial string mounts directly too.
        let lines = ninefold_ns::parse(&format!("mount {addr} /net.alt\n"), &|_| None).unwrap();
        ns.apply(&lines, &cx).await.unwrap();
        assert_eq!(ns.read_file("/net.alt/served").await.unwrap(), "over unix");
        // An address nobody answers fails clearly.
        let lines = ninefold_ns::parse("mount unix!/nonexistent/x /n\n", &|_| None).unwrap();
        let e = ns.apply(&lines, &cx).await.unwrap_err().to_string();
        assert!(e.contains("dial unix!/nonexistent/x"), "{e}");
    })
    .await
    .unwrap();
}
