//! `#s`: posting trees by API and by writing dial strings into new files.
#![allow(clippy::unwrap_used)]

mod common;

use ninefold_testkit::scenario;

mod scenarios {
    use std::sync::{Arc, Mutex};

    use ninefold_devs::{ConsTree, PipeTree, Poster, SrvTree};
    use ninefold_fs::{Error, NodeRef, QidType, Stat, Tree};
    use ninefold_proto::{dm, om};

    use crate::common::*;

    /// A poster that connects `good!…` to a new cons tree, fails `bad!…`, and never
    /// finishes `hang!…`; it logs every dial string.
    fn poster(log: Arc<Mutex<Vec<String>>>) -> Poster {
        Arc::new(move |dial: String| {
            let log = log.clone();
            Box::pin(async move {
                log.lock().unwrap().push(dial.clone());
                if dial.starts_with("hang!") {
                    std::future::pending::<()>().await;
                }
                if dial.starts_with("bad!") {
                    return Err(Error::new("connection refused"));
                }
                Ok(Arc::new(ConsTree::new(dial)) as Arc<dyn Tree>)
            })
        })
    }

    async fn setup(via: Via) -> (SrvTree, NodeRef, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let srv = SrvTree::new(Some(poster(log.clone()))).with_owner(USER);
        let root = attach(Arc::new(srv.clone()), via).await;
        (srv, root, log)
    }

    pub async fn post_get_remove(via: Via) {
        let (srv, r, _) = setup(via).await;
        let boot: Arc<dyn Tree> = Arc::new(PipeTree::new());
        let weak = Arc::downgrade(&boot);
        srv.post("boot", boot, "tcp!fs!564".into()).unwrap();
        srv.post("cons", Arc::new(ConsTree::new("x")), "#c".into())
            .unwrap();
        let again = srv.post("boot", Arc::new(PipeTree::new()), "x".into());
        assert_eq!(again, Err(Error::EXISTS));
        for bad in ["", ".", "..", "a/b"] {
            let e = srv.post(bad, Arc::new(PipeTree::new()), "x".into());
            assert_eq!(e, Err(Error::BAD_ARG), "{bad:?}");
        }
        assert_eq!(srv.names(), ["boot", "cons"]);
        let (tree, source) = srv.get("boot").unwrap();
        assert_eq!(source, "tcp!fs!564");
        // The tree posted is the tree got: a pipe, here.
        let p = tree.attach(USER, "").await.unwrap();
        assert!(walk(&p, "data1").await.is_ok());
        drop((tree, p));
        assert!(srv.get("nonesuch").is_none());

        assert_eq!(list_names(&r, "").await, ["boot", "cons"]);
        assert_eq!(cat_text(&r, "boot").await, "tcp!fs!564\n");
        let st = stat(&r, "boot").await;
        assert_eq!((st.mode, st.length, st.uid.as_str()), (0o666, 0, USER));
        assert_eq!(st.qid.ty, QidType::FILE);
        assert_eq!(stat(&r, "boot").await.qid, st.qid, "qids are stable");

        assert!(srv.remove("boot"));
        assert!(!srv.remove("boot"));
        assert!(weak.upgrade().is_none(), "the tree outlived its entry");
        assert_eq!(text(walk(&r, "boot").await), Error::NOT_FOUND.as_str());
        assert_eq!(list_names(&r, "").await, ["cons"]);
    }

    pub async fn create_then_write_a_dial_string(via: Via) {
        let (srv, r, log) = setup(via).await;
        let f = create(&r, "", "fs", 0o600, om::OWRITE).await.unwrap();
        let qid = f.qid();
        // Listed at once, with nothing to read yet.
        assert_eq!(list_names(&r, "").await, ["fs"]);
        assert!(srv.get("fs").is_none() && srv.names().is_empty());
        assert_eq!(cat(&r, "fs").await, b"");
        let dial = "good!unix!/tmp/x.sock\n";
        assert_eq!(
            write_at(&f, 0, dial.as_bytes()).await.unwrap() as usize,
            dial.len()
        );
        assert_eq!(*log.lock().unwrap(), ["good!unix!/tmp/x.sock"]);
        let (tree, source) = srv.get("fs").unwrap();
        assert_eq!(source, "good!unix!/tmp/x.sock");
        // What the poster returned is what got posted.
        let c = tree.attach(USER, "").await.unwrap();
        assert_eq!(cat_text(&c, "user").await, "good!unix!/tmp/x.sock");
        assert_eq!(cat_text(&r, "fs").await, "good!unix!/tmp/x.sock\n");
        let e = write_at(&f, 0, b"good!again").await;
        assert_eq!(text(e), Error::IN_USE.as_str());
        // Posted entries outlive the fid that posted them.
        bounded(f.clunk()).await;
        assert_eq!(srv.names(), ["fs"]);
        let st = stat(&r, "fs").await;
        assert_eq!((st.qid, st.mode), (qid, 0o600));
        // Another fid writing a posted entry is refused too.
        let g = open(&r, "fs", om::OWRITE).await;
        assert_eq!(
            text(write_at(&g, 0, b"good!x").await),
            Error::IN_USE.as_str()
        );
        assert_eq!(log.lock().unwrap().len(), 1);
        // Names taken, and directories, cannot be created.
        let e = create(&r, "", "fs", 0o600, om::OWRITE).await;
        assert_eq!(text(e), Error::EXISTS.as_str());
        let e = create(&r, "", "d", dm::DMDIR | 0o700, om::OREAD).await;
        assert_eq!(text(e), Error::PERM.as_str());
    }

    pub async fn an_entry_never_written_goes_with_its_creator(via: Via) {
        let (srv, r, log) = setup(via).await;
        let f = create(&r, "", "tmp", 0o600, om::OWRITE).await.unwrap();
        assert_eq!(list_names(&r, "").await, ["tmp"]);
        bounded(f.clunk()).await;
        assert!(list_names(&r, "").await.is_empty());
        assert!(srv.names().is_empty() && log.lock().unwrap().is_empty());
    }

    pub async fn without_a_poster(via: Via) {
        let srv = SrvTree::new(None);
        let r = attach(Arc::new(srv.clone()), via).await;
        let f = create(&r, "", "x", 0o600, om::OWRITE).await.unwrap();
        let e = write_at(&f, 0, b"unix!/tmp/x.sock").await;
        assert_eq!(text(e), Error::NOT_SUPPORTED.as_str());
        bounded(f.clunk()).await;
        assert!(list_names(&r, "").await.is_empty());
        // The API still posts.
        srv.post("y", Arc::new(PipeTree::new()), "api".into())
            .unwrap();
        assert_eq!(cat_text(&r, "y").await, "api\n");
        assert_eq!(stat(&r, "y").await.uid, "none");
    }

    pub async fn a_failed_post_leaves_the_entry_empty(via: Via) {
        let (srv, r, log) = setup(via).await;
        let f = create(&r, "", "x", 0o600, om::OWRITE).await.unwrap();
        let e = write_at(&f, 0, b"bad!tcp!nowhere!564").await;
        assert_eq!(text(e), "connection refused");
        assert_eq!(list_names(&r, "").await, ["x"]);
        assert!(srv.get("x").is_none());
        for bad in [&b""[..], b"\n", b"\xff\xfe"] {
            let e = write_at(&f, 0, bad).await;
            assert_eq!(text(e), Error::BAD_ARG.as_str(), "{bad:?}");
        }
        write_at(&f, 0, b"good!tcp!somewhere!564").await.unwrap();
        assert_eq!(srv.get("x").unwrap().1, "good!tcp!somewhere!564");
        assert_eq!(log.lock().unwrap().len(), 2);
    }

    pub async fn a_post_cancelled_by_dropping_the_write(via: Via) {
        let (srv, r, log) = setup(via).await;
        let f = create(&r, "", "x", 0o600, om::OWRITE).await.unwrap();
        stays_blocked(write_at(&f, 0, b"hang!forever")).await;
        assert_eq!(log.lock().unwrap().len(), 1);
        // Back to empty: writable again.
        write_at(&f, 0, b"good!now").await.unwrap();
        assert_eq!(srv.get("x").unwrap().1, "good!now");

        // If the creator is clunked while the post is under way and the post then fails,
        // the entry goes.
        let g = create(&r, "", "y", 0o600, om::OWRITE).await.unwrap();
        let writer = {
            let g = g.clone();
            tokio::spawn(async move { g.write(0, bytes::Bytes::from_static(b"hang!")).await })
        };
        tokio::time::sleep(BLOCKED).await;
        assert!(!writer.is_finished());
        assert_eq!(list_names(&r, "").await, ["x", "y"]);
        bounded(g.clunk()).await;
        // Still being posted: stays while the dial lasts.
        assert_eq!(list_names(&r, "").await, ["x", "y"]);
        // Dropping the write future ends the dial (over 9P by a Tflush, which takes a
        // moment to reach the server).
        writer.abort();
        let _ = writer.await;
        bounded(async {
            while list_names(&r, "").await != ["x"] {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await;
        assert_eq!(srv.names(), ["x"]);
    }

    pub async fn remove_by_file(via: Via) {
        let (srv, r, _) = setup(via).await;
        let t: Arc<dyn Tree> = Arc::new(PipeTree::new());
        let weak = Arc::downgrade(&t);
        srv.post("p", t, "src".into()).unwrap();
        let n = walk(&r, "p").await.unwrap();
        bounded(n.remove()).await.unwrap();
        assert!(srv.get("p").is_none());
        assert!(weak.upgrade().is_none());
        let root = walk(&r, "").await.unwrap();
        assert_eq!(text(bounded(root.remove()).await), Error::PERM.as_str());
        // A created entry removed by its creator (ORCLOSE-style): gone, no error.
        let f = create(&r, "", "q", 0o600, om::OWRITE).await.unwrap();
        bounded(f.remove()).await.unwrap();
        assert!(list_names(&r, "").await.is_empty());
    }

    pub async fn walks_opens_and_wstat(via: Via) {
        let (srv, r, _) = setup(via).await;
        let st = bounded(r.stat()).await.unwrap();
        assert_eq!(st.mode, dm::DMDIR | 0o777);
        assert!(r.qid().is_dir());
        assert_eq!(walk(&r, "..").await.unwrap().qid(), r.qid());
        srv.post("a", Arc::new(PipeTree::new()), "a".into())
            .unwrap();
        srv.post("b", Arc::new(PipeTree::new()), "b".into())
            .unwrap();
        let a = walk(&r, "a").await.unwrap();
        assert_eq!(
            text(bounded(a.walk(&["x".into()])).await),
            Error::WALK_NO_DIR.as_str()
        );
        assert_ne!(stat(&r, "a").await.qid.path, stat(&r, "b").await.qid.path);
        assert_eq!(
            text(try_open(&r, "", om::OWRITE).await),
            Error::IS_DIR.as_str()
        );
        // Permissions: read-only entries refuse writers.
        let mut st = Stat::dont_touch();
        st.mode = 0o444;
        bounded(a.wstat(&st)).await.unwrap();
        assert_eq!(
            text(try_open(&r, "a", om::OWRITE).await),
            Error::PERM.as_str()
        );
        // Rename, keeping the qid; onto a name taken: refused.
        let q = stat(&r, "a").await.qid;
        let mut st = Stat::dont_touch();
        st.name = "b".into();
        assert_eq!(text(bounded(a.wstat(&st)).await), Error::EXISTS.as_str());
        st.name = "c".into();
        bounded(a.wstat(&st)).await.unwrap();
        assert_eq!(list_names(&r, "").await, ["b", "c"]);
        assert_eq!(stat(&r, "c").await.qid, q);
        assert_eq!(srv.get("c").unwrap().1, "a");
        let mut st = Stat::dont_touch();
        st.name = "x".into();
        assert_eq!(text(bounded(r.wstat(&st)).await), Error::PERM.as_str());
    }
}

scenario!(post_get_remove);
scenario!(create_then_write_a_dial_string);
scenario!(an_entry_never_written_goes_with_its_creator);
scenario!(without_a_poster);
scenario!(a_failed_post_leaves_the_entry_empty);
scenario!(a_post_cancelled_by_dropping_the_write);
scenario!(remove_by_file);
scenario!(walks_opens_and_wstat);
