//! The dial(2) library on loopback, through a local `NetTree` root and, for one scenario
//! each, through ninefold's server and client (a remote `/net`); and what dial asks of the
//! tree, seen through a tree that records every call.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use common::*;
use ninefold_client::Client;
use ninefold_fs::{Error, Node, NodeRef, Opened, Qid, Result, Stat, Tree, Walked};
use ninefold_netfs::NetTree;
use ninefold_netfs::dial::{Conn, announce, dial};
use ninefold_server::{Config, serve_stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

macro_rules! direct {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            run(Via::Direct, scenarios::$name).await
        }
    };
}

macro_rules! served {
    ($test:ident, $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            run(Via::Served, scenarios::$name).await
        }
    };
}

direct!(dial_tcp);
direct!(dial_refused);
direct!(announce_listen);
direct!(dial_net_localhost);
direct!(dial_garbage);
direct!(close_write);
served!(dial_tcp_served, dial_tcp);
served!(announce_listen_served, announce_listen);
served!(dial_refused_served, dial_refused);
served!(close_write_served, close_write);

/// Reads from a conversation until `len` bytes have come.
async fn conn_read(c: &Conn, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < len {
        let b = bounded(c.read((len - out.len()) as u32)).await.unwrap();
        assert!(!b.is_empty(), "unexpected EOF after {} bytes", out.len());
        out.extend_from_slice(&b);
    }
    out
}

/// Dials `addr` (which must reach `l`) and exchanges bytes both ways.
async fn exchange(root: &NodeRef, addr: &str, l: &TcpListener) {
    let (c, accepted) = tokio::join!(bounded(dial(root, addr)), bounded(l.accept()));
    let c = c.unwrap();
    let (mut peer, _) = accepted.unwrap();
    assert!(c.dir.starts_with("tcp/"), "{}", c.dir);
    assert_eq!(
        cat(root, &format!("{}/remote", c.dir)).await,
        format!("127.0.0.1!{}\n", l.local_addr().unwrap().port())
    );

    assert_eq!(bounded(c.write(Bytes::from_static(b"hello"))).await, Ok(5));
    let mut buf = [0u8; 5];
    bounded(peer.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"hello");

    bounded(peer.write_all(b"world!")).await.unwrap();
    assert_eq!(conn_read(&c, 6).await, b"world!");

    // hangup aborts the connection: the peer sees a reset (or at least EOF).
    bounded(c.hangup()).await.unwrap();
    let mut rest = Vec::new();
    match bounded(peer.read_to_end(&mut rest)).await {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
    c.close().await;
}

/// Dials `addr` (which must reach `l`) and accepts the call.
async fn dial_accept(root: &NodeRef, addr: &str, l: &TcpListener) -> (Conn, TcpStream) {
    let (c, accepted) = tokio::join!(bounded(dial(root, addr)), bounded(l.accept()));
    (c.unwrap(), accepted.unwrap().0)
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

mod scenarios {
    use super::*;

    pub async fn dial_tcp(root: NodeRef) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        exchange(&root, &format!("tcp!127.0.0.1!{port}"), &l).await;
    }

    pub async fn dial_net_localhost(root: NodeRef) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        // localhost may resolve to ::1 first, where nobody listens: dial goes on to the
        // next record, as dial(2) does.
        exchange(&root, &format!("net!localhost!{port}"), &l).await;
    }

    pub async fn dial_refused(root: NodeRef) {
        let port = closed_port();
        let e = bounded(dial(&root, &format!("tcp!127.0.0.1!{port}")))
            .await
            .unwrap_err();
        assert!(e.as_str().contains("refused"), "{e}");
    }

    pub async fn dial_garbage(root: NodeRef) {
        let e = bounded(dial(&root, "tcp!127.0.0.1!nosuchservice"))
            .await
            .unwrap_err();
        assert_eq!(e.as_str(), "can't translate service");
        let e = bounded(dial(&root, "tcp!no host!80")).await.unwrap_err();
        assert_eq!(e.as_str(), "can't translate address");
        let e = bounded(announce(&root, "nobang")).await.unwrap_err();
        assert_eq!(e.as_str(), "bad dial string");
    }

    pub async fn close_write(root: NodeRef) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (c, mut peer) = dial_accept(&root, &format!("tcp!127.0.0.1!{port}"), &l).await;
        bounded(c.write_all(Bytes::from_static(b"request")))
            .await
            .unwrap();
        bounded(c.close_write()).await.unwrap();
        // The peer reads to EOF (our FIN), then answers on its still open half.
        let mut got = Vec::new();
        bounded(peer.read_to_end(&mut got)).await.unwrap();
        assert_eq!(got, b"request");
        assert!(
            cat(&root, &format!("{}/status", c.dir))
                .await
                .starts_with("Finwait1")
        );
        bounded(peer.write_all(b"reply")).await.unwrap();
        drop(peer);
        assert_eq!(conn_read(&c, 5).await, b"reply");
        assert_eq!(bounded(c.read(100)).await.unwrap().len(), 0);
        // Our half is shut: writes fail.
        assert!(bounded(c.write(Bytes::from_static(b"late"))).await.is_err());
        c.close().await;
    }

    pub async fn announce_listen(root: NodeRef) {
        let a = bounded(announce(&root, "tcp!127.0.0.1!0")).await.unwrap();
        assert!(a.dir.starts_with("tcp/"), "{}", a.dir);
        let port = port_of(&cat(&root, &format!("{}/local", a.dir)).await);
        assert_ne!(port, 0);

        let a2 = a.clone();
        let listener = tokio::spawn(async move { bounded(a2.listen()).await });
        let mut s = bounded(TcpStream::connect(("127.0.0.1", port)))
            .await
            .unwrap();
        let c = bounded(listener).await.unwrap().unwrap();
        assert!(c.dir.starts_with("tcp/") && c.dir != a.dir, "{}", c.dir);
        assert_eq!(
            cat(&root, &format!("{}/remote", c.dir)).await,
            format!("127.0.0.1!{}\n", s.local_addr().unwrap().port())
        );

        bounded(s.write_all(b"ping")).await.unwrap();
        assert_eq!(conn_read(&c, 4).await, b"ping");
        assert_eq!(bounded(c.write(Bytes::from_static(b"pong"))).await, Ok(4));
        let mut buf = [0u8; 4];
        bounded(s.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"pong");

        c.close().await;
        let mut rest = Vec::new();
        assert_eq!(bounded(s.read_to_end(&mut rest)).await.unwrap(), 0);
        bounded(a.hangup()).await.unwrap();
    }
}

// ---- What dial asks of the tree ----

/// What the spy tree does with `/cs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cs {
    There,
    /// Walking to it fails with "file does not exist", as with no cs mounted.
    Missing,
    /// Opening it fails with "permission denied".
    Denied,
}

/// A `NetTree` that records every call on its nodes (`"walk tcp/clone"`, `"open cs"`…),
/// named by the path walked from the root; served through 9P, each is one request.
#[derive(Debug, Clone)]
struct Spy {
    tree: NetTree,
    cs: Cs,
    log: Arc<Mutex<Vec<String>>>,
}

impl Spy {
    fn new(cs: Cs) -> Spy {
        Spy {
            tree: NetTree::new(),
            cs,
            log: Arc::default(),
        }
    }

    /// The calls so far, and forget them.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// The root as dial sees it: the tree itself, or through ninefold's server and client.
    async fn root(&self, via: Via) -> NodeRef {
        match via {
            Via::Direct => self.attach(USER, "").await.unwrap(),
            Via::Served => {
                let (a, b) = tokio::io::duplex(1 << 20);
                let tree: Arc<dyn Tree> = Arc::new(self.clone());
                tokio::spawn(serve_stream(tree, b, Config::default()));
                let c = Client::connect_stream(a, 1 << 20).await.unwrap();
                Arc::new(c.attach_node(USER, "").await.unwrap())
            }
        }
    }
}

#[async_trait]
impl Tree for Spy {
    async fn attach(&self, uname: &str, aname: &str) -> Result<NodeRef> {
        let inner = self.tree.attach(uname, aname).await?;
        Ok(Arc::new(SpyNode {
            inner,
            path: String::new(),
            spy: self.clone(),
        }))
    }
}

#[derive(Debug)]
struct SpyNode {
    inner: NodeRef,
    path: String,
    spy: Spy,
}

impl SpyNode {
    fn note(&self, what: &str) {
        let line = format!("{what} {}", self.path);
        self.spy
            .log
            .lock()
            .unwrap()
            .push(line.trim_end().to_owned());
    }

    fn wrap(&self, inner: NodeRef, path: String) -> NodeRef {
        Arc::new(SpyNode {
            inner,
            path,
            spy: self.spy.clone(),
        })
    }
}

#[async_trait]
impl Node for SpyNode {
    fn qid(&self) -> Qid {
        self.inner.qid()
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        Ok(self.wrap(self.inner.clone_node().await?, self.path.clone()))
    }

    async fn walk(&self, names: &[String]) -> Result<Walked> {
        let mut path = self.path.clone();
        for n in names {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(n);
        }
        self.spy.log.lock().unwrap().push(format!("walk {path}"));
        if self.spy.cs == Cs::Missing && path.split('/').next() == Some("cs") {
            return Err(Error::NOT_FOUND);
        }
        let w = self.inner.walk(names).await?;
        Ok(Walked {
            qids: w.qids,
            node: w.node.map(|n| self.wrap(n, path)),
        })
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        self.note("open");
        if self.spy.cs == Cs::Denied && self.path == "cs" {
            return Err(Error::PERM);
        }
        self.inner.open(mode).await
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        self.note("read");
        self.inner.read(offset, count).await
    }

    async fn write(&self, offset: u64, data: Bytes) -> Result<u32> {
        self.note("write");
        self.inner.write(offset, data).await
    }

    async fn clunk(&self) {
        self.note("clunk");
        self.inner.clunk().await
    }

    async fn stat(&self) -> Result<Stat> {
        self.inner.stat().await
    }
}

/// Listens on loopback; the port.
async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// The calls in `log`, sorted: the connect and the data open overlap, so their order
/// between each other may vary.
fn sorted(mut log: Vec<String>) -> Vec<String> {
    log.sort();
    log
}

async fn a_numeric_dial_does_not_ask_cs(via: Via) {
    let spy = Spy::new(Cs::There);
    let root = spy.root(via).await;
    spy.take();
    let (l, port) = listener().await;
    for addr in [
        format!("tcp!127.0.0.1!{port}"),
        format!("tcp![::ffff:127.0.0.1]!{port}"),
    ] {
        let (c, _peer) = dial_accept(&root, &addr, &l).await;
        assert_eq!(
            cat(&root, &format!("{}/remote", c.dir)).await,
            format!("127.0.0.1!{port}\n")
        );
        spy.take();
        bounded(c.close_and_wait()).await;
        assert_eq!(
            sorted(spy.take()),
            ["clunk tcp/0/data", "clunk tcp/clone"],
            "close"
        );
    }
    // Six requests, none of them to cs: walk and open the clone file, the connect and
    // the number's read (sent together), walk and open data.
    let (c, _peer) = dial_accept(&root, &format!("tcp!127.0.0.1!{port}"), &l).await;
    assert_eq!(
        sorted(spy.take()),
        [
            "open tcp/0/data",
            "open tcp/clone",
            "read tcp/clone",
            "walk tcp/0/data",
            "walk tcp/clone",
            "write tcp/clone",
        ]
    );
    // close does not wait for the clunks, but they follow.
    c.close().await;
    let mut seen = Vec::new();
    for _ in 0..500 {
        seen.extend(spy.take());
        if seen.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(sorted(seen), ["clunk tcp/0/data", "clunk tcp/clone"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_numeric_dial_does_not_ask_cs_direct() {
    a_numeric_dial_does_not_ask_cs(Via::Direct).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_numeric_dial_does_not_ask_cs_served() {
    a_numeric_dial_does_not_ask_cs(Via::Served).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_go_to_cs_and_one_record_is_read_per_call() {
    let spy = Spy::new(Cs::There);
    let root = spy.root(Via::Direct).await;
    let (l, port) = listener().await;
    // cs answers localhost with 127.0.0.1 first: the call succeeds, and cs is read once.
    let (c, _peer) = dial_accept(&root, &format!("tcp!localhost!{port}"), &l).await;
    let log = spy.take();
    let cs: Vec<&String> = log.iter().filter(|l| l.ends_with(" cs")).collect();
    assert_eq!(cs, ["walk cs", "open cs", "write cs", "read cs"], "{log:?}");
    c.close().await;
    // `net!`, a service name, `*` and a `!suffix` are cs's to translate too.
    for addr in [
        format!("net!127.0.0.1!{port}"),
        "tcp!127.0.0.1!nosuchservice".to_owned(),
        format!("tcp!127.0.0.1!{port}!r"),
        format!("tcp!::!{port}"),
    ] {
        let _ = bounded(dial(&root, &addr)).await;
        let log = spy.take();
        assert!(log.iter().any(|l| l == "open cs"), "{addr}: {log:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cs_the_address_is_used_untranslated() {
    let spy = Spy::new(Cs::Missing);
    let root = spy.root(Via::Served).await;
    let (l, port) = listener().await;
    // Not numeric (a suffix), so cs is looked for; it is not there.
    let (c, _peer) = dial_accept(&root, &format!("tcp!127.0.0.1!{port}!r"), &l).await;
    assert!(spy.take().contains(&"walk cs".to_owned()));
    c.close().await;
    // Names cannot be dialled without cs: devip takes only literals.
    let e = bounded(dial(&root, &format!("tcp!localhost!{port}")))
        .await
        .unwrap_err();
    assert_eq!(e.as_str(), "bad ip address syntax");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cs_that_cannot_be_opened_is_an_error_not_a_fallback() {
    for via in [Via::Direct, Via::Served] {
        let spy = Spy::new(Cs::Denied);
        let root = spy.root(via).await;
        let (l, port) = listener().await;
        for addr in [
            format!("tcp!127.0.0.1!{port}!r"),
            format!("tcp!localhost!{port}"),
        ] {
            let e = bounded(dial(&root, &addr)).await.unwrap_err();
            assert_eq!(e.as_str(), "permission denied", "{addr}");
            let e = bounded(announce(&root, "tcp!localhost!0"))
                .await
                .unwrap_err();
            assert_eq!(e.as_str(), "permission denied");
        }
        // Nothing was cloned: the dial stopped at cs.
        assert!(!spy.take().iter().any(|l| l.contains("clone")));
        // A numeric address needs no cs.
        let (c, _peer) = dial_accept(&root, &format!("tcp!127.0.0.1!{port}"), &l).await;
        c.close().await;
    }
}
