//! One process, held by a pidfd, and the signals notes and ctl messages become.

use std::os::fd::OwnedFd;
use std::time::Duration;

use ninefold_fs::{Error, Result};
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};

use crate::linux::{EXITED, ProcStat, ProcStatus};

/// The longest note, in bytes (Plan 9's ERRMAX less its NUL).
pub const MAX_NOTE: usize = 127;

/// How often `waitstop` looks at the process's state.
pub(crate) const WAITSTOP_POLL: Duration = Duration::from_millis(10);

/// A process, held by a pidfd that was checked to refer to the process with pid `pid` that
/// started `start` ticks after boot. Signals go through the pidfd, so they reach that
/// process or nothing, whatever process later gets the same pid.
#[derive(Debug)]
pub(crate) struct Process {
    pub pid: u32,
    pub start: u64,
    pidfd: OwnedFd,
}

impl Process {
    /// Opens a pidfd for `pid` and checks that it holds the process `/proc/pid` described.
    ///
    /// The start time is read, the pidfd opened, the start time read again: if both reads
    /// agree, the pidfd was opened while the process with that start time held the pid (a
    /// different process would have to take the pid, exit, be reaped and have its pid
    /// reused *and* start within the same clock tick — pids are handed out cyclically, so
    /// that means wrapping around all of pid_max within 10 ms). Threads (whose ids /proc
    /// also resolves) are not processes: "file does not exist".
    pub fn open(pid: u32) -> Result<Process> {
        let before = ProcStat::read(pid).map_err(not_found)?;
        let status = ProcStatus::read(pid).map_err(not_found)?;
        if status.tgid != pid {
            return Err(Error::NOT_FOUND);
        }
        let raw = i32::try_from(pid).map_err(|_| Error::NOT_FOUND)?;
        let p = Pid::from_raw(raw).ok_or(Error::NOT_FOUND)?;
        let pidfd = pidfd_open(p, PidfdFlags::empty()).map_err(|e| match e {
            rustix::io::Errno::SRCH | rustix::io::Errno::INVAL => Error::NOT_FOUND,
            e => Error::from_errno(e.raw_os_error()),
        })?;
        let after = ProcStat::read(pid).map_err(not_found)?;
        if after.start != before.start {
            return Err(Error::NOT_FOUND);
        }
        Ok(Process {
            pid,
            start: before.start,
            pidfd,
        })
    }

    /// The process's `stat` now; "process exited" if the pid now belongs to another.
    pub fn stat(&self) -> Result<ProcStat> {
        let st = ProcStat::read(self.pid)?;
        if st.start != self.start {
            return Err(EXITED);
        }
        Ok(st)
    }

    /// As [`Process::stat`], and "process exited" for a zombie too.
    pub fn live(&self) -> Result<ProcStat> {
        let st = self.stat()?;
        if st.exited() {
            return Err(EXITED);
        }
        Ok(st)
    }

    /// The process's `status` now (checked to be this process, alive or not).
    pub fn status(&self) -> Result<ProcStatus> {
        let s = ProcStatus::read(self.pid)?;
        self.stat()?;
        Ok(s)
    }

    /// Sends `sig` through the pidfd, without reading /proc (so it never blocks): callers
    /// check [`Process::live`] first, since a zombie silently gets nothing. A process that
    /// was reaped is "process exited"; the kernel's refusal is "permission denied".
    pub fn send(&self, sig: Signal) -> Result<()> {
        pidfd_send_signal(&self.pidfd, sig).map_err(|e| match e {
            rustix::io::Errno::SRCH => EXITED,
            e => Error::from_errno(e.raw_os_error()),
        })
    }
}

fn not_found(e: Error) -> Error {
    if e == EXITED { Error::NOT_FOUND } else { e }
}

/// The signal a note becomes.
///
/// | note | signal |
/// |---|---|
/// | `interrupt` | SIGINT |
/// | `hangup` | SIGHUP |
/// | `alarm` | SIGALRM |
/// | `kill` | SIGTERM (a note can be caught; ctl's `kill` cannot) |
/// | `sys: …` | refused: "not supported: sys: … (only the system posts sys: notes)" |
/// | anything else | SIGTERM: in Plan 9 a note nobody handles ends the process, as SIGTERM does |
///
/// A trailing newline (`echo kill > note`) and surrounding blanks are ignored. An empty
/// note is "bad arg in system call"; one longer than [`MAX_NOTE`] bytes is "read or write
/// too large". The note's text does not reach the process: a signal carries none.
pub fn note_signal(note: &str) -> Result<Signal> {
    let note = note.trim();
    if note.is_empty() {
        return Err(Error::BAD_ARG);
    }
    if note.len() > MAX_NOTE {
        return Err(Error::TOO_BIG);
    }
    Ok(match note {
        "interrupt" => Signal::INT,
        "hangup" => Signal::HUP,
        "alarm" => Signal::ALARM,
        "kill" => Signal::TERM,
        n if n.starts_with("sys:") => {
            return Err(Error::new(format!(
                "not supported: {n} (only the system posts sys: notes)"
            )));
        }
        _ => Signal::TERM,
    })
}

/// A control message `#p` carries out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctl {
    /// SIGKILL: dies whatever handlers it has.
    Kill,
    /// SIGKILL to every process of the process group (Inferno's `killgrp`).
    Killgrp,
    /// SIGSTOP.
    Stop,
    /// SIGCONT.
    Start,
    /// Block until stopped (or "process exited").
    Waitstop,
    /// SIGCONT, then as `waitstop`.
    Startstop,
}

/// Parses one control message (a trailing newline and surrounding blanks ignored). The
/// messages Plan 9 has and Linux cannot honour (`hang`, `close n`, `pri n`, `private`…)
/// and unknown ones fail with "not supported: MSG".
pub(crate) fn parse_ctl(msg: &str) -> Result<Ctl> {
    let msg = msg.trim();
    Ok(match msg {
        "" => return Err(Error::new("empty control message")),
        "kill" => Ctl::Kill,
        "killgrp" => Ctl::Killgrp,
        "stop" => Ctl::Stop,
        "start" => Ctl::Start,
        "waitstop" => Ctl::Waitstop,
        "startstop" => Ctl::Startstop,
        m => return Err(Error::new(format!("not supported: {m}"))),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn notes() {
        assert_eq!(note_signal("interrupt\n"), Ok(Signal::INT));
        assert_eq!(note_signal("hangup"), Ok(Signal::HUP));
        assert_eq!(note_signal("alarm"), Ok(Signal::ALARM));
        assert_eq!(note_signal(" kill \n"), Ok(Signal::TERM));
        assert_eq!(note_signal("go away"), Ok(Signal::TERM));
        assert_eq!(note_signal("\n"), Err(Error::BAD_ARG));
        assert_eq!(note_signal(&"x".repeat(200)), Err(Error::TOO_BIG));
        let e = note_signal("sys: trap: fault read addr=0x0").unwrap_err();
        assert!(e.as_str().starts_with("not supported: sys: trap"), "{e}");
    }

    #[test]
    fn ctl_messages() {
        assert_eq!(parse_ctl("kill\n"), Ok(Ctl::Kill));
        assert_eq!(parse_ctl("stop"), Ok(Ctl::Stop));
        assert_eq!(parse_ctl("start"), Ok(Ctl::Start));
        assert_eq!(parse_ctl("waitstop"), Ok(Ctl::Waitstop));
        assert_eq!(parse_ctl("startstop"), Ok(Ctl::Startstop));
        assert_eq!(parse_ctl("killgrp"), Ok(Ctl::Killgrp));
        assert_eq!(
            parse_ctl("hang\n").unwrap_err().as_str(),
            "not supported: hang"
        );
        assert_eq!(
            parse_ctl("pri 3").unwrap_err().as_str(),
            "not supported: pri 3"
        );
        assert!(parse_ctl(" \n").is_err());
    }

    /// A pidfd whose start time no longer matches /proc (as when the pid was recycled) is
    /// "process exited" to the check every signal passes first: the live process under
    /// that pid is untouched.
    #[test]
    fn a_start_time_that_does_not_match_signals_nothing() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut p = Process::open(pid).unwrap();
        p.start += 1;
        assert_eq!(p.live().map(drop), Err(EXITED));
        let st = ProcStat::read(pid).unwrap();
        assert!(!st.exited(), "{st:?}");
        let _ = child.kill();
        let _ = child.wait();
    }
}
