//! `#c`: the files' formats and values, checked against the host, directly and over 9P.
#![allow(clippy::unwrap_used)]

mod common;

use ninefold_testkit::scenario;

mod scenarios {
    use std::sync::Arc;
    use std::time::{SystemTime, UNIX_EPOCH};

    use ninefold_devs::{ConsTree, MAX_READ, TICKS_PER_SEC};
    use ninefold_fs::{Error, NodeRef, QidType, Stat};
    use ninefold_proto::{dm, om};

    use crate::common::*;

    async fn root(via: Via) -> NodeRef {
        attach(Arc::new(ConsTree::new(USER)), via).await
    }

    fn host_file(path: &str) -> String {
        std::fs::read_to_string(path).unwrap().trim_end().to_owned()
    }

    pub async fn directory(via: Via) {
        let r = root(via).await;
        let entries = list(&r, "").await;
        let names: Vec<_> = entries.iter().map(|s| s.name.as_str()).collect();
        for want in [
            "null",
            "zero",
            "random",
            "time",
            "bintime",
            "user",
            "sysname",
            "hostowner",
            "pid",
            "ppid",
            "osversion",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(!names.contains(&"cons") && !names.contains(&"consctl"));
        let mut paths: Vec<u64> = entries.iter().map(|s| s.qid.path).collect();
        paths.push(r.qid().path);
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), entries.len() + 1, "qid paths collide");
        for st in &entries {
            assert_eq!(st.qid.ty, QidType::FILE, "{}", st.name);
            assert_eq!((st.uid.as_str(), st.gid.as_str()), (USER, USER));
            let want = if st.name == "null" { 0o666 } else { 0o444 };
            assert_eq!(st.mode, want, "{}", st.name);
        }
        let st = bounded(r.stat()).await.unwrap();
        assert!(st.qid.is_dir() && r.qid().is_dir());
        assert_eq!(st.mode, dm::DMDIR | 0o555);
        // Only a read at the offset the last one ended (or 0) is allowed.
        let d = open(&r, "", om::OREAD).await;
        let first = bounded(d.read(0, 100)).await.unwrap();
        assert!(!first.is_empty());
        let e = bounded(d.read(first.len() as u64 + 1, 100)).await;
        assert_eq!(text(e), Error::BAD_OFFSET.as_str());
        assert!(!bounded(d.read(0, 100)).await.unwrap().is_empty());
    }

    pub async fn walks(via: Via) {
        let r = root(via).await;
        let up = walk(&r, "..").await.unwrap();
        assert_eq!(up.qid(), r.qid());
        let w = bounded(r.walk(&["..".into(), "..".into(), "time".into()]))
            .await
            .unwrap();
        assert_eq!(w.qids.len(), 3);
        assert_eq!(w.qids[1], r.qid());
        assert_eq!(w.qids[2].ty, QidType::FILE);
        let time = walk(&r, "time").await.unwrap();
        let e = bounded(time.walk(&["x".into()])).await;
        assert_eq!(text(e), Error::WALK_NO_DIR.as_str());
        // A walk that fails after its first element walks as far as it got.
        let w = bounded(r.walk(&["time".into(), "x".into()])).await.unwrap();
        assert_eq!(w.qids.len(), 1);
        assert!(w.node.is_none());
        assert_eq!(text(walk(&r, "nonesuch").await), Error::NOT_FOUND.as_str());
    }

    pub async fn opens(via: Via) {
        let r = root(via).await;
        for f in ["time", "user", "pid", "random", "zero", "sysname"] {
            for mode in [om::OWRITE, om::ORDWR] {
                let e = try_open(&r, f, mode).await;
                assert_eq!(text(e), Error::PERM.as_str(), "{f} {mode}");
            }
        }
        let e = try_open(&r, "", om::OWRITE).await;
        assert_eq!(text(e), Error::IS_DIR.as_str());
        let e = try_open(&r, "", om::OREAD | om::OTRUNC).await;
        assert_eq!(text(e), Error::IS_DIR.as_str());
        assert!(try_open(&r, "time", om::OEXEC).await.is_ok());
        let e = try_open(&r, "user", om::OREAD | om::OTRUNC).await;
        assert_eq!(text(e), Error::PERM.as_str());
        // Nothing may be renamed; a wstat changing nothing is a sync.
        let n = walk(&r, "time").await.unwrap();
        let mut st = Stat::dont_touch();
        st.name = "clock".into();
        assert_eq!(text(bounded(n.wstat(&st)).await), Error::PERM.as_str());
        bounded(n.wstat(&Stat::dont_touch())).await.unwrap();
    }

    pub async fn null_and_zero(via: Via) {
        let r = root(via).await;
        let null = open(&r, "null", om::ORDWR).await;
        assert!(bounded(null.read(0, 100)).await.unwrap().is_empty());
        assert_eq!(write_at(&null, 0, &[7; 5000]).await.unwrap(), 5000);
        assert_eq!(write_at(&null, 1 << 40, b"x").await.unwrap(), 1);
        assert!(bounded(null.read(0, 100)).await.unwrap().is_empty());

        let zero = open(&r, "zero", om::OREAD).await;
        let b = bounded(zero.read(12345, 100)).await.unwrap();
        assert_eq!(&b[..], &[0; 100][..]);
        assert!(bounded(zero.read(0, 0)).await.unwrap().is_empty());
        // Capped per read (the served case is capped by the message size first).
        let b = bounded(zero.read(0, u32::MAX)).await.unwrap();
        assert!(!b.is_empty() && b.len() <= MAX_READ as usize);
        assert!(b.iter().all(|&x| x == 0));
        if via == Via::Direct {
            assert_eq!(b.len(), MAX_READ as usize);
        }
    }

    pub async fn random(via: Via) {
        let r = root(via).await;
        let n = open(&r, "random", om::OREAD).await;
        let a = bounded(n.read(0, 64)).await.unwrap();
        let b = bounded(n.read(0, 64)).await.unwrap();
        assert_eq!((a.len(), b.len()), (64, 64));
        assert_ne!(a, b);
        let big = bounded(n.read(0, 100_000)).await.unwrap();
        assert_eq!(big.len(), 100_000);
        // Not all one value: 100 kB of one byte from getrandom would be a broken generator.
        assert!(big.iter().any(|&x| x != big[0]));
    }

    pub async fn time(via: Via) {
        let r = root(via).await;
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let t = cat_text(&r, "time").await;
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        // "%11d %21d %21d %21d ": right-justified, each followed by a space.
        assert_eq!(t.len(), 12 + 22 * 3, "{t:?}");
        for (start, width) in [(0, 11), (12, 21), (34, 21), (56, 21)] {
            let field = &t[start..start + width];
            assert!(
                field.trim_start().chars().all(|c| c.is_ascii_digit()),
                "{t:?}"
            );
            assert!(field.ends_with(|c: char| c.is_ascii_digit()), "{t:?}");
            assert_eq!(&t[start + width..start + width + 1], " ", "{t:?}");
        }
        let n: Vec<u64> = t.split_whitespace().map(|f| f.parse().unwrap()).collect();
        assert_eq!(n.len(), 4);
        assert!(before.as_secs() <= n[0] && n[0] <= after.as_secs(), "{t:?}");
        assert!(before.as_nanos() <= n[1] as u128 && n[1] as u128 <= after.as_nanos());
        assert_eq!(n[1] / 1_000_000_000, n[0]);
        assert!(n[2] > 0);
        assert_eq!(n[3], TICKS_PER_SEC);
        // Ticks never go back; each read is taken afresh.
        let t2 = cat_text(&r, "time").await;
        let ticks2: u64 = t2.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(ticks2 >= n[2]);

        let bt = open(&r, "bintime", om::OREAD).await;
        let b = bounded(bt.read(0, 100)).await.unwrap();
        assert_eq!(b.len(), 24);
        let be = |i: usize| u64::from_be_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(be(0) >= before.as_nanos() as u64 && be(0) <= now);
        assert!(be(1) >= n[2]);
        assert_eq!(be(2), TICKS_PER_SEC);
        assert_eq!(bounded(bt.read(0, 8)).await.unwrap().len(), 8);
    }

    pub async fn who_and_where(via: Via) {
        let r = root(via).await;
        assert_eq!(cat_text(&r, "user").await, USER);
        let pid = cat_text(&r, "pid").await;
        assert_eq!(pid.len(), 12, "{pid:?}");
        assert!(pid.ends_with(' ') && pid.starts_with(' '));
        assert_eq!(pid.trim().parse::<u32>().unwrap(), std::process::id());
        let ppid = cat_text(&r, "ppid").await;
        assert_eq!(ppid.len(), 12, "{ppid:?}");
        assert_eq!(
            ppid.trim().parse::<u32>().unwrap(),
            std::os::unix::process::parent_id()
        );
        assert_eq!(
            cat_text(&r, "sysname").await,
            host_file("/proc/sys/kernel/hostname")
        );
        assert_eq!(
            cat_text(&r, "osversion").await,
            host_file("/proc/sys/kernel/osrelease")
        );
        let owner = cat_text(&r, "hostowner").await;
        assert!(!owner.is_empty() && !owner.contains(['\n', ' ']));
        // Offsets work on text files.
        let u = open(&r, "user", om::OREAD).await;
        assert_eq!(&bounded(u.read(2, 2)).await.unwrap()[..], b"en");
        assert!(bounded(u.read(100, 2)).await.unwrap().is_empty());
        assert!(
            bounded(u.read(u64::MAX, u32::MAX))
                .await
                .unwrap()
                .is_empty()
        );
    }
}

scenario!(directory);
scenario!(walks);
scenario!(opens);
scenario!(null_and_zero);
scenario!(random);
scenario!(time);
scenario!(who_and_where);
