//! `/net/tcp` on loopback, each scenario run twice: directly through the `Node` trait, and
//! end to end through ninefold's server and client over an in-memory pipe.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use ninefold_fs::NodeRef;
use ninefold_proto::{dm, om};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

scenario!(dial_out);
scenario!(connect_refused);
scenario!(announce_and_listen);
scenario!(listen_on_every_address);
scenario!(listen_given_up);
scenario!(conversations_are_reused);
scenario!(ctl_errors);
scenario!(hangup_and_err);
scenario!(close_half);
scenario!(permissions);
scenario!(listings);
scenario!(ipv6_loopback);
scenario!(pending_connect_abandoned);
scenario!(hangup_ends_listens);

mod scenarios {
    use super::*;

    pub async fn dial_out(root: NodeRef) {
        let peer_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = peer_l.local_addr().unwrap().port();

        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        assert_eq!(text(&ctl).await, "0");
        // The fid became conversation 0's ctl: its qid says so.
        let ctl0 = walk(&root, "tcp/0/ctl").await.unwrap();
        assert_eq!(ctl.qid(), ctl0.qid());
        assert_eq!(cat(&root, "tcp/0/status").await, "Closed\n");
        assert_eq!(cat(&root, "tcp/0/remote").await, "::!0\n");

        write(&ctl, &format!("connect 127.0.0.1!{port}\n"))
            .await
            .unwrap();
        let (mut peer, peer_from) = bounded(peer_l.accept()).await.unwrap();

        let data = open(&root, "tcp/0/data", om::ORDWR).await;
        // A read waiting for data must not hold up a write on the same conversation.
        let reader = {
            let data = data.clone();
            tokio::spawn(async move { read_exactly(&data, 5).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(write_bytes(&data, b"hello").await, 5);
        let mut buf = [0u8; 5];
        bounded(peer.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"hello");
        bounded(peer.write_all(b"world")).await.unwrap();
        assert_eq!(bounded(reader).await.unwrap(), b"world");

        assert_eq!(
            cat(&root, "tcp/0/local").await,
            format!("127.0.0.1!{}\n", peer_from.port())
        );
        assert_eq!(
            cat(&root, "tcp/0/remote").await,
            format!("127.0.0.1!{port}\n")
        );
        let status = cat(&root, "tcp/0/status").await;
        assert_eq!(status.split(' ').next(), Some("Established"), "{status}");
        let stats = cat(&root, "tcp/stats").await;
        assert!(stats.contains("ActiveOpens: 1\n"), "{stats}");
        assert!(stats.contains("CurrEstab: 1\n"), "{stats}");
        assert!(stats.contains("OutBytes: 5\n"), "{stats}");
        assert!(stats.contains("InBytes: 5\n"), "{stats}");

        // The peer's FIN: three reads of nothing, then an error.
        drop(peer);
        for _ in 0..3 {
            assert!(bounded(data.read(0, 100)).await.unwrap().is_empty());
        }
        assert_eq!(
            bounded(data.read(0, 100)).await.unwrap_err().as_str(),
            "i/o on hungup channel"
        );
        assert!(cat(&root, "tcp/0/status").await.starts_with("Close_wait"));
        // Writing still works after the peer's FIN (the host may take it).
        let _ = write_bytes(&data, b"late").await;

        bounded(ctl.clunk()).await;
        // data keeps the conversation alive.
        assert!(cat(&root, "tcp/0/status").await.starts_with("Close_wait"));
        bounded(data.clunk()).await;
        assert_eq!(cat(&root, "tcp/0/status").await, "Closed\n");
        let stats = cat(&root, "tcp/stats").await;
        assert!(stats.contains("CurrEstab: 0\n"), "{stats}");
    }

    pub async fn connect_refused(root: NodeRef) {
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);

        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        let e = write(&ctl, &format!("connect 127.0.0.1!{port}"))
            .await
            .unwrap_err();
        assert_eq!(e.as_str(), "connection refused");
        assert!(cat(&root, "tcp/stats").await.contains("AttemptFails: 1\n"));
        // The failed conversation can dial again.
        let live = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_port = live.local_addr().unwrap().port();
        write(&ctl, &format!("connect 127.0.0.1!{live_port}"))
            .await
            .unwrap();
        let _peer = bounded(live.accept()).await.unwrap();
        bounded(ctl.clunk()).await;
    }

    pub async fn announce_and_listen(root: NodeRef) {
        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        write(&ctl, "announce 127.0.0.1!0").await.unwrap();
        let local = cat(&root, "tcp/0/local").await;
        assert!(local.starts_with("127.0.0.1!"), "{local}");
        let port = port_of(&local);
        assert_ne!(port, 0);
        assert_eq!(cat(&root, "tcp/0/remote").await, "::!0\n");
        assert_eq!(cat(&root, "tcp/0/status").await, "Listen\n");

        // Two listeners wait at once; each call goes to one of them.
        let l1 = spawn_listen(&root, "tcp/0/listen").await;
        let l2 = spawn_listen(&root, "tcp/0/listen").await;
        let mut c1 = bounded(TcpStream::connect(("127.0.0.1", port)))
            .await
            .unwrap();
        let mut c2 = bounded(TcpStream::connect(("127.0.0.1", port)))
            .await
            .unwrap();
        let a = bounded(l1).await.unwrap().unwrap();
        let b = bounded(l2).await.unwrap().unwrap();
        let mut nums = vec![text(&a).await, text(&b).await];
        nums.sort();
        assert_eq!(nums, ["1", "2"]);

        // Which client reached which conversation: match them up by address.
        for (n, node) in [a.clone(), b.clone()].into_iter().enumerate() {
            let conv = text(&node).await;
            let qid = walk(&root, &format!("tcp/{conv}/ctl")).await.unwrap().qid();
            assert_eq!(node.qid(), qid);
            let remote = cat(&root, &format!("tcp/{conv}/remote")).await;
            assert_eq!(
                cat(&root, &format!("tcp/{conv}/local")).await,
                format!("127.0.0.1!{port}\n")
            );
            let client = if port_of(&remote) == c1.local_addr().unwrap().port() {
                &mut c1
            } else {
                assert_eq!(port_of(&remote), c2.local_addr().unwrap().port());
                &mut c2
            };
            assert!(remote.starts_with("127.0.0.1!"));
            let data = open(&root, &format!("tcp/{conv}/data"), om::ORDWR).await;
            bounded(client.write_all(b"ping")).await.unwrap();
            assert_eq!(read_exactly(&data, 4).await, b"ping");
            write_bytes(&data, format!("pong{n}").as_bytes()).await;
            let mut buf = [0u8; 5];
            bounded(client.read_exact(&mut buf)).await.unwrap();
            assert_eq!(buf, format!("pong{n}").as_bytes());
            bounded(data.clunk()).await;
        }
        assert!(cat(&root, "tcp/stats").await.contains("PassiveOpens: 2\n"));

        // Closing the new conversations' ctl (the last fid of each) hangs them up.
        bounded(a.clunk()).await;
        bounded(b.clunk()).await;
        let mut buf = [0u8; 1];
        assert_eq!(bounded(c1.read(&mut buf)).await.unwrap_or(0), 0);
        assert_eq!(bounded(c2.read(&mut buf)).await.unwrap_or(0), 0);

        // The announcement ends with its last fid: the port is closed.
        bounded(ctl.clunk()).await;
        assert_eq!(cat(&root, "tcp/0/status").await, "Closed\n");
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    }

    pub async fn listen_on_every_address(root: NodeRef) {
        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        write(&ctl, "announce 0").await.unwrap();
        let local = cat(&root, "tcp/0/local").await;
        assert!(local.starts_with("::!"), "{local}");
        let port = port_of(&local);
        let l = spawn_listen(&root, "tcp/0/listen").await;
        let c = bounded(TcpStream::connect(("127.0.0.1", port)))
            .await
            .unwrap();
        let new = bounded(l).await.unwrap().unwrap();
        assert_eq!(text(&new).await, "1");
        // A v4 caller on a dual-stack socket reads as plain v4.
        assert_eq!(
            cat(&root, "tcp/1/remote").await,
            format!("127.0.0.1!{}\n", c.local_addr().unwrap().port())
        );
        assert_eq!(
            write(&ctl, "announce *").await.unwrap_err().as_str(),
            "connection in use"
        );
        bounded(new.clunk()).await;
        bounded(ctl.clunk()).await;
    }

    pub async fn listen_given_up(root: NodeRef) {
        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        write(&ctl, "announce 127.0.0.1!0").await.unwrap();
        let port = port_of(&cat(&root, "tcp/0/local").await);

        // The caller gives up: over 9P that is a Tflush of the open.
        let waiting = walk(&root, "tcp/0/listen").await.unwrap();
        let r = tokio::time::timeout(Duration::from_millis(200), waiting.open(om::ORDWR)).await;
        assert!(r.is_err(), "listen returned without a call");
        drop(waiting);

        // It left no use behind: once ctl is closed the announcement ends. (Over 9P the
        // flush is asynchronous, hence the polling.)
        bounded(ctl.clunk()).await;
        eventually(|| async { cat(&root, "tcp/0/status").await == "Closed\n" }).await;
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());

        // Conversation 0 is free and listening works as before.
        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        assert_eq!(text(&ctl).await, "0");
        write(&ctl, "announce 127.0.0.1!0").await.unwrap();
        let port = port_of(&cat(&root, "tcp/0/local").await);
        let l = spawn_listen(&root, "tcp/0/listen").await;
        let _c = bounded(TcpStream::connect(("127.0.0.1", port)))
            .await
            .unwrap();
        let new = bounded(l).await.unwrap().unwrap();
        assert_eq!(text(&new).await, "1");
        bounded(new.clunk()).await;
        bounded(ctl.clunk()).await;
    }

    pub async fn conversations_are_reused(root: NodeRef) {
        assert_eq!(
            walk(&root, "tcp/0").await.unwrap_err().as_str(),
            "file does not exist"
        );
        let a = open(&root, "tcp/clone", om::ORDWR).await;
        let b = open(&root, "tcp/clone", om::OREAD).await;
        assert_eq!((text(&a).await, text(&b).await), ("0".into(), "1".into()));
        assert!(walk(&root, "tcp/2").await.is_err());
        assert!(walk(&root, "tcp/01").await.is_err());
        let st = bounded(walk(&root, "tcp/0/ctl").await.unwrap().stat())
            .await
            .unwrap();
        assert_eq!(st.uid, USER);

        // A second open of 0's ctl keeps it in use after the first is gone.
        let a2 = open(&root, "tcp/0/ctl", om::OREAD).await;
        bounded(a.clunk()).await;
        let c = open(&root, "tcp/clone", om::ORDWR).await;
        assert_eq!(text(&c).await, "2");
        bounded(a2.clunk()).await;

        // Now 0 is free again: the lowest free number is handed out.
        let d = open(&root, "tcp/clone", om::ORDWR).await;
        assert_eq!(text(&d).await, "0");
        bounded(d.clunk()).await;
        let st = bounded(walk(&root, "tcp/0/ctl").await.unwrap().stat())
            .await
            .unwrap();
        assert_eq!(st.uid, "network");

        bounded(b.clunk()).await;
        bounded(c.clunk()).await;
        let names: Vec<String> = list(&root, "tcp")
            .await
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["0", "1", "2", "clone", "stats"]);
        let e = open(&root, "tcp/clone", om::ORDWR).await;
        assert_eq!(text(&e).await, "0");
        bounded(e.clunk()).await;
    }

    pub async fn ctl_errors(root: NodeRef) {
        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        let err = |r: ninefold_fs::Result<u32>| r.unwrap_err().as_str().to_owned();
        assert_eq!(err(write(&ctl, "").await), "short control request");
        assert_eq!(err(write(&ctl, "\n").await), "short control request");
        assert_eq!(
            err(write(&ctl, "frobnicate 1").await),
            "unknown control request"
        );
        assert_eq!(
            err(write(&ctl, "connect nohost!80").await),
            "bad ip address syntax"
        );
        assert_eq!(
            err(write(&ctl, "connect 1.2.3.4.5!80").await),
            "bad ip address syntax"
        );
        assert_eq!(
            err(write(&ctl, "connect 127.0.0.1").await),
            "malformed address"
        );
        assert_eq!(
            err(write(&ctl, "connect 127.0.0.1!http").await),
            "bad numeric port"
        );
        assert_eq!(err(write(&ctl, "connect").await), "bad args to connect");
        assert_eq!(
            err(write(&ctl, "connect a b c").await),
            "bad args to connect"
        );
        assert_eq!(err(write(&ctl, "announce").await), "bad args to announce");
        assert_eq!(err(write(&ctl, "announce *").await), "permission denied");
        assert_eq!(
            err(write(&ctl, "keepalive").await),
            "connection must be in Establised state"
        );
        // None of that changed the conversation.
        assert_eq!(cat(&root, "tcp/0/status").await, "Closed\n");
        let data = open(&root, "tcp/0/data", om::ORDWR).await;
        assert_eq!(
            bounded(data.read(0, 10)).await.unwrap_err().as_str(),
            "not connected"
        );
        assert_eq!(
            try_open(&root, "tcp/0/listen", om::ORDWR)
                .await
                .unwrap_err()
                .as_str(),
            "not announced"
        );
        write(&ctl, "accept 0").await.unwrap();
        write(&ctl, "ttl 64").await.unwrap();
        write(&ctl, "tos 0").await.unwrap();
        write(&ctl, "bind 127.0.0.1!0").await.unwrap();

        let peer_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = peer_l.local_addr().unwrap().port();
        write(&ctl, &format!("connect 127.0.0.1!{port}!r!fasttimeout"))
            .await
            .unwrap();
        let _peer = bounded(peer_l.accept()).await.unwrap();
        assert_eq!(
            err(write(&ctl, &format!("connect 127.0.0.1!{port}")).await),
            "connection in use"
        );
        assert_eq!(err(write(&ctl, "announce 0").await), "connection in use");
        // aux/listen's keepalive on an established call must work.
        write(&ctl, "keepalive").await.unwrap();
        write(&ctl, "keepalive 5000").await.unwrap();
        write(&ctl, "ttl 32").await.unwrap();
        // Junk that once went to unwrap() somewhere must not take the server down.
        for junk in [
            "\u{0}",
            "connect !",
            "announce !!",
            "bind *!",
            "ttl 99999999999",
        ] {
            let _ = write(&ctl, junk).await;
        }
        assert!(cat(&root, "tcp/0/status").await.starts_with("Established"));
        bounded(data.clunk()).await;
        bounded(ctl.clunk()).await;
    }

    pub async fn hangup_and_err(root: NodeRef) {
        let peer_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = peer_l.local_addr().unwrap().port();
        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        write(&ctl, &format!("connect 127.0.0.1!{port}"))
            .await
            .unwrap();
        let (mut peer, _) = bounded(peer_l.accept()).await.unwrap();
        let data = open(&root, "tcp/0/data", om::ORDWR).await;
        let err = open(&root, "tcp/0/err", om::OREAD).await;

        let blocked_data = {
            let data = data.clone();
            tokio::spawn(async move { data.read(0, 100).await })
        };
        let blocked_err = {
            let err = err.clone();
            tokio::spawn(async move { err.read(0, 100).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!blocked_err.is_finished());

        write(&ctl, "hangup").await.unwrap();
        assert_eq!(
            bounded(blocked_data).await.unwrap().unwrap_err().as_str(),
            "Hangup"
        );
        assert!(bounded(blocked_err).await.unwrap().unwrap().is_empty());
        assert_eq!(
            bounded(data.write(0, bytes::Bytes::from_static(b"x")))
                .await
                .unwrap_err()
                .as_str(),
            "Hangup"
        );
        assert_eq!(cat(&root, "tcp/0/status").await, "Closed\n");
        // The peer sees a reset, not an orderly close.
        let mut buf = [0u8; 8];
        let r = bounded(peer.read(&mut buf)).await;
        assert_eq!(
            r.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset)
        );
        // Hung up is not idle: no new connect until the last close.
        assert_eq!(
            write(&ctl, &format!("connect 127.0.0.1!{port}"))
                .await
                .unwrap_err()
                .as_str(),
            "connection in use"
        );
        for n in [ctl, data, err] {
            bounded(n.clunk()).await;
        }
        let again = open(&root, "tcp/clone", om::ORDWR).await;
        assert_eq!(text(&again).await, "0");
        write(&again, &format!("connect 127.0.0.1!{port}"))
            .await
            .unwrap();
        bounded(again.clunk()).await;
    }

    pub async fn close_half(root: NodeRef) {
        let peer_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = peer_l.local_addr().unwrap().port();
        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        write(&ctl, &format!("connect 127.0.0.1!{port}"))
            .await
            .unwrap();
        let (mut peer, _) = bounded(peer_l.accept()).await.unwrap();
        let data = open(&root, "tcp/0/data", om::ORDWR).await;

        write(&ctl, "close").await.unwrap();
        let mut buf = Vec::new();
        bounded(peer.read_to_end(&mut buf)).await.unwrap();
        assert!(buf.is_empty());
        assert!(cat(&root, "tcp/0/status").await.starts_with("Finwait1"));
        assert_eq!(
            bounded(data.write(0, bytes::Bytes::from_static(b"x")))
                .await
                .unwrap_err()
                .as_str(),
            "i/o on hungup channel"
        );
        // The other direction still flows.
        bounded(peer.write_all(b"still here")).await.unwrap();
        assert_eq!(read_exactly(&data, 10).await, b"still here");
        drop(peer);
        assert!(bounded(data.read(0, 10)).await.unwrap().is_empty());
        assert!(cat(&root, "tcp/0/status").await.starts_with("Time_wait"));
        bounded(data.clunk()).await;
        bounded(ctl.clunk()).await;
    }

    pub async fn permissions(root: NodeRef) {
        let perm = |r: ninefold_fs::Result<NodeRef>| r.unwrap_err().as_str().to_owned();
        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        for f in ["local", "remote", "status"] {
            let path = format!("tcp/0/{f}");
            assert_eq!(
                perm(try_open(&root, &path, om::OWRITE).await),
                "permission denied"
            );
            assert_eq!(
                perm(try_open(&root, &path, om::ORDWR).await),
                "permission denied"
            );
        }
        assert_eq!(
            perm(try_open(&root, "tcp/stats", om::OWRITE).await),
            "permission denied"
        );
        for d in ["", "tcp", "tcp/0"] {
            assert_eq!(
                perm(try_open(&root, d, om::ORDWR).await),
                "permission denied"
            );
        }
        let dir = walk(&root, "tcp/0").await.unwrap();
        assert_eq!(
            bounded(dir.create("x", 0o666, om::ORDWR))
                .await
                .unwrap_err()
                .as_str(),
            "permission denied"
        );
        let f = walk(&root, "tcp/0/ctl").await.unwrap();
        assert_eq!(
            bounded(f.remove()).await.unwrap_err().as_str(),
            "permission denied"
        );
        // Opening local with OREAD|OTRUNC is allowed, as Plan 9's openmode drops OTRUNC.
        let l = open(&root, "tcp/0/local", om::OREAD | om::OTRUNC).await;
        assert_eq!(text(&l).await, "::!0\n");
        bounded(l.clunk()).await;
        bounded(ctl.clunk()).await;
    }

    pub async fn listings(root: NodeRef) {
        let top = list(&root, "").await;
        let got: Vec<(&str, u32)> = top.iter().map(|s| (s.name.as_str(), s.mode)).collect();
        assert_eq!(
            got,
            [
                ("tcp", dm::DMDIR | 0o555),
                ("udp", dm::DMDIR | 0o555),
                ("ipifc", dm::DMDIR | 0o555),
                ("cs", 0o666),
                ("dns", 0o666)
            ]
        );

        let tcp = list(&root, "tcp").await;
        let got: Vec<(&str, u32)> = tcp.iter().map(|s| (s.name.as_str(), s.mode)).collect();
        assert_eq!(got, [("clone", 0o666), ("stats", 0o444)]);
        assert!(tcp.iter().all(|s| s.uid == "network"));

        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        let tcp = list(&root, "tcp").await;
        let got: Vec<(&str, u32, &str)> = tcp
            .iter()
            .map(|s| (s.name.as_str(), s.mode, s.uid.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("0", dm::DMDIR | 0o555, USER),
                ("clone", 0o666, "network"),
                ("stats", 0o444, "network")
            ]
        );
        let conv = list(&root, "tcp/0").await;
        let got: Vec<(&str, u32)> = conv.iter().map(|s| (s.name.as_str(), s.mode)).collect();
        assert_eq!(
            got,
            [
                ("ctl", 0o660),
                ("data", 0o660),
                ("err", 0o660),
                ("listen", 0o660),
                ("local", 0o444),
                ("remote", 0o444),
                ("status", 0o444)
            ]
        );
        assert!(conv.iter().all(|s| s.uid == USER && s.gid == "network"));
        // Each entry's qid is the one a walk gives.
        for s in &conv {
            let q = walk(&root, &format!("tcp/0/{}", s.name))
                .await
                .unwrap()
                .qid();
            assert_eq!(s.qid, q);
        }
        // `..` goes up.
        let up = walk(&root, "tcp/0/..").await.unwrap();
        assert_eq!(up.qid(), walk(&root, "tcp").await.unwrap().qid());
        bounded(ctl.clunk()).await;
    }

    pub async fn ipv6_loopback(root: NodeRef) {
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            eprintln!("no IPv6 loopback here; skipping");
            return;
        }
        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        write(&ctl, "announce ::1!0").await.unwrap();
        let local = cat(&root, "tcp/0/local").await;
        assert!(local.starts_with("::1!"), "{local}");
        let port = port_of(&local);

        let dial = open(&root, "tcp/clone", om::ORDWR).await;
        assert_eq!(text(&dial).await, "1");
        let l = spawn_listen(&root, "tcp/0/listen").await;
        write(&dial, &format!("connect ::1!{port}")).await.unwrap();
        let new = bounded(l).await.unwrap().unwrap();
        assert_eq!(text(&new).await, "2");
        assert_eq!(cat(&root, "tcp/1/remote").await, format!("::1!{port}\n"));
        assert_eq!(
            cat(&root, "tcp/2/remote").await,
            cat(&root, "tcp/1/local").await
        );

        let out = open(&root, "tcp/1/data", om::ORDWR).await;
        let inn = open(&root, "tcp/2/data", om::ORDWR).await;
        write_bytes(&out, b"over six").await;
        assert_eq!(read_exactly(&inn, 8).await, b"over six");
        for n in [out, inn, new, dial, ctl] {
            bounded(n.clunk()).await;
        }
    }

    pub async fn pending_connect_abandoned(root: NodeRef) {
        // A listener whose queue is full: the host drops further SYNs, so a dial hangs.
        let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        l.bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
        l.listen(0).unwrap();
        let port = l.local_addr().unwrap().as_socket().unwrap().port();
        let _filler = bounded(TcpStream::connect(("127.0.0.1", port)))
            .await
            .unwrap();
        let dial = format!("connect 127.0.0.1!{port}");

        // The caller gives up (Tflush over 9P): the conversation is idle again.
        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        let r = tokio::time::timeout(Duration::from_millis(300), write(&ctl, &dial)).await;
        assert!(r.is_err(), "the dial was expected to hang: {r:?}");
        eventually(|| async { cat(&root, "tcp/0/status").await == "Closed\n" }).await;

        // A hangup from another fid ends a hanging dial at once.
        let dialling = {
            let ctl = ctl.clone();
            tokio::spawn(async move { ctl.write(0, bytes::Bytes::from(dial)).await })
        };
        eventually(|| async { cat(&root, "tcp/0/status").await == "Syn_sent\n" }).await;
        let other = open(&root, "tcp/0/ctl", om::OWRITE).await;
        write(&other, "hangup").await.unwrap();
        assert_eq!(
            bounded(dialling).await.unwrap().unwrap_err().as_str(),
            "Hangup"
        );
        assert_eq!(cat(&root, "tcp/0/status").await, "Closed\n");
        bounded(other.clunk()).await;
        bounded(ctl.clunk()).await;
        drop(l);
    }

    pub async fn hangup_ends_listens(root: NodeRef) {
        let ctl = open(&root, "tcp/clone", om::ORDWR).await;
        write(&ctl, "announce 127.0.0.1!0").await.unwrap();
        let port = port_of(&cat(&root, "tcp/0/local").await);
        let l = spawn_listen(&root, "tcp/0/listen").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        write(&ctl, "hangup").await.unwrap();
        let e = bounded(l).await.unwrap().unwrap_err();
        assert_eq!(e.as_str(), "listen hungup");
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
        // A listen on a hung-up conversation is refused at once.
        assert_eq!(
            try_open(&root, "tcp/0/listen", om::ORDWR)
                .await
                .unwrap_err()
                .as_str(),
            "not announced"
        );
        bounded(ctl.clunk()).await;
    }

    /// Opens `path` (a listen file) in a task; the task's result is the node, now a ctl.
    async fn spawn_listen(
        root: &NodeRef,
        path: &str,
    ) -> tokio::task::JoinHandle<ninefold_fs::Result<NodeRef>> {
        let node = walk(root, path).await.unwrap();
        tokio::spawn(async move {
            node.open(om::ORDWR).await?;
            Ok(node)
        })
    }

    async fn write_bytes(n: &NodeRef, b: &[u8]) -> u32 {
        bounded(n.write(0, bytes::Bytes::copy_from_slice(b)))
            .await
            .unwrap()
    }
}
