//! `ninefold ps`, `kill` and `slay` as a user runs them: over this machine's processes
//! (the in-process `#p`, as /prog does not exist outside a session) and over a process
//! directory given with -p. Every wait is bounded; children are killed when dropped.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::BIN;

const LIMIT: Duration = Duration::from_secs(30);

/// Runs ninefold (bounded: killed after [`LIMIT`]) with no input.
fn ninefold(args: &[&str]) -> Output {
    ninefold_with(args, b"")
}

/// Runs ninefold (bounded: killed after [`LIMIT`]) with `stdin` as its input.
fn ninefold_with(args: &[&str], stdin: &[u8]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    common::run_bounded(c, stdin, LIMIT)
}

fn wait(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            // Say what was still running, and where it waited, before giving up.
            let ps = Command::new("ps")
                .args(["-eo", "pid,ppid,stat,wchan:24,args"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out; processes:\n{ps}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A `sleep 60`, killed and reaped when dropped.
struct Sleeper(Child);

impl Sleeper {
    fn start() -> Sleeper {
        Sleeper(
            Command::new("sleep")
                .arg("60")
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn exits(&mut self) -> ExitStatus {
        wait(&mut self.0)
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn me() -> String {
    let uid = nix::unistd::geteuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// A status file as `#p` writes it.
fn status(name: &str, user: &str, state: &str, times: [u64; 2], kib: u64) -> String {
    let mut s = format!("{name:<27} {user:<27} {state:<11} ");
    for n in [times[0], times[1], 5000, 0, 0, 0, kib, 10, 10] {
        s.push_str(&format!("{n:>11} "));
    }
    s
}

/// A process directory in a temporary directory: pid → (status, args).
fn fake_prog(dir: &Path, procs: &[(u32, String, &str)]) {
    for (pid, st, args) in procs {
        let d = dir.join(pid.to_string());
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("status"), st).unwrap();
        std::fs::write(d.join("args"), args).unwrap();
        std::fs::write(d.join("note"), "").unwrap();
        std::fs::write(d.join("ctl"), "").unwrap();
    }
}

/// The columns of a ps line: user, pid, user time, system time, size, state, name.
fn columns(line: &str) -> Vec<String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let mut out: Vec<String> = f[..6].iter().map(|s| s.to_string()).collect();
    out.push(f[6..].join(" "));
    out
}

#[test]
fn ps_of_a_process_directory() {
    let dir = tempfile::tempdir().unwrap();
    let user = me();
    fake_prog(
        dir.path(),
        &[
            (
                7,
                status("rc", &user, "Wakeme", [61_500, 2_000], 1234),
                "rc -l",
            ),
            (
                1200,
                status("sleep", "other", "Stopped", [0, 0], 88),
                "sleep 'a b'",
            ),
            // Not a process: too few fields, or not a pid.
            (99, "broken".into(), ""),
        ],
    );
    std::fs::create_dir(dir.path().join("trace")).unwrap();
    let p = dir.path().to_str().unwrap();
    let out = stdout(&ninefold(&["ps", "-p", p]));
    let want = format!(
        "{user:<10}        7    1:01   0:02    1234K Wakeme   rc\n\
         other          1200    0:00   0:00      88K Stopped  sleep\n"
    );
    assert_eq!(out, want);
    let out = stdout(&ninefold(&["ps", "-a", "-p", p]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with(" Wakeme   rc -l"), "{out}");
    assert!(lines[1].ends_with(" Stopped  sleep 'a b'"), "{out}");

    // kill and slay print commands for your processes of that name, and any pid.
    let out = stdout(&ninefold(&["kill", "-p", p, "rc", "1200"]));
    assert_eq!(
        out,
        format!(
            "echo kill>{p}/7/note # {user:<10}        7    1:01   0:02    1234K Wakeme   rc\n\
             echo kill>{p}/1200/note # other          1200    0:00   0:00      88K Stopped  sleep\n"
        )
    );
    let out = stdout(&ninefold(&["slay", "-p", p, "rc"]));
    assert_eq!(
        out,
        format!("echo kill>{p}/7/ctl # {user:<10}        7    1:01   0:02    1234K Wakeme   rc\n")
    );
    // Another user's process is not matched by name.
    let o = ninefold(&["kill", "-p", p, "sleep"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no process sleep"));
    // The printed lines are for sh.
    let sh = Command::new("sh")
        .arg("-c")
        .arg(out.lines().next().unwrap())
        .status()
        .unwrap();
    assert!(sh.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("7/ctl")).unwrap(),
        "kill\n"
    );
    // --now writes the message itself (truncating, as echo's > does).
    std::fs::write(dir.path().join("1200/note"), "something longer").unwrap();
    stdout(&ninefold(&["kill", "--now", "-p", p, "1200"]));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("1200/note")).unwrap(),
        "kill"
    );
}

#[test]
fn ps_and_kill_of_this_machine() {
    assert!(!Path::new("/prog").exists(), "these tests expect no /prog");
    let mut a = Sleeper::start();
    let mut b = Sleeper::start();
    let out = stdout(&ninefold(&["ps"]));
    let line = out
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(&a.pid().to_string()))
        .unwrap_or_else(|| panic!("{} not in\n{out}", a.pid()));
    let c = columns(line);
    assert_eq!(c[0], me());
    assert_eq!(c[2], "0:00");
    assert_eq!(c[3], "0:00");
    assert!(c[4].ends_with('K') && c[4].trim_end_matches('K').parse::<u64>().is_ok());
    assert!(["Wakeme", "Running"].contains(&c[5].as_str()), "{line}");
    assert_eq!(c[6], "sleep");
    // Every line has the layout; pids increase.
    let mut last = 0;
    for l in out.lines() {
        let c = columns(l);
        let pid: u64 = c[1].parse().unwrap();
        assert!(pid > last, "{out}");
        last = pid;
        assert_eq!(c[2].split(':').count(), 2, "{l}");
    }
    let out = stdout(&ninefold(&["ps", "-a"]));
    assert!(
        out.lines().any(
            |l| l.split_whitespace().nth(1) == Some(&a.pid().to_string())
                && l.ends_with(" sleep 60")
        ),
        "{out}"
    );

    // kill prints; nothing happens until sh runs it.
    let out = stdout(&ninefold(&["kill", &a.pid().to_string()]));
    let want = format!("echo kill>/prog/{}/note # ", a.pid());
    assert!(out.starts_with(&want), "{out}");
    assert_eq!(out.lines().count(), 1);
    assert_eq!(columns(&out[want.len()..])[1], a.pid().to_string());
    assert!(a.0.try_wait().unwrap().is_none());
    // --now: a note (SIGTERM), and slay's ctl kill (SIGKILL).
    stdout(&ninefold(&["kill", "--now", &a.pid().to_string()]));
    assert_eq!(a.exits().signal(), Some(15));
    stdout(&ninefold(&["slay", "--now", &b.pid().to_string()]));
    assert_eq!(b.exits().signal(), Some(9));
    // A pid nobody has.
    let o = ninefold(&["kill", "--now", "4194305"]);
    assert_eq!(o.status.code(), Some(1));
}

/// The standard name space has `#p` at /prog: served by exportfs, a 9P client reads a
/// process's status and kills it through its ctl.
#[test]
fn prog_in_the_served_name_space() {
    let mut a = Sleeper::start();
    let server = format!("{{{BIN} exportfs --stdio}}");
    let status = stdout(&ninefold(&[
        "9p",
        "-a",
        &server,
        "read",
        &format!("/prog/{}/status", a.pid()),
    ]));
    assert_eq!(status.len(), 176);
    assert_eq!(status.split_whitespace().next(), Some("sleep"));
    let o = ninefold_with(
        &[
            "9p",
            "-a",
            &server,
            "write",
            "-t",
            &format!("/prog/{}/ctl", a.pid()),
        ],
        b"kill\n",
    );
    stdout(&o);
    assert_eq!(a.exits().signal(), Some(9));
}

/// Runs `script` with bash in a new session (`ninefold newns`), bounded.
fn in_session(script: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new(BIN);
    c.args(["newns", "--", "bash", "-euc", script])
        .env("NF", BIN)
        .current_dir(dir.path());
    common::run_bounded(c, b"", LIMIT)
}

/// Whether sessions can run here (a failure when NINEFOLD_REQUIRE_PRIVILEGED=1 says they
/// must), as the session tests decide.
fn sessions_work() -> bool {
    let out = in_session("true");
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

/// In a session, /prog is `#p` through FUSE: unmodified shell commands send notes and
/// ctl messages with echo, and ps, kill and slay read it. Each victim is the child of a
/// subshell, not of the shell that writes: a parent's write would be interrupted by the
/// SIGCHLD its child's stop or death sends it (FUSE turns that into EINTR).
#[test]
fn prog_in_a_session() {
    let script = r#"
        run() {
            ( sleep 60 & echo $! > "$1.pid"; s=0; wait $! || s=$?; echo $s > "$1.st" ) &
            w=$!
            until [ -s "$1.pid" ]; do sleep 0.01; done
            p=$(cat "$1.pid")
            # Signal sleep, not the shell it is forked from: before its exec that shell
            # catches the signal and the note would be lost.
            until [ "$(cat /proc/$p/comm 2>/dev/null)" = sleep ]; do sleep 0.01; done
        }
        run a
        echo hangup > /prog/$p/note
        wait $w; echo "hangup: $(cat a.st)"
        run b
        echo stop > /prog/$p/ctl
        echo waitstop > /prog/$p/ctl
        echo "stopped: $(cut -d' ' -f3 /proc/$p/stat) $(awk '{print $3}' /prog/$p/status)"
        echo start > /prog/$p/ctl
        echo "args: $(cat /prog/$p/args)"
        $NF ps | awk -v p=$p '$2 == p { print "ps:", $1, $7 }'
        $NF slay $p | sh
        wait $w; echo "slay: $(cat b.st)"
        run c
        $NF kill --now $p
        wait $w; echo "kill: $(cat c.st)"
        echo bogus > /prog/$$/ctl 2>/dev/null || echo "bogus refused"
        $NF bind /tmp /mnt
        grep -x 'bind  /tmp /mnt' /prog/$$/ns
    "#;
    if !sessions_work() {
        return;
    }
    let text = stdout(&in_session(script));
    assert_eq!(
        text,
        format!(
            "hangup: 129\nstopped: T Stopped\nargs: sleep 60\nps: {} sleep\nslay: 137\nkill: 143\nbogus refused\nbind  /tmp /mnt\n",
            me()
        )
    );
}
