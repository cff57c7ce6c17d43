//! Child processes that are killed and reaped on every path out, and timed runs of commands.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A child process that is killed and reaped when dropped, whatever happened meanwhile.
#[derive(Debug)]
pub struct Guard {
    name: String,
    child: Child,
}

impl Guard {
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Guard> {
        let child = cmd.spawn().with_context(|| format!("start {name}"))?;
        Ok(Guard {
            name: name.to_owned(),
            child,
        })
    }

    /// Waits for the child to exit by itself, for at most `limit` (then it is killed), and
    /// says when it exited.
    pub fn wait_for(mut self, limit: Duration) -> Result<(std::process::ExitStatus, Instant)> {
        use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};
        let pid = Pid::from_child(&self.child);
        let (tx, rx) = std::sync::mpsc::channel();
        // A blocking wait that does not reap: until we reap it, the pid cannot be reused,
        // so killing it after a timeout can only hit our child. No polling, so nothing
        // competes for the CPU with what is being timed.
        std::thread::spawn(move || {
            let _ = waitid(
                WaitId::Pid(pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
            );
            let _ = tx.send(Instant::now());
        });
        match rx.recv_timeout(limit) {
            Ok(exited) => Ok((self.child.wait()?, exited)),
            // Dropping the guard kills and reaps the child, which ends the waiting thread.
            Err(_) => bail!("{} still running after {limit:?}; killed", self.name),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's exit status if it has exited (and is now reaped), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs `cmd` to completion (at most `limit`) and returns its wall-clock time, from just
/// before the spawn to its exit. Standard output goes to /dev/null.
pub fn time_command(name: &str, cmd: &mut Command, limit: Duration) -> Result<Duration> {
    let null = std::fs::File::create("/dev/null")?;
    cmd.stdin(Stdio::null())
        .stdout(null)
        .stderr(Stdio::inherit());
    let start = Instant::now();
    let (status, exited) = Guard::spawn(name, cmd)?.wait_for(limit)?;
    let took = exited - start;
    if !status.success() {
        bail!("{name} failed: {status}");
    }
    Ok(took)
}

/// Runs `cmd` to completion and counts the bytes it writes on standard output.
pub fn count_output(name: &str, cmd: &mut Command) -> Result<u64> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut g = Guard::spawn(name, cmd)?;
    let mut out = g.take_stdout().context("no stdout")?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = out.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let (status, _) = g.wait_for(Duration::from_secs(60))?;
    if !status.success() {
        bail!("{name} failed: {status}");
    }
    Ok(total)
}

/// A server child that announces where it listens on its first line of `stream`; the rest of
/// that stream is passed on to our stderr so the child never blocks on a full pipe.
pub struct Server {
    /// Kills the server when the benchmark is done with it.
    _guard: Guard,
    pub addr: String,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

/// Which of the child's streams carries the announcement.
#[derive(Debug, Clone, Copy)]
pub enum Announce {
    Stdout,
    Stderr,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self._guard.pid()
    }

    /// Starts `cmd` and waits for a line ending in " on ADDR" or being just "ADDR".
    pub fn start(name: &str, cmd: &mut Command, on: Announce) -> Result<Server> {
        Server::start_when(name, cmd, on, |_| true)
    }

    /// As [`Server::start`], the announcement being the first line for which `is` holds;
    /// the lines before it are passed on to our stderr.
    pub fn start_when(
        name: &str,
        cmd: &mut Command,
        on: Announce,
        is: impl Fn(&str) -> bool,
    ) -> Result<Server> {
        // Our stdin as a pipe we hold: the helper modes exit when it closes, so they never
        // outlive this process even if it is killed.
        cmd.stdin(Stdio::piped());
        match on {
            Announce::Stdout => cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()),
            Announce::Stderr => cmd.stdout(Stdio::null()).stderr(Stdio::piped()),
        };
        let mut guard = Guard::spawn(name, cmd)?;
        let stream: Box<dyn Read + Send> = match on {
            Announce::Stdout => Box::new(guard.child.stdout.take().context("no stdout")?),
            Announce::Stderr => Box::new(guard.child.stderr.take().context("no stderr")?),
        };
        let mut lines = BufReader::new(stream);
        let mut first = String::new();
        loop {
            first.clear();
            lines
                .read_line(&mut first)
                .with_context(|| format!("{name}: no announcement"))?;
            if first.is_empty() {
                bail!("{name} exited before listening");
            }
            if is(first.trim()) {
                break;
            }
            let _ = std::io::stderr().write_all(first.as_bytes());
        }
        let first = first.trim();
        if first.is_empty() {
            bail!("{name} announced nothing");
        }
        let addr = first.rsplit(" on ").next().unwrap_or(first).to_owned();
        std::thread::spawn(move || {
            let mut rest = String::new();
            while let Ok(n) = lines.read_line(&mut rest) {
                if n == 0 {
                    break;
                }
                let _ = std::io::stderr().write_all(rest.as_bytes());
                rest.clear();
            }
        });
        Ok(Server {
            _guard: guard,
            addr,
        })
    }
}
