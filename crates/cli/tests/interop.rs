//! Interoperability with an independent 9P2000 implementation, aio9p (Python, PyPI
//! `aio9p==0.3.3`): aio9p's client against `ninefold exportfs`, and `ninefold 9p` against an
//! aio9p server. The Python halves live in tests/interop/ at the workspace root.
//!
//! Without python3 or aio9p these tests print a skip line and pass, unless CI is set or
//! NINEFOLD_REQUIRE_INTEROP=1, when they fail.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to come up, and a one-shot `ninefold 9p` to finish.
const DEADLINE: Duration = Duration::from_secs(20);
/// The whole aio9p client script (about fifty round-trip checks).
const SCRIPT_DEADLINE: Duration = Duration::from_secs(90);

const BIN: &str = env!("CARGO_BIN_EXE_ninefold");

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
}

/// True if aio9p can be used. Otherwise fails the test under CI or
/// NINEFOLD_REQUIRE_INTEROP=1, and prints the skip line elsewhere.
fn aio9p_or_skip() -> bool {
    let probe = Command::new("python3")
        .args([
            "-c",
            "import aio9p.dialect.client.Py9P2000, aio9p.example.simple",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let why = match probe {
        Err(e) => format!("cannot run python3: {e}"),
        Ok(child) => {
            let out = wait_output(child, DEADLINE, "python3 -c 'import aio9p'");
            if out.status.success() {
                return true;
            }
            // The last line of a traceback says what went wrong.
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().rev().find(|l| !l.trim().is_empty());
            format!("python3 says: {}", last.unwrap_or("nothing").trim())
        }
    };
    let required = std::env::var_os("CI").is_some()
        || std::env::var("NINEFOLD_REQUIRE_INTEROP").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "aio9p interop tests are required here (CI or NINEFOLD_REQUIRE_INTEROP=1) but aio9p \
         is not importable: {why}. Install it: pip install aio9p==0.3.3"
    );
    println!("skipping: aio9p not installed (pip install aio9p==0.3.3)");
    false
}

/// A child process killed (and reaped) when the guard goes, whatever happened meanwhile.
/// Its stderr is collected for diagnostics.
struct Proc {
    child: Child,
    /// Kept open so that a server started with --exit-on-stdin-eof lives until we go.
    _stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
    what: String,
}

impl Proc {
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Fails if the process has already exited: a server that died explains later failures.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early ({status}); stderr:\n{}",
                self.what,
                self.stderr()
            );
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies `r` line by line into `sink`, sending the first line on `first`.
fn drain_lines<R: Read + Send + 'static>(
    r: R,
    sink: Arc<Mutex<String>>,
    first: Option<mpsc::Sender<String>>,
) {
    thread::spawn(move || {
        let mut first = first;
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = first.take() {
                let _ = tx.send(line.clone());
            }
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
}

/// Starts a server and waits (bounded) for the first line it prints on `ready_on`, which
/// is "stdout" or "stderr". Returns the guard and that line.
fn start_server(mut cmd: Command, what: &str, ready_on: &str) -> (Proc, String) {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().unwrap();
    let stderr_pipe = child.stderr.take().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let stdout_sink = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let (out_tx, err_tx) = if ready_on == "stdout" {
        (Some(tx), None)
    } else {
        (None, Some(tx))
    };
    drain_lines(stdout, stdout_sink, out_tx);
    drain_lines(stderr_pipe, stderr.clone(), err_tx);
    let mut proc = Proc {
        child,
        _stdin: stdin,
        stderr,
        what: what.to_owned(),
    };
    match rx.recv_timeout(DEADLINE) {
        Ok(line) => (proc, line),
        Err(_) => {
            proc.assert_running();
            panic!(
                "{what} printed nothing on {ready_on} within {DEADLINE:?}; stderr:\n{}",
                proc.stderr()
            );
        }
    }
}

/// Waits for `child` with a deadline, collecting its output; kills it and fails on timeout.
fn wait_output(mut child: Child, deadline: Duration, what: &str) -> Output {
    let take = |r: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        if let Some(mut r) = r {
            thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
        } else {
            let _ = tx.send(Vec::new());
        }
        rx
    };
    let out_rx = take(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err_rx = take(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let until = Instant::now() + deadline;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < until => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let err = err_rx
                    .recv_timeout(Duration::from_secs(2))
                    .unwrap_or_default();
                panic!(
                    "{what} did not finish within {deadline:?}; stderr:\n{}",
                    String::from_utf8_lossy(&err)
                );
            }
        }
    };
    // The pipes close when the process exits (unless it left a grandchild holding them).
    let stdout = out_rx.recv_timeout(DEADLINE).unwrap_or_default();
    let stderr = err_rx.recv_timeout(DEADLINE).unwrap_or_default();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Runs `cmd` to completion within `deadline`, feeding it `input`.
fn run(mut cmd: Command, input: &[u8], deadline: Duration, what: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // A writer thread: a child that stops reading must not block us past the deadline.
    thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    wait_output(child, deadline, what)
}

/// `ninefold 9p -a ADDR ARGS...` with `input` on stdin.
fn ninep(addr: &str, args: &[&str], input: &[u8]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["9p", "-a", addr]).args(args);
    run(
        cmd,
        input,
        DEADLINE,
        &format!("ninefold 9p {}", args.join(" ")),
    )
}

/// Like [`ninep`], failing unless it succeeds; returns stdout.
fn ninep_ok(addr: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let out = ninep(addr, args, input);
    assert!(
        out.status.success(),
        "ninefold 9p {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn ninep_text(addr: &str, args: &[&str]) -> String {
    String::from_utf8(ninep_ok(addr, args, b"")).unwrap()
}

fn pattern(n: usize, mul: usize) -> Vec<u8> {
    (0..n).map(|i| (i * mul % 251) as u8).collect()
}

/// A directory with a little of everything for the aio9p client to compare against.
fn make_tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let files: Vec<(PathBuf, Vec<u8>)> = vec![
        ("hello.txt".into(), b"hello, 9P world\n".to_vec()),
        ("big.bin".into(), pattern(100_000, 13)),
        ("empty".into(), Vec::new()),
        ("with space.txt".into(), b"spaces\n".to_vec()),
        ("\u{fc}n\u{ef}code.txt".into(), b"utf-8 name\n".to_vec()),
        ("sub/inner.txt".into(), b"inner\n".to_vec()),
        ("sub/deeper/leaf".into(), b"leaf\n".to_vec()),
    ];
    for (p, data) in &files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    files
}

/// Runs the aio9p client script (with `script_args`) against an exportfs of a fresh tree
/// on `listen` (a function of the temp dir), then checks the tree came out as it went in.
fn aio9p_client_against_exportfs(
    listen: impl Fn(&Path) -> String,
    extra: &[&str],
    script_args: &[&str],
) {
    aio9p_client_against(listen, extra, script_args, |root, _| {
        vec!["-r".into(), root.display().to_string()]
    });
}

/// As [`aio9p_client_against_exportfs`], with `export(root, tmp)` saying what exportfs
/// serves.
fn aio9p_client_against(
    listen: impl Fn(&Path) -> String,
    extra: &[&str],
    script_args: &[&str],
    export: impl Fn(&Path, &Path) -> Vec<String>,
) {
    if !aio9p_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("export");
    let files = make_tree(&root);
    let listen = listen(tmp.path());
    let mut cmd = Command::new(BIN);
    cmd.arg("exportfs")
        .args(export(&root, tmp.path()))
        .args(["--listen", &listen])
        .args(extra);
    let (mut server, line) = start_server(cmd, "ninefold exportfs", "stderr");
    let addr = line
        .rsplit_once(" on ")
        .map(|(_, a)| a.trim().to_owned())
        .unwrap_or_else(|| panic!("unexpected exportfs banner {line:?}"));
    assert!(
        line.starts_with("ninefold exportfs: serving "),
        "banner {line:?}"
    );

    let mut cmd = Command::new("python3");
    cmd.arg(interop_dir().join("aio9p_client.py"))
        .args(["--addr", &addr, "--dir"])
        .arg(&root)
        .args(script_args);
    let out = run(cmd, b"", SCRIPT_DEADLINE, "aio9p_client.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    server.assert_running();
    assert!(
        out.status.success() && stdout.contains("PASS:"),
        "aio9p client against ninefold exportfs on {addr} failed ({}):\n{stdout}\n{}\n\
         exportfs stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    for (p, data) in &files {
        assert_eq!(
            &std::fs::read(root.join(p)).unwrap(),
            data,
            "{}",
            p.display()
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "big.bin",
            "empty",
            "hello.txt",
            "sub",
            "with space.txt",
            "\u{fc}n\u{ef}code.txt"
        ]
    );
}

fn unix_sock(tmp: &Path) -> String {
    format!("unix!{}", tmp.join("ninefold.sock").display())
}

#[test]
fn aio9p_client_against_exportfs_unix() {
    aio9p_client_against_exportfs(unix_sock, &[], &[]);
}

#[test]
fn aio9p_client_against_exportfs_tcp_loopback() {
    aio9p_client_against_exportfs(|_| "tcp!127.0.0.1!0".to_owned(), &["--no-auth"], &[]);
}

/// The same checks through a composed name space: the tree is bound (with -c) on /n of the
/// standard name space, and exportfs serves /n of it.
#[test]
fn aio9p_client_against_an_exported_name_space() {
    aio9p_client_against(unix_sock, &[], &[], |root, tmp| {
        let ns = tmp.join("export.ns");
        std::fs::write(&ns, format!("bind -c '{}' /n\n", root.display())).unwrap();
        vec![
            "--ns".into(),
            ns.display().to_string(),
            "-r".into(),
            "/n".into(),
        ]
    });
}

/// An independent client reads a composed name space: a host directory unioned with a
/// synthetic tree (#c) and the network (#I), exported on a unix socket.
#[test]
fn aio9p_client_reads_a_composed_name_space() {
    if !aio9p_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("host");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("hello"), "from the host").unwrap();
    let ns = tmp.path().join("composed.ns");
    std::fs::write(
        &ns,
        format!(
            "bind '{}' /n\nbind -a '#c' /n\nbind -a '#I' /n\n",
            dir.display()
        ),
    )
    .unwrap();
    let listen = unix_sock(tmp.path());
    let mut cmd = Command::new(BIN);
    cmd.arg("exportfs")
        .arg("--ns")
        .arg(&ns)
        .args(["--listen", &listen]);
    let (mut server, _) = start_server(cmd, "ninefold exportfs", "stderr");
    let mut cmd = Command::new("python3");
    cmd.arg(interop_dir().join("aio9p_client.py"))
        .args(["--addr", &listen, "--list", "/n"])
        .args(["--cat", "hello", "--cat", "tcp/clone", "--cat", "null"]);
    let out = run(cmd, b"", SCRIPT_DEADLINE, "aio9p_client.py --list");
    let stdout = String::from_utf8_lossy(&out.stdout);
    server.assert_running();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<&str> = stdout.lines().collect();
    // Members in order: the host directory, then #c, then #I.
    let pos = |n: &str| {
        names
            .iter()
            .position(|l| *l == n)
            .unwrap_or_else(|| panic!("{n} in {names:?}"))
    };
    assert!(
        pos("hello") < pos("time") && pos("time") < pos("tcp"),
        "{names:?}"
    );
    for n in ["null", "random", "udp", "cs", "dns"] {
        pos(n);
    }
    assert!(stdout.contains("hello: from the host\n"), "{stdout}");
    let conv = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tcp/clone: "))
        .unwrap();
    assert!(conv.trim().parse::<u32>().is_ok(), "{stdout}");
    assert!(stdout.contains("null: \n"), "{stdout}");
}

/// Starts tests/interop/aio9p_server.py with `where` (`--unix PATH` or `--tcp`).
fn start_aio9p_server(where_: &[&str]) -> (Proc, String) {
    let mut cmd = Command::new("python3");
    cmd.arg(interop_dir().join("aio9p_server.py"))
        .args(where_)
        .arg("--exit-on-stdin-eof");
    let (proc, addr) = start_server(cmd, "aio9p_server.py", "stdout");
    (proc, addr.trim().to_owned())
}

#[test]
fn ninefold_client_against_aio9p_server() {
    if !aio9p_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("aio9p.sock");
    let (mut server, addr) = start_aio9p_server(&["--unix", sock.to_str().unwrap()]);
    assert_eq!(addr, format!("unix!{}", sock.display()));
    let a = addr.as_str();

    // Listing, long listing, a subdirectory, a file named directly.
    assert_eq!(ninep_text(a, &["ls"]), "big.bin\nempty\nhello.txt\nsub\n");
    let long = ninep_text(a, &["ls", "-l", "/"]);
    assert_eq!(
        long,
        "--rw-r--r-- aio9p aio9p      50000 2023-11-14 22:13 big.bin\n\
         --rw-r--r-- aio9p aio9p          0 2023-11-14 22:13 empty\n\
         --rw-r--r-- aio9p aio9p         17 2023-11-14 22:13 hello.txt\n\
         d-rwxr-xr-x aio9p aio9p          0 2023-11-14 22:13 sub\n"
    );
    assert_eq!(ninep_text(a, &["ls", "sub"]), "inner.txt\n");
    assert_eq!(ninep_text(a, &["ls", "hello.txt"]), "hello.txt\n");

    // Stat.
    let st = ninep_text(a, &["stat", "hello.txt"]);
    assert_eq!(
        st.trim_end(),
        "'hello.txt' 'aio9p' 'aio9p' 'aio9p' q (0000000000000001 0 00) m 0o644 at 0 \
         mt 1700000000 l 17 t 0 d 0"
    );
    let st = ninep_text(a, &["stat", "/"]);
    assert!(
        st.contains(" q (0000000000000000 0 80) m 0o20000000777 "),
        "{st}"
    );

    // Reads: small, empty, nested, and one spanning several messages (read-ahead).
    assert_eq!(
        ninep_ok(a, &["read", "hello.txt"], b""),
        b"hello from aio9p\n"
    );
    assert_eq!(ninep_ok(a, &["read", "empty"], b""), b"");
    assert_eq!(
        ninep_ok(a, &["read", "/sub/inner.txt"], b""),
        b"inner file\n"
    );
    assert_eq!(
        ninep_ok(a, &["read", "big.bin"], b""),
        pattern(50000, 7),
        "big.bin"
    );

    // Errors from the server reach the user.
    let out = ninep(a, &["read", "no-such-file"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "read of a missing file succeeded");
    assert!(err.contains("file does not exist"), "{err}");
    let out = ninep(a, &["read", "sub"], b"");
    assert!(!out.status.success(), "read of a directory succeeded");

    // Create, write, truncate, read back, rdwr.
    ninep_ok(a, &["create", "new.txt"], b"");
    assert_eq!(
        ninep_text(a, &["ls"]),
        "big.bin\nempty\nhello.txt\nnew.txt\nsub\n"
    );
    // 9P2000 create: perm & (~0666 | parent's perm & 0666); the default 0666 under a 0777 root.
    let st = ninep_text(a, &["stat", "new.txt"]);
    assert!(st.contains(" m 0o666 ") && st.contains(" l 0 "), "{st}");
    ninep_ok(a, &["write", "new.txt"], b"first line\nsecond line\n");
    assert_eq!(
        ninep_ok(a, &["read", "new.txt"], b""),
        b"first line\nsecond line\n"
    );
    ninep_ok(a, &["write", "-t", "new.txt"], b"short\n");
    assert_eq!(ninep_ok(a, &["read", "new.txt"], b""), b"short\n");
    // Larger than the server's 65535-byte msize: several Twrites, then several Treads.
    let big = pattern(150_000, 31);
    ninep_ok(a, &["write", "-t", "new.txt"], &big);
    assert_eq!(
        ninep_ok(a, &["read", "new.txt"], b""),
        big,
        "150000-byte file"
    );
    ninep_ok(a, &["write", "-t", "new.txt"], b"abc\n");
    assert_eq!(ninep_ok(a, &["rdwr", "new.txt"], b"XY\n"), b"abc\n");
    assert_eq!(ninep_ok(a, &["read", "new.txt"], b""), b"XYc\n");

    // Directories: create with a mode, create inside, list, remove.
    ninep_ok(a, &["create", "-m", "700", "d/"], b"");
    let long = ninep_text(a, &["ls", "-l"]);
    assert!(
        long.contains("d-rwx------ aio9p aio9p          0 2023-11-14 22:13 d\n"),
        "{long}"
    );
    let st = ninep_text(a, &["stat", "d"]);
    assert!(st.contains(" 80) m 0o20000000700 "), "{st}");
    ninep_ok(a, &["create", "-m", "600", "d/f"], b"");
    assert_eq!(ninep_text(a, &["ls", "d"]), "f\n");
    ninep_ok(a, &["write", "d/f"], b"in d\n");
    assert_eq!(ninep_ok(a, &["read", "d/f"], b""), b"in d\n");
    let out = ninep(a, &["create", "new.txt"], b"");
    assert!(
        !out.status.success(),
        "create of an existing name succeeded"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("file already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    ninep_ok(a, &["rm", "d/f"], b"");
    assert_eq!(ninep_text(a, &["ls", "d"]), "");
    ninep_ok(a, &["rm", "d"], b"");
    ninep_ok(a, &["rm", "new.txt"], b"");
    assert_eq!(ninep_text(a, &["ls"]), "big.bin\nempty\nhello.txt\nsub\n");
    let out = ninep(a, &["rm", "new.txt"], b"");
    assert!(!out.status.success(), "rm of a removed file succeeded");

    server.assert_running();
}

#[test]
fn ninefold_client_against_aio9p_server_tcp_loopback() {
    if !aio9p_or_skip() {
        return;
    }
    let (mut server, addr) = start_aio9p_server(&["--tcp"]);
    assert!(addr.starts_with("tcp!127.0.0.1!"), "{addr}");
    assert_eq!(
        ninep_text(&addr, &["ls"]),
        "big.bin\nempty\nhello.txt\nsub\n"
    );
    assert_eq!(
        ninep_ok(&addr, &["read", "hello.txt"], b""),
        b"hello from aio9p\n"
    );
    server.assert_running();
}
