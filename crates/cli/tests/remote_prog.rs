//! Another machine's processes in a session: its /prog (the `#p` of its standard name space)
//! served by `ninefold exportfs` on a unix socket or as a `{command}`, imported or mounted
//! in a session, listed by `ninefold ps -p` and signalled with `echo … > ctl` through FUSE;
//! and its Linux /proc (`exportfs -r /proc -R`) mounted over /proc, for procps's `ps`.
//! The far side is an exporter on this machine (another user's, or in a pid namespace of
//! its own), so the tests can see what happened to its processes.
//!
//! Sessions need user namespaces and FUSE: without them each test says why and skips,
//! unless NINEFOLD_REQUIRE_PRIVILEGED=1 (CI), where a skip is a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::BufRead;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::BIN;

/// How long any one wait may take.
const LIMIT: Duration = Duration::from_secs(20);

/// The uid and gid of `nobody`, whom a root test runs the far side as.
const NOBODY: u32 = 65534;

/// Runs `script` with bash in a new session, with `vars` in its environment; killed after
/// 60 s.
fn session(script: &str, vars: &[(&str, String)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["newns", "--", "bash", "-euc", script])
        .env("NF", BIN)
        .current_dir(dir.path());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    common::run_bounded(cmd, b"", Duration::from_secs(60))
}

/// Whether sessions can run here; if not, why (and a failure when they are required).
fn can_run() -> bool {
    let out = session("true", &[]);
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
fn ok(script: &str, vars: &[(&str, String)]) -> String {
    let out = session(script, vars);
    assert!(
        out.status.success(),
        "script failed ({}):\n{script}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A child process, killed and reaped when dropped.
struct Kid(Child);

impl Kid {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Waits (bounded) for it to exit.
    fn exits(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.pid());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `argv`, run as the far side's user: nobody when the tests run as root, else ourselves.
fn far_side(argv: &[&str]) -> Command {
    if root() {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ])
        .args(argv)
        .env("USER", "nobody");
        c
    } else {
        let mut c = Command::new(argv[0]);
        c.args(&argv[1..]);
        c
    }
}

/// A `sleep 60` started with `cmd`, once it is sleep (a signal sent before its exec would
/// reach what runs it instead).
fn sleeper(mut cmd: Command) -> Kid {
    let kid = Kid(cmd.stdin(Stdio::null()).spawn().unwrap());
    let comm = format!("/proc/{}/comm", kid.pid());
    let deadline = Instant::now() + LIMIT;
    while std::fs::read_to_string(&comm).ok().as_deref() != Some("sleep\n") {
        assert!(Instant::now() < deadline, "sleep did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    kid
}

/// The far side's processes: a sleep of its user.
fn far_sleeper() -> Kid {
    sleeper(far_side(&["sleep", "60"]))
}

/// A process of a user other than the far side's, if there is one: our own sleep when we
/// are root (the far side is nobody), else any process of another user.
fn someone_elses() -> Option<(u32, Option<Kid>)> {
    if root() {
        let mut c = Command::new("sleep");
        c.arg("60");
        let k = sleeper(c);
        return Some((k.pid(), Some(k)));
    }
    let me = nix::unistd::getuid().as_raw();
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter()
        .find(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|u| u.split_whitespace().next()?.parse::<u32>().ok())
                .is_some_and(|uid| uid != me)
        })
        .map(|pid| (pid, None))
}

/// `ninefold exportfs` of the standard name space (/prog included) on a unix socket in
/// `dir`, run as the far side's user; its address.
fn exporter(dir: &Path) -> (Kid, String) {
    // The far side must be able to make its socket there, and the session (root in its
    // own user namespace, which does not map nobody) to connect to it.
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let addr = format!("unix!{}", dir.join("far.sock").display());
    let exportfs = "umask 0; exec \"$@\"";
    let mut cmd = far_side(&[
        "sh", "-c", exportfs, "sh", BIN, "exportfs", "--listen", &addr,
    ]);
    let mut child = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("serving"), "exportfs did not start: {line}");
    (Kid(child), addr)
}

/// The exporter's /prog, imported at /n/h/prog: `ninefold ps -p` lists its processes,
/// and `echo` to their ctl files stops, starts and kills them there. A process of another
/// user is refused, by the far side, with the owner named (in full over 9P; as EACCES,
/// all an errno can say, through FUSE).
#[test]
fn a_far_prog_over_a_unix_socket() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_exporter, addr) = exporter(dir.path());
    let mut victim = far_sleeper();
    let mut other = someone_elses();
    let other_pid = other.as_ref().map_or(0, |o| o.0);
    let far_user = if root() {
        "nobody".to_string()
    } else {
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .unwrap()
            .name
    };
    let script = r#"
        # A mount point must exist, and the error says which operation wanted it.
        $NF import "$ADDR" /prog /n/h/prog 2>&1 || true
        mkdir -p /n/h/prog
        $NF import "$ADDR" /prog /n/h/prog
        $NF ps -p /n/h/prog | awk -v p=$V '$2 == p { print "ps:", $1, $6, $7 }'
        $NF ps -a -p /n/h/prog | awk -v p=$V '$2 == p { print "args:", $7, $8 }'
        echo stop > /n/h/prog/$V/ctl
        echo waitstop > /n/h/prog/$V/ctl
        echo "stopped: $(cut -d' ' -f3 /proc/$V/stat) $(awk '{print $3}' /n/h/prog/$V/status)"
        echo start > /n/h/prog/$V/ctl
        for i in $(seq 500); do [ "$(cut -d' ' -f3 /proc/$V/stat)" != T ] && break; sleep 0.01; done
        echo "started: $(awk '{print $3}' /n/h/prog/$V/status)"
        if [ "$O" != 0 ]; then
            if { echo kill > /n/h/prog/$O/ctl; } 2> err; then echo "other: killed"; else
                echo "other: $(sed 's/.*: //' err)"; fi
            if $NF slay --now -p /n/h/prog $O 2> err; then echo "slay: killed"; else
                echo "slay: $(cat err)"; fi
        fi
        echo kill > /n/h/prog/$V/ctl
    "#;
    let out = ok(
        script,
        &[
            ("ADDR", addr.clone()),
            ("V", victim.pid().to_string()),
            ("O", other_pid.to_string()),
        ],
    );
    let mut want = format!(
        "ninefold: import {addr} /prog /n/h/prog: file does not exist\n\
         ps: {far_user} Wakeme sleep\nargs: sleep 60\nstopped: T Stopped\nstarted: Wakeme\n"
    );
    if other.is_some() {
        want.push_str(&format!(
            "other: Permission denied\nslay: ninefold slay: /n/h/prog/{other_pid}/ctl: Permission denied (os error 13)\n"
        ));
    } else {
        eprintln!("no process of another user here: the refusal is not tried");
    }
    assert_eq!(out, want);
    assert_eq!(victim.exits().signal(), Some(9));
    let Some((pid, kid)) = &mut other else { return };
    if let Some(k) = kid {
        assert!(k.running(), "another user's process was signalled");
    }
    // Over 9P the far side's refusal comes whole.
    let o = common::ninefold_bounded(
        &["9p", "-a", &addr, "write", &format!("/prog/{pid}/ctl")],
        b"stop\n",
        LIMIT,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let owner = if root() { "root" } else { "" };
    assert!(
        err.contains(&format!(
            "permission denied: process {pid} belongs to {owner}"
        )),
        "{err}"
    );
}

/// A far side started as a `{command}`, its /prog mounted over this session's /prog:
/// `ninefold ps` (which reads /prog) lists its processes and `echo kill` kills one.
#[test]
fn a_far_prog_from_a_command_over_prog() {
    if !can_run() {
        return;
    }
    let mut c = Command::new("sleep");
    c.arg("60");
    let mut victim = sleeper(c);
    let script = r#"
        $NF mount "{$NF exportfs --stdio}" /prog /prog
        $NF ns | grep -F "exportfs --stdio}' /prog /prog"
        $NF ps | awk -v p=$V '$2 == p { print "ps:", $6, $7 }'
        echo interrupt > /prog/$V/note
    "#;
    let out = ok(script, &[("V", victim.pid().to_string())]);
    assert_eq!(
        out,
        format!("mount  '{{{BIN} exportfs --stdio}}' /prog /prog\nps: Wakeme sleep\n")
    );
    assert_eq!(victim.exits().signal(), Some(2));
}

/// `ninefold exportfs -r /proc -R` as a `{command}` mounted over /proc: procps's `ps`
/// lists through it, and what it reads is the export's — `/proc/self` there is the
/// exporter, not the reader.
#[test]
fn procps_through_an_exported_proc() {
    if !can_run() {
        return;
    }
    let mut c = Command::new("sleep");
    c.arg("7777");
    let victim = sleeper(c);
    let script = r#"
        echo "before: $(cat /proc/self/comm)"
        $NF mount "{$NF exportfs -r /proc -R --stdio}" /proc
        # The type of what is mounted last on /proc: the field after the "-".
        mounted=$(awk '$5 == "/proc" { for (i = 7; $i != "-"; i++); t = $(i + 1) }
            END { print t }' /proc/$$/mountinfo)
        echo "mounted: $mounted"
        echo "self: $(cat /proc/self/comm)"
        ps -e -o pid=,args= | awk -v p=$V '$1 == p { $1 = ""; print "ps -e:" $0 }'
        ps -ef | awk -v p=$V '$2 == p { print "ps -ef:", $8, $9 }'
    "#;
    let out = ok(script, &[("V", victim.pid().to_string())]);
    assert_eq!(
        out,
        "before: cat\nmounted: fuse.ninefold\nself: ninefold\nps -e: sleep 7777\nps -ef: sleep 7777\n"
    );
}

/// Runs `unshare ARGS…` (as root; otherwise in a user namespace of its own as well).
fn unshare(args: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    if !root() {
        c.arg("-r");
    }
    c.args(args);
    c
}

/// An exporter of /proc in a pid namespace of its own (its pid 1), with a `sleep 7777`
/// beside it (pid 2), on a unix socket in `dir`; None (and why) if pid namespaces cannot
/// be made here.
fn proc_in_a_pid_namespace(dir: &Path) -> Option<(Kid, String)> {
    let addr = format!("unix!{}", dir.join("proc.sock").display());
    let script = r#"sleep 7777 & exec "$0" exportfs -r /proc -R --listen "$1""#;
    // --kill-child: when unshare is killed, so is the namespace's first process, and with
    // it every other.
    let args = [
        "-p",
        "-f",
        "--kill-child",
        "--mount-proc",
        "sh",
        "-c",
        script,
        BIN,
    ];
    let mut child = unshare(&args)
        .arg(&addr)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let kid = Kid(child);
    if !line.contains("serving") {
        let why = format!("cannot export /proc from a pid namespace of its own: {line}");
        if std::env::var("NINEFOLD_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
            panic!("{why}");
        }
        eprintln!("skipped: {why}");
        return None;
    }
    Some((kid, addr))
}

/// Another machine's /proc, as far as processes go: one from a pid namespace of its own,
/// mounted over /proc. procps's `ps` lists its processes and nothing else (it finds
/// itself, which the far side does not have, in this machine's /proc); the session's
/// own `#p` (`ninefold ps`) still lists this machine's, and the session still waits for
/// its last job.
#[test]
fn procps_lists_another_pid_namespace() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some((_exporter, addr)) = proc_in_a_pid_namespace(dir.path()) else {
        return;
    };
    let done = dir.path().join("done");
    let script = r##"
        $NF mount "$ADDR" /proc
        ps -e -o pid=,args=
        ps -ef | awk '$2 == 2 { print "ps -ef:", $1, $3, $8, $9 }'
        $NF ps | awk -v p=$$ '$2 == p { print "#p:", $7 }'
        (sleep 1; touch "$DONE") &
    "##;
    let out = ok(
        script,
        &[("ADDR", addr.clone()), ("DONE", done.display().to_string())],
    );
    let far = format!("{BIN} exportfs -r /proc -R --listen {addr}");
    let want = format!(
        "{:>7} {far}\n{:>7} sleep 7777\nps -ef: root 1 sleep 7777\n#p: bash\n",
        1, 2
    );
    assert_eq!(out, want);
    assert!(done.exists(), "the session ended before its last job");
}
