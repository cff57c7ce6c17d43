//! The server, driven byte-exactly by a raw client over an in-memory stream.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use ninefold_fs::synth::{Entry, StaticFile, SynthFile, SynthTree};
use ninefold_fs::{Node, NodeRef, Opened, Qid, Result, Stat, Tree, Walked};
use ninefold_io::FrameReader;
use ninefold_proto::{NOFID, NOTAG, Rmsg, Tmsg, decode_r, encode_t, om, read_dir_entries};
use ninefold_server::{Config, serve};
use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

/// A file whose reads never finish; counts reads that were cancelled (their futures dropped).
#[derive(Debug, Default)]
struct Blocking {
    cancelled: Arc<AtomicUsize>,
}

struct CountDrop(Arc<AtomicUsize>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl SynthFile for Blocking {
    async fn read(&self, _offset: u64, _count: u32) -> Result<Bytes> {
        let _guard = CountDrop(self.cancelled.clone());
        std::future::pending::<()>().await;
        unreachable!()
    }
}

/// A readable file that counts how often an open of it was closed.
#[derive(Debug, Default)]
struct Counting {
    closes: Arc<AtomicUsize>,
}

#[async_trait]
impl SynthFile for Counting {
    async fn read(&self, _offset: u64, _count: u32) -> Result<Bytes> {
        Ok(Bytes::from_static(b"x"))
    }
    async fn close(&self) {
        self.closes.fetch_add(1, Ordering::SeqCst);
    }
}

struct Fixture {
    cancelled: Arc<AtomicUsize>,
    closes: Arc<AtomicUsize>,
    tree: SynthTree,
}

fn fixture() -> Fixture {
    let cancelled = Arc::new(AtomicUsize::new(0));
    let closes = Arc::new(AtomicUsize::new(0));
    let mut deep = Entry::file(StaticFile(Bytes::from_static(b"bottom")));
    for i in (0..20).rev() {
        deep = Entry::dir([(format!("d{i}"), deep)]);
    }
    let tree = SynthTree::new(Entry::dir([
        (
            "hello",
            Entry::file(StaticFile(Bytes::from_static(b"hello, world\n"))),
        ),
        (
            "block",
            Entry::file(Blocking {
                cancelled: cancelled.clone(),
            }),
        ),
        (
            "count",
            Entry::file(Counting {
                closes: closes.clone(),
            }),
        ),
        ("deep", deep),
    ]));
    Fixture {
        cancelled,
        closes,
        tree,
    }
}

struct Raw {
    w: WriteHalf<DuplexStream>,
    r: FrameReader<ReadHalf<DuplexStream>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Raw {
    fn start(tree: impl Tree + 'static, max_msize: u32) -> Raw {
        let (a, b) = tokio::io::duplex(1 << 20);
        let (sr, sw) = tokio::io::split(b);
        let config = Config {
            max_msize,
            principal: None,
        };
        let server = tokio::spawn(serve(Arc::new(tree), sr, sw, config));
        let (r, w) = tokio::io::split(a);
        Raw {
            w,
            r: FrameReader::new(r),
            server,
        }
    }

    async fn send(&mut self, tag: u16, msg: Tmsg) {
        let mut buf = BytesMut::new();
        encode_t(tag, &msg, &mut buf, false);
        self.w.write_all(&buf).await.unwrap();
    }

    async fn recv(&mut self) -> (u16, Rmsg) {
        let f = tokio::time::timeout(Duration::from_secs(5), self.r.next(1 << 24))
            .await
            .expect("reply within 5s")
            .unwrap()
            .expect("connection open");
        decode_r(f).unwrap()
    }

    async fn rpc(&mut self, tag: u16, msg: Tmsg) -> Rmsg {
        self.send(tag, msg).await;
        let (t, r) = self.recv().await;
        assert_eq!(t, tag);
        r
    }

    /// Nothing arrives within a short while.
    async fn quiet(&mut self) -> bool {
        tokio::time::timeout(Duration::from_millis(200), self.r.next(1 << 24))
            .await
            .is_err()
    }

    async fn session(tree: impl Tree + 'static) -> Raw {
        let mut c = Raw::start(tree, 65536);
        let r = c
            .rpc(
                NOTAG,
                Tmsg::Version {
                    msize: 65536,
                    version: "9P2000".into(),
                },
            )
            .await;
        assert!(matches!(r, Rmsg::Version { msize: 65536, .. }));
        let r = c
            .rpc(
                1,
                Tmsg::Attach {
                    fid: 0,
                    afid: NOFID,
                    uname: "u".into(),
                    aname: "".into(),
                },
            )
            .await;
        assert!(matches!(r, Rmsg::Attach { .. }), "{r:?}");
        c
    }

    /// Sends Topen (OREAD) of `fid` under tag `open` and a Tread of it under `read`,
    /// without waiting.
    async fn send_open_and_read(&mut self, fid: u32, open: u16, read: u16) {
        let mode = om::OREAD;
        self.send(open, Tmsg::Open { fid, mode }).await;
        let count = 10;
        let offset = 0;
        self.send(read, Tmsg::Read { fid, offset, count }).await;
    }

    /// Walks fid 0 to `name` as `fid`, without opening it.
    async fn walk_to(&mut self, fid: u32, name: &str) {
        let walk = Tmsg::Walk {
            fid: 0,
            newfid: fid,
            wnames: vec![name.into()],
        };
        assert!(matches!(self.rpc(2, walk).await, Rmsg::Walk { .. }));
    }

    async fn walk_open(&mut self, fid: u32, path: &[&str], mode: u8) {
        let wnames = path.iter().map(|s| s.to_string()).collect();
        let r = self
            .rpc(
                2,
                Tmsg::Walk {
                    fid: 0,
                    newfid: fid,
                    wnames,
                },
            )
            .await;
        assert!(
            matches!(r, Rmsg::Walk { ref wqids } if wqids.len() == path.len()),
            "{r:?}"
        );
        let r = self.rpc(3, Tmsg::Open { fid, mode }).await;
        assert!(matches!(r, Rmsg::Open { .. }), "{r:?}");
    }
}

fn ename(r: &Rmsg) -> &str {
    match r {
        Rmsg::Error { ename } => ename,
        other => panic!("expected Rerror, got {other:?}"),
    }
}

#[tokio::test]
async fn version_caps_msize_and_answers_dialects_with_9p2000() {
    let mut c = Raw::start(fixture().tree, 8192);
    let r = c
        .rpc(
            NOTAG,
            Tmsg::Version {
                msize: 1 << 20,
                version: "9P2000.L".into(),
            },
        )
        .await;
    assert_eq!(
        r,
        Rmsg::Version {
            msize: 8192,
            version: "9P2000".into()
        }
    );
    let r = c
        .rpc(
            NOTAG,
            Tmsg::Version {
                msize: 4096,
                version: "9P1999".into(),
            },
        )
        .await;
    assert!(matches!(r, Rmsg::Version { ref version, .. } if version == "unknown"));
    let r = c
        .rpc(
            NOTAG,
            Tmsg::Version {
                msize: 100,
                version: "9P2000".into(),
            },
        )
        .await;
    assert!(ename(&r).contains("too small"));
}

#[tokio::test]
async fn requests_before_version_are_refused() {
    let mut c = Raw::start(fixture().tree, 8192);
    let r = c
        .rpc(
            1,
            Tmsg::Attach {
                fid: 0,
                afid: NOFID,
                uname: "u".into(),
                aname: "".into(),
            },
        )
        .await;
    assert_eq!(ename(&r), "version not negotiated");
}

#[tokio::test]
async fn walk_open_read_stat_and_directory_read() {
    let mut c = Raw::session(fixture().tree).await;
    c.walk_open(1, &["hello"], om::OREAD).await;
    let r = c
        .rpc(
            4,
            Tmsg::Read {
                fid: 1,
                offset: 7,
                count: 100,
            },
        )
        .await;
    assert_eq!(
        r,
        Rmsg::Read {
            data: Bytes::from_static(b"world\n")
        }
    );
    let Rmsg::Stat { stat } = c.rpc(5, Tmsg::Stat { fid: 1 }).await else {
        panic!()
    };
    assert_eq!((stat.name.as_str(), stat.length), ("hello", 13));

    c.walk_open(2, &[], om::OREAD).await;
    let Rmsg::Read { data } = c
        .rpc(
            6,
            Tmsg::Read {
                fid: 2,
                offset: 0,
                count: 4096,
            },
        )
        .await
    else {
        panic!()
    };
    let names: Vec<_> = read_dir_entries(data.clone())
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["block", "count", "deep", "hello"]);
    let r = c
        .rpc(
            7,
            Tmsg::Read {
                fid: 2,
                offset: 5,
                count: 4096,
            },
        )
        .await;
    assert_eq!(ename(&r), "bad offset in directory read");
    let r = c
        .rpc(
            8,
            Tmsg::Read {
                fid: 2,
                offset: data.len() as u64,
                count: 4096,
            },
        )
        .await;
    assert_eq!(r, Rmsg::Read { data: Bytes::new() });
}

#[tokio::test]
async fn fid_rules_are_enforced() {
    let mut c = Raw::session(fixture().tree).await;
    let r = c.rpc(1, Tmsg::Stat { fid: 42 }).await;
    assert_eq!(ename(&r), "unknown fid");
    let r = c
        .rpc(
            1,
            Tmsg::Attach {
                fid: 0,
                afid: NOFID,
                uname: "u".into(),
                aname: "".into(),
            },
        )
        .await;
    assert_eq!(ename(&r), "fid already in use");
    c.walk_open(1, &["hello"], om::OREAD).await;
    let r = c
        .rpc(
            1,
            Tmsg::Walk {
                fid: 1,
                newfid: 2,
                wnames: vec![],
            },
        )
        .await;
    assert_eq!(ename(&r), "cannot walk an open fid");
    let r = c
        .rpc(
            1,
            Tmsg::Open {
                fid: 1,
                mode: om::OREAD,
            },
        )
        .await;
    assert_eq!(ename(&r), "file already open");
    let r = c
        .rpc(
            1,
            Tmsg::Write {
                fid: 1,
                offset: 0,
                data: Bytes::from_static(b"x"),
            },
        )
        .await;
    assert_eq!(ename(&r), "inappropriate use of fd");
    let r = c
        .rpc(
            1,
            Tmsg::Walk {
                fid: 0,
                newfid: 3,
                wnames: vec!["nope".into()],
            },
        )
        .await;
    assert_eq!(ename(&r), "file does not exist");
    // A walk that fails part way returns the qids it got and creates no fid.
    let r = c
        .rpc(
            1,
            Tmsg::Walk {
                fid: 0,
                newfid: 3,
                wnames: vec!["deep".into(), "nope".into()],
            },
        )
        .await;
    assert!(matches!(r, Rmsg::Walk { ref wqids } if wqids.len() == 1));
    assert_eq!(ename(&c.rpc(1, Tmsg::Stat { fid: 3 }).await), "unknown fid");
    let r = c
        .rpc(
            1,
            Tmsg::Auth {
                afid: 5,
                uname: "u".into(),
                aname: "".into(),
            },
        )
        .await;
    assert_eq!(ename(&r), "authentication not required");
    let r = c
        .rpc(
            1,
            Tmsg::Create {
                fid: 1,
                name: "x".into(),
                perm: 0o644,
                mode: 0,
            },
        )
        .await;
    assert_eq!(ename(&r), "not a directory");
}

#[tokio::test]
async fn flush_cancels_a_blocked_read_and_no_rread_follows() {
    let fx = fixture();
    let mut c = Raw::session(fx.tree.clone()).await;
    c.walk_open(1, &["block"], om::OREAD).await;
    c.send(
        10,
        Tmsg::Read {
            fid: 1,
            offset: 0,
            count: 10,
        },
    )
    .await;
    // A blocked read does not hold up others on the connection.
    let r = c.rpc(11, Tmsg::Stat { fid: 1 }).await;
    assert!(matches!(r, Rmsg::Stat { .. }));
    // Its tag is in flight: reusing it is refused.
    let r = c.rpc(10, Tmsg::Stat { fid: 1 }).await;
    assert_eq!(ename(&r), "duplicate tag");
    let r = c.rpc(12, Tmsg::Flush { oldtag: 10 }).await;
    assert_eq!(r, Rmsg::Flush);
    assert_eq!(fx.cancelled.load(Ordering::SeqCst), 1);
    assert!(c.quiet().await, "nothing may be sent for a flushed request");
    // The tag is free again.
    let r = c.rpc(10, Tmsg::Stat { fid: 1 }).await;
    assert!(matches!(r, Rmsg::Stat { .. }));
    // Flushing a tag not in flight is answered at once.
    assert_eq!(c.rpc(13, Tmsg::Flush { oldtag: 999 }).await, Rmsg::Flush);
}

#[tokio::test]
async fn hangup_cancels_requests_and_releases_every_fid() {
    let fx = fixture();
    let mut c = Raw::session(fx.tree.clone()).await;
    c.walk_open(1, &["count"], om::OREAD).await;
    c.walk_open(2, &["count"], om::OREAD).await;
    c.walk_open(3, &["block"], om::OREAD).await;
    c.send(
        20,
        Tmsg::Read {
            fid: 3,
            offset: 0,
            count: 1,
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let Raw { w, r, server } = c;
    drop(w);
    drop(r);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .ok();
    assert_eq!(fx.closes.load(Ordering::SeqCst), 2);
    assert_eq!(fx.cancelled.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn tversion_resets_the_session() {
    let fx = fixture();
    let mut c = Raw::session(fx.tree.clone()).await;
    c.walk_open(1, &["count"], om::OREAD).await;
    let r = c
        .rpc(
            NOTAG,
            Tmsg::Version {
                msize: 8192,
                version: "9P2000".into(),
            },
        )
        .await;
    assert!(matches!(r, Rmsg::Version { msize: 8192, .. }));
    assert_eq!(fx.closes.load(Ordering::SeqCst), 1);
    assert_eq!(ename(&c.rpc(1, Tmsg::Stat { fid: 0 }).await), "unknown fid");
}

#[tokio::test]
async fn clunk_closes_the_file_and_frees_the_fid() {
    let fx = fixture();
    let mut c = Raw::session(fx.tree.clone()).await;
    c.walk_open(1, &["count"], om::OREAD).await;
    assert_eq!(c.rpc(4, Tmsg::Clunk { fid: 1 }).await, Rmsg::Clunk);
    assert_eq!(fx.closes.load(Ordering::SeqCst), 1);
    assert_eq!(
        ename(&c.rpc(4, Tmsg::Clunk { fid: 1 }).await),
        "unknown fid"
    );
    c.walk_open(1, &["count"], om::OREAD).await;
}

#[tokio::test]
async fn malformed_messages_get_rerror_and_the_connection_survives() {
    let mut c = Raw::session(fixture().tree).await;
    // A Tclunk whose body is one byte short, with tag 7.
    c.w.write_all(&[10, 0, 0, 0, 120, 7, 0, 1, 0, 0])
        .await
        .unwrap();
    let (tag, r) = c.recv().await;
    assert_eq!(tag, 7);
    assert!(ename(&r).starts_with("malformed message"));
    // Unknown type 106 (Terror does not exist).
    c.w.write_all(&[7, 0, 0, 0, 106, 8, 0]).await.unwrap();
    let (tag, r) = c.recv().await;
    assert_eq!(tag, 8);
    assert!(ename(&r).contains("unknown message type"));
    let r = c.rpc(9, Tmsg::Stat { fid: 0 }).await;
    assert!(matches!(r, Rmsg::Stat { .. }));
}

#[tokio::test]
async fn an_oversized_frame_closes_the_connection() {
    let mut c = Raw::session(fixture().tree).await;
    c.w.write_all(&(70000u32).to_le_bytes()).await.unwrap();
    c.w.write_all(&[118, 1, 0]).await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), c.r.next(1 << 20))
        .await
        .unwrap();
    assert!(matches!(end, Ok(None)));
    let res = tokio::time::timeout(Duration::from_secs(5), c.server)
        .await
        .unwrap()
        .unwrap();
    assert!(res.is_err());
}

#[tokio::test]
async fn reads_are_capped_at_msize_and_deep_walks_need_chunks() {
    let mut c = Raw::session(fixture().tree).await;
    let names: Vec<String> = (0..16).map(|i| format!("d{i}")).collect();
    let r = c
        .rpc(
            1,
            Tmsg::Walk {
                fid: 0,
                newfid: 5,
                wnames: [vec!["deep".to_string()], names[..15].to_vec()].concat(),
            },
        )
        .await;
    assert!(matches!(r, Rmsg::Walk { ref wqids } if wqids.len() == 16));
    // Seventeen names do not even decode.
    let mut too_many = names.clone();
    too_many.push("x".into());
    let r = c
        .rpc(
            2,
            Tmsg::Walk {
                fid: 0,
                newfid: 6,
                wnames: too_many,
            },
        )
        .await;
    assert!(ename(&r).contains("too many walk elements"));
}

/// A tree whose opens take a while, as a listen file's or a slow disk's do.
#[derive(Debug, Clone)]
struct SlowOpens(SynthTree);

#[derive(Debug)]
struct SlowOpen(NodeRef);

#[async_trait]
impl Tree for SlowOpens {
    async fn attach(&self, uname: &str, aname: &str) -> Result<NodeRef> {
        Ok(Arc::new(SlowOpen(self.0.attach(uname, aname).await?)))
    }
}

#[async_trait]
impl Node for SlowOpen {
    fn qid(&self) -> Qid {
        self.0.qid()
    }
    async fn clone_node(&self) -> Result<NodeRef> {
        Ok(Arc::new(SlowOpen(self.0.clone_node().await?)))
    }
    async fn walk(&self, names: &[String]) -> Result<Walked> {
        let w = self.0.walk(names).await?;
        Ok(Walked {
            qids: w.qids,
            node: w.node.map(|n| Arc::new(SlowOpen(n)) as NodeRef),
        })
    }
    async fn open(&self, mode: u8) -> Result<Opened> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.0.open(mode).await
    }
    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        self.0.read(offset, count).await
    }
    async fn write(&self, offset: u64, data: Bytes) -> Result<u32> {
        self.0.write(offset, data).await
    }
    async fn clunk(&self) {
        self.0.clunk().await
    }
    async fn stat(&self) -> Result<Stat> {
        self.0.stat().await
    }
}

#[tokio::test]
async fn pipelined_requests_on_a_fid_wait_for_the_one_that_opens_it() {
    let fx = fixture();
    let mut c = Raw::session(SlowOpens(fx.tree.clone())).await;
    // Walk, open, read and clunk sent at once, as a client that pipelines a dial does.
    let walk = Tmsg::Walk {
        fid: 0,
        newfid: 1,
        wnames: vec!["count".into()],
    };
    c.send(10, walk).await;
    c.send_open_and_read(1, 11, 12).await;
    c.send(13, Tmsg::Clunk { fid: 1 }).await;
    // A request on another fid is not held up by the slow open.
    c.send(14, Tmsg::Stat { fid: 0 }).await;
    let mut replies = Vec::new();
    for _ in 0..5 {
        replies.push(c.recv().await);
    }
    let order: Vec<u16> = replies.iter().map(|(t, _)| *t).collect();
    assert_eq!(order, [10, 14, 11, 12, 13], "{replies:?}");
    assert!(matches!(replies[2].1, Rmsg::Open { .. }), "{replies:?}");
    assert_eq!(
        replies[3].1,
        Rmsg::Read {
            data: Bytes::from_static(b"x")
        }
    );
    assert_eq!(replies[4].1, Rmsg::Clunk);
    assert_eq!(fx.closes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_flushed_open_lets_what_waited_for_it_go_on() {
    let fx = fixture();
    let mut c = Raw::session(SlowOpens(fx.tree.clone())).await;
    c.walk_to(1, "count").await;
    c.send_open_and_read(1, 11, 12).await;
    c.send(13, Tmsg::Flush { oldtag: 11 }).await;
    // The open never happened, so the read that waited for it is refused (its reply and
    // Rflush may come in either order).
    let mut replies = [c.recv().await, c.recv().await];
    replies.sort_by_key(|(t, _)| *t);
    assert_eq!(replies[0].0, 12);
    assert_eq!(ename(&replies[0].1), "inappropriate use of fd");
    assert_eq!(replies[1], (13, Rmsg::Flush));
    // The fid can be opened again.
    assert!(matches!(
        c.rpc(
            14,
            Tmsg::Open {
                fid: 1,
                mode: om::OREAD
            }
        )
        .await,
        Rmsg::Open { .. }
    ));
}

/// A stream-like file: a write takes its turn (a fair lock, in its first poll, as a socket's
/// writer does) and records what it wrote; one starting with `slow` takes a while, as a
/// write to a full socket does.
#[derive(Debug, Default)]
struct Recording {
    turn: tokio::sync::Mutex<()>,
    landed: Arc<std::sync::Mutex<Vec<Bytes>>>,
}

#[async_trait]
impl SynthFile for Recording {
    fn mode(&self) -> u32 {
        0o666
    }
    async fn read(&self, _offset: u64, _count: u32) -> Result<Bytes> {
        Ok(Bytes::from_static(b"r"))
    }
    async fn write(&self, _offset: u64, data: Bytes) -> Result<u32> {
        let _turn = self.turn.lock().await;
        if data.starts_with(b"slow") {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let n = data.len() as u32;
        self.landed.lock().unwrap().push(data);
        Ok(n)
    }
}

fn recording() -> (SynthTree, Arc<std::sync::Mutex<Vec<Bytes>>>) {
    let landed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let file = Recording {
        turn: Default::default(),
        landed: landed.clone(),
    };
    (
        SynthTree::new(Entry::dir([("stream", Entry::file(file))])),
        landed,
    )
}

async fn send_writes(c: &mut Raw, fid: u32, writes: &[(u16, &'static str)]) {
    for &(tag, data) in writes {
        let write = Tmsg::Write {
            fid,
            offset: 0,
            data: Bytes::from(data),
        };
        c.send(tag, write).await;
    }
}

#[tokio::test]
async fn pipelined_writes_land_in_order_and_a_read_does_not_wait_for_them() {
    let (tree, landed) = recording();
    let mut c = Raw::session(tree).await;
    c.walk_open(1, &["stream"], om::ORDWR).await;
    send_writes(&mut c, 1, &[(10, "slow one"), (11, "two"), (12, "three")]).await;
    let read = Tmsg::Read {
        fid: 1,
        offset: 0,
        count: 1,
    };
    c.send(13, read).await;
    let mut tags = Vec::new();
    for _ in 0..4 {
        tags.push(c.recv().await.0);
    }
    assert_eq!(tags, [13, 10, 11, 12]);
    let landed: Vec<Bytes> = landed.lock().unwrap().clone();
    assert_eq!(landed, ["slow one", "two", "three"]);
}

#[tokio::test]
async fn writes_queued_behind_a_slow_open_start_in_the_order_they_came() {
    let (tree, landed) = recording();
    let mut c = Raw::session(SlowOpens(tree)).await;
    c.walk_to(1, "stream").await;
    c.send(
        10,
        Tmsg::Open {
            fid: 1,
            mode: om::ORDWR,
        },
    )
    .await;
    let writes: Vec<(u16, &'static str)> = vec![(11, "a"), (12, "b"), (13, "c"), (14, "d")];
    send_writes(&mut c, 1, &writes).await;
    let mut replies = Vec::new();
    for _ in 0..5 {
        replies.push(c.recv().await);
    }
    assert!(matches!(replies[0], (10, Rmsg::Open { .. })), "{replies:?}");
    for (_, r) in &replies[1..] {
        assert_eq!(*r, Rmsg::Write { count: 1 });
    }
    let landed: Vec<Bytes> = landed.lock().unwrap().clone();
    assert_eq!(landed, ["a", "b", "c", "d"]);
}
