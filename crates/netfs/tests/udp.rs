//! `/net/udp` on 127.0.0.1: connected conversations and announced ones in `headers` mode,
//! each against a std `UdpSocket`, run directly and through ninefold's server and client.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use ninefold_fs::NodeRef;
use ninefold_proto::om;

scenario!(connect_and_exchange);
scenario!(announce_with_headers);
scenario!(udp_errors);
scenario!(headers_on_every_address);

/// A std socket on loopback whose receives cannot hang a test.
fn peer() -> UdpSocket {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Receives one datagram on a blocking std socket without blocking the runtime.
async fn recv(s: &UdpSocket) -> (Vec<u8>, std::net::SocketAddr) {
    let s = s.try_clone().unwrap();
    bounded(tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 65536];
        let (n, from) = s.recv_from(&mut buf).unwrap();
        buf.truncate(n);
        (buf, from)
    }))
    .await
    .unwrap()
}

async fn send(data: &NodeRef, b: &[u8]) -> u32 {
    bounded(data.write(0, Bytes::copy_from_slice(b)))
        .await
        .unwrap()
}

mod scenarios {
    use super::*;

    pub async fn connect_and_exchange(root: NodeRef) {
        let p = peer();
        let paddr = p.local_addr().unwrap();
        let ctl = open(&root, "udp/clone", om::ORDWR).await;
        let n = text(&ctl).await;
        write(&ctl, &format!("connect 127.0.0.1!{}", paddr.port()))
            .await
            .unwrap();
        assert_eq!(
            cat(&root, &format!("udp/{n}/remote")).await,
            format!("127.0.0.1!{}\n", paddr.port())
        );
        let local = cat(&root, &format!("udp/{n}/local")).await;
        assert!(local.starts_with("127.0.0.1!"), "{local}");
        assert!(
            cat(&root, &format!("udp/{n}/status"))
                .await
                .starts_with("Open ")
        );

        let data = open(&root, &format!("udp/{n}/data"), om::ORDWR).await;
        assert_eq!(send(&data, b"hello").await, 5);
        assert_eq!(send(&data, b"world!").await, 6);
        let (got, from) = recv(&p).await;
        assert_eq!(got, b"hello");
        assert_eq!(from.port(), port_of(&local));
        assert_eq!(recv(&p).await.0, b"world!");

        // One datagram per read; what does not fit is lost.
        p.send_to(b"first datagram", from).unwrap();
        p.send_to(b"second", from).unwrap();
        assert_eq!(&bounded(data.read(0, 5)).await.unwrap()[..], b"first");
        assert_eq!(&bounded(data.read(0, 100)).await.unwrap()[..], b"second");

        let stats = cat(&root, "udp/stats").await;
        assert!(stats.contains("InDatagrams: 2\n"), "{stats}");
        assert!(stats.contains("OutDatagrams: 2\n"), "{stats}");

        // A hangup wakes a blocked read.
        let reader = {
            let data = data.clone();
            tokio::spawn(async move { data.read(0, 100).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        write(&ctl, "hangup").await.unwrap();
        let e = bounded(reader).await.unwrap().unwrap_err();
        assert_eq!(e.as_str(), "Hangup");
        bounded(data.clunk()).await;
        bounded(ctl.clunk()).await;
    }

    pub async fn announce_with_headers(root: NodeRef) {
        let ctl = open(&root, "udp/clone", om::ORDWR).await;
        let n = text(&ctl).await;
        write(&ctl, "announce 127.0.0.1!0").await.unwrap();
        write(&ctl, "headers").await.unwrap();
        let local = cat(&root, &format!("udp/{n}/local")).await;
        let port = port_of(&local);
        assert_eq!(cat(&root, &format!("udp/{n}/remote")).await, "::!0\n");
        let data = open(&root, &format!("udp/{n}/data"), om::ORDWR).await;

        let p = peer();
        let paddr = p.local_addr().unwrap();
        p.send_to(b"ping", (Ipv4Addr::LOCALHOST, port)).unwrap();
        let got = bounded(data.read(0, 8192)).await.unwrap();
        assert_eq!(got.len(), 52 + 4);
        let mapped = |ip: Ipv4Addr| ip.to_ipv6_mapped().octets();
        assert_eq!(&got[..16], &mapped(Ipv4Addr::LOCALHOST));
        assert_eq!(&got[16..32], &mapped(Ipv4Addr::LOCALHOST));
        assert_eq!(&got[48..50], &paddr.port().to_be_bytes());
        assert_eq!(&got[50..52], &port.to_be_bytes());
        assert_eq!(&got[52..], b"ping");

        // The answer is the header read back with a new body.
        let mut reply = got[..52].to_vec();
        reply.extend_from_slice(b"pong");
        assert_eq!(send(&data, &reply).await, 56);
        let (body, from) = recv(&p).await;
        assert_eq!(body, b"pong");
        assert_eq!(from.port(), port);

        // A write shorter than a header is dropped; a read shorter than one truncates.
        assert_eq!(send(&data, b"short").await, 5);
        p.send_to(b"xyz", (Ipv4Addr::LOCALHOST, port)).unwrap();
        let got = bounded(data.read(0, 20)).await.unwrap();
        assert_eq!(got.len(), 20);
        bounded(data.clunk()).await;
        bounded(ctl.clunk()).await;
    }

    /// `announce 0` listens on every address (dual-stack where the host has IPv6); the
    /// header's laddr is then `::`, and the reply still goes out from the announced port.
    pub async fn headers_on_every_address(root: NodeRef) {
        let ctl = open(&root, "udp/clone", om::ORDWR).await;
        let n = text(&ctl).await;
        write(&ctl, "headers").await.unwrap();
        write(&ctl, "announce 0").await.unwrap();
        let local = cat(&root, &format!("udp/{n}/local")).await;
        assert!(local.starts_with("::!"), "{local}");
        let port = port_of(&local);
        let data = open(&root, &format!("udp/{n}/data"), om::ORDWR).await;
        let p = peer();
        p.send_to(b"q", (Ipv4Addr::LOCALHOST, port)).unwrap();
        let got = bounded(data.read(0, 8192)).await.unwrap();
        assert_eq!(got.len(), 53);
        assert_eq!(&got[..16], &Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets());
        assert_eq!(&got[16..48], &[0u8; 32]);
        let mut reply = got[..52].to_vec();
        reply.extend_from_slice(b"a");
        send(&data, &reply).await;
        let (body, from) = recv(&p).await;
        assert_eq!((body.as_slice(), from.port()), (&b"a"[..], port));
        bounded(data.clunk()).await;
        bounded(ctl.clunk()).await;
    }

    pub async fn udp_errors(root: NodeRef) {
        let ctl = open(&root, "udp/clone", om::ORDWR).await;
        let n = text(&ctl).await;
        let data = open(&root, &format!("udp/{n}/data"), om::ORDWR).await;
        let e = bounded(data.read(0, 10)).await.unwrap_err();
        assert_eq!(e.as_str(), "not connected");
        assert_eq!(
            write(&ctl, "keepalive").await.unwrap_err().as_str(),
            "unknown control request"
        );
        write(&ctl, "announce 127.0.0.1!0").await.unwrap();
        assert_eq!(
            write(&ctl, "connect 127.0.0.1!9")
                .await
                .unwrap_err()
                .as_str(),
            "connection in use"
        );
        // Without headers an announced port has no peer to write to.
        let e = bounded(data.write(0, Bytes::from_static(b"x")))
            .await
            .unwrap_err();
        assert_eq!(e.as_str(), "not connected");
        let e = try_open(&root, &format!("udp/{n}/listen"), om::ORDWR)
            .await
            .unwrap_err();
        assert_eq!(e.as_str(), "listen not supported");
        // TCP has no headers.
        let t = open(&root, "tcp/clone", om::ORDWR).await;
        assert_eq!(
            write(&t, "headers").await.unwrap_err().as_str(),
            "unknown control request"
        );
        bounded(t.clunk()).await;
        bounded(data.clunk()).await;
        bounded(ctl.clunk()).await;
    }
}
