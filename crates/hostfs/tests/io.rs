//! Opening, reading and writing files, and reading directories.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{Fixture, names, read_all, read_dir, walk};
use ninefold_fs::Error;
use ninefold_proto::Stat;
use ninefold_proto::om::{OEXEC, ORDWR, OREAD, OTRUNC, OWRITE};

#[tokio::test]
async fn reads_and_writes_at_offsets() {
    let fx = Fixture::new();
    fx.write("f", b"");
    let f = fx.walk("f").await.unwrap();
    let opened = f.open(ORDWR).await.unwrap();
    assert_eq!(opened.iounit, 0);
    assert_eq!(f.write(0, Bytes::from_static(b"hello")).await.unwrap(), 5);
    assert_eq!(f.write(8, Bytes::from_static(b"!")).await.unwrap(), 1);
    assert_eq!(std::fs::read(fx.host("f")).unwrap(), b"hello\0\0\0!");
    assert_eq!(&f.read(1, 3).await.unwrap()[..], b"ell");
    assert!(f.read(100, 10).await.unwrap().is_empty());
    assert!(f.read(0, 0).await.unwrap().is_empty());
    assert_eq!(read_all(&f, 2).await, b"hello\0\0\0!");
}

#[tokio::test]
async fn open_modes() {
    let fx = Fixture::new();
    fx.write("f", b"data");
    fx.mkdir("d");
    let d = fx.walk("d").await.unwrap();
    for mode in [OWRITE, ORDWR, OREAD | OTRUNC] {
        assert_eq!(d.open(mode).await.unwrap_err(), Error::IS_DIR, "{mode:#x}");
    }
    let f = fx.walk("f").await.unwrap();
    f.open(OEXEC).await.unwrap();
    assert_eq!(read_all(&f, 100).await, b"data");
    assert!(f.write(0, Bytes::from_static(b"x")).await.is_err());
    let w = fx.walk("f").await.unwrap();
    w.open(OWRITE).await.unwrap();
    assert!(w.read(0, 10).await.is_err());
}

#[tokio::test]
async fn otrunc_truncates() {
    let fx = Fixture::new();
    fx.write("f", b"abcdef");
    let f = fx.walk("f").await.unwrap();
    f.open(OWRITE | OTRUNC).await.unwrap();
    assert_eq!(std::fs::metadata(fx.host("f")).unwrap().len(), 0);
    f.write(0, Bytes::from_static(b"new")).await.unwrap();
    assert_eq!(std::fs::read(fx.host("f")).unwrap(), b"new");
}

#[tokio::test]
async fn an_open_file_outlives_its_name() {
    let fx = Fixture::new();
    fx.write("f", b"still here");
    let f = fx.walk("f").await.unwrap();
    f.open(ORDWR).await.unwrap();
    std::fs::remove_file(fx.host("f")).unwrap();
    assert_eq!(read_all(&f, 4).await, b"still here");
    f.write(0, Bytes::from_static(b"STILL")).await.unwrap();
    assert_eq!(read_all(&f, 100).await, b"STILL here");
    assert!(f.stat().await.is_ok());
}

#[tokio::test]
async fn a_replaced_name_does_not_open_the_new_file() {
    let fx = Fixture::new();
    fx.write("f", b"old");
    let f = fx.walk("f").await.unwrap();
    std::fs::write(fx.host("g"), b"new").unwrap();
    std::fs::rename(fx.host("g"), fx.host("f")).unwrap();
    assert_eq!(f.open(OREAD).await.unwrap_err(), Error::NOT_FOUND);
}

#[tokio::test]
async fn a_large_read_returns_everything_in_one_call() {
    let fx = Fixture::new();
    let data: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    fx.write("big", &data);
    let f = fx.walk("big").await.unwrap();
    f.open(OREAD).await.unwrap();
    let got = f.read(0, 4 * 1024 * 1024).await.unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got[..] == data[..]);
    let tail = f.read(1024, 4 * 1024 * 1024).await.unwrap();
    assert_eq!(tail.len(), data.len() - 1024);
}

#[tokio::test]
async fn qid_version_follows_writes() {
    let fx = Fixture::new();
    fx.write("f", b"v1");
    let f = fx.walk("f").await.unwrap();
    // Pin an old mtime so the write surely changes it, whatever the clock's granularity.
    let mut st = Stat::dont_touch();
    st.mtime = 1_000_000;
    f.wstat(&st).await.unwrap();
    let before = f.stat().await.unwrap().qid;
    assert_eq!(before.path, f.qid().path);
    f.open(OWRITE).await.unwrap();
    f.write(0, Bytes::from_static(b"v2")).await.unwrap();
    let after = f.stat().await.unwrap().qid;
    assert_eq!(after.path, before.path);
    assert_ne!(after.version, before.version);
}

#[tokio::test]
async fn stat_reports_host_metadata() {
    let fx = Fixture::new();
    fx.write("f", b"12345");
    fx.mkdir("d");
    std::fs::write(fx.host("d/x"), b"x").unwrap();
    let f = fx.walk("f").await.unwrap();
    let st = f.stat().await.unwrap();
    let meta = std::fs::metadata(fx.host("f")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(st.length, 5);
    assert_eq!(st.mode, meta.mode() & 0o777);
    assert_eq!(st.mtime, meta.mtime() as u32);
    assert_eq!(st.atime, meta.atime() as u32);
    assert_eq!((st.ty, st.dev), (0, 0));
    let user = nix::unistd::User::from_uid(meta.uid().into()).unwrap();
    let expect = user.map_or(meta.uid().to_string(), |u| u.name);
    assert_eq!(st.uid, expect);
    assert_eq!(st.muid, st.uid);
    assert!(!st.gid.is_empty());

    let d = fx.walk("d").await.unwrap().stat().await.unwrap();
    assert!(d.is_dir());
    assert_eq!(d.length, 0);
    assert_eq!(
        d.mode & 0o777,
        std::fs::metadata(fx.host("d")).unwrap().mode() & 0o777
    );
}

#[tokio::test]
async fn directory_reads_return_whole_entries_and_continue() {
    let fx = Fixture::new();
    let mut expect = Vec::new();
    for i in 0..20 {
        let name = format!("file{i:02}");
        fx.write(&name, b"x");
        expect.push(name);
    }
    fx.mkdir("subdir");
    expect.push("subdir".into());
    expect.sort();

    let dir = fx.attach().await;
    dir.open(OREAD).await.unwrap();
    // Room for one entry, not two: each read returns exactly one.
    let one = dir.read(0, 4096).await.unwrap();
    let size = ninefold_proto::read_dir_entries(one).unwrap()[0].size() as u32;
    let small = read_dir(&dir, size + size / 2).await;
    assert_eq!(names(&small), expect);
    let big = read_dir(&dir, 1 << 20).await;
    assert_eq!(names(&big), expect);
    let sub = big.iter().find(|e| e.name == "subdir").unwrap();
    assert!(sub.is_dir() && sub.qid.is_dir());

    // Offset 0 lists the directory again and sees what changed.
    fx.write("late", b"x");
    let again = read_dir(&dir, 300).await;
    assert!(names(&again).contains(&"late".to_owned()));
}

#[tokio::test]
async fn directory_reads_refuse_offsets_they_did_not_return() {
    let fx = Fixture::new();
    fx.write("a", b"x");
    fx.write("b", b"x");
    let dir = fx.attach().await;
    dir.open(OREAD).await.unwrap();
    assert_eq!(dir.read(7, 4096).await.unwrap_err(), Error::BAD_OFFSET);
    let first = dir.read(0, 4096).await.unwrap();
    assert!(!first.is_empty());
    assert_eq!(dir.read(1, 4096).await.unwrap_err(), Error::BAD_OFFSET);
    assert!(dir.read(first.len() as u64, 4096).await.unwrap().is_empty());
    // Too small a count for one entry is an error, not end of directory.
    assert!(dir.read(0, 10).await.is_err());
}

#[tokio::test]
async fn reads_need_an_open_node() {
    let fx = Fixture::new();
    fx.write("f", b"x");
    let f = fx.walk("f").await.unwrap();
    assert_eq!(f.read(0, 10).await.unwrap_err(), Error::BAD_USE);
    f.open(OREAD).await.unwrap();
    f.clunk().await;
    assert_eq!(f.read(0, 10).await.unwrap_err(), Error::BAD_USE);
    let root = fx.attach().await;
    assert!(walk(&root, "f").await.is_ok());
}
