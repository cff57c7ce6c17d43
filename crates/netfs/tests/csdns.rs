//! `/net/cs` and `/net/dns`: one query per write, one record per read. Nothing here needs
//! external DNS: literals, `localhost` (from `/etc/hosts`) and service names only.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bytes::Bytes;
use common::*;
use ninefold_fs::{NodeRef, Result};
use ninefold_proto::om;

scenario!(cs_literals);
scenario!(cs_names);
scenario!(cs_errors);
scenario!(dns_queries);

/// Writes `query` at `offset` and reads the records back, each read starting where the
/// last one ended, until EOF.
async fn ask_at(f: &NodeRef, offset: u64, query: &str) -> Result<Vec<String>> {
    bounded(f.write(offset, Bytes::from(query.to_owned()))).await?;
    let mut out = Vec::new();
    let mut off = 0;
    loop {
        let b = bounded(f.read(off, 8192)).await.unwrap();
        if b.is_empty() {
            return Ok(out);
        }
        off += b.len() as u64;
        out.push(String::from_utf8(b.to_vec()).unwrap());
        assert!(out.len() <= 20, "too many records");
    }
}

async fn ask(f: &NodeRef, query: &str) -> Result<Vec<String>> {
    ask_at(f, 0, query).await
}

mod scenarios {
    use super::*;

    pub async fn cs_literals(root: NodeRef) {
        let cs = open(&root, "cs", om::ORDWR).await;
        let st = bounded(cs.stat()).await.unwrap();
        assert_eq!((st.mode, st.uid.as_str()), (0o666, "network"));
        assert_eq!(
            ask(&cs, "tcp!127.0.0.1!80").await.unwrap(),
            ["/net/tcp/clone 127.0.0.1!80"]
        );
        assert_eq!(
            ask(&cs, "net![::1]!9fs\n").await.unwrap(),
            ["/net/tcp/clone ::1!564"]
        );
        assert_eq!(
            ask(&cs, "net!127.0.0.1!7").await.unwrap(),
            ["/net/tcp/clone 127.0.0.1!7", "/net/udp/clone 127.0.0.1!7"]
        );
        assert_eq!(
            ask(&cs, "udp!10.0.0.1!123").await.unwrap(),
            ["/net/udp/clone 10.0.0.1!123"]
        );
        assert_eq!(ask(&cs, "tcp!*!9fs").await.unwrap(), ["/net/tcp/clone 564"]);
        assert_eq!(ask(&cs, "tcp!*!564").await.unwrap(), ["/net/tcp/clone 564"]);
        // Reading at offset 0 again gives the first record again.
        let b = bounded(cs.read(0, 8192)).await.unwrap();
        assert_eq!(&b[..], b"/net/tcp/clone 564");
        // A short read takes part of a record; the next read goes on with the rest.
        ask(&cs, "tcp!127.0.0.1!80").await.unwrap();
        let a = bounded(cs.read(0, 5)).await.unwrap();
        let b = bounded(cs.read(5, 8192)).await.unwrap();
        assert_eq!([&a[..], &b[..]].concat(), b"/net/tcp/clone 127.0.0.1!80");
        bounded(cs.clunk()).await;
    }

    pub async fn cs_names(root: NodeRef) {
        let cs = open(&root, "cs", om::ORDWR).await;
        let got = ask(&cs, "tcp!localhost!exportfs").await.unwrap();
        assert!(!got.is_empty());
        assert_eq!(got[0], "/net/tcp/clone 127.0.0.1!17007", "{got:?}");
        for line in &got {
            assert!(line.starts_with("/net/tcp/clone "), "{line}");
            assert!(line.ends_with("!17007"), "{line}");
        }
        // `net` gives every tcp line before the udp ones; 9fs is TCP only.
        let got = ask(&cs, "net!localhost!53").await.unwrap();
        let first_udp = got.iter().position(|l| l.starts_with("/net/udp/")).unwrap();
        assert!(first_udp > 0);
        assert!(got[first_udp..].iter().all(|l| l.starts_with("/net/udp/")));
        let got = ask(&cs, "net!localhost!9fs").await.unwrap();
        assert!(got.iter().all(|l| l.starts_with("/net/tcp/")), "{got:?}");
        bounded(cs.clunk()).await;
    }

    pub async fn cs_errors(root: NodeRef) {
        let cs = open(&root, "cs", om::ORDWR).await;
        let err = |r: Result<Vec<String>>| r.unwrap_err().as_str().to_owned();
        assert_eq!(
            err(ask(&cs, "tcp!127.0.0.1!no-such-service").await),
            "can't translate service"
        );
        assert_eq!(err(ask(&cs, "127.0.0.1").await), "can't translate service");
        assert_eq!(
            err(ask(&cs, "tcp!no\tsuch!80").await),
            "can't translate address"
        );
        let long = format!("tcp!{}!80", "a".repeat(124));
        assert_eq!(err(ask(&cs, &long).await), "request too long");
        // A failed query leaves nothing to read.
        assert!(bounded(cs.read(0, 100)).await.unwrap().is_empty());
        bounded(cs.clunk()).await;
    }

    pub async fn dns_queries(root: NodeRef) {
        // Names that fail are ones the resolver is never asked about: no external DNS.
        let dns = open(&root, "dns", om::ORDWR).await;
        let got = ask(&dns, "localhost ip").await.unwrap();
        assert_eq!(got, ["localhost ip\t127.0.0.1"]);
        // Whether the host knows ::1 as localhost varies; the answer is either way sane.
        match ask(&dns, "localhost ipv6").await {
            Ok(got) => assert!(got.iter().all(|l| l.starts_with("localhost ipv6\t"))),
            Err(e) => assert_eq!(e.as_str(), "name does not exist"),
        }
        let got = ask(&dns, "1.0.0.127.in-addr.arpa ptr").await.unwrap();
        assert!(
            got.contains(&"1.0.0.127.in-addr.arpa ptr\tlocalhost".to_owned()),
            "{got:?}"
        );
        let err = |r: Result<Vec<String>>| r.unwrap_err().as_str().to_owned();
        assert_eq!(
            err(ask_at(&dns, 3, "localhost ip").await),
            "writing at non-zero offset"
        );
        assert_eq!(err(ask(&dns, "localhost frob").await), "unknown type frob");
        assert_eq!(
            err(ask(&dns, "bad\u{7f}name ip").await),
            "name does not exist"
        );
        bounded(dns.clunk()).await;
    }
}
