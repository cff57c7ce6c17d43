//! The dial(2) library on loopback, through a local `NetTree` root and, for one scenario
//! each, through ninefold's server and client (a remote `/net`).
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use ninefold_fs::NodeRef;
use ninefold_netfs::dial::{Conn, announce, dial};
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
served!(dial_tcp_served, dial_tcp);
served!(announce_listen_served, announce_listen);
served!(dial_refused_served, dial_refused);

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
