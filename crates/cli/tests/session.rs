//! `ninefold newns` and the session commands, driven by bash and coreutils as a user would
//! (the scenarios of the Linux-sessions issue). They need user namespaces and FUSE: without
//! them each test says why and skips, unless NINEFOLD_REQUIRE_PRIVILEGED=1 (CI), where a
//! skip is a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::BIN;

/// Runs `script` with bash in a new session; killed after 60 s.
fn session(script: &str, dir: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["newns", "--", "bash", "-euc", script])
        .env("NF", BIN)
        .env("T", dir)
        .current_dir(dir);
    common::run_bounded(cmd, b"", Duration::from_secs(60))
}

/// Whether sessions can run here; if not, why (and a failure when they are required).
fn can_run() -> bool {
    let dir = tempfile::tempdir().unwrap();
    let out = session("true", dir.path());
    if out.status.success() {
        return true;
    }
    let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if std::env::var("NINEFOLD_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("sessions are required here (NINEFOLD_REQUIRE_PRIVILEGED=1) but fail: {why}");
    }
    eprintln!("skipped: ninefold newns cannot run here: {why}");
    false
}

/// The script's stdout; the script must succeed.
fn ok(script: &str, dir: &Path) -> String {
    let out = session(script, dir);
    assert!(
        out.status.success(),
        "script failed ({}):\n{script}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A loopback echo server for `n` connections.
fn echo_server(n: usize) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(n) {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                let mut buf = [0u8; 4096];
                while let Ok(k) = s.read(&mut buf) {
                    if k == 0 || s.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn seed_002_the_network_through_files() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = echo_server(4);
    let script = format!(
        r#"
n=$(cat /net/tcp/clone)
[ "$n" -ge 0 ]
{{ echo "connect 127.0.0.1!{port}"; sleep 5; }} > /net/tcp/clone &
for i in $(seq 100); do
    c=$(grep -l '!{port}$' /net/tcp/*/remote 2>/dev/null | head -n 1 || true)
    [ -n "$c" ] && break
    sleep 0.1
done
d=$(dirname "$c")
echo hoge > $d/data
head -c 5 $d/data
cat $d/local $d/remote $d/status
kill %1 2>/dev/null || true
"#
    );
    let out = ok(&script, dir.path());
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("hoge"), "{out}");
    assert!(lines.next().unwrap().starts_with("127.0.0.1!"), "{out}");
    assert_eq!(
        lines.next(),
        Some(format!("127.0.0.1!{port}").as_str()),
        "{out}"
    );
    assert!(lines.next().unwrap().starts_with("Established"), "{out}");
}

#[test]
fn seed_001_union_bin_and_a_private_replace() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("v92/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("hello9"), "#!/bin/sh\necho v92 says hello\n").unwrap();
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(bin.join("hello9"))
        .status()
        .unwrap();
    std::fs::create_dir_all(dir.path().join("other")).unwrap();
    std::fs::write(dir.path().join("other/marker"), "replaced").unwrap();
    let script = r#"
$NF bind -a $T/v92/bin /bin
ls /bin | grep -qx hello9
ls /bin | grep -qx ls
hello9
$NF unmount /bin
! ls /bin | grep -qx hello9
$NF bind $T/other /mnt
cat /mnt/marker; echo
$NF ns
"#;
    let out = ok(script, dir.path());
    assert!(out.starts_with("v92 says hello\nreplaced\n"), "{out}");
    assert!(
        out.contains(&format!("bind  {}/other /mnt\n", dir.path().display())),
        "{out}"
    );
    // The host never saw it.
    assert!(!Path::new("/mnt/marker").exists());
}

/// `ninefold exportfs` of `dir` on loopback TCP; its address.
fn tcp_server(dir: &Path) -> (Guard, String) {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args(["exportfs", "--listen", "tcp!127.0.0.1!0", "--no-auth", "-r"])
        .arg(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.rsplit_once(" on ").unwrap().1.trim().to_string();
    (Guard(child), addr)
}

#[test]
fn mounts_of_9p_servers_by_tcp_and_command() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("a.txt"), "alpha\n").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(data.join("big"), &big).unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("b.txt"), "beta\n").unwrap();
    let (_server, addr) = tcp_server(&other);
    // As in Plan 9, files are created in a mount only when it was made with -c.
    let script = format!(
        r#"
mkdir /n/x /n/y
$NF mount {addr} /n/x
cat /n/x/b.txt
if cp /n/x/b.txt /n/x/copy 2>/dev/null; then echo created; else echo refused; fi
$NF unmount /n/x
$NF mount -c {addr} /n/x
cp /n/x/b.txt /n/x/copy
$NF mount -c "{{$NF exportfs -r $T/data --stdio}}" /n/y
ls /n/y | sort | tr '\n' ' '; echo
cat /n/y/a.txt
cmp /n/y/big $T/data/big
cp /n/y/big /n/y/big2
cmp /n/y/big2 $T/data/big
mv /n/y/big2 /n/y/big3
mkdir /n/y/sub
echo made > /n/y/sub/f
rm /n/y/big3
ls /n/y | sort | tr '\n' ' '; echo
cat $T/data/sub/f
"#
    );
    let out = ok(&script, dir.path());
    assert_eq!(
        out, "beta\nrefused\na.txt big \nalpha\na.txt big sub \nmade\n",
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(other.join("copy")).unwrap(),
        "beta\n"
    );
}

#[test]
fn union_create_goes_to_the_create_member() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("u")).unwrap();
    let script = r#"
mkdir /n/u
$NF bind -ac $T/u /n/u
touch /n/u/new
echo content > /n/u/other
"#;
    ok(script, dir.path());
    assert!(dir.path().join("u/new").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("u/other")).unwrap(),
        "content\n"
    );
}

#[test]
fn a_session_is_private() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("seen")).unwrap();
    std::fs::write(dir.path().join("seen/only-in-a"), "").unwrap();
    std::fs::create_dir(dir.path().join("target")).unwrap();
    // Session A binds and holds; session B, started beside it, must not see the bind.
    let a = Command::new(BIN)
        .args([
            "newns",
            "--",
            "bash",
            "-c",
            "$NF bind $T/seen $T/target && touch $T/ready && sleep 5",
        ])
        .env("NF", BIN)
        .env("T", dir.path())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut a = scopeguard(a);
    for _ in 0..200 {
        if dir.path().join("ready").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(dir.path().join("ready").exists(), "session A did not bind");
    let out = ok("ls $T/target | wc -l", dir.path());
    assert_eq!(out.trim(), "0", "session B saw A's bind");
    assert_eq!(
        std::fs::read_dir(dir.path().join("target"))
            .unwrap()
            .count(),
        0,
        "the host saw it"
    );
    let _ = a.0.kill();
}

struct Guard(std::process::Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
fn scopeguard(c: std::process::Child) -> Guard {
    Guard(c)
}

#[test]
fn a_dead_server_fails_promptly_and_unmounts() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::write(dir.path().join("d/f"), "x").unwrap();
    let script = r#"
mkdir /n/z
$NF mount "{timeout 2 $NF exportfs -r $T/d --stdio}" /n/z
cat /n/z/f; echo
sleep 3
if timeout 10 cat /n/z/f 2>/dev/null; then echo still-there; else echo failed; fi
$NF unmount /n/z
ls /n/z | wc -l
"#;
    let out = ok(script, dir.path());
    assert_eq!(out, "x\nfailed\n0\n", "{out}");
}

#[test]
fn commands_outside_a_session_say_so() {
    let out = Command::new(BIN)
        .args(["bind", "/a", "/b"])
        .env_remove("NINEFOLD_NS")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ninefold: not in a ninefold session: start one with `ninefold newns`\n"
    );
}

#[test]
fn a_nested_session_starts_from_a_copy() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (d, f) in [("a", "in-a"), ("b", "in-b"), ("c", "in-c")] {
        std::fs::create_dir(dir.path().join(d)).unwrap();
        std::fs::write(dir.path().join(d).join(f), "").unwrap();
    }
    // The inner session sees the outer's bind, makes its own, and does not see a change
    // the outer makes after it started.
    let script = r#"
$NF bind $T/a /mnt
$NF newns -- bash -euc '
    ls /mnt
    $NF bind $T/b /mnt
    ls /mnt
    touch $T/inner-ready
    for i in $(seq 200); do [ -e $T/outer-done ] && break; sleep 0.05; done
    ls /srv | wc -l
' &
for i in $(seq 200); do [ -e $T/inner-ready ] && break; sleep 0.05; done
$NF bind $T/c /srv
touch $T/outer-done
wait
ls /mnt
ls /srv
"#;
    let out = ok(script, dir.path());
    assert_eq!(out, "in-a\nin-b\n0\nin-a\nin-c\n", "{out}");
}

/// A shell blocked writing `waitstop` while one of its jobs ends (a SIGCHLD it catches) keeps
/// waiting, as a Linux file's write would; a Ctrl-C-like SIGINT it catches still interrupts.
#[test]
fn a_caught_sigchld_does_not_interrupt_a_blocked_write() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
sleep 30 & sp=$!
trap 'kill -KILL $sp' EXIT
for i in $(seq 100); do [ "$(cat /proc/$sp/comm)" = sleep ] && break; sleep 0.02; done
( sleep 0.3 ) &
( sleep 1.2; kill -STOP $sp ) &
start=$(date +%s%N)
echo waitstop > /prog/$sp/ctl
end=$(date +%s%N)
echo "waited $(( (end - start) / 1000000 )) ms"
grep -q '^State:.*stopped' /proc/$sp/status && echo stopped
"#;
    let out = ok(script, dir.path());
    assert!(out.contains("stopped"), "{out}");
    let ms: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("waited ")?.strip_suffix(" ms")?.parse().ok())
        .unwrap();
    assert!(
        ms >= 900,
        "the write returned after {ms} ms, before the process stopped"
    );
}

/// A mount whose server is slow to answer (an ssh login, say) holds up no other request of
/// the session.
#[test]
fn a_slow_mount_does_not_hold_up_the_session() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::write(dir.path().join("d/f"), "slow\n").unwrap();
    let script = r#"
mkdir /n/slow
$NF mount "{sleep 2; exec $NF exportfs -r $T/d --stdio}" /n/slow &
sleep 0.3
start=$(date +%s%N)
$NF bind $T/d /mnt
$NF ns >/dev/null
end=$(date +%s%N)
echo "bind and ns took $(( (end - start) / 1000000 )) ms"
wait
cat /n/slow/f
"#;
    let out = ok(script, dir.path());
    assert!(out.ends_with("slow\n"), "{out}");
    let ms: u64 = out
        .lines()
        .find_map(|l| {
            l.strip_prefix("bind and ns took ")?
                .strip_suffix(" ms")?
                .parse()
                .ok()
        })
        .unwrap();
    assert!(ms < 1500, "bind and ns waited for the mount: {ms} ms");
}

/// The Plan 9 mount points are there, /mnt/term included beside the host's /mnt, and can
/// be bound on.
#[test]
fn plan9_mount_points_include_mnt_term() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("t")).unwrap();
    std::fs::write(dir.path().join("t/hello"), "from the terminal\n").unwrap();
    let script = r#"
for d in /net /net.alt /srv /n /mnt /mnt/term /prog; do [ -d $d ] || echo "missing $d"; done
$NF bind $T/t /mnt/term
cat /mnt/term/hello
"#;
    let out = ok(script, dir.path());
    assert_eq!(out, "from the terminal\n");
    // The host's /mnt keeps its entries in the session.
    let host: Vec<String> = std::fs::read_dir("/mnt")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let listed = ok("ls -A /mnt", dir.path());
    for name in host {
        assert!(
            listed.lines().any(|l| l == name),
            "{name} missing from {listed}"
        );
    }
}

/// `newns -- ARGS` with its own runtime directory `runtime` (XDG_RUNTIME_DIR).
fn newns_in(runtime: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("newns")
        .arg("--")
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime)
        .current_dir(dir);
    cmd
}

/// What is in the sessions' directory of `runtime`, sorted.
fn left_in(runtime: &Path) -> Vec<String> {
    let mut left: Vec<String> = std::fs::read_dir(runtime.join("ninefold"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    left
}

/// A session leaves nothing behind in its runtime directory: not its control socket, not
/// the directory its mount points were made in (each session used to leave one).
#[test]
fn a_session_leaves_its_runtime_directory_empty() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("run");
    std::fs::create_dir(&runtime).unwrap();
    let script = "ls $XDG_RUNTIME_DIR/ninefold";
    let cmd = newns_in(&runtime, dir.path(), &["bash", "-euc", script]);
    let out = common::run_bounded(cmd, b"", Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    let during = String::from_utf8(out.stdout).unwrap();
    assert!(during.contains("root."), "{during}");
    let left = left_in(&runtime);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The mount points a session starts with share one FUSE connection (one device), and
/// unmounting one of them leaves the others working.
#[test]
fn the_first_mount_points_share_one_fuse_connection() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
stat -c %d /net /srv /prog /mnt | sort -u | wc -l
$NF unmount /net
ls /net | wc -l
ls /srv >/dev/null && echo srv still there
cat /prog/$$/status >/dev/null && echo prog still there
"#;
    let out = ok(script, dir.path());
    assert_eq!(out, "1\n0\nsrv still there\nprog still there\n");
}

/// A bind beneath a FUSE-projected directory needs no earlier look at the place: the
/// session looks it up through its own FUSE mount (which refuses the session's runtime
/// threads; this failed with "resource deadlock would occur"). An unmount there shows the
/// place as it was at once.
#[test]
fn binds_beneath_fuse_directories_need_no_earlier_lookup() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("t")).unwrap();
    std::fs::write(dir.path().join("t/hello"), "hi\n").unwrap();
    let script = r#"
$NF bind $T/t /net/tcp
cat /net/tcp/hello
$NF unmount /net/tcp
ls /net/tcp | grep -c clone
$NF bind -a '#|' /mnt/term
ls /mnt/term
$NF unmount /mnt/term
ls /mnt/term | wc -l
"#;
    let out = ok(script, dir.path());
    // Once unmounted, the place shows at once what it had before (not, for the kernel's
    // entry timeout, what the mount had hidden).
    assert_eq!(out, "hi\n1\ndata\ndata1\n0\n");
}

/// A SIGTERM to the session goes to its command, and the session then ends as usual,
/// leaving nothing behind.
#[test]
fn sigterm_ends_the_session_through_its_command() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("run");
    std::fs::create_dir(&runtime).unwrap();
    let script = "echo started >&2; sleep 30";
    let mut s = common::Bg::start(newns_in(&runtime, dir.path(), &["bash", "-c", script]));
    s.wait_for("started", Duration::from_secs(20));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the session outlived SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(128 + 15), "{status:?}");
    let left = left_in(&runtime);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// What killed sessions left in the runtime directory is swept by the next one: a socket
/// nobody listens on with its directory, and an old directory without a socket. A young
/// directory without a socket (a session starting) is left alone.
#[test]
fn a_new_session_sweeps_what_killed_ones_left() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("run");
    let own = runtime.join("ninefold");
    std::fs::create_dir_all(&own).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A dead session: its socket (no longer listened on) and its old-style directory.
    drop(std::os::unix::net::UnixListener::bind(own.join("ns.999999999")).unwrap());
    std::fs::create_dir_all(own.join("root.999999999/net")).unwrap();
    // One killed before it made its socket, two minutes ago.
    std::fs::create_dir(own.join("root.888888888")).unwrap();
    let two_minutes_ago = std::time::SystemTime::now() - Duration::from_secs(120);
    std::fs::File::open(own.join("root.888888888"))
        .unwrap()
        .set_modified(two_minutes_ago)
        .unwrap();
    // One starting now.
    std::fs::create_dir(own.join("root.777777777")).unwrap();
    let cmd = newns_in(&runtime, dir.path(), &["true"]);
    let out = common::run_bounded(cmd, b"", Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(left_in(&runtime), ["root.777777777"]);
}
