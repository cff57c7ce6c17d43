//! Union directories and binds, rule by rule (plan9-namespaces.md §1.3).

mod common;

use common::*;
use ninefold_ns::Flags;

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn replace_bind_shows_only_the_new_directory() {
    let w = world(&[("a/x", "ax"), ("b/y", "by")]).await;
    w.ns.bind("/a", "/b", Flags::REPLACE).await.unwrap();
    assert_eq!(ls(&w.ns, "/b").await.unwrap(), ["x"]);
    assert_eq!(cat(&w.ns, "/b/x").await.unwrap(), "ax");
    assert_eq!(
        walk(&w.ns, "/b/y").await.unwrap_err().as_str(),
        "file does not exist"
    );
    // The original is still there under its own name.
    assert_eq!(ls(&w.ns, "/a").await.unwrap(), ["x"]);
}

#[tokio::test]
async fn after_and_before_set_the_search_order() {
    let w = world(&[
        ("a/f", "from a"),
        ("a/onlya", ""),
        ("b/f", "from b"),
        ("b/onlyb", ""),
    ])
    .await;
    let after = w.ns.copy();
    after.bind("/a", "/b", Flags::AFTER).await.unwrap();
    assert_eq!(cat(&after, "/b/f").await.unwrap(), "from b");
    assert_eq!(cat(&after, "/b/onlya").await.unwrap(), "");
    let list = ls(&after, "/b").await.unwrap();
    // The original /b first, then /a; every entry of both, duplicates kept.
    assert_eq!(sorted(list[..2].to_vec()), ["f", "onlyb"]);
    assert_eq!(sorted(list[2..].to_vec()), ["f", "onlya"]);

    let before = w.ns.copy();
    before.bind("/a", "/b", Flags::BEFORE).await.unwrap();
    assert_eq!(cat(&before, "/b/f").await.unwrap(), "from a");
    let list = ls(&before, "/b").await.unwrap();
    assert_eq!(sorted(list[..2].to_vec()), ["f", "onlya"]);
}

#[tokio::test]
async fn compact_listing_keeps_the_first_of_each_name() {
    let w = world(&[("a/f", ""), ("a/g", ""), ("b/f", ""), ("b/h", "")]).await;
    w.ns.bind("/a", "/b", Flags::AFTER).await.unwrap();
    let tree = ninefold_ns::NsTree::new(w.ns.clone()).compact(true);
    let names = ls_tree(&tree, "/b").await.unwrap();
    assert_eq!(sorted(names), ["f", "g", "h"]);
    assert_eq!(ls(&w.ns, "/b").await.unwrap().len(), 4);
}

#[tokio::test]
async fn only_the_top_level_is_unioned() {
    let w = world(&[("a/sub/p", ""), ("b/sub/q", "")]).await;
    w.ns.bind("/a", "/b", Flags::AFTER).await.unwrap();
    // /b/sub is the first member's sub, not a merge of both.
    assert_eq!(ls(&w.ns, "/b/sub").await.unwrap(), ["q"]);
    assert!(walk(&w.ns, "/b/sub/p").await.is_err());
}

#[tokio::test]
async fn create_goes_to_the_first_create_member_only() {
    let w = world(&[("a/", ""), ("b/", ""), ("c/", "")]).await;
    w.ns.bind("/a", "/b", Flags::AFTER.with_create())
        .await
        .unwrap();
    w.ns.bind("/c", "/b", Flags::AFTER.with_create())
        .await
        .unwrap();
    create(&w.ns, "/b", "new", "hello").await.unwrap();
    assert_eq!(
        std::fs::read_to_string(w.dir.path().join("a/new")).unwrap(),
        "hello"
    );
    assert!(!w.dir.path().join("b/new").exists());
    assert!(!w.dir.path().join("c/new").exists());
    // A name any member has is taken.
    std::fs::write(w.dir.path().join("c/inc"), "").unwrap();
    let e = create(&w.ns, "/b", "inc", "").await.unwrap_err();
    assert_eq!(e.as_str(), "file already exists");
}

#[tokio::test]
async fn a_mount_point_without_create_members_refuses_creation() {
    let w = world(&[("a/", ""), ("b/", "")]).await;
    w.ns.bind("/a", "/b", Flags::REPLACE).await.unwrap();
    let e = create(&w.ns, "/b", "x", "").await.unwrap_err();
    assert_eq!(e.as_str(), "mounted directory forbids creation");
    // Not a mount point: creation is the directory's business.
    create(&w.ns, "/a", "x", "ok").await.unwrap();
}

#[tokio::test]
async fn a_failed_create_does_not_try_other_members() {
    let w = world(&[("b/", ""), ("c/", ""), ("ro/", "")]).await;
    // A read-only tree bound with -c first, a writable one with -c after it.
    let ro: std::sync::Arc<dyn ninefold_fs::Tree> = std::sync::Arc::new(
        ninefold_hostfs::HostTree::new(&w.dir.path().join("ro"), true).unwrap(),
    );
    w.ns.mount(ro, "ro", "/b", Flags::BEFORE.with_create(), "")
        .await
        .unwrap();
    w.ns.bind("/c", "/b", Flags::AFTER.with_create())
        .await
        .unwrap();
    let e = create(&w.ns, "/b", "x", "").await.unwrap_err();
    assert_eq!(e.as_str(), "read-only file system");
    assert!(!w.dir.path().join("b/x").exists());
    assert!(!w.dir.path().join("c/x").exists());
}

#[tokio::test]
async fn remove_takes_the_first_match_and_the_next_shows_through() {
    let w = world(&[("a/f", "a"), ("b/f", "b")]).await;
    w.ns.bind("/a", "/b", Flags::BEFORE).await.unwrap();
    assert_eq!(cat(&w.ns, "/b/f").await.unwrap(), "a");
    walk(&w.ns, "/b/f").await.unwrap().remove().await.unwrap();
    assert!(!w.dir.path().join("a/f").exists());
    assert_eq!(cat(&w.ns, "/b/f").await.unwrap(), "b");
}

#[tokio::test]
async fn files_bind_over_files_with_replace_only() {
    let w = world(&[("f", "new"), ("g", "old"), ("d/", "")]).await;
    w.ns.bind("/f", "/g", Flags::REPLACE).await.unwrap();
    assert_eq!(cat(&w.ns, "/g").await.unwrap(), "new");
    let st = walk(&w.ns, "/g").await.unwrap().stat().await.unwrap();
    assert_eq!(st.name, "g", "a bound file is called by the name it is at");
    for (new, old, flags) in [
        ("/f", "/d", Flags::REPLACE),
        ("/d", "/g", Flags::REPLACE),
        ("/f", "/g", Flags::AFTER),
    ] {
        let e = w.ns.bind(new, old, flags).await.unwrap_err();
        assert_eq!(e.as_str(), "inconsistent mount", "bind {flags} {new} {old}");
    }
}

#[tokio::test]
async fn unmount_removes_one_member_or_all() {
    let w = world(&[("a/x", ""), ("b/y", ""), ("c/z", "")]).await;
    w.ns.bind("/a", "/c", Flags::AFTER).await.unwrap();
    w.ns.bind("/b", "/c", Flags::AFTER).await.unwrap();
    assert_eq!(sorted(ls(&w.ns, "/c").await.unwrap()), ["x", "y", "z"]);
    w.ns.unmount(Some("/a"), "/c").await.unwrap();
    assert_eq!(sorted(ls(&w.ns, "/c").await.unwrap()), ["y", "z"]);
    assert_eq!(
        w.ns.unmount(Some("/a"), "/c").await.unwrap_err().as_str(),
        "not in union"
    );
    w.ns.unmount(None, "/c").await.unwrap();
    assert_eq!(ls(&w.ns, "/c").await.unwrap(), ["z"]);
    assert_eq!(
        w.ns.unmount(None, "/c").await.unwrap_err().as_str(),
        "not mounted"
    );
}

#[tokio::test]
async fn dot_dot_is_lexical() {
    let w = world(&[("deep/er/x", ""), ("b/", ""), ("top", "")]).await;
    w.ns.bind("/deep/er", "/b", Flags::REPLACE).await.unwrap();
    // /b/.. is /, not /deep.
    let mut names = Vec::new();
    let up = walk(&w.ns, "/b").await.unwrap().walk1("..").await.unwrap();
    up.open(ninefold_proto::om::OREAD).await.unwrap();
    let data = up.read(0, 1 << 16).await.unwrap();
    names.extend(
        ninefold_proto::read_dir_entries(data)
            .unwrap()
            .into_iter()
            .map(|s| s.name),
    );
    assert!(names.contains(&"top".to_string()), "{names:?}");
    // An export rooted at /b cannot climb out of it.
    let tree = ninefold_ns::NsTree::new(w.ns.clone());
    let root = walk_in(&tree, "/b", "").await.unwrap();
    let up = root.walk1("..").await.unwrap();
    assert_eq!(up.qid(), root.qid());
    assert!(up.walk1("x").await.is_ok());
}

#[tokio::test]
async fn the_same_file_by_another_name_is_the_same_mount_point() {
    let w = world(&[("a/x/", ""), ("c/in_c", ""), ("b/", "")]).await;
    w.ns.bind("/c", "/a/x", Flags::REPLACE).await.unwrap();
    w.ns.bind("/a", "/b", Flags::REPLACE).await.unwrap();
    assert_eq!(ls(&w.ns, "/b/x").await.unwrap(), ["in_c"]);
}

#[tokio::test]
async fn binding_a_union_copies_its_members() {
    let w = world(&[("a/x", ""), ("b/y", ""), ("u/", ""), ("v/", "")]).await;
    w.ns.bind("/a", "/u", Flags::REPLACE).await.unwrap();
    w.ns.bind("/b", "/u", Flags::AFTER).await.unwrap();
    w.ns.bind("/u", "/v", Flags::REPLACE).await.unwrap();
    assert_eq!(ls(&w.ns, "/v").await.unwrap(), ["x", "y"]);
    // Later changes to /u do not reach /v.
    w.ns.unmount(Some("/b"), "/u").await.unwrap();
    assert_eq!(ls(&w.ns, "/v").await.unwrap(), ["x", "y"]);
}

#[tokio::test]
async fn shared_copied_and_fresh_groups() {
    let w = world(&[("a/x", ""), ("b/", ""), ("c/", "")]).await;
    w.ns.bind("/a", "/b", Flags::REPLACE).await.unwrap();
    let shared = w.ns.clone();
    let copy = w.ns.copy();
    let fresh = w.ns.fresh();
    assert_eq!(ls(&copy, "/b").await.unwrap(), ["x"]);
    assert!(ls(&fresh, "/b").await.unwrap().is_empty());
    w.ns.bind("/a", "/c", Flags::REPLACE).await.unwrap();
    assert_eq!(
        ls(&shared, "/c").await.unwrap(),
        ["x"],
        "a shared group sees it"
    );
    assert!(ls(&copy, "/c").await.unwrap().is_empty(), "a copy does not");
    copy.unmount(None, "/b").await.unwrap();
    assert_eq!(
        ls(&w.ns, "/b").await.unwrap(),
        ["x"],
        "nor does the original see the copy's"
    );
}

#[tokio::test]
async fn a_renamed_file_stats_under_its_new_name() {
    // Found by aio9p's client through exportfs: stat kept the old name.
    let w = world(&[("d/f", "x")]).await;
    let node = walk(&w.ns, "/d/f").await.unwrap();
    let st = ninefold_proto::Stat {
        name: "g".into(),
        ..ninefold_proto::Stat::dont_touch()
    };
    node.wstat(&st).await.unwrap();
    assert_eq!(node.stat().await.unwrap().name, "g");
    assert!(w.dir.path().join("d/g").exists());
}

/// A listing names each file by the qid a walk to it gives, for a mounted tree (whose
/// qids are mixed with its instance) alone and as a union member: FUSE takes both for
/// inode numbers.
#[tokio::test]
async fn listings_and_walks_agree_on_qids() {
    use ninefold_proto::{om, read_dir_entries};
    let w = world(&[("m/f", "x"), ("m/sub/", ""), ("a/", ""), ("b/g", "y")]).await;
    let m: std::sync::Arc<dyn ninefold_fs::Tree> = std::sync::Arc::new(
        ninefold_hostfs::HostTree::new(&w.dir.path().join("m"), false).unwrap(),
    );
    w.ns.mount(m.clone(), "m", "/a", Flags::REPLACE, "")
        .await
        .unwrap();
    w.ns.mount(m, "m", "/b", Flags::AFTER, "").await.unwrap();
    for dir in ["/a", "/b"] {
        let node = walk(&w.ns, dir).await.unwrap();
        node.open(om::OREAD).await.unwrap();
        let mut listed = Vec::new();
        let mut offset = 0;
        loop {
            let data = node.read(offset, 1 << 16).await.unwrap();
            if data.is_empty() {
                break;
            }
            offset += data.len() as u64;
            listed.extend(read_dir_entries(data).unwrap());
        }
        node.clunk().await;
        assert!(listed.len() >= 2, "{dir}: {listed:?}");
        for st in listed {
            let walked = walk(&w.ns, &format!("{dir}/{}", st.name)).await.unwrap();
            assert_eq!(walked.qid(), st.qid, "{dir}/{}", st.name);
            assert_eq!(
                walked.stat().await.unwrap().qid,
                st.qid,
                "{dir}/{}",
                st.name
            );
        }
    }
}
