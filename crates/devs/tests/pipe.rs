//! `#|`: pipes both ways, EOF after clunk, blocked reads cancelled, backpressure.
#![allow(clippy::unwrap_used)]

mod common;

use ninefold_testkit::scenario;

mod scenarios {
    use std::sync::Arc;

    use bytes::Bytes;
    use ninefold_devs::{CLOSED_PIPE, PIPE_BUF, PipeTree};
    use ninefold_fs::{Error, NodeRef, QidType};
    use ninefold_proto::{dm, om};

    use crate::common::*;

    async fn pipe(via: Via) -> NodeRef {
        attach(Arc::new(PipeTree::new().with_owner(USER)), via).await
    }

    /// A new pipe's two ends, opened ORDWR.
    async fn ends(via: Via) -> (NodeRef, NodeRef) {
        let r = pipe(via).await;
        let a = open(&r, "data", om::ORDWR).await;
        let b = open(&r, "data1", om::ORDWR).await;
        (a, b)
    }

    pub async fn both_ways(via: Via) {
        let (a, b) = ends(via).await;
        assert_eq!(write_at(&a, 0, b"hello").await.unwrap(), 5);
        assert_eq!(read_exactly(&b, 5).await, b"hello");
        assert_eq!(write_at(&b, 0, b"and back").await.unwrap(), 8);
        assert_eq!(read_exactly(&a, 8).await, b"and back");
        // A stream: two writes may come back in one read, and a read takes at most count.
        write_at(&a, 0, b"one").await.unwrap();
        write_at(&a, 0, b"two").await.unwrap();
        assert_eq!(bounded(b.read(0, 4)).await.unwrap(), &b"onet"[..]);
        assert_eq!(bounded(b.read(0, 100)).await.unwrap(), &b"wo"[..]);
        // Offsets mean nothing on a pipe.
        write_at(&b, 999, b"x").await.unwrap();
        assert_eq!(bounded(a.read(12345, 10)).await.unwrap(), &b"x"[..]);
        // A zero-length write does nothing.
        assert_eq!(write_at(&a, 0, b"").await.unwrap(), 0);
        stays_blocked(b.read(0, 10)).await;
    }

    pub async fn eof_after_the_writer_is_clunked(via: Via) {
        let (a, b) = ends(via).await;
        write_at(&a, 0, b"last words").await.unwrap();
        bounded(a.clunk()).await;
        assert_eq!(read_exactly(&b, 10).await, b"last words");
        assert!(bounded(b.read(0, 10)).await.unwrap().is_empty());
        assert!(bounded(b.read(0, 10)).await.unwrap().is_empty());
        // And the other end's writes fail.
        assert_eq!(
            text(write_at(&b, 0, b"anyone?").await),
            CLOSED_PIPE.as_str()
        );
    }

    pub async fn eof_waits_for_every_fid_of_the_end(via: Via) {
        let r = pipe(via).await;
        let w1 = open(&r, "data", om::OWRITE).await;
        let w2 = open(&r, "data", om::OWRITE).await;
        let rd = open(&r, "data1", om::OREAD).await;
        bounded(w1.clunk()).await;
        stays_blocked(rd.read(0, 10)).await;
        write_at(&w2, 0, b"still open").await.unwrap();
        assert_eq!(read_exactly(&rd, 10).await, b"still open");
        bounded(w2.clunk()).await;
        assert!(bounded(rd.read(0, 10)).await.unwrap().is_empty());
    }

    pub async fn a_blocked_read_is_woken_by_eof(via: Via) {
        let (a, b) = ends(via).await;
        let reader = tokio::spawn(async move { b.read(0, 10).await });
        tokio::time::sleep(BLOCKED).await;
        assert!(!reader.is_finished());
        bounded(a.clunk()).await;
        let got = bounded(reader).await.unwrap().unwrap();
        assert!(got.is_empty());
    }

    pub async fn a_write_to_a_closed_pipe_fails(via: Via) {
        let (a, b) = ends(via).await;
        write_at(&a, 0, b"never read").await.unwrap();
        bounded(b.clunk()).await;
        assert_eq!(text(write_at(&a, 0, b"x").await), "write on closed pipe");
        // What the closed end never read is gone; its reader sees EOF.
        let r = pipe(via).await;
        let a = open(&r, "data", om::ORDWR).await;
        assert!(bounded(a.stat()).await.unwrap().length == 0);
    }

    pub async fn a_blocked_read_cancelled_by_dropping_it(via: Via) {
        let (a, b) = ends(via).await;
        // Dropped after a while: over 9P that is a Tflush.
        stays_blocked(b.read(0, 10)).await;
        stays_blocked(b.read(0, 10)).await;
        // Nothing was lost and the pipe still works both ways.
        write_at(&a, 0, b"after").await.unwrap();
        assert_eq!(read_exactly(&b, 5).await, b"after");
        write_at(&b, 0, b"back").await.unwrap();
        assert_eq!(read_exactly(&a, 4).await, b"back");
    }

    pub async fn backpressure(via: Via) {
        let (a, b) = ends(via).await;
        // Fill the buffer, in pieces a message can carry.
        let mut sent = 0;
        while sent < PIPE_BUF {
            let n = (PIPE_BUF - sent).min(64 << 10);
            assert_eq!(write_at(&a, 0, &vec![1; n]).await.unwrap() as usize, n);
            sent += n;
        }
        assert_eq!(bounded(b.stat()).await.unwrap().length, PIPE_BUF as u64);
        // Full: the next write waits ...
        let a2 = a.clone();
        let writer = tokio::spawn(async move { a2.write(0, Bytes::from_static(b"more")).await });
        tokio::time::sleep(BLOCKED).await;
        assert!(!writer.is_finished(), "a write to a full pipe went through");
        // ... until the reader makes room.
        let got = bounded(b.read(0, 1000)).await.unwrap();
        assert_eq!(got.len(), 1000);
        assert_eq!(bounded(writer).await.unwrap().unwrap(), 4);
        let rest = read_exactly(&b, PIPE_BUF - 1000 + 4).await;
        assert!(rest[..PIPE_BUF - 1000].iter().all(|&x| x == 1));
        assert_eq!(&rest[PIPE_BUF - 1000..], b"more");
        // A blocked write cancelled by dropping it wrote nothing.
        let fill = vec![2; PIPE_BUF.min(64 << 10)];
        let mut sent = 0;
        while sent < PIPE_BUF {
            write_at(&a, 0, &fill).await.unwrap();
            sent += fill.len();
        }
        stays_blocked(a.write(0, Bytes::from_static(b"dropped"))).await;
        let all = read_exactly(&b, PIPE_BUF).await;
        assert!(all.iter().all(|&x| x == 2));
        stays_blocked(b.read(0, 10)).await;
    }

    pub async fn more_than_the_buffer_in_one_write(via: Via) {
        let (a, b) = ends(via).await;
        let data: Vec<u8> = (0..(PIPE_BUF * 3 + 17)).map(|i| (i % 251) as u8).collect();
        let len = data.len();
        let writer = {
            let a = a.clone();
            let data = data.clone();
            tokio::spawn(async move { a.write(0, Bytes::from(data)).await })
        };
        let got = read_exactly(&b, len).await;
        assert_eq!(bounded(writer).await.unwrap().unwrap() as usize, len);
        assert!(got == data, "bytes differ");
    }

    pub async fn reads_wait_for_a_writer_that_has_not_come(via: Via) {
        let r = pipe(via).await;
        let rd = open(&r, "data", om::OREAD).await;
        // data1 was never opened: no EOF, just waiting.
        stays_blocked(rd.read(0, 10)).await;
        // Writes before the reader opens are kept.
        let r2 = pipe(via).await;
        let w = open(&r2, "data", om::OWRITE).await;
        write_at(&w, 0, b"early").await.unwrap();
        let rd2 = open(&r2, "data1", om::OREAD).await;
        assert_eq!(read_exactly(&rd2, 5).await, b"early");
    }

    pub async fn every_attach_is_a_new_pipe(via: Via) {
        let tree = Arc::new(PipeTree::new().with_owner(USER));
        let p = attach(tree.clone(), via).await;
        let q = attach(tree.clone(), via).await;
        assert_ne!(p.qid().path, q.qid().path);
        let pa = open(&p, "data", om::ORDWR).await;
        let qa = open(&q, "data", om::ORDWR).await;
        let qb = open(&q, "data1", om::ORDWR).await;
        write_at(&pa, 0, b"for p").await.unwrap();
        stays_blocked(qb.read(0, 10)).await;
        write_at(&qa, 0, b"for q").await.unwrap();
        assert_eq!(read_exactly(&qb, 5).await, b"for q");
        // Fids walked from one attach reach the same pipe.
        let p2 = walk(&p, "").await.unwrap();
        let pb = open(&p2, "data1", om::OREAD).await;
        assert_eq!(read_exactly(&pb, 5).await, b"for p");
    }

    pub async fn directory_and_stat(via: Via) {
        let r = pipe(via).await;
        let entries = list(&r, "").await;
        let names: Vec<_> = entries.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["data", "data1"]);
        let st = bounded(r.stat()).await.unwrap();
        assert_eq!(st.mode, dm::DMDIR | 0o555);
        assert_eq!(st.qid.ty, QidType::DIR);
        let mut paths = vec![st.qid.path, entries[0].qid.path, entries[1].qid.path];
        paths.dedup();
        assert_eq!(paths.len(), 3);
        for e in &entries {
            assert_eq!((e.mode, e.uid.as_str()), (0o600, USER));
        }
        assert_eq!(walk(&r, "..").await.unwrap().qid(), r.qid());
        let d = walk(&r, "data").await.unwrap();
        assert_eq!(
            text(bounded(d.walk(&["x".into()])).await),
            Error::WALK_NO_DIR.as_str()
        );
        assert_eq!(
            text(try_open(&r, "", om::OWRITE).await),
            Error::IS_DIR.as_str()
        );
        // The length of an end is what waits to be read there.
        let a = open(&r, "data", om::ORDWR).await;
        write_at(&a, 0, b"12345").await.unwrap();
        assert_eq!(stat(&r, "data1").await.length, 5);
        assert_eq!(stat(&r, "data").await.length, 0);
    }
}

scenario!(both_ways);
scenario!(eof_after_the_writer_is_clunked);
scenario!(eof_waits_for_every_fid_of_the_end);
scenario!(a_blocked_read_is_woken_by_eof);
scenario!(a_write_to_a_closed_pipe_fails);
scenario!(a_blocked_read_cancelled_by_dropping_it);
scenario!(backpressure);
scenario!(more_than_the_buffer_in_one_write);
scenario!(reads_wait_for_a_writer_that_has_not_come);
scenario!(every_attach_is_a_new_pipe);
scenario!(directory_and_stat);
