//! walk_open sends its requests together: checked against a scripted server that answers
//! only once it has all of them, and that can answer as a server that reorders would.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ninefold_client::{Client, RemoteNode};
use ninefold_fs::{Node, Qid};
use ninefold_io::FrameReader;
use ninefold_proto::{QidType, Rmsg, Tmsg, decode_t, encode_r, om};
use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

/// The server's side of the stream, driven by hand.
struct Script {
    r: FrameReader<ReadHalf<DuplexStream>>,
    w: WriteHalf<DuplexStream>,
}

impl Script {
    async fn recv(&mut self) -> (u16, Tmsg) {
        let f = tokio::time::timeout(Duration::from_secs(5), self.r.next(1 << 20))
            .await
            .expect("a request within 5 s")
            .unwrap()
            .expect("connection open");
        decode_t(f).unwrap()
    }

    async fn send(&mut self, tag: u16, msg: Rmsg) {
        let mut buf = BytesMut::new();
        encode_r(tag, &msg, &mut buf, false);
        self.w.write_all(&buf).await.unwrap();
    }

    /// Nothing arrives within a short while.
    async fn quiet(&mut self) -> bool {
        tokio::time::timeout(Duration::from_millis(200), self.r.next(1 << 20))
            .await
            .is_err()
    }
}

fn qid(path: u64) -> Qid {
    Qid {
        ty: QidType::FILE,
        version: 0,
        path,
    }
}

fn error(ename: &str) -> Rmsg {
    Rmsg::Error {
        ename: ename.into(),
    }
}

/// A client attached through the script: the root's fid, and the script.
async fn attached() -> (RemoteNode, Script) {
    let (a, b) = tokio::io::duplex(1 << 16);
    let (r, w) = tokio::io::split(b);
    let mut s = Script {
        r: FrameReader::new(r),
        w,
    };
    let client = tokio::spawn(async move {
        let c = Client::connect_stream(a, 8192).await.unwrap();
        c.attach_node("me", "").await.unwrap()
    });
    let (tag, v) = s.recv().await;
    assert!(matches!(v, Tmsg::Version { .. }), "{v:?}");
    let version = Rmsg::Version {
        msize: 8192,
        version: "9P2000".into(),
    };
    s.send(tag, version).await;
    let (tag, a) = s.recv().await;
    assert!(matches!(a, Tmsg::Attach { .. }), "{a:?}");
    let mut root = qid(1);
    root.ty = QidType::DIR;
    s.send(tag, Rmsg::Attach { qid: root }).await;
    (client.await.unwrap(), s)
}

/// Starts a walk_open of `clone` with a read, and receives its three requests before
/// answering any: the client must not wait between them.
async fn three_at_once(
    root: RemoteNode,
    s: &mut Script,
) -> (
    tokio::task::JoinHandle<ninefold_fs::Result<ninefold_fs::WalkOpened>>,
    [(u16, Tmsg); 3],
) {
    let dir = root.fid();
    let task = tokio::spawn(async move {
        root.walk_open(&["clone".into()], om::ORDWR, Some(100))
            .await
    });
    let reqs = [s.recv().await, s.recv().await, s.recv().await];
    let newfid = match &reqs[0].1 {
        Tmsg::Walk {
            fid,
            newfid,
            wnames,
        } if *fid == dir && wnames == &["clone"] => *newfid,
        other => panic!("expected the walk first, got {other:?}"),
    };
    assert_eq!(
        reqs[1].1,
        Tmsg::Open {
            fid: newfid,
            mode: om::ORDWR
        }
    );
    assert!(
        matches!(reqs[2].1, Tmsg::Read { fid, offset: 0, .. } if fid == newfid),
        "{:?}",
        reqs[2].1
    );
    (task, reqs)
}

#[tokio::test]
async fn walk_open_and_read_go_out_in_one_round_trip() {
    let (root, mut s) = attached().await;
    let (task, [walk, open, read]) = three_at_once(root, &mut s).await;
    s.send(
        walk.0,
        Rmsg::Walk {
            wqids: vec![qid(7)],
        },
    )
    .await;
    let opened = Rmsg::Open {
        qid: qid(8),
        iounit: 0,
    };
    s.send(open.0, opened).await;
    s.send(
        read.0,
        Rmsg::Read {
            data: Bytes::from_static(b"4\n"),
        },
    )
    .await;
    let w = task.await.unwrap().unwrap();
    assert_eq!(w.data.as_deref(), Some(&b"4\n"[..]));
    assert_eq!(w.opened.qid, qid(8));
    assert_eq!(w.node.qid(), qid(8));
}

#[tokio::test]
async fn a_server_that_reorders_gets_the_open_and_read_again() {
    let (root, mut s) = attached().await;
    let (task, [walk, open, read]) = three_at_once(root, &mut s).await;
    // As if the open and the read had run before the walk made the fid.
    s.send(open.0, error("unknown fid")).await;
    s.send(read.0, error("unknown fid")).await;
    s.send(
        walk.0,
        Rmsg::Walk {
            wqids: vec![qid(7)],
        },
    )
    .await;
    let (tag, again) = s.recv().await;
    assert!(matches!(again, Tmsg::Open { .. }), "{again:?}");
    let opened = Rmsg::Open {
        qid: qid(7),
        iounit: 0,
    };
    s.send(tag, opened).await;
    let (tag, again) = s.recv().await;
    assert!(matches!(again, Tmsg::Read { offset: 0, .. }), "{again:?}");
    s.send(
        tag,
        Rmsg::Read {
            data: Bytes::from_static(b"9"),
        },
    )
    .await;
    let w = task.await.unwrap().unwrap();
    assert_eq!(w.data.as_deref(), Some(&b"9"[..]));
}

#[tokio::test]
async fn a_failed_walk_fails_with_its_own_error_and_clunks_nothing() {
    let (root, mut s) = attached().await;
    let (task, [walk, open, read]) = three_at_once(root, &mut s).await;
    s.send(walk.0, error("'clone' file does not exist")).await;
    s.send(open.0, error("unknown fid")).await;
    s.send(read.0, error("unknown fid")).await;
    let e = task.await.unwrap().unwrap_err();
    assert_eq!(e.as_str(), "'clone' file does not exist");
    // The root's fid is clunked when the node drops; nothing is sent for the new fid,
    // which the server never made.
    let Tmsg::Walk { fid: dir, .. } = walk.1 else {
        unreachable!()
    };
    let (_, clunk) = s.recv().await;
    assert_eq!(clunk, Tmsg::Clunk { fid: dir });
    assert!(s.quiet().await);
}

/// Opens the root's fid for writing (the script does not care what it is).
async fn opened_for_writing(root: &RemoteNode, s: &mut Script) {
    let open = root.open(om::OWRITE);
    let answer = async {
        let (tag, msg) = s.recv().await;
        assert!(matches!(msg, Tmsg::Open { .. }), "{msg:?}");
        let opened = Rmsg::Open {
            qid: qid(1),
            iounit: 0,
        };
        s.send(tag, opened).await;
    };
    let (opened, ()) = tokio::join!(open, answer);
    opened.unwrap();
}

fn twrite(msg: &Tmsg) -> (u64, usize) {
    match msg {
        Tmsg::Write { offset, data, .. } => (*offset, data.len()),
        other => panic!("expected a Twrite, got {other:?}"),
    }
}

#[tokio::test]
async fn a_large_write_keeps_the_window_in_flight() {
    let (root, mut s) = attached().await;
    opened_for_writing(&root, &mut s).await;
    root.client().set_write_window(4);
    let piece = (8192 - 24) as usize;
    let data = Bytes::from(vec![7u8; 4 * piece + 100]);
    let task = tokio::spawn(async move { root.write(10, data).await });
    // Four arrive before any is answered; the fifth only once one has been.
    let mut first = Vec::new();
    for _ in 0..4 {
        first.push(s.recv().await);
    }
    let pieces: Vec<_> = first.iter().map(|(_, m)| twrite(m)).collect();
    let want: Vec<_> = (0..4).map(|i| (10 + (i * piece) as u64, piece)).collect();
    assert_eq!(pieces, want);
    assert!(s.quiet().await, "a fifth Twrite went out beyond the window");
    for (tag, _) in &first {
        s.send(
            *tag,
            Rmsg::Write {
                count: piece as u32,
            },
        )
        .await;
    }
    let (tag, last) = s.recv().await;
    assert_eq!(twrite(&last), (10 + 4 * piece as u64, 100));
    s.send(tag, Rmsg::Write { count: 100 }).await;
    assert_eq!(task.await.unwrap().unwrap(), (4 * piece + 100) as u32);
}

#[tokio::test]
async fn a_short_write_in_the_window_ends_the_write_after_the_rest_are_answered() {
    let (root, mut s) = attached().await;
    opened_for_writing(&root, &mut s).await;
    root.client().set_write_window(3);
    let piece = (8192 - 24) as usize;
    let data = Bytes::from(vec![7u8; 5 * piece]);
    let task = tokio::spawn(async move { root.write(0, data).await });
    let sent = [s.recv().await, s.recv().await, s.recv().await];
    let full = Rmsg::Write {
        count: piece as u32,
    };
    s.send(sent[0].0, full.clone()).await;
    // Its place in the window goes to the fourth piece.
    let fourth = s.recv().await;
    assert_eq!(twrite(&fourth.1), (3 * piece as u64, piece));
    // The second is short: nothing more is sent, the others are still waited for.
    s.send(sent[1].0, Rmsg::Write { count: 5 }).await;
    assert!(s.quiet().await, "a Twrite went out after a short one");
    s.send(sent[2].0, full.clone()).await;
    assert!(s.quiet().await);
    assert!(!task.is_finished());
    s.send(fourth.0, full).await;
    assert_eq!(task.await.unwrap().unwrap(), piece as u32 + 5);
}
