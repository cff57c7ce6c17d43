//! Namespace files: parse → apply → `ns` → parse, devices, /srv, errors with line numbers.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use ninefold_fs::synth::{Entry, StaticFile, SynthTree};
use ninefold_fs::{Error, Result, Tree};
use ninefold_ns::{Context, Devices, Flags, NoConnector, Posted, parse};

fn vars(name: &str) -> Option<String> {
    match name {
        "user" => Some("glenda".into()),
        _ => None,
    }
}

fn synth(name: &str, text: &'static str) -> Arc<dyn Tree> {
    Arc::new(SynthTree::new(Entry::dir([(
        name,
        Entry::file(StaticFile(bytes::Bytes::from_static(text.as_bytes()))),
    )])))
}

async fn apply(ns: &mut ninefold_ns::Namespace, text: &str) -> std::result::Result<(), String> {
    let lines = parse(text, &vars).map_err(|e| e.to_string())?;
    let cx = Context {
        connector: &NoConnector,
        vars: &vars,
    };
    ns.apply(&lines, &cx).await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn ns_text_is_plan9s_and_reads_back_the_same() {
    let mut devices = Devices::new();
    devices.add('z', synth("zfile", "from z"));
    let mut w = world_with(
        &[
            ("net/", ""),
            ("bin/", ""),
            ("usr/glenda/bin/", ""),
            ("usr/glenda/tmp/", ""),
            ("tmp/", ""),
        ],
        devices,
    )
    .await;
    let text = "\
bind -a '#z' /net
bind -b /usr/$user/bin /bin
bind -c /usr/$user/tmp /tmp
bind /tmp /usr/glenda/tmp
cd /usr/glenda
";
    apply(&mut w.ns, text).await.unwrap();
    let ns = w.ns.ns_text();
    assert_eq!(
        ns,
        "\
bind  /net /net
bind -a #z /net
bind  /bin /bin
bind -b /usr/glenda/bin /bin
bind -c /usr/glenda/tmp /tmp
bind  /usr/glenda/tmp /usr/glenda/tmp
cd /usr/glenda
"
    );
    // Binding the mount point /tmp copied its member, which prints under its own name.
    assert_eq!(cat(&w.ns, "/net/zfile").await.unwrap(), "from z");

    // Read back into a fresh group of the same world: the same name space.
    let mut again = w.ns.fresh();
    apply(&mut again, &ns).await.unwrap();
    assert_eq!(again.ns_text(), ns);
    assert_eq!(cat(&again, "/net/zfile").await.unwrap(), "from z");
}

#[tokio::test]
async fn clear_include_and_quiet_lines() {
    let mut w = world(&[
        ("a/x", ""),
        ("b/", ""),
        ("c/", ""),
        ("lib/ns.local", "bind /a /c\n"),
    ])
    .await;
    apply(
        &mut w.ns,
        "bind /a /b\nclear\n. /lib/ns.local\nbind -q /nonexistent /b\n",
    )
    .await
    .unwrap();
    assert!(ls(&w.ns, "/b").await.unwrap().is_empty(), "clear forgot /b");
    assert_eq!(
        ls(&w.ns, "/c").await.unwrap(),
        ["x"],
        "the included file ran"
    );
}

#[tokio::test]
async fn a_failing_line_is_named() {
    let mut w = world(&[("a/", "")]).await;
    let e = apply(&mut w.ns, "bind /a /a\n\nbind /nope /a\n")
        .await
        .unwrap_err();
    assert_eq!(e, "line 3: bind /nope /a: file does not exist");
    let e = apply(&mut w.ns, "bind '#q' /a\n").await.unwrap_err();
    assert_eq!(e, "line 1: bind #q /a: unknown device in # filename");
    let e = apply(&mut w.ns, "mount unix!/x /a\n").await.unwrap_err();
    assert!(
        e.starts_with("line 1: mount unix!/x /a: cannot dial"),
        "{e}"
    );
    let e = apply(&mut w.ns, ". /a\n").await.unwrap_err();
    assert_eq!(e, "line 1: . /a: file is a directory");
    let e = apply(&mut w.ns, "bind /a\n").await.unwrap_err();
    assert_eq!(e, "line 1: usage: bind [-abcq] new old");
}

#[tokio::test]
async fn includes_that_loop_stop() {
    let mut w = world(&[("loop", ". /loop\n")]).await;
    let e = apply(&mut w.ns, ". /loop\n").await.unwrap_err();
    assert!(e.contains("nested too deeply"), "{e}");
}

#[tokio::test]
async fn device_names_are_one_instance_and_mount_points() {
    let mut devices = Devices::new();
    devices.add('z', synth("f", "z"));
    let w = world_with(&[("mnt/", ""), ("g", "g")], devices).await;
    w.ns.bind("#z", "/mnt", Flags::REPLACE).await.unwrap();
    // A bind onto #z/f is seen at /mnt/f: the same device instance, the same file.
    w.ns.bind("/g", "#z/f", Flags::REPLACE).await.unwrap();
    assert_eq!(cat(&w.ns, "/mnt/f").await.unwrap(), "g");
    assert_eq!(w.ns.read_file("#z/f").await.unwrap(), "g");
}

/// A stand-in for #s: one posted tree.
#[derive(Debug)]
struct OnePost(SynthTree);

impl Posted for OnePost {
    fn lookup(&self, name: &str) -> Option<Arc<dyn Tree>> {
        (name == "fs").then(|| Arc::new(self.0.clone()) as Arc<dyn Tree>)
    }
}

#[tokio::test]
async fn mount_of_a_posted_connection() {
    let posted = SynthTree::new(Entry::dir([(
        "hello",
        Entry::file(StaticFile(bytes::Bytes::from_static(b"posted"))),
    )]));
    let listing: Arc<dyn Tree> = Arc::new(SynthTree::new(Entry::dir([(
        "fs",
        Entry::file(StaticFile(bytes::Bytes::from_static(b"fs\n"))),
    )])));
    let mut devices = Devices::new();
    devices.add_srv('s', listing, Arc::new(OnePost(posted)));
    let mut w = world_with(&[("srv/", ""), ("n/x/", "")], devices).await;
    apply(&mut w.ns, "bind '#s' /srv\nmount /srv/fs /n/x\n")
        .await
        .unwrap();
    assert_eq!(cat(&w.ns, "/n/x/hello").await.unwrap(), "posted");
    assert!(
        w.ns.ns_text().contains("mount  /srv/fs /n/x \n"),
        "{}",
        w.ns.ns_text()
    );
    // A file that is not a posted connection cannot be mounted.
    let e = apply(&mut w.ns, "mount /n/x/hello /n/x\n")
        .await
        .unwrap_err();
    assert!(e.contains("not a posted 9P connection"), "{e}");
    // unmount by the name it was mounted with.
    w.ns.unmount(Some("/srv/fs"), "/n/x").await.unwrap();
    assert!(ls(&w.ns, "/n/x").await.unwrap().is_empty());
}

/// A connector that answers one dial string with a synthetic tree.
struct FakeDial;

#[async_trait]
impl ninefold_ns::Connector for FakeDial {
    async fn connect(&self, source: &str) -> Result<Arc<dyn Tree>> {
        match source {
            "unix!/tmp/fake" => Ok(synth("remote", "over 9p")),
            _ => Err(Error::new("connection refused")),
        }
    }
}

#[tokio::test]
async fn mount_dials_through_the_connector_with_the_spec() {
    let mut w = world(&[("n/r/", "")]).await;
    let lines = parse("mount -c unix!/tmp/fake /n/r spec\n", &vars).unwrap();
    let cx = Context {
        connector: &FakeDial,
        vars: &vars,
    };
    w.ns.apply(&lines, &cx).await.unwrap();
    assert_eq!(cat(&w.ns, "/n/r/remote").await.unwrap(), "over 9p");
    assert_eq!(w.ns.ns_text(), "mount -c unix!/tmp/fake /n/r spec\ncd /\n");
}
