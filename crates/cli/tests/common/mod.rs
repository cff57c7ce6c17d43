//! What the CLI tests share: the binary, and running it with a bound on time.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_ninefold");

/// Runs `cmd` with `stdin` fed (and its outputs drained) from other threads, so big
/// outputs cannot fill the pipes; kills it and fails the test after `limit`.
pub fn run_bounded(mut cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // Say what was still running, and where it waited, before giving up.
            let ps = Command::new("ps")
                .args(["-eo", "pid,ppid,stat,wchan:24,args"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{what} did not finish in {limit:?}; processes:\n{ps}");
        }
    }
}

/// `ninefold ARGS`, bounded by `limit`.
pub fn ninefold_bounded(args: &[&str], stdin: &[u8], limit: Duration) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    run_bounded(cmd, stdin, limit)
}

/// A program in the background, killed and reaped when dropped; the lines of its standard
/// error as they come.
pub struct Bg {
    pub child: std::process::Child,
    pub stderr: mpsc::Receiver<String>,
    what: String,
}

impl Bg {
    /// Starts `cmd` with stdin from /dev/null, stdout piped and stderr read line by line.
    pub fn start(mut cmd: Command) -> Bg {
        use std::io::BufRead;
        let what = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Bg {
            child,
            stderr: rx,
            what,
        }
    }

    /// The first line of its stderr containing `text`, skipping others; fails the test
    /// after `limit`.
    pub fn wait_for(&self, text: &str, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(l) if l.contains(text) => return l,
                Ok(_) => {}
                Err(_) => panic!("{} never said {text:?}", self.what),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        self.kill();
    }
}
