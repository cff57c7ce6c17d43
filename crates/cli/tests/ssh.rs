//! The ssh transport and `ninefold import`, against a private sshd on 127.0.0.1 started by
//! the test (its own host key, one authorized client key, a random port), with this build
//! of ninefold as the far side's (`NINEFOLD_REMOTE`). It needs sshd and root (sshd's
//! privilege separation), and the session test also user namespaces and FUSE: without them
//! each test says why and skips, unless NINEFOLD_REQUIRE_PRIVILEGED=1 (CI), where a skip is
//! a failure.
#![allow(clippy::unwrap_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ninefold");

fn required() -> bool {
    std::env::var("NINEFOLD_REQUIRE_PRIVILEGED").as_deref() == Ok("1")
}

/// Skip (or fail, when required) with a one-line reason.
fn skip(why: &str) {
    if required() {
        panic!("required here (NINEFOLD_REQUIRE_PRIVILEGED=1) but: {why}");
    }
    eprintln!("skipped: {why}");
}

/// A program by name in $PATH or the sbin directories (sshd is often outside a user's PATH).
fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs `cmd` to completion within `secs`, or kills it.
fn run_bounded(mut cmd: Command, secs: u64) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{cmd:?} did not end in {secs} s");
        }
    }
}

/// A private sshd on 127.0.0.1, killed when dropped.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    /// Starts one, or says why it cannot (and the test skips).
    fn start() -> Option<Sshd> {
        let (Some(sshd), Some(keygen)) = (find("sshd"), find("ssh-keygen")) else {
            skip("sshd or ssh-keygen is not installed (apt-get install openssh-server)");
            return None;
        };
        if find("ssh").is_none() {
            skip("ssh is not installed");
            return None;
        }
        if !nix::unistd::geteuid().is_root() {
            skip("the test sshd runs as root (privilege separation, login as root)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        for key in ["host_key", "client_key"] {
            let out = run_bounded(
                {
                    let mut c = Command::new(&keygen);
                    c.args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                        .arg(dir.path().join(key));
                    c
                },
                30,
            );
            assert!(out.status.success(), "ssh-keygen: {out:?}");
        }
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        // sshd checks for its privilege separation directory even with -D.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let d = dir.path().display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\n\
             UsePAM no\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             AllowTcpForwarding no\nX11Forwarding no\nPrintMotd no\nLogLevel VERBOSE\n"
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        let mut child = Command::new(&sshd)
            .arg("-D")
            .arg("-f")
            .arg(dir.path().join("sshd_config"))
            .arg("-E")
            .arg(dir.path().join("sshd.log"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("sshd.log")).unwrap_or_default();
                skip(&format!(
                    "the test sshd exited ({status}): {}",
                    log.trim().replace('\n', " | ")
                ));
                return None;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "sshd did not listen in 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Sshd { dir, port, child })
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// The client's ssh options: our key, a private known_hosts, nothing asked.
    fn opts(&self) -> String {
        format!(
            "-F /dev/null -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={}/known_hosts \
             -o StrictHostKeyChecking=accept-new -o BatchMode=yes -o ConnectTimeout=10",
            self.key().display(),
            self.dir.path().display()
        )
    }

    /// `ninefold ARGS` with the ssh environment set.
    fn ninefold(&self, args: &[&str]) -> Output {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("NINEFOLD_SSH_OPTS", self.opts())
            .env("NINEFOLD_REMOTE", BIN);
        run_bounded(c, 60)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ssh_addresses_reach_exportfs_on_the_far_side() {
    let Some(sshd) = Sshd::start() else { return };
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("hello"), "over ssh\n").unwrap();
    std::fs::create_dir(data.path().join("sub")).unwrap();
    let dpath = data.path().to_str().unwrap();
    let explicit = format!("ssh!root@127.0.0.1!{}", sshd.port);
    let with_options = format!("ssh!root@127.0.0.1!{}!-o Compression=no", sshd.port);

    let out = sshd.ninefold(&["9p", "-a", &explicit, "-A", dpath, "ls"]);
    assert!(out.status.success(), "{out:?}\nsshd log:\n{}", sshd.log());
    assert_eq!(text(&out), "hello\nsub\n");

    let out = sshd.ninefold(&["9p", "-a", &with_options, "-A", dpath, "read", "hello"]);
    assert!(out.status.success(), "{out:?}\nsshd log:\n{}", sshd.log());
    assert_eq!(text(&out), "over ssh\n");

    // A bare user@host, the port among the environment's options; the far side's /net.
    let mut c = Command::new(BIN);
    c.args(["9p", "-a", "root@127.0.0.1", "-A", "/net", "ls"])
        .env(
            "NINEFOLD_SSH_OPTS",
            format!("{} -p {}", sshd.opts(), sshd.port),
        )
        .env("NINEFOLD_REMOTE", BIN);
    let out = run_bounded(c, 60);
    assert!(out.status.success(), "{out:?}\nsshd log:\n{}", sshd.log());
    assert!(text(&out).lines().any(|l| l == "tcp"), "{out:?}");

    // A far side without ninefold: an error, not a hang.
    let mut c = Command::new(BIN);
    c.args(["9p", "-a", &explicit, "ls"])
        .env("NINEFOLD_SSH_OPTS", sshd.opts())
        .env("NINEFOLD_REMOTE", "/nonexistent/ninefold");
    let out = run_bounded(c, 60);
    assert!(!out.status.success(), "{out:?}");
}

/// Runs `script` with bash in a new session with the ssh environment; killed after 90 s.
fn session(sshd: &Sshd, script: &str, dir: &Path, remote: &str) -> Output {
    let mut c = Command::new(BIN);
    c.args(["newns", "--", "bash", "-euc", script])
        .env("NF", BIN)
        .env("T", dir)
        .env("PORT", sshd.port.to_string())
        .env("KEY", sshd.key())
        .env("NINEFOLD_SSH_OPTS", sshd.opts())
        .env("NINEFOLD_REMOTE", remote)
        .current_dir(dir);
    run_bounded(c, 90)
}

#[test]
fn import_in_a_session() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let probe = session(&sshd, "true", dir.path(), BIN);
    if !probe.status.success() {
        skip(&format!(
            "ninefold newns cannot run here: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
        return;
    }
    std::fs::create_dir(dir.path().join("remote")).unwrap();
    std::fs::write(dir.path().join("remote/hello"), "imported\n").unwrap();
    // /net.alt: the far side's network. /n/r: a directory of the far side, with -c so files
    // created there land on it. `ns` shows both as mount lines that a nested session (which
    // starts from a replay of them) reads back.
    let script = r#"
$NF import -p $PORT root@127.0.0.1 /net /net.alt
n=$(cat /net.alt/tcp/clone)
[ "$n" -ge 0 ] && echo clone ok
ls /net.alt | grep -qx udp
mkdir /n/r
$NF import -c -p $PORT -i $KEY -o Compression=no root@127.0.0.1 $T/remote /n/r
cat /n/r/hello
echo written > /n/r/new
$NF ns | grep -F "$PORT"
$NF newns -- bash -euc 'n=$(cat /net.alt/tcp/clone); [ "$n" -ge 0 ] && cat /n/r/hello'
$NF unmount /n/r
ls /n/r | wc -l
"#;
    let out = session(&sshd, script, dir.path(), BIN);
    assert!(
        out.status.success(),
        "script failed ({}):\nstdout:\n{}\nstderr:\n{}\nsshd log:\n{}",
        out.status,
        text(&out),
        String::from_utf8_lossy(&out.stderr),
        sshd.log()
    );
    let key = sshd.key();
    let expected = format!(
        "clone ok\nimported\n\
         mount  ssh!root@127.0.0.1!{port} /net.alt /net\n\
         mount -c 'ssh!root@127.0.0.1!{port}!-i {key} -o Compression=no' /n/r {remote}\n\
         imported\n0\n",
        port = sshd.port,
        key = key.display(),
        remote = dir.path().join("remote").display(),
    );
    assert_eq!(text(&out), expected);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("remote/new")).unwrap(),
        "written\n"
    );

    // A far side without ninefold: import fails, saying ssh ended, and the session goes on.
    let script = r#"
if $NF import -p $PORT root@127.0.0.1 /net /net.alt 2>$T/err; then echo imported; fi
grep -c 'ssh exited with status 127' $T/err
ls /net.alt | wc -l
n=$(cat /net/tcp/clone)
[ "$n" -ge 0 ] && echo local net ok
"#;
    let out = session(&sshd, script, dir.path(), "/nonexistent/ninefold");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out), "1\n0\nlocal net ok\n", "{out:?}");
}
