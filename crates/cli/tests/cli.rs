//! The `ninefold` binary as a user runs it: exportfs in the background, 9p commands against it.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::BIN;

/// A running `ninefold exportfs`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn unix(root: &Path, sock: &Path, extra: &[&str]) -> Server {
        let addr = format!("unix!{}", sock.display());
        let child = Command::new(BIN)
            .args(["exportfs", "-r"])
            .arg(root)
            .args(["--listen", &addr])
            .args(extra)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sock.exists() {
            assert!(
                Instant::now() < deadline,
                "exportfs did not start listening"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ninefold(args: &[&str], stdin: &[u8]) -> Output {
    common::ninefold_bounded(args, stdin, Duration::from_secs(30))
}

fn ok(args: &[&str]) -> String {
    let out = ninefold(args, b"");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The command fails with exactly one line on stderr containing `want`.
fn fails(args: &[&str], want: &str) {
    let out = ninefold(args, b"");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    assert_eq!(err.lines().count(), 1, "one line of error, got {err:?}");
    assert!(err.starts_with("ninefold: "), "{err}");
    assert!(err.contains(want), "{args:?}: {err:?} lacks {want:?}");
}

fn fixture() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("greeting"), b"hello\n").unwrap();
    std::fs::write(dir.path().join("outside"), b"secret").unwrap();
    let sock = dir.path().join("sock");
    (dir, root, sock)
}

#[test]
fn the_quick_start_works() {
    let (_dir, root, sock) = fixture();
    let s = Server::unix(&root, &sock, &[]);
    let a = s.addr.as_str();
    assert_eq!(ok(&["9p", "-a", a, "ls", "/"]), "greeting\nsub\n");
    assert_eq!(ok(&["9p", "-a", a, "read", "greeting"]), "hello\n");
    let out = ninefold(
        &["9p", "-a", a, "write", "-t", "greeting"],
        b"hello again\n",
    );
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(root.join("greeting")).unwrap(),
        b"hello again\n"
    );
    ok(&["9p", "-a", a, "create", "notes/"]);
    assert!(root.join("notes").is_dir());
    ok(&["9p", "-a", a, "create", "-m", "600", "/notes/n.txt"]);
    let meta = std::fs::metadata(root.join("notes/n.txt")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    let long = ok(&["9p", "-a", a, "ls", "-l", "/"]);
    assert!(
        long.lines()
            .any(|l| l.starts_with("d-rwx") && l.ends_with(" notes")),
        "{long}"
    );
    let stat = ok(&["9p", "-a", a, "stat", "greeting"]);
    assert!(
        stat.starts_with("'greeting' ") && stat.contains(" l 12 "),
        "{stat}"
    );
    ok(&["9p", "-a", a, "rm", "notes/n.txt"]);
    ok(&["9p", "-a", a, "rm", "notes"]);
    assert!(!root.join("notes").exists());
}

#[test]
fn errors_are_one_line_and_nothing_escapes_the_root() {
    let (_dir, root, sock) = fixture();
    let s = Server::unix(&root, &sock, &[]);
    let a = s.addr.as_str();
    fails(&["9p", "-a", a, "read", "nope"], "file does not exist");
    fails(&["9p", "-a", a, "read", "../outside"], "does not exist");
    std::os::unix::fs::symlink("../outside", root.join("link")).unwrap();
    fails(&["9p", "-a", a, "read", "link"], "permission denied");
    fails(&["9p", "-a", a, "read", "sub"], "file is a directory");
    fails(&["9p", "-a", a, "rm", "/"], "");
    fails(
        &["9p", "-a", "unix!/nonexistent/sock", "ls"],
        "dial unix!/nonexistent/sock",
    );
    fails(&["9p", "-a", "bogus!address", "ls"], "bad address");
    fails(&["9p", "ls"], "--addr");
    fails(&["frobnicate"], "unrecognized subcommand");
    fails(
        &["exportfs", "-r", "/nonexistent-dir", "--stdio"],
        "/nonexistent-dir",
    );
}

#[test]
fn read_only_exports_refuse_changes() {
    let (_dir, root, sock) = fixture();
    let s = Server::unix(&root, &sock, &["-R"]);
    let a = s.addr.as_str();
    assert_eq!(ok(&["9p", "-a", a, "read", "greeting"]), "hello\n");
    fails(&["9p", "-a", a, "create", "x"], "read-only file system");
    fails(&["9p", "-a", a, "rm", "greeting"], "read-only file system");
    let out = ninefold(&["9p", "-a", a, "write", "greeting"], b"x");
    assert!(!out.status.success());
    assert_eq!(std::fs::read(root.join("greeting")).unwrap(), b"hello\n");
}

#[test]
fn plain_tcp_is_loopback_only_and_needs_no_auth() {
    let (_dir, root, _sock) = fixture();
    let r = root.to_str().unwrap();
    fails(
        &["exportfs", "-r", r, "--listen", "tcp!127.0.0.1!0"],
        "--no-auth",
    );
    fails(
        &[
            "exportfs",
            "-r",
            r,
            "--listen",
            "tcp!0.0.0.0!0",
            "--no-auth",
        ],
        "only loopback",
    );
}

#[test]
fn a_command_address_speaks_9p_on_stdio() {
    let (_dir, root, _sock) = fixture();
    let addr = format!("{{{BIN} exportfs -R -r {} --stdio}}", root.display());
    assert_eq!(ok(&["9p", "-a", &addr, "read", "/greeting"]), "hello\n");
}

#[test]
fn large_files_arrive_intact_with_small_messages() {
    let (_dir, root, sock) = fixture();
    let data: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(root.join("big"), &data).unwrap();
    let s = Server::unix(&root, &sock, &["--msize", "65536"]);
    let out = ninefold(
        &["9p", "-a", &s.addr, "--msize", "8192", "read", "big"],
        b"",
    );
    assert!(out.status.success());
    assert!(
        out.stdout == data,
        "read-ahead must keep the bytes in order"
    );
    let out = ninefold(
        &[
            "9p", "-a", &s.addr, "--msize", "8192", "write", "-t", "copy",
        ],
        &data,
    );
    assert!(!out.status.success(), "write does not create");
    ok(&["9p", "-a", &s.addr, "create", "copy"]);
    let out = ninefold(
        &["9p", "-a", &s.addr, "--msize", "8192", "write", "copy"],
        &data,
    );
    assert!(out.status.success());
    assert!(std::fs::read(root.join("copy")).unwrap() == data);
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["exportfs", "--help"],
        &["9p", "--help"],
        &["9p", "ls", "--help"],
    ] {
        let out = ninefold(args, b"");
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
}

/// A listening exportfs logs every connection on stderr; once whoever started it stops
/// reading that, it goes on serving.
#[test]
fn exportfs_serves_on_after_its_stderr_closes() {
    use std::io::BufRead;
    let (_dir, root, sock) = fixture();
    let addr = format!("unix!{}", sock.display());
    let mut child = Command::new(BIN)
        .args(["exportfs", "-r", root.to_str().unwrap(), "--listen", &addr])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("serving"), "{line}");
    // (the reader is dropped: stderr is now a pipe nobody reads)
    let server = Server { child, addr };
    for _ in 0..3 {
        assert_eq!(
            ok(&["9p", "-a", &server.addr, "read", "/greeting"]),
            "hello\n"
        );
    }
}
