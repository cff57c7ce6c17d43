//! Walking, attach names, confinement beneath the root, and qids.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Fixture, names, read_all, read_dir, walk};
use ninefold_fs::{Error, Tree};
use ninefold_proto::om::OREAD;

#[tokio::test]
async fn attach_and_walk_several_elements() {
    let fx = Fixture::new();
    fx.write("a/b/c", b"deep");
    let root = fx.attach().await;
    assert!(root.qid().is_dir());
    assert_eq!(root.stat().await.unwrap().name, "/");

    let names = ["a", "b", "c"].map(String::from);
    let walked = root.walk(&names).await.unwrap();
    assert_eq!(walked.qids.len(), 3);
    assert!(walked.qids[0].is_dir() && walked.qids[1].is_dir() && !walked.qids[2].is_dir());
    let c = walked.node.unwrap();
    assert_eq!(c.qid(), walked.qids[2]);
    let st = c.stat().await.unwrap();
    assert_eq!(st.name, "c");
    assert_eq!(st.length, 4);
    c.open(OREAD).await.unwrap();
    assert_eq!(read_all(&c, 100).await, b"deep");
}

#[tokio::test]
async fn partial_and_failed_walks() {
    let fx = Fixture::new();
    fx.write("a/f", b"x");
    let root = fx.attach().await;
    assert_eq!(walk(&root, "nope").await.unwrap_err(), Error::NOT_FOUND);

    let walked = root.walk(&["a".into(), "nope".into()]).await.unwrap();
    assert_eq!(walked.qids.len(), 1);
    assert!(walked.node.is_none());

    // A walk past a file stops there.
    let walked = root
        .walk(&["a".into(), "f".into(), "x".into()])
        .await
        .unwrap();
    assert_eq!(walked.qids.len(), 2);
    assert!(walked.node.is_none());
    let f = walk(&root, "a/f").await.unwrap();
    assert_eq!(f.walk1("x").await.unwrap_err(), Error::WALK_NO_DIR);

    // A walk of nothing is a clone.
    let clone = root.walk(&[]).await.unwrap().node.unwrap();
    assert_eq!(clone.qid(), root.qid());
}

#[tokio::test]
async fn malformed_names_are_bad_args() {
    let fx = Fixture::new();
    fx.write("a/f", b"x");
    let root = fx.attach().await;
    for bad in ["", ".", "a/f", "/", "a\0"] {
        let err = root.walk(&[bad.to_owned()]).await.unwrap_err();
        assert_eq!(err, Error::BAD_ARG, "{bad:?}");
    }
}

#[tokio::test]
async fn dotdot_is_lexical_and_stops_at_the_root() {
    let fx = Fixture::new();
    fx.write("a/b/f", b"x");
    fx.write("top", b"t");
    let root = fx.attach().await;
    let rq = root.qid();

    let up = root.walk1("..").await.unwrap();
    assert_eq!(up.qid(), rq);
    assert_eq!(up.stat().await.unwrap().name, "/");
    let up = walk(&root, "../../..").await.unwrap();
    assert_eq!(up.qid(), rq);

    let back = walk(&root, "a/..").await.unwrap();
    assert_eq!(back.qid(), rq);
    let a = walk(&root, "a").await.unwrap();
    assert_eq!(walk(&root, "a/b/..").await.unwrap().qid(), a.qid());
    let top = walk(&root, "a/b/../../top").await.unwrap();
    assert_eq!(top.stat().await.unwrap().name, "top");
    // Climbing above the root and down again stays inside it.
    let top = walk(&root, "../../top").await.unwrap();
    assert_eq!(top.stat().await.unwrap().name, "top");
}

#[tokio::test]
async fn symlinks_out_of_the_root_cannot_be_followed() {
    let fx = Fixture::new();
    fx.write("inside", b"in");
    let link = |target: &std::path::Path, name: &str| {
        std::os::unix::fs::symlink(target, fx.host(name)).unwrap();
    };
    link("/etc".as_ref(), "etc");
    link("..".as_ref(), "up");
    link("../secret".as_ref(), "secret");
    link("up/secret".as_ref(), "chain");
    // Absolute links never resolve beneath the root, even to a file inside it.
    link(&fx.host("inside"), "absolute");

    let root = fx.attach().await;
    for path in [
        "etc",
        "etc/passwd",
        "up",
        "up/secret",
        "secret",
        "chain",
        "absolute",
    ] {
        let err = walk(&root, path).await.unwrap_err();
        assert_eq!(err, Error::PERM, "{path}");
    }
    // `..` after an escaping link is no way round: the link fails first.
    assert_eq!(walk(&root, "up/..").await.unwrap_err(), Error::PERM);

    // A listing shows the links themselves, not what they point at.
    let dir = fx.attach().await;
    dir.open(OREAD).await.unwrap();
    let entries = read_dir(&dir, 8192).await;
    let etc = entries.iter().find(|e| e.name == "etc").unwrap();
    assert!(!etc.is_dir());
    assert!(!etc.qid.is_dir());
    assert_eq!(etc.mode & 0o777, 0o777);
    let secret = entries.iter().find(|e| e.name == "secret").unwrap();
    assert_eq!(secret.length, "../secret".len() as u64);
}

#[tokio::test]
async fn symlinks_within_the_root_are_followed() {
    let fx = Fixture::new();
    fx.write("sub/file", b"sibling");
    fx.mkdir("other");
    std::os::unix::fs::symlink("sub", fx.host("dirlink")).unwrap();
    std::os::unix::fs::symlink("../sub/file", fx.host("other/filelink")).unwrap();

    let root = fx.attach().await;
    let f = walk(&root, "other/filelink").await.unwrap();
    assert_eq!(f.stat().await.unwrap().name, "filelink");
    f.open(OREAD).await.unwrap();
    assert_eq!(read_all(&f, 100).await, b"sibling");

    let same = walk(&root, "dirlink/file").await.unwrap();
    assert_eq!(same.qid(), f.qid());
    // `..` is lexical: it leaves the link, not the directory it points at.
    let back = walk(&root, "dirlink/..").await.unwrap();
    assert_eq!(back.qid(), root.qid());

    // Listings show the target of a link that stays inside.
    let other = walk(&root, "other").await.unwrap();
    other.open(OREAD).await.unwrap();
    let entries = read_dir(&other, 8192).await;
    assert_eq!(names(&entries), ["filelink"]);
    assert_eq!(entries[0].length, 7);
    assert_eq!(entries[0].qid, f.qid());
}

#[tokio::test]
async fn attach_names_select_a_directory_beneath_the_root() {
    let fx = Fixture::new();
    fx.write("sub/dir/file", b"x");
    std::os::unix::fs::symlink("..", fx.host("up")).unwrap();

    for aname in ["sub", "/sub/", "sub/./dir/.."] {
        let sub = fx.tree.attach("u", aname).await.unwrap();
        assert_eq!(sub.stat().await.unwrap().name, "sub", "{aname}");
        assert!(walk(&sub, "dir/file").await.is_ok());
    }
    let root = fx.tree.attach("u", "/").await.unwrap();
    assert_eq!(root.stat().await.unwrap().name, "/");
    let root2 = fx.tree.attach("u", "../..").await.unwrap();
    assert_eq!(root2.qid(), root.qid());

    assert_eq!(
        fx.tree.attach("u", "missing").await.unwrap_err(),
        Error::NOT_FOUND
    );
    assert_eq!(fx.tree.attach("u", "up").await.unwrap_err(), Error::PERM);
}

#[tokio::test]
async fn qids_identify_files() {
    let fx = Fixture::new();
    fx.write("one", b"1");
    fx.write("two", b"2");
    fx.mkdir("d");
    let root = fx.attach().await;
    let one = walk(&root, "one").await.unwrap();
    let two = walk(&root, "two").await.unwrap();
    assert_ne!(one.qid().path, two.qid().path);
    let again = walk(&fx.attach().await, "one").await.unwrap();
    assert_eq!(again.qid(), one.qid());
    let d = walk(&root, "d").await.unwrap();
    assert!(d.qid().is_dir());
    assert!(!one.qid().is_dir());

    // On the root's filesystem qid.path is the inode number.
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(fx.host("one")).unwrap().ino();
    assert_eq!(one.qid().path, ino);
}
