//! `ninefold key` and `exportfs --listen tls!…` with clients on loopback: keys pinned both
//! ways, principals named, and /net exported only as asked and only as the policy allows.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{BIN, Bg};

const LIMIT: Duration = Duration::from_secs(30);

/// A machine's ninefold directory, with its key made by `ninefold key`.
struct Home {
    dir: PathBuf,
    /// `ed25519 BASE64`
    public: String,
    fingerprint: String,
}

impl Home {
    fn new(root: &Path, name: &str) -> Home {
        let dir = root.join(name);
        let out = run(&dir, &["key"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let printed = text(&out.stdout);
        let mut lines = printed.lines();
        let public = lines.next().unwrap().to_owned();
        let fingerprint = lines.next().unwrap().to_owned();
        assert!(public.starts_with("ed25519 ") && fingerprint.starts_with("SHA256:"));
        // Asked again, it shows the same key.
        assert_eq!(text(&run(&dir, &["key"]).stdout), printed);
        Home {
            dir,
            public,
            fingerprint,
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `ninefold ARGS` as the machine whose directory is `home`.
fn run(home: &Path, args: &[&str]) -> Output {
    run_in(home, args, b"")
}

fn run_in(home: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env("NINEFOLD_HOME", home);
    common::run_bounded(c, stdin, LIMIT)
}

/// A listening exportfs, and where it listens.
struct Exportfs {
    bg: Bg,
    addr: String,
}

impl Exportfs {
    fn start(home: &Path, args: &[&str]) -> Exportfs {
        let mut c = Command::new(BIN);
        c.arg("exportfs")
            .args(args)
            .args(["--listen", "tls!127.0.0.1!0"])
            .env("NINEFOLD_HOME", home)
            .env("NO_COLOR", "1");
        let bg = Bg::start(c);
        let line = bg.wait_for("serving", LIMIT);
        let addr = line.rsplit(' ').next().unwrap().to_owned();
        assert!(addr.starts_with("tls!127.0.0.1!"), "{line}");
        Exportfs { bg, addr }
    }

    /// The first log line containing `what` (skipping others).
    fn wait_for(&self, what: &str) -> String {
        self.bg.wait_for(what, LIMIT)
    }
}

/// A TCP server on loopback that echoes one connection's bytes.
fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            s.set_read_timeout(Some(LIMIT)).unwrap();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });
    port
}

#[test]
fn keys_principals_and_the_net_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, ic, only_out, stranger) = (
        Home::new(tmp.path(), "gw"),
        Home::new(tmp.path(), "ic"),
        Home::new(tmp.path(), "out"),
        Home::new(tmp.path(), "stranger"),
    );
    std::fs::write(
        gw.dir.join("authorized_keys"),
        format!("{} ic\n{} out\n", ic.public, only_out.public),
    )
    .unwrap();
    let rules = tmp.path().join("net.rules");
    std::fs::write(
        &rules,
        "ic  connect  tcp 127.0.0.1 *   # loopback, explicitly\n\
         ic  announce tcp *         *\n\
         out connect  tcp 0.0.0.0/0 *   # everywhere but loopback and link-local\n",
    )
    .unwrap();
    let rules = rules.to_str().unwrap();
    let srv = Exportfs::start(&gw.dir, &["-r", "#I", "--net-policy", rules]);

    // An unknown server key is refused, with its fingerprint; tofu records it.
    let out = run(&ic.dir, &["9p", "-a", &srv.addr, "ls", "/"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&gw.fingerprint) && err.contains("not a known host"),
        "{err}"
    );
    let out = run(
        &ic.dir,
        &["9p", "-a", &format!("{}!tofu", srv.addr), "ls", "/"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).lines().any(|l| l == "tcp"));
    let known = std::fs::read_to_string(ic.dir.join("known_hosts")).unwrap();
    assert!(known.contains(&gw.public), "{known}");
    srv.wait_for("principal=ic");

    // ic may reach this machine's loopback: its bytes come back through the gateway.
    let echo = echo_server();
    let out = run_in(
        &ic.dir,
        &["dial", "-n", &srv.addr, &format!("tcp!127.0.0.1!{echo}")],
        b"hoge\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"hoge\n");
    let line = srv.wait_for("connect tcp!127.0.0.1!");
    assert!(line.contains("ic"), "the log names the principal: {line}");

    // `out` may connect, but not to loopback (even with 0.0.0.0/0) and may not announce.
    let pin = format!("{}!{}", srv.addr, gw.fingerprint);
    let out = run(
        &only_out.dir,
        &["dial", "-n", &pin, &format!("tcp!127.0.0.1!{echo}")],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("permission denied") && err.contains("out"),
        "{err}"
    );
    let out = run(&only_out.dir, &["listen1", "-n", &pin, "tcp!*!0", "cat"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("permission denied"),
        "{}",
        text(&out.stderr)
    );

    // A client whose key is not authorized gets no 9P at all.
    let out = run(&stranger.dir, &["9p", "-a", &pin, "ls", "/"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("refused our key") && err.contains(&stranger.fingerprint),
        "{err}"
    );
    let line = srv.wait_for("not authorized");
    assert!(line.contains(&stranger.fingerprint), "{line}");
}

#[test]
fn the_net_is_exported_over_tls_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, ic) = (Home::new(tmp.path(), "gw"), Home::new(tmp.path(), "ic"));
    std::fs::write(
        gw.dir.join("authorized_keys"),
        format!("{} ic\n", ic.public),
    )
    .unwrap();

    let out = run(
        &gw.dir,
        &["exportfs", "-r", "#I", "--listen", "tls!127.0.0.1!0"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--net"), "{}", text(&out.stderr));

    // The name space goes without /net and /prog …
    let srv = Exportfs::start(&gw.dir, &[]);
    let pin = format!("{}!{}", srv.addr, gw.fingerprint);
    for dir in ["/net", "/prog"] {
        let out = run(&ic.dir, &["9p", "-a", &pin, "ls", dir]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "", "{dir} is exported");
    }
    let out = run(&ic.dir, &["9p", "-a", &pin, "ls", "/"]);
    assert!(text(&out.stdout).lines().any(|l| l == "net"));
    drop(srv);

    // … and with them when asked.
    let srv = Exportfs::start(&gw.dir, &["--net", "--prog"]);
    let pin = format!("{}!{}", srv.addr, gw.fingerprint);
    let out = run(&ic.dir, &["9p", "-a", &pin, "ls", "/net"]);
    assert!(
        text(&out.stdout).lines().any(|l| l == "tcp"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&ic.dir, &["9p", "-a", &pin, "ls", "/prog"]);
    let me = std::process::id().to_string();
    assert!(
        text(&out.stdout).lines().any(|l| l == me),
        "{}",
        text(&out.stderr)
    );
    // The default policy keeps loopback out.
    let echo = echo_server();
    let out = run(
        &ic.dir,
        &["dial", "-n", &pin, &format!("tcp!127.0.0.1!{echo}")],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("permission denied"),
        "{}",
        text(&out.stderr)
    );
}
