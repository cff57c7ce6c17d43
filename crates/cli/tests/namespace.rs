//! `ninefold exportfs` serving a name space: the standard one, one built by a namespace
//! file, and a `{command}` mount whose program exits.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::BIN;

/// Runs ninefold with `args`; killed after 30 s.
fn ninefold(args: &[&str]) -> Output {
    common::ninefold_bounded(args, b"", Duration::from_secs(30))
}

fn ok(args: &[&str]) -> String {
    let out = ninefold(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `exportfs --ns FILE --listen unix!SOCK`, killed when dropped.
struct Server(Child);

impl Server {
    fn start(ns: &Path, sock: &Path) -> Server {
        let child = Command::new(BIN)
            .arg("exportfs")
            .arg("--ns")
            .arg(ns)
            .arg("--listen")
            .arg(format!("unix!{}", sock.display()))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "exportfs did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_standard_name_space_and_attach_names() {
    let stdio = format!("{{{BIN} exportfs --stdio --compact}}");
    let net = ok(&["9p", "-a", &stdio, "-A", "/net", "ls"]);
    for want in ["tcp", "udp", "cs", "dns"] {
        assert!(net.lines().any(|l| l == want), "{want} in {net}");
    }
    let root = ok(&["9p", "-a", &stdio, "ls", "/"]);
    for want in ["etc", "net", "srv", "n"] {
        assert!(root.lines().any(|l| l == want), "{want} in {root}");
    }
    // --compact: the union of the host's / and #/ lists each name once.
    let mut names: Vec<&str> = root.lines().collect();
    let all = names.len();
    names.dedup();
    assert_eq!(names.len(), all, "{root}");
}

#[test]
fn a_mounted_command_serves_until_it_exits_then_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("greeting"), "hello\n").unwrap();
    // The mounted program lives 4 seconds.
    let ns = dir.path().join("t.ns");
    std::fs::write(
        &ns,
        format!(
            "mount {{timeout 4 {BIN} exportfs -r {} --stdio}} /n\n",
            data.display()
        ),
    )
    .unwrap();
    let sock = dir.path().join("sock");
    let _server = Server::start(&ns, &sock);
    let addr = format!("unix!{}", sock.display());
    assert_eq!(ok(&["9p", "-a", &addr, "read", "/n/greeting"]), "hello\n");
    assert_eq!(ok(&["9p", "-a", &addr, "ls", "/n"]), "greeting\n");
    // After it exits: an error, not a hang. (A walk into the mount only reports that the
    // name is not there — 9P's Rwalk carries no error — so list the mount point itself.)
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = ninefold(&["9p", "-a", &addr, "ls", "/n"]);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("hungup"), "{err}");
            break;
        }
        assert!(Instant::now() < deadline, "the mount still answers");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_bad_namespace_file_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let ns = dir.path().join("bad.ns");
    std::fs::write(&ns, "# fine\nbind /nonexistent/x /n\n").unwrap();
    let out = ninefold(&["exportfs", "--ns", ns.to_str().unwrap(), "--stdio"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        format!(
            "ninefold: {}: line 2: bind /nonexistent/x /n: file does not exist\n",
            ns.display()
        )
    );
    let out = ninefold(&[
        "exportfs",
        "-r",
        "/nonexistent",
        "--ns",
        ns.to_str().unwrap(),
        "--stdio",
    ]);
    assert!(!out.status.success());
}
