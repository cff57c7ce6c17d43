//! `ninefold dial`, `ninefold listen1` and `ninefold exportfs -r '#I'` as a user runs them,
//! against servers and clients on loopback. Every wait is bounded and every child is killed
//! when its guard is dropped.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{BIN, Bg};
const LIMIT: Duration = Duration::from_secs(30);

/// `ninefold ARGS` in the background.
fn start(args: &[&str]) -> Bg {
    let mut c = Command::new(BIN);
    c.args(args);
    Bg::start(c)
}

/// `ninefold listen1 ARGS`, once it says where it listens: the guard and the port.
fn listen1(args: &[&str]) -> (Bg, u16) {
    let bg = start(&[&["listen1"], args].concat());
    let line = bg
        .stderr
        .recv_timeout(LIMIT)
        .expect("listen1 did not say where it listens");
    let port = line
        .strip_prefix("ninefold listen1: listening on tcp!")
        .and_then(|a| a.rsplit('!').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected announcement {line:?}"));
    (bg, port)
}

/// `ninefold exportfs -r '#I' --listen unix!SOCK`, once the socket is there.
fn export_net(sock: &Path) -> (Bg, String) {
    let addr = format!("unix!{}", sock.display());
    let bg = start(&["exportfs", "-r", "#I", "--listen", &addr]);
    let deadline = Instant::now() + LIMIT;
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "exportfs did not start listening"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (bg, addr)
}

/// Kills it and returns what it wrote on standard output.
fn stop(mut bg: Bg) -> Vec<u8> {
    bg.kill();
    let mut out = Vec::new();
    if let Some(mut o) = bg.child.stdout.take() {
        let _ = o.read_to_end(&mut out);
    }
    out
}

/// Runs `ninefold ARGS` with `stdin` as its input, at most LIMIT.
fn ninefold(args: &[&str], stdin: &[u8]) -> Output {
    common::ninefold_bounded(args, stdin, LIMIT)
}

/// The command fails with status `code` and exactly one line on stderr containing `want`.
fn fails(args: &[&str], code: i32, want: &str) {
    let out = ninefold(args, b"");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "one line of error, got {err:?}");
    assert!(err.starts_with("ninefold: "), "{err}");
    assert!(err.contains(want), "{args:?}: {err:?} lacks {want:?}");
}

fn data(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 24) as u8)
        .collect()
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.set_write_timeout(Some(LIMIT)).unwrap();
    s
}

/// A loopback server for one call: it sends `banner` at once while reading the caller's
/// bytes to their end (so dial must read and write at the same time), and only then — after
/// dial's FIN — sends `got N` and closes. Returns what it read.
fn half_close_server(banner: Vec<u8>) -> (u16, JoinHandle<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        s.set_write_timeout(Some(LIMIT)).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            w.write_all(&banner).unwrap();
            w
        });
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        let mut w = writer.join().unwrap();
        w.write_all(format!("got {}\n", got.len()).as_bytes())
            .unwrap();
        drop(w);
        drop(s);
        got
    });
    (port, h)
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("net.sock");
    (dir, sock)
}

#[test]
fn dial_copies_both_ways_and_half_closes() {
    let banner = data(2_000_000, 1);
    let input = data(3_000_000, 2);
    let (port, server) = half_close_server(banner.clone());
    let out = ninefold(&["dial", &format!("tcp!127.0.0.1!{port}")], &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = server.join().unwrap();
    assert!(got == input, "the server got {} bytes", got.len());
    let mut want = banner;
    want.extend_from_slice(format!("got {}\n", input.len()).as_bytes());
    assert!(
        out.stdout == want,
        "dial printed {} bytes",
        out.stdout.len()
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn dial_with_nothing_to_send_still_gets_the_reply() {
    let (port, server) = half_close_server(b"hello\n".to_vec());
    let out = ninefold(&["dial", &format!("tcp!localhost!{port}")], b"");
    assert!(out.status.success());
    assert_eq!(server.join().unwrap(), b"");
    assert_eq!(out.stdout, b"hello\ngot 0\n");
}

#[test]
fn dial_errors_are_one_line() {
    let port = closed_port();
    let addr = format!("tcp!127.0.0.1!{port}");
    let out = ninefold(&["dial", &addr], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("ninefold: dial {addr}: connection refused\n")
    );
    assert!(out.stdout.is_empty());
    fails(
        &["dial", "tcp!127.0.0.1!nosuchservice"],
        1,
        "can't translate service",
    );
    fails(
        &["dial", "-n", "unix!/nonexistent/sock", &addr],
        1,
        "dial unix!/nonexistent/sock",
    );
    fails(&["dial", "-n", "bogus!address", &addr], 1, "bad address");
    fails(&["listen1", "tcp!127.0.0.1!99999", "cat"], 1, "announce");
}

#[test]
fn usage_errors_exit_2() {
    fails(&["dial"], 2, "ADDR");
    fails(&["dial", "a", "b"], 2, "unexpected argument");
    fails(&["listen1", "tcp!127.0.0.1!0"], 2, "CMD");
    fails(&["listen1", "-p", "0", "tcp!127.0.0.1!0", "cat"], 2, "0");
    fails(
        &["exportfs", "-r", "#I", "-R", "--stdio"],
        2,
        "-R does not apply to '#I'",
    );
    for args in [&["dial", "--help"][..], &["listen1", "--help"]] {
        let out = ninefold(args, b"");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"));
    }
}

#[test]
fn listen1_serves_calls_concurrently_with_the_call_on_stdio() {
    let (l, port) = listen1(&[
        "tcp!127.0.0.1!0",
        "sh",
        "-c",
        "echo \"$remote $net\"; exec cat",
    ]);
    // Two calls at once: each is its own command.
    let mut calls: Vec<(TcpStream, Vec<u8>)> = (0..2)
        .map(|i| (connect(port), data(500_000 + i, i as u32)))
        .collect();
    for (s, _) in &mut calls {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while b[0] != b'\n' {
            s.read_exact(&mut b).unwrap();
            line.push(b[0]);
        }
        let line = String::from_utf8(line).unwrap();
        let me = s.local_addr().unwrap();
        assert!(
            line.starts_with(&format!("127.0.0.1!{} /net/tcp/", me.port())),
            "{line:?}"
        );
    }
    let handles: Vec<_> = calls
        .into_iter()
        .map(|(mut s, d)| {
            std::thread::spawn(move || {
                let mut r = s.try_clone().unwrap();
                let reader = std::thread::spawn(move || {
                    let mut back = Vec::new();
                    r.read_to_end(&mut back).unwrap();
                    back
                });
                s.write_all(&d).unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                assert!(reader.join().unwrap() == d, "echoed bytes differ");
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(stop(l).is_empty(), "listen1 prints nothing on stdout");
}

#[test]
fn listen1_bounds_the_calls_it_serves() {
    let (_l, port) = listen1(&["-p", "1", "tcp!127.0.0.1!0", "cat"]);
    let mut a = connect(port);
    a.write_all(b"a").unwrap();
    let mut b1 = [0u8; 1];
    a.read_exact(&mut b1).unwrap();
    assert_eq!(&b1, b"a");
    // The second call waits in the listen queue while the first is served.
    let mut b = connect(port);
    b.write_all(b"b").unwrap();
    b.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let e = b.read(&mut b1).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{e}"
    );
    // Ending the first call lets the second in.
    a.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    a.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    b.set_read_timeout(Some(LIMIT)).unwrap();
    b.read_exact(&mut b1).unwrap();
    assert_eq!(&b1, b"b");
}

#[test]
fn a_command_that_cannot_run_hangs_the_call_up() {
    let (l, port) = listen1(&["tcp!127.0.0.1!0", "/nonexistent/cmd"]);
    let mut s = connect(port);
    let mut rest = Vec::new();
    // A reset or an end of stream, but never data, and listen1 goes on.
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty());
    let line = l.stderr.recv_timeout(LIMIT).unwrap();
    assert!(
        line.starts_with("ninefold: listen1: tcp/") && line.contains("cannot run /nonexistent/cmd"),
        "{line}"
    );
    let mut s = connect(port);
    let _ = s.read_to_end(&mut rest);
    assert!(
        l.stderr.recv_timeout(LIMIT).is_ok(),
        "the next call is served too"
    );
}

#[test]
fn dial_and_listen1_through_a_net_served_over_a_unix_socket() {
    let (_dir, sock) = tempdir();
    let (_exportfs, net) = export_net(&sock);

    // The served tree is a /net.
    let ls = ninefold(&["9p", "-a", &net, "ls", "/"], b"");
    let ls = String::from_utf8_lossy(&ls.stdout);
    for name in ["cs", "dns", "tcp", "udp"] {
        assert!(ls.lines().any(|l| l == name), "{name} not in {ls:?}");
    }

    // listen1 announcing through it, dial calling through it.
    let (_l, port) = listen1(&["-n", &net, "tcp!127.0.0.1!0", "cat"]);
    let input = data(2_000_000, 3);
    let out = ninefold(
        &["dial", "-n", &net, &format!("tcp!127.0.0.1!{port}")],
        &input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == input, "got {} bytes back", out.stdout.len());

    // A plain client calls the listen1 that listens through the served /net.
    let mut s = connect(port);
    s.write_all(b"ping").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"ping");

    // And the half-close works across 9P too.
    let (port, server) = half_close_server(b"banner\n".to_vec());
    let out = ninefold(
        &["dial", "-n", &net, &format!("tcp!127.0.0.1!{port}")],
        b"request",
    );
    assert!(out.status.success());
    assert_eq!(server.join().unwrap(), b"request");
    assert_eq!(out.stdout, b"banner\ngot 7\n");

    let refused = format!("tcp!127.0.0.1!{}", closed_port());
    fails(
        &["dial", "-n", &net, &refused],
        1,
        &format!("dial {refused}: connection refused"),
    );
}

#[test]
fn dial_through_a_command_serving_the_net_on_stdio() {
    let (port, server) = half_close_server(b"hi\n".to_vec());
    let net = format!("{{{BIN} exportfs -r '#I' --stdio}}");
    let out = ninefold(
        &["dial", "-n", &net, &format!("tcp!127.0.0.1!{port}")],
        b"x",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.join().unwrap(), b"x");
    assert_eq!(out.stdout, b"hi\ngot 1\n");
}

#[test]
fn exportfs_of_the_net_keeps_tcp_to_loopback_and_no_auth() {
    fails(
        &["exportfs", "-r", "#I", "--listen", "tcp!127.0.0.1!0"],
        1,
        "--no-auth",
    );
    fails(
        &[
            "exportfs",
            "-r",
            "#I",
            "--listen",
            "tcp!0.0.0.0!0",
            "--no-auth",
        ],
        1,
        "only loopback",
    );
}
