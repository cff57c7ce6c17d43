//! Create, remove, wstat, and the read-only mode that refuses them.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use bytes::Bytes;
use common::{Fixture, host_mode, read_all, walk};
use ninefold_fs::Error;
use ninefold_proto::Stat;
use ninefold_proto::dm::DMDIR;
use ninefold_proto::om::{OEXEC, ORCLOSE, ORDWR, OREAD, OTRUNC, OWRITE};

fn set_mode(p: &std::path::Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn create_files_and_directories_by_plan9_rules() {
    let fx = Fixture::new();
    fx.mkdir("d");
    set_mode(&fx.host("d"), 0o750);
    let d = fx.walk("d").await.unwrap();

    let f = d.clone_node().await.unwrap();
    let opened = f.create("f", 0o666, ORDWR).await.unwrap();
    assert!(!opened.qid.is_dir());
    assert_eq!(f.qid(), opened.qid);
    assert_eq!(host_mode(&fx.host("d/f")), 0o640);
    // The node now refers to the new file, open as asked.
    f.write(0, Bytes::from_static(b"made")).await.unwrap();
    assert_eq!(read_all(&f, 100).await, b"made");
    assert_eq!(f.stat().await.unwrap().name, "f");
    assert_eq!(walk(&d, "f").await.unwrap().qid().path, opened.qid.path);

    let x = d.clone_node().await.unwrap();
    x.create("x", 0o777, OWRITE).await.unwrap();
    assert_eq!(host_mode(&fx.host("d/x")), 0o751);

    let sub = d.clone_node().await.unwrap();
    let opened = sub.create("sub", DMDIR | 0o777, OREAD).await.unwrap();
    assert!(opened.qid.is_dir());
    assert!(fx.host("d/sub").is_dir());
    assert_eq!(host_mode(&fx.host("d/sub")), 0o750);
    // Open for reading: an empty directory.
    assert!(sub.read(0, 4096).await.unwrap().is_empty());

    // The rule, not the server's umask, decides: rw for all where the directory allows.
    fx.mkdir("open");
    set_mode(&fx.host("open"), 0o777);
    let open = fx.walk("open").await.unwrap();
    open.create("g", 0o666, OWRITE).await.unwrap();
    assert_eq!(host_mode(&fx.host("open/g")), 0o666);
}

#[tokio::test]
async fn create_refusals() {
    let fx = Fixture::new();
    fx.write("d/exists", b"x");
    fx.write("file", b"x");
    let d = fx.walk("d").await.unwrap();
    assert_eq!(
        d.create("exists", 0o644, OWRITE).await.unwrap_err(),
        Error::EXISTS
    );
    assert_eq!(
        d.create("exists", DMDIR | 0o755, OREAD).await.unwrap_err(),
        Error::EXISTS
    );
    for bad in ["", ".", "..", "a/b", "nul\0"] {
        assert_eq!(
            d.create(bad, 0o644, OWRITE).await.unwrap_err(),
            Error::BAD_ARG,
            "{bad:?}"
        );
    }
    assert_eq!(
        d.create("dir", DMDIR | 0o755, OWRITE).await.unwrap_err(),
        Error::IS_DIR
    );
    assert!(!fx.host("d/dir").exists());
    let file = fx.walk("file").await.unwrap();
    assert_eq!(
        file.create("x", 0o644, OWRITE).await.unwrap_err(),
        Error::NOT_DIR
    );
    // An existing dangling symlink is an existing name, never followed.
    std::os::unix::fs::symlink("../../outside", fx.host("d/dangling")).unwrap();
    assert_eq!(
        d.create("dangling", 0o644, OWRITE).await.unwrap_err(),
        Error::EXISTS
    );
    assert!(!fx.dir.path().join("outside").exists());
}

#[tokio::test]
async fn remove_files_and_directories() {
    let fx = Fixture::new();
    fx.write("f", b"x");
    fx.mkdir("empty");
    fx.write("full/x", b"x");
    fx.write("target", b"t");
    std::os::unix::fs::symlink("target", fx.host("link")).unwrap();

    fx.walk("f").await.unwrap().remove().await.unwrap();
    assert!(!fx.host("f").exists());
    fx.walk("empty").await.unwrap().remove().await.unwrap();
    assert!(!fx.host("empty").exists());
    let full = fx.walk("full").await.unwrap();
    assert_eq!(full.remove().await.unwrap_err(), Error::NOT_EMPTY);
    assert!(fx.host("full/x").exists());
    // Removing through a symlink removes the name, not what it points at.
    fx.walk("link").await.unwrap().remove().await.unwrap();
    assert!(fx.host("link").symlink_metadata().is_err());
    assert!(fx.host("target").exists());
    // Never the root.
    assert!(fx.attach().await.remove().await.is_err());
    assert!(fx.root().is_dir());
    // An open file can be removed; its node is clunked.
    fx.write("open", b"x");
    let open = fx.walk("open").await.unwrap();
    open.open(OREAD | ORCLOSE).await.unwrap();
    open.remove().await.unwrap();
    assert!(!fx.host("open").exists());
    assert_eq!(open.read(0, 1).await.unwrap_err(), Error::BAD_USE);
}

#[tokio::test]
async fn wstat_rename() {
    let fx = Fixture::new();
    fx.write("d/a", b"contents");
    fx.write("d/taken", b"other");
    let a = fx.walk("d/a").await.unwrap();
    let qid = a.qid();
    let mut st = Stat::dont_touch();
    st.name = "b".into();
    a.wstat(&st).await.unwrap();
    assert!(!fx.host("d/a").exists());
    assert_eq!(std::fs::read(fx.host("d/b")).unwrap(), b"contents");
    let now = a.stat().await.unwrap();
    assert_eq!(now.name, "b");
    assert_eq!(now.qid.path, qid.path);
    // The node's path moved with it: it still opens.
    a.open(OREAD).await.unwrap();
    assert_eq!(read_all(&a, 100).await, b"contents");

    let b = fx.walk("d/b").await.unwrap();
    st.name = "taken".into();
    assert_eq!(b.wstat(&st).await.unwrap_err(), Error::EXISTS);
    assert_eq!(std::fs::read(fx.host("d/taken")).unwrap(), b"other");
    for bad in ["x/y", ".", ".."] {
        st.name = bad.into();
        assert_eq!(b.wstat(&st).await.unwrap_err(), Error::BAD_ARG, "{bad}");
    }
    // Renaming to its own name changes nothing.
    st.name = "b".into();
    b.wstat(&st).await.unwrap();
    // The root has no name to change.
    st.name = "newroot".into();
    assert!(fx.attach().await.wstat(&st).await.is_err());
}

#[tokio::test]
async fn wstat_length_mode_and_times() {
    let fx = Fixture::new();
    fx.write("f", b"0123456789");
    fx.mkdir("d");
    let f = fx.walk("f").await.unwrap();

    let mut st = Stat::dont_touch();
    st.length = 3;
    f.wstat(&st).await.unwrap();
    assert_eq!(std::fs::read(fx.host("f")).unwrap(), b"012");

    let mut st = Stat::dont_touch();
    st.mode = 0o604;
    f.wstat(&st).await.unwrap();
    assert_eq!(host_mode(&fx.host("f")), 0o604);
    st.mode = DMDIR | 0o755;
    assert!(f.wstat(&st).await.is_err());
    assert_eq!(host_mode(&fx.host("f")), 0o604);

    let atime = std::fs::metadata(fx.host("f")).unwrap().atime();
    let mut st = Stat::dont_touch();
    st.mtime = 123_456_789;
    f.wstat(&st).await.unwrap();
    let meta = std::fs::metadata(fx.host("f")).unwrap();
    assert_eq!(meta.mtime(), 123_456_789);
    assert_eq!(meta.atime(), atime);
    assert_eq!(f.stat().await.unwrap().mtime, 123_456_789);

    let d = fx.walk("d").await.unwrap();
    let mut st = Stat::dont_touch();
    st.mode = DMDIR | 0o700;
    d.wstat(&st).await.unwrap();
    assert_eq!(host_mode(&fx.host("d")), 0o700);
    st.mode = 0o700;
    assert!(d.wstat(&st).await.is_err());
    let mut st = Stat::dont_touch();
    st.length = 5;
    assert_eq!(d.wstat(&st).await.unwrap_err(), Error::IS_DIR);

    // While open, the open fd serves: truncate and chmod of a file open for writing.
    f.open(ORDWR).await.unwrap();
    let mut st = Stat::dont_touch();
    st.length = 1;
    st.mode = 0o600;
    f.wstat(&st).await.unwrap();
    assert_eq!(std::fs::read(fx.host("f")).unwrap(), b"0");
    assert_eq!(host_mode(&fx.host("f")), 0o600);
}

#[tokio::test]
async fn wstat_dont_touch_leaves_everything_alone() {
    let fx = Fixture::new();
    fx.write("f", b"keep me");
    set_mode(&fx.host("f"), 0o640);
    let f = fx.walk("f").await.unwrap();
    let before = f.stat().await.unwrap();
    f.wstat(&Stat::dont_touch()).await.unwrap();
    assert_eq!(f.stat().await.unwrap(), before);
    // Sending back what stat gave is no change either.
    f.wstat(&before).await.unwrap();
    assert_eq!(f.stat().await.unwrap(), before);
    assert_eq!(std::fs::read(fx.host("f")).unwrap(), b"keep me");
    assert_eq!(host_mode(&fx.host("f")), 0o640);
}

#[tokio::test]
async fn wstat_owner_and_group() {
    let fx = Fixture::new();
    fx.write("f", b"x");
    let f = fx.walk("f").await.unwrap();
    let mut st = Stat::dont_touch();
    st.uid = "somebody-else".into();
    assert_eq!(f.wstat(&st).await.unwrap_err(), Error::PERM);
    let mut st = Stat::dont_touch();
    st.gid = "no-such-group-here".into();
    assert_eq!(f.wstat(&st).await.unwrap_err(), Error::BAD_ARG);
    // The current group by name is no change.
    st.gid = f.stat().await.unwrap().gid;
    f.wstat(&st).await.unwrap();
    if nix::unistd::geteuid().is_root() {
        st.gid = "54321".into();
        f.wstat(&st).await.unwrap();
        assert_eq!(std::fs::metadata(fx.host("f")).unwrap().gid(), 54321);
        assert_eq!(f.stat().await.unwrap().gid, "54321");
    }
}

#[tokio::test]
async fn wstat_checks_everything_before_changing_anything() {
    let fx = Fixture::new();
    fx.write("f", b"0123456789");
    let f = fx.walk("f").await.unwrap();
    let mut st = Stat::dont_touch();
    st.length = 0;
    st.mode = 0o600;
    st.name = "bad/name".into();
    assert_eq!(f.wstat(&st).await.unwrap_err(), Error::BAD_ARG);
    st.name = String::new();
    st.uid = "somebody-else".into();
    assert_eq!(f.wstat(&st).await.unwrap_err(), Error::PERM);
    assert_eq!(std::fs::read(fx.host("f")).unwrap(), b"0123456789");
    assert_ne!(host_mode(&fx.host("f")), 0o600);
}

#[tokio::test]
async fn read_only_refuses_every_change() {
    let fx = Fixture::read_only();
    fx.write("f", b"data");
    fx.mkdir("d");
    let f = fx.walk("f").await.unwrap();
    for mode in [OWRITE, ORDWR, OREAD | OTRUNC, OREAD | ORCLOSE] {
        assert_eq!(
            f.open(mode).await.unwrap_err(),
            Error::READ_ONLY,
            "{mode:#x}"
        );
    }
    let d = fx.walk("d").await.unwrap();
    assert_eq!(
        d.create("new", 0o644, OWRITE).await.unwrap_err(),
        Error::READ_ONLY
    );
    assert_eq!(
        d.create("new", DMDIR | 0o755, OREAD).await.unwrap_err(),
        Error::READ_ONLY
    );
    assert_eq!(f.remove().await.unwrap_err(), Error::READ_ONLY);
    let mut st = Stat::dont_touch();
    st.length = 0;
    assert_eq!(f.wstat(&st).await.unwrap_err(), Error::READ_ONLY);
    // A wstat that changes nothing is a 9P client's fsync: harmless, so allowed.
    f.wstat(&Stat::dont_touch()).await.unwrap();
    assert_eq!(std::fs::read(fx.host("f")).unwrap(), b"data");
    assert!(!fx.host("d/new").exists());

    let f = fx.walk("f").await.unwrap();
    f.open(OREAD).await.unwrap();
    assert_eq!(read_all(&f, 3).await, b"data");
    let f = fx.walk("f").await.unwrap();
    f.open(OEXEC).await.unwrap();
    d.open(OREAD).await.unwrap();
}

#[tokio::test]
async fn a_directory_moved_out_of_the_root_is_out_of_reach() {
    let fx = Fixture::new();
    fx.write("d/file", b"x");
    let d = fx.walk("d").await.unwrap();
    let file = fx.walk("d/file").await.unwrap();
    let moved = fx.dir.path().join("moved");
    std::fs::rename(fx.host("d"), &moved).unwrap();

    // The nodes still hold fds of the moved files, but nothing acts through them.
    assert_eq!(walk(&d, "file").await.unwrap_err(), Error::NOT_FOUND);
    assert_eq!(d.open(OREAD).await.unwrap_err(), Error::NOT_FOUND);
    assert_eq!(
        d.create("new", 0o644, OWRITE).await.unwrap_err(),
        Error::NOT_FOUND
    );
    assert_eq!(file.open(OREAD).await.unwrap_err(), Error::NOT_FOUND);
    let mut st = Stat::dont_touch();
    st.length = 0;
    st.mode = 0o600;
    assert_eq!(file.wstat(&st).await.unwrap_err(), Error::NOT_FOUND);
    assert_eq!(file.remove().await.unwrap_err(), Error::NOT_FOUND);
    assert!(!moved.join("new").exists());
    assert_eq!(std::fs::read(moved.join("file")).unwrap(), b"x");

    // A same-named directory put back in its place is a different file.
    fx.write("d/file", b"y");
    assert_eq!(
        d.create("new", 0o644, OWRITE).await.unwrap_err(),
        Error::NOT_FOUND
    );
    assert_eq!(file.open(OREAD).await.unwrap_err(), Error::NOT_FOUND);
}

#[tokio::test]
async fn a_failed_wstat_changes_nothing() {
    let fx = Fixture::new();
    fx.write("f", b"0123456789");
    fx.write("taken", b"other");
    set_mode(&fx.host("f"), 0o644);
    let f = fx.walk("f").await.unwrap();
    let mut st = Stat::dont_touch();
    st.length = 2;
    st.mode = 0o600;
    st.mtime = 1_000_000;
    st.name = "taken".into();
    assert_eq!(f.wstat(&st).await.unwrap_err(), Error::EXISTS);
    assert_eq!(std::fs::read(fx.host("f")).unwrap(), b"0123456789");
    assert_eq!(host_mode(&fx.host("f")) & 0o777, 0o644);
    assert_ne!(std::fs::metadata(fx.host("f")).unwrap().mtime(), 1_000_000);
    assert_eq!(std::fs::read(fx.host("taken")).unwrap(), b"other");
}
