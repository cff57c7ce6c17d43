//! The export policy through the tree, on loopback: refusals reach the client as the ctl
//! (or data) write's error, make no socket, and leave the conversation usable. Each
//! scenario runs directly and through ninefold's server and client.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use ninefold_fs::NodeRef;
use ninefold_netfs::{NetTree, Policy};
use ninefold_proto::om;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

ninefold_testkit::scenario!(connect_gives_no_announce);
ninefold_testkit::scenario!(loopback_refused_by_broad_rules);
ninefold_testkit::scenario!(loopback_opened_by_its_own_rule);
ninefold_testkit::scenario!(refused_datagrams);
ninefold_testkit::scenario!(dial_again_after_a_refusal);
ninefold_testkit::scenario!(announce_on_every_address);
ninefold_testkit::scenario!(principals_own_their_conversations);

/// A root of a fresh tree judging every attach as `principal` by `rules`. The attach name
/// is testkit's `glenda`, never the principal: the policy must not look at it.
async fn root(via: Via, rules: &str, principal: &str) -> NodeRef {
    root_of(&NetTree::new(), via, rules, principal).await
}

/// Roots of `tree` with the policy `rules`, judging `principal`.
async fn root_of(tree: &NetTree, via: Via, rules: &str, principal: &str) -> NodeRef {
    let policy = Arc::new(Policy::parse(rules).unwrap());
    attach(Arc::new(tree.clone().with_policy(policy, principal)), via).await
}

/// Asserts `e` is the policy's refusal, ending in `what`.
fn assert_refused(e: &ninefold_fs::Error, what: &str) {
    assert_eq!(
        e.as_str(),
        format!("permission denied: {what} (net policy)")
    );
    assert_eq!(e.errno(), 13, "{e}");
}

/// Asserts nobody called `l` for a while: a refused connect makes no socket.
async fn no_call(l: &TcpListener) {
    let got = tokio::time::timeout(Duration::from_millis(200), l.accept()).await;
    assert!(got.is_err(), "a refused connect reached the listener");
}

/// A new conversation's ctl and its number.
async fn clone(root: &NodeRef, proto: &str) -> (NodeRef, String) {
    let ctl = open(root, &format!("{proto}/clone"), om::ORDWR).await;
    let n = text(&ctl).await;
    (ctl, n)
}

async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// A datagram on `s`, or `None` if none comes soon.
async fn recv(s: &UdpSocket, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(wait, s.recv_from(&mut buf))
        .await
        .ok()?
        .unwrap();
    buf.truncate(n);
    Some((buf, from))
}

/// A 52-byte `headers` header sending to `to` (lport and laddr are ignored).
fn header_to(to: SocketAddr) -> Vec<u8> {
    let ip = match to.ip() {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        std::net::IpAddr::V6(v6) => v6,
    };
    let mut h = ip.octets().to_vec();
    h.extend_from_slice(&[0; 32]);
    h.extend_from_slice(&to.port().to_be_bytes());
    h.extend_from_slice(&[0; 2]);
    h
}

mod scenarios {
    use super::*;

    pub async fn connect_gives_no_announce(via: Via) {
        let (l, port) = listener().await;
        let root = root(via, "alice connect tcp 127.0.0.1 *", "alice").await;
        let (ctl, n) = clone(&root, "tcp").await;
        let e = write(&ctl, "announce *!0").await.unwrap_err();
        assert_refused(&e, "alice may not announce tcp!*!0");
        let e = write(&ctl, "announce 127.0.0.1!0").await.unwrap_err();
        assert_refused(&e, "alice may not announce tcp!127.0.0.1!0");
        // Nothing happened to the conversation: it can still connect.
        assert_eq!(cat(&root, &format!("tcp/{n}/status")).await, "Closed\n");
        assert_eq!(cat(&root, &format!("tcp/{n}/local")).await, "::!0\n");
        write(&ctl, &format!("connect 127.0.0.1!{port}"))
            .await
            .unwrap();
        bounded(l.accept()).await.unwrap();
        bounded(ctl.clunk()).await;
        // UDP as well: connect rights are per protocol.
        let (ctl, _) = clone(&root, "udp").await;
        let e = write(&ctl, "connect 127.0.0.1!53").await.unwrap_err();
        assert_refused(&e, "alice may not connect to udp!127.0.0.1!53");
        bounded(ctl.clunk()).await;
    }

    pub async fn loopback_refused_by_broad_rules(via: Via) {
        let (l, port) = listener().await;
        let rules = "* connect * 0.0.0.0/0 *\n* connect * ::/0 *\n* connect * * *\n";
        let root = root(via, rules, "alice").await;
        let (ctl, n) = clone(&root, "tcp").await;
        for (to, shown) in [
            ("127.0.0.1", "127.0.0.1"),
            ("::ffff:127.0.0.1", "127.0.0.1"),
            ("127.1.2.3", "127.1.2.3"),
            ("0.0.0.0", "0.0.0.0"),
            ("::1", "::1"),
            ("::", "::"),
            ("169.254.169.254", "169.254.169.254"),
        ] {
            let e = write(&ctl, &format!("connect {to}!{port}"))
                .await
                .unwrap_err();
            assert_refused(&e, &format!("alice may not connect to tcp!{shown}!{port}"));
        }
        no_call(&l).await;
        assert_eq!(cat(&root, &format!("tcp/{n}/status")).await, "Closed\n");
        assert_eq!(cat(&root, &format!("tcp/{n}/remote")).await, "::!0\n");
        let stats = cat(&root, "tcp/stats").await;
        assert!(stats.contains("AttemptFails: 0\n"), "{stats}");
        let (uctl, _) = clone(&root, "udp").await;
        let e = write(&uctl, "connect 127.0.0.1!53").await.unwrap_err();
        assert_refused(&e, "alice may not connect to udp!127.0.0.1!53");
        bounded(uctl.clunk()).await;
        bounded(ctl.clunk()).await;
    }

    pub async fn loopback_opened_by_its_own_rule(via: Via) {
        let (l, port) = listener().await;
        let rules = format!("bob connect tcp 127.0.0.1 {port}\n");
        let root = root(via, &rules, "bob").await;
        let (ctl, n) = clone(&root, "tcp").await;
        write(&ctl, &format!("connect 127.0.0.1!{port}"))
            .await
            .unwrap();
        let (mut peer, _) = bounded(l.accept()).await.unwrap();
        let data = open(&root, &format!("tcp/{n}/data"), om::ORDWR).await;
        bounded(data.write(0, Bytes::from_static(b"ping")))
            .await
            .unwrap();
        let mut buf = [0u8; 4];
        bounded(peer.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"ping");
        bounded(peer.write_all(b"pong")).await.unwrap();
        assert_eq!(read_exactly(&data, 4).await, b"pong");
        bounded(data.clunk()).await;
        bounded(ctl.clunk()).await;

        // Only that port, and only bob's rule: the mapped form is the same address.
        let (ctl, _) = clone(&root, "tcp").await;
        write(&ctl, &format!("connect ::ffff:127.0.0.1!{port}"))
            .await
            .unwrap();
        bounded(l.accept()).await.unwrap();
        bounded(ctl.clunk()).await;
        let (ctl, _) = clone(&root, "tcp").await;
        let other = port.wrapping_add(1).max(1);
        let e = write(&ctl, &format!("connect 127.0.0.1!{other}"))
            .await
            .unwrap_err();
        assert_refused(&e, &format!("bob may not connect to tcp!127.0.0.1!{other}"));
        bounded(ctl.clunk()).await;
        let alice = super::root(via, &rules, "alice").await;
        let (ctl, _) = clone(&alice, "tcp").await;
        let e = write(&ctl, &format!("connect 127.0.0.1!{port}"))
            .await
            .unwrap_err();
        assert_refused(
            &e,
            &format!("alice may not connect to tcp!127.0.0.1!{port}"),
        );
        no_call(&l).await;
        bounded(ctl.clunk()).await;
    }

    pub async fn refused_datagrams(via: Via) {
        let allowed = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let refused = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (to_ok, to_bad) = (allowed.local_addr().unwrap(), refused.local_addr().unwrap());
        let rules = format!(
            "alice announce udp 127.0.0.1 *\nalice connect udp 127.0.0.1 {}\n",
            to_ok.port()
        );
        let root = root(via, &rules, "alice").await;
        let (ctl, n) = clone(&root, "udp").await;
        write(&ctl, "announce 127.0.0.1!0").await.unwrap();
        write(&ctl, "headers").await.unwrap();
        let data = open(&root, &format!("udp/{n}/data"), om::ORDWR).await;
        let send = |to: SocketAddr, body: &'static [u8]| {
            let mut d = header_to(to);
            d.extend_from_slice(body);
            let data = data.clone();
            async move { bounded(data.write(0, Bytes::from(d))).await }
        };

        assert_eq!(send(to_ok, b"one").await.unwrap(), 52 + 3);
        assert_eq!(recv(&allowed, STEP).await.unwrap().0, b"one");
        let e = send(to_bad, b"two").await.unwrap_err();
        assert_refused(
            &e,
            &format!("alice may not connect to udp!127.0.0.1!{}", to_bad.port()),
        );
        // The conversation goes on: the next allowed datagram leaves, the refused one never
        // did.
        assert_eq!(send(to_ok, b"three").await.unwrap(), 52 + 5);
        assert_eq!(recv(&allowed, STEP).await.unwrap().0, b"three");
        assert!(recv(&refused, Duration::from_millis(200)).await.is_none());
        let stats = cat(&root, "udp/stats").await;
        assert!(stats.contains("OutDatagrams: 2\n"), "{stats}");
        bounded(data.clunk()).await;
        bounded(ctl.clunk()).await;
    }

    pub async fn dial_again_after_a_refusal(via: Via) {
        let (l, port) = listener().await;
        let (_l2, refused_port) = listener().await;
        let root = root(via, &format!("* connect tcp 127.0.0.1 {port}"), "carol").await;
        let (ctl, n) = clone(&root, "tcp").await;
        for _ in 0..3 {
            let e = write(&ctl, &format!("connect 127.0.0.1!{refused_port}"))
                .await
                .unwrap_err();
            assert_refused(
                &e,
                &format!("carol may not connect to tcp!127.0.0.1!{refused_port}"),
            );
        }
        assert_eq!(cat(&root, &format!("tcp/{n}/status")).await, "Closed\n");
        write(&ctl, &format!("connect 127.0.0.1!{port}"))
            .await
            .unwrap();
        bounded(l.accept()).await.unwrap();
        assert!(
            cat(&root, &format!("tcp/{n}/status"))
                .await
                .starts_with("Established")
        );
        bounded(ctl.clunk()).await;
    }

    pub async fn announce_on_every_address(via: Via) {
        // A broad block does not cover every address; `*` does.
        let root = root(via, "dave announce tcp 0.0.0.0/0 *\n", "dave").await;
        let (ctl, _) = clone(&root, "tcp").await;
        let e = write(&ctl, "announce 0").await.unwrap_err();
        assert_refused(&e, "dave may not announce tcp!*!0");
        let e = write(&ctl, "announce 0.0.0.0!0").await.unwrap_err();
        assert_refused(&e, "dave may not announce tcp!*!0");
        bounded(ctl.clunk()).await;

        let root = super::root(via, "dave announce tcp * *\n", "dave").await;
        let (ctl, n) = clone(&root, "tcp").await;
        // Loopback is still loopback for a listener.
        let e = write(&ctl, "announce 127.0.0.1!0").await.unwrap_err();
        assert_refused(&e, "dave may not announce tcp!127.0.0.1!0");
        write(&ctl, "announce *!0").await.unwrap();
        assert_eq!(cat(&root, &format!("tcp/{n}/status")).await, "Listen\n");
        bounded(ctl.clunk()).await;
    }

    pub async fn principals_own_their_conversations(via: Via) {
        // One device, two principals attaching with the same name (testkit's `glenda`).
        let (l, port) = listener().await;
        let rules = format!("alice connect tcp 127.0.0.1 {port}\n");
        let tree = NetTree::new();
        let alice = root_of(&tree, via, &rules, "alice").await;
        let bob = root_of(&tree, via, &rules, "bob").await;
        let (ctl, n) = clone(&alice, "tcp").await;
        write(&ctl, &format!("connect 127.0.0.1!{port}"))
            .await
            .unwrap();
        bounded(l.accept()).await.unwrap();
        // Bob sees alice's connection but cannot use it.
        let dir = walk(&bob, &format!("tcp/{n}")).await.unwrap();
        assert_eq!(bounded(dir.stat()).await.unwrap().uid, "alice");
        for file in ["data", "ctl"] {
            let e = try_open(&bob, &format!("tcp/{n}/{file}"), om::ORDWR)
                .await
                .unwrap_err();
            assert_eq!(e.as_str(), "permission denied", "{file}");
        }
        bounded(ctl.clunk()).await;
    }
}
