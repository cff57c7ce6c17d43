//! Helpers shared by the `#p` tests: the tree reached directly or through ninefold's own
//! server and client, bounded file calls, and child processes killed when dropped.
#![allow(clippy::unwrap_used, dead_code, unused_imports)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ninefold_fs::{NodeRef, Result, Stat};
use ninefold_proto::om;
pub use ninefold_testkit::{
    BLOCKED, STEP, Via, attach, bounded, open, stays_blocked, try_open, walk,
};

/// A whole file, read at increasing offsets until an empty read.
pub async fn read_all(n: &NodeRef) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let b = bounded(n.read(out.len() as u64, 65536)).await?;
        if b.is_empty() {
            return Ok(out);
        }
        out.extend_from_slice(&b);
    }
}

/// Opens, reads and clunks a file.
pub async fn try_cat(root: &NodeRef, path: &str) -> Result<String> {
    let n = try_open(root, path, om::OREAD).await?;
    let b = read_all(&n).await;
    bounded(n.clunk()).await;
    Ok(String::from_utf8(b?).unwrap())
}

pub async fn cat(root: &NodeRef, path: &str) -> String {
    try_cat(root, path)
        .await
        .unwrap_or_else(|e| panic!("cat {path}: {e}"))
}

/// Opens `path` for writing with OTRUNC (as `echo msg > path` does), writes `msg`, clunks.
pub async fn echo(root: &NodeRef, path: &str, msg: &str) -> Result<()> {
    let n = try_open(root, path, om::OWRITE | om::OTRUNC).await?;
    let r = write(&n, msg).await;
    bounded(n.clunk()).await;
    r
}

pub async fn write(n: &NodeRef, msg: &str) -> Result<()> {
    let len = bounded(n.write(0, Bytes::copy_from_slice(msg.as_bytes()))).await?;
    assert_eq!(len as usize, msg.len());
    Ok(())
}

/// The entries of a directory, read in small pieces to exercise the offset rule.
pub async fn list(root: &NodeRef, path: &str) -> Vec<Stat> {
    let d = open(root, path, om::OREAD).await;
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let b = bounded(d.read(offset, 300)).await.unwrap();
        if b.is_empty() {
            break;
        }
        offset += b.len() as u64;
        all.extend(ninefold_proto::read_dir_entries(b).unwrap());
    }
    bounded(d.clunk()).await;
    all
}

pub async fn list_names(root: &NodeRef, path: &str) -> Vec<String> {
    list(root, path).await.into_iter().map(|s| s.name).collect()
}

/// The error's text, for errors that may come back over the wire.
pub fn text<T: std::fmt::Debug>(r: Result<T>) -> String {
    r.expect_err("expected an error").as_str().to_owned()
}

/// Waits (bounded) until `cond` holds.
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A child process in a process group of its own (so group signals stay in it), killed
/// and reaped when dropped.
#[derive(Debug)]
pub struct Kid {
    pub child: std::process::Child,
    /// Where a trap script records the signals it gets.
    pub log: Option<PathBuf>,
}

impl Kid {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `argv` in a new process group (or the group `pgrp`).
    pub fn spawn(argv: &[&str], pgrp: Option<u32>, cwd: Option<&Path>) -> Kid {
        let mut c = Command::new(argv[0]);
        c.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(pgrp.map_or(0, |g| g as i32));
        if let Some(d) = cwd {
            c.current_dir(d);
        }
        Kid {
            child: c.spawn().unwrap(),
            log: None,
        }
    }

    pub fn sleep() -> Kid {
        Kid::spawn(&["sleep", "60"], None, None)
    }

    /// A shell that records INT, HUP, ALRM and TERM in `log` (exiting on TERM), once its
    /// traps are set.
    pub async fn trapper(log: &Path, pgrp: Option<u32>) -> Kid {
        let script = r#"
            trap 'echo INT >> "$1"' INT
            trap 'echo HUP >> "$1"' HUP
            trap 'echo ALRM >> "$1"' ALRM
            trap 'echo TERM >> "$1"; exit 0' TERM
            echo ready >> "$1"
            while :; do sleep 0.05; done
        "#;
        let l = log.display().to_string();
        let mut k = Kid::spawn(&["sh", "-c", script, "trapper", &l], pgrp, None);
        k.log = Some(log.to_owned());
        until("the traps", || k.logged().contains(&"ready".to_string())).await;
        k
    }

    pub fn logged(&self) -> Vec<String> {
        let Some(l) = &self.log else {
            return Vec::new();
        };
        std::fs::read_to_string(l)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits (bounded) for the trap script to log `sig`.
    pub async fn logs(&self, sig: &str) {
        until(&format!("{sig} in the log"), || {
            self.logged().contains(&sig.to_string())
        })
        .await;
    }

    /// Waits (bounded) for the child to exit and reaps it.
    pub async fn exits(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "child did not exit");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The state letter in /proc/N/stat.
    pub fn state(&self) -> char {
        proc_state(self.pid())
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn proc_state(pid: u32) -> char {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    s.rfind(')')
        .and_then(|i| s[i + 1..].trim_start().chars().next())
        .unwrap_or('?')
}
