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
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{what} did not finish in {limit:?}");
        }
    }
}

/// `ninefold ARGS`, bounded by `limit`.
pub fn ninefold_bounded(args: &[&str], stdin: &[u8], limit: Duration) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    run_bounded(cmd, stdin, limit)
}
