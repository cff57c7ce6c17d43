//! `#e`: variables as files, one group per tree, copied by `clone`.
#![allow(clippy::unwrap_used)]

mod common;

use ninefold_testkit::scenario;

mod scenarios {
    use std::sync::Arc;

    use ninefold_devs::{EnvTree, MAX_VAR};
    use ninefold_fs::{Error, QidType, Stat, Tree};
    use ninefold_proto::{dm, om};

    use crate::common::*;

    fn tree() -> Arc<EnvTree> {
        Arc::new(
            EnvTree::new([
                ("home".to_owned(), b"/usr/glenda".to_vec()),
                ("path".to_owned(), b"/bin\0.".to_vec()),
            ])
            .with_owner(USER),
        )
    }

    pub async fn read_write_create_remove(via: Via) {
        let t = tree();
        let r = attach(t.clone(), via).await;
        assert_eq!(list_names(&r, "").await, ["home", "path"]);
        assert_eq!(cat(&r, "path").await, b"/bin\0.");

        let f = create(&r, "", "user", 0o644, om::ORDWR).await.unwrap();
        assert_eq!(f.qid().ty, QidType::FILE);
        assert_eq!(write_at(&f, 0, b"glenda").await.unwrap(), 6);
        assert_eq!(bounded(f.read(1, 3)).await.unwrap(), &b"len"[..]);
        // A write past the end extends, with zeros in the gap.
        write_at(&f, 8, b"!").await.unwrap();
        assert_eq!(read_all(&f).await, b"glenda\0\0!");
        bounded(f.clunk()).await;
        assert_eq!(t.get("user").unwrap(), b"glenda\0\0!");
        assert_eq!(list_names(&r, "").await, ["home", "path", "user"]);
        let st = stat(&r, "user").await;
        assert_eq!((st.length, st.mode), (9, 0o666));
        assert_eq!((st.uid.as_str(), st.muid.as_str()), (USER, USER));

        // OTRUNC empties.
        let f = open(&r, "user", om::OWRITE | om::OTRUNC).await;
        write_at(&f, 0, b"rob").await.unwrap();
        bounded(f.clunk()).await;
        assert_eq!(cat(&r, "user").await, b"rob");

        let e = create(&r, "", "user", 0o644, om::OWRITE).await;
        assert_eq!(text(e), Error::EXISTS.as_str());
        let e = create(&r, "", "dir", dm::DMDIR | 0o755, om::OREAD).await;
        assert_eq!(text(e), Error::PERM.as_str());

        let f = walk(&r, "user").await.unwrap();
        bounded(f.remove()).await.unwrap();
        assert_eq!(text(walk(&r, "user").await), Error::NOT_FOUND.as_str());
        assert!(t.get("user").is_none());
        let root = walk(&r, "").await.unwrap();
        assert_eq!(text(bounded(root.remove()).await), Error::PERM.as_str());
    }

    pub async fn shared_by_every_attach(via: Via) {
        let t = tree();
        let a = attach(t.clone(), via).await;
        let b = attach(t.clone(), via).await;
        let f = create(&a, "", "x", 0o666, om::OWRITE).await.unwrap();
        write_at(&f, 0, b"seen").await.unwrap();
        assert_eq!(cat(&b, "x").await, b"seen");
        t.set("y", "set by the API").unwrap();
        assert_eq!(cat(&b, "y").await, b"set by the API");
        assert!(t.unset("y"));
        assert!(!t.unset("y"));
        assert_eq!(text(walk(&a, "y").await), Error::NOT_FOUND.as_str());
    }

    pub async fn rename(via: Via) {
        let t = tree();
        let r = attach(t.clone(), via).await;
        let f = walk(&r, "home").await.unwrap();
        let before = bounded(f.stat()).await.unwrap();
        let mut st = Stat::dont_touch();
        st.name = "HOME".into();
        bounded(f.wstat(&st)).await.unwrap();
        assert_eq!(list_names(&r, "").await, ["HOME", "path"]);
        let after = stat(&r, "HOME").await;
        assert_eq!(after.qid.path, before.qid.path);
        assert_eq!(cat(&r, "HOME").await, b"/usr/glenda");
        // Onto a name taken, or to a bad name: refused, nothing changed.
        st.name = "path".into();
        assert_eq!(text(bounded(f.wstat(&st)).await), Error::EXISTS.as_str());
        st.name = "a/b".into();
        assert!(bounded(f.wstat(&st)).await.is_err());
        // Length by wstat (truncate) and a stat sent back unchanged.
        let mut st = Stat::dont_touch();
        st.length = 4;
        bounded(f.wstat(&st)).await.unwrap();
        assert_eq!(cat(&r, "HOME").await, b"/usr");
        let cur = bounded(f.stat()).await.unwrap();
        bounded(f.wstat(&cur)).await.unwrap();
        let mut st = Stat::dont_touch();
        st.mode = 0o600;
        assert_eq!(text(bounded(f.wstat(&st)).await), Error::PERM.as_str());
        assert_eq!(t.snapshot()[0], ("HOME".to_owned(), b"/usr".to_vec()));
    }

    pub async fn bad_names_and_limits(via: Via) {
        let r = attach(tree(), via).await;
        for bad in ["", ".", "..", "a/b"] {
            assert!(
                create(&r, "", bad, 0o666, om::OWRITE).await.is_err(),
                "{bad:?}"
            );
        }
        let e = create(&r, "", &"n".repeat(300), 0o666, om::OWRITE).await;
        assert_eq!(text(e), Error::NAME_TOO_LONG.as_str());
        let f = create(&r, "", "big", 0o666, om::ORDWR).await.unwrap();
        let e = write_at(&f, MAX_VAR as u64, b"x").await;
        assert_eq!(text(e), Error::TOO_BIG.as_str());
        let e = write_at(&f, u64::MAX - 1, b"xyz").await;
        assert_eq!(text(e), Error::TOO_BIG.as_str());
        assert!(
            bounded(f.read(u64::MAX, u32::MAX))
                .await
                .unwrap()
                .is_empty()
        );
        write_at(&f, MAX_VAR as u64 - 1, b"x").await.unwrap();
        assert_eq!(stat(&r, "big").await.length, MAX_VAR as u64);
    }

    pub async fn removed_under_an_open_fid(via: Via) {
        let r = attach(tree(), via).await;
        let f = open(&r, "home", om::ORDWR).await;
        let v0 = bounded(f.stat()).await.unwrap().qid.version;
        write_at(&f, 0, b"/n").await.unwrap();
        let v1 = bounded(f.stat()).await.unwrap().qid.version;
        assert_ne!(v0, v1, "a write changes the qid version");
        bounded(walk(&r, "home").await.unwrap().remove())
            .await
            .unwrap();
        assert_eq!(
            text(bounded(f.read(0, 10)).await),
            Error::NOT_FOUND.as_str()
        );
        assert_eq!(text(write_at(&f, 0, b"x").await), Error::NOT_FOUND.as_str());
    }

    pub async fn walks_and_opens(via: Via) {
        let r = attach(tree(), via).await;
        let st = bounded(r.stat()).await.unwrap();
        assert_eq!(st.mode, dm::DMDIR | 0o775);
        assert!(r.qid().is_dir());
        assert_eq!(walk(&r, "..").await.unwrap().qid(), r.qid());
        let f = walk(&r, "home").await.unwrap();
        assert_eq!(
            text(bounded(f.walk(&["x".into()])).await),
            Error::WALK_NO_DIR.as_str()
        );
        assert_eq!(
            text(try_open(&r, "", om::ORDWR).await),
            Error::IS_DIR.as_str()
        );
        let a = stat(&r, "home").await.qid.path;
        let b = stat(&r, "path").await.qid.path;
        assert!(a != b && a != r.qid().path && b != r.qid().path);
    }

    pub async fn a_copied_group_is_independent(via: Via) {
        let parent = tree();
        let child = Arc::new(parent.copy_group());
        let p = attach(parent.clone(), via).await;
        let c = attach(child.clone(), via).await;
        let f = open(&c, "home", om::OWRITE | om::OTRUNC).await;
        write_at(&f, 0, b"/tmp").await.unwrap();
        create(&c, "", "only-child", 0o666, om::OWRITE)
            .await
            .unwrap();
        bounded(walk(&p, "path").await.unwrap().remove())
            .await
            .unwrap();
        assert_eq!(cat(&p, "home").await, b"/usr/glenda");
        assert_eq!(list_names(&p, "").await, ["home"]);
        assert_eq!(list_names(&c, "").await, ["home", "only-child", "path"]);
        assert_eq!(
            child.snapshot(),
            [
                ("home".to_owned(), b"/tmp".to_vec()),
                ("only-child".to_owned(), Vec::new()),
                ("path".to_owned(), b"/bin\0.".to_vec()),
            ]
        );
        assert_eq!(parent.snapshot().len(), 1);
        // A clone is another handle on the same group.
        let same = EnvTree::clone(&parent);
        same.set("shared", "yes").unwrap();
        assert_eq!(cat(&p, "shared").await, b"yes");
        assert!(child.get("shared").is_none());
    }

    pub async fn from_the_process(via: Via) {
        let t = Arc::new(EnvTree::from_process());
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| !k.is_empty() && k.len() <= 255 && !k.contains('/'))
            .filter(|k| k != "." && k != "..")
            .collect();
        let r = attach(t.clone(), via).await;
        let listed = list_names(&r, "").await;
        for n in &names {
            assert!(listed.contains(n), "{n} missing");
        }
        if let Some(path) = std::env::var_os("PATH") {
            use std::os::unix::ffi::OsStrExt;
            assert_eq!(cat(&r, "PATH").await, path.as_bytes());
        }
        // Names no file can have are left out of a new group.
        let t = EnvTree::new([
            ("a/b".to_owned(), b"x".to_vec()),
            (String::new(), b"x".to_vec()),
            ("ok".to_owned(), b"1".to_vec()),
            ("ok".to_owned(), b"2".to_vec()),
        ]);
        assert_eq!(t.snapshot(), [("ok".to_owned(), b"2".to_vec())]);
        let root = t.attach("x", "").await.unwrap();
        assert_eq!(bounded(root.stat()).await.unwrap().uid, "none");
    }
}

scenario!(read_write_create_remove);
scenario!(shared_by_every_attach);
scenario!(rename);
scenario!(bad_names_and_limits);
scenario!(removed_under_an_open_fid);
scenario!(walks_and_opens);
scenario!(a_copied_group_is_independent);
scenario!(from_the_process);
