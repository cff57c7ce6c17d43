//! Helpers for the file-system rows B4, B5 and B7, which `bench/fs.sh` drives (`bench/run.sh
//! fs`): that script starts the servers, mounts and reference tools; these time one command
//! and stat a directory's files.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// `time CMD ARGS…`: run CMD once (stdin and stdout /dev/null, stderr inherited) and print
/// the wall time from spawn to exit in microseconds. Fails if CMD fails.
pub fn time(cmd: &[String]) -> Result<()> {
    let (prog, args) = cmd.split_first().context("time: no command")?;
    let start = Instant::now();
    let status = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {prog}"))?;
    let took = start.elapsed();
    if !status.success() {
        bail!("{} failed: {status}", cmd.join(" "));
    }
    println!("{}", took.as_micros());
    Ok(())
}

/// `stat-all DIR`: list DIR and lstat(2) every entry by its path, as `ls -l` does without
/// formatting; print how many entries and the microseconds it took.
pub fn stat_all(dir: &Path) -> Result<()> {
    let start = Instant::now();
    let mut n = 0usize;
    let mut bytes = 0u64;
    for e in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let e = e?;
        let m = std::fs::symlink_metadata(e.path())
            .with_context(|| format!("stat {}", e.path().display()))?;
        bytes += m.len();
        n += 1;
    }
    let took = start.elapsed();
    println!("{} {n} {bytes}", took.as_micros());
    Ok(())
}
