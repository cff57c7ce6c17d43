//! Reading Linux's /proc: the few fields of `stat`, `status`, `cmdline`, `environ`, `fd` and
//! `fdinfo` that `#p` shows. Every parser takes the file's text and returns `None` on
//! anything it does not understand; nothing here panics on odd input.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

use ninefold_fs::{Error, Result};
use rustix::fs::{AtFlags, Dir, Mode, OFlags, PROC_SUPER_MAGIC};

/// Where Linux's process file system is.
const PROC: &str = "/proc";

/// Linux's /proc, opened the first time it is needed (a [`crate::ProcTree`] opens it when
/// it is made). Every read goes through this directory, never through the name /proc
/// again: a file system mounted over /proc later (a session that mounts another machine's
/// /proc there) must not pass for this machine's processes, which pidfds and signals
/// reach. Not Linux's proc file system at all: every read fails.
static PROC_DIR: OnceLock<Result<OwnedFd>> = OnceLock::new();

fn open_proc() -> Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(PROC, flags, Mode::empty()).map_err(errno)?;
    if rustix::fs::fstatfs(&fd).map_err(errno)?.f_type != PROC_SUPER_MAGIC {
        return Err(Error::new("/proc is not Linux's proc file system"));
    }
    Ok(fd)
}

/// The /proc directory every read goes through (see [`PROC_DIR`]).
pub(crate) fn proc_dir() -> Result<BorrowedFd<'static>> {
    match PROC_DIR.get_or_init(open_proc) {
        Ok(fd) => Ok(fd.as_fd()),
        Err(e) => Err(e.clone()),
    }
}

/// The path of `file` of process `pid`, relative to [`proc_dir`].
pub(crate) fn path(pid: u32, file: &str) -> String {
    format!("{pid}/{file}")
}

fn errno(e: rustix::io::Errno) -> Error {
    Error::from_errno(e.raw_os_error())
}

/// Plan 9's "process exited" (`Eprocdied`): what every operation on a process that is
/// gone, a zombie, or a different process under the same pid fails with.
pub(crate) const EXITED: Error = Error::from_static("process exited");

/// Opens `rel` beneath /proc (for reading, or O_PATH with `flags`).
fn open_at(rel: &str, flags: OFlags) -> Result<OwnedFd> {
    rustix::fs::openat(proc_dir()?, rel, flags | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| gone_or(e.into()))
}

/// Reads `rel`, a file beneath /proc; a missing file (the process is gone) is "process
/// exited".
pub fn read_file(rel: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let fd = open_at(rel, OFlags::RDONLY | OFlags::NOCTTY)?;
    let mut out = Vec::new();
    std::fs::File::from(fd)
        .read_to_end(&mut out)
        .map_err(gone_or)?;
    Ok(out)
}

/// Reads a /proc file of process `pid`; a missing file (the process is gone) is
/// [`EXITED`].
pub(crate) fn read(pid: u32, file: &str) -> Result<Vec<u8>> {
    read_file(&path(pid, file))
}

/// The target of the symlink `rel` beneath /proc.
pub fn read_link(rel: &str) -> Result<String> {
    let target =
        rustix::fs::readlinkat(proc_dir()?, rel, Vec::new()).map_err(|e| gone_or(e.into()))?;
    Ok(target.to_string_lossy().into_owned())
}

/// The metadata of what `rel` beneath /proc leads to (symlinks followed, as stat(2)).
pub(crate) fn stat(rel: &str) -> Result<rustix::fs::Stat> {
    rustix::fs::statat(proc_dir()?, rel, AtFlags::empty()).map_err(|e| gone_or(e.into()))
}

/// The names in the directory `rel` beneath /proc.
pub fn list(rel: &str) -> Result<Vec<String>> {
    let fd = open_at(rel, OFlags::RDONLY | OFlags::DIRECTORY)?;
    let dir = Dir::new(fd).map_err(errno)?;
    Ok(dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().ok().map(str::to_owned))
        .filter(|n| n != "." && n != "..")
        .collect())
}

/// A /proc error: ENOENT and ESRCH mean the process went away.
pub(crate) fn gone_or(e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(2 | 3) => EXITED,
        _ => Error::from(e),
    }
}

/// What `#p` takes from `/proc/N/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// `comm`: the executable's name, at most 15 bytes for user processes.
    pub comm: String,
    /// The state letter (R, S, D, T, t, Z, X, I, …).
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    /// CPU times in clock ticks.
    pub utime: u64,
    pub stime: u64,
    pub cutime: u64,
    pub cstime: u64,
    pub nice: i64,
    /// When the process started, in clock ticks after boot.
    pub start: u64,
    /// The scheduling policy (1 and 2 are SCHED_FIFO and SCHED_RR).
    pub policy: u32,
}

impl ProcStat {
    /// Parses `/proc/N/stat`: `pid (comm) state ppid pgrp …`. The name may hold spaces and
    /// parentheses, so the fields start after the *last* `)`.
    pub fn parse(text: &str) -> Option<ProcStat> {
        let open = text.find('(')?;
        let close = text.rfind(')')?;
        let comm = text.get(open + 1..close)?.to_owned();
        let f: Vec<&str> = text.get(close + 1..)?.split_ascii_whitespace().collect();
        // f[0] is field 3 of proc(5), so field n is f[n - 3].
        let num = |n: usize| -> Option<u64> { f.get(n - 3)?.parse().ok() };
        let state = f.first()?.chars().next()?;
        Some(ProcStat {
            comm,
            state,
            ppid: u32::try_from(num(4)?).ok()?,
            pgrp: u32::try_from(num(5)?).ok()?,
            utime: num(14)?,
            stime: num(15)?,
            cutime: num(16)?,
            cstime: num(17)?,
            nice: f.get(19 - 3)?.parse().ok()?,
            start: num(22)?,
            // Field 41; absent on very old kernels.
            policy: num(41).and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
        })
    }

    /// Reads and parses `/proc/pid/stat`.
    pub fn read(pid: u32) -> Result<ProcStat> {
        let b = read(pid, "stat")?;
        ProcStat::parse(&String::from_utf8_lossy(&b)).ok_or(Error::IO)
    }

    /// True for a process that has exited (a zombie, or dead).
    pub fn exited(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// What `#p` takes from `/proc/N/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProcStatus {
    /// The thread group id: equal to the pid for a process, different for a thread.
    pub tgid: u32,
    /// The real uid: the process's owner.
    pub uid: u32,
    /// Virtual memory and stack size in KiB (absent for kernel threads: 0).
    pub vm_size: u64,
    pub vm_stack: u64,
}

impl ProcStatus {
    pub fn parse(text: &str) -> Option<ProcStatus> {
        let mut s = ProcStatus::default();
        let (mut tgid, mut uid) = (None, None);
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let first = value.split_ascii_whitespace().next();
            let n = first.and_then(|v| v.parse::<u64>().ok());
            match key {
                "Tgid" => tgid = n.and_then(|n| u32::try_from(n).ok()),
                "Uid" => uid = n.and_then(|n| u32::try_from(n).ok()),
                "VmSize" => s.vm_size = n.unwrap_or(0),
                "VmStk" => s.vm_stack = n.unwrap_or(0),
                _ => {}
            }
        }
        s.tgid = tgid?;
        s.uid = uid?;
        Some(s)
    }

    pub fn read(pid: u32) -> Result<ProcStatus> {
        let b = read(pid, "status")?;
        ProcStatus::parse(&String::from_utf8_lossy(&b)).ok_or(Error::IO)
    }
}

/// The pids in /proc, in increasing order (threads are not listed there).
pub(crate) fn pids() -> Result<Vec<u32>> {
    let mut out: Vec<u32> = list(".")?.iter().filter_map(|n| parse_pid(n)).collect();
    out.sort_unstable();
    Ok(out)
}

/// A process directory's name as a pid: decimal digits, no sign, no leading zero.
pub(crate) fn parse_pid(name: &str) -> Option<u32> {
    if name.is_empty() || name.starts_with('0') || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = name.parse().ok()?;
    // pidfd_open takes an i32.
    i32::try_from(n).ok()?;
    Some(n)
}

/// The arguments in `/proc/N/cmdline` (NUL-terminated strings; empty for kernel threads
/// and zombies).
pub(crate) fn split_cmdline(b: &[u8]) -> Vec<String> {
    let b = b.strip_suffix(b"\0").unwrap_or(b);
    if b.is_empty() {
        return Vec::new();
    }
    b.split(|&c| c == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The value of `name` in `/proc/N/environ` text (NUL-separated `NAME=value`).
pub(crate) fn environ_var(b: &[u8], name: &str) -> Option<String> {
    b.split(|&c| c == 0).find_map(|kv| {
        let v = kv.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(v).into_owned())
    })
}

/// What `#p`'s `fd` takes from `/proc/N/fdinfo/K`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FdInfo {
    pub pos: u64,
    /// The open flags (octal in the file).
    pub flags: u32,
}

impl FdInfo {
    pub fn parse(text: &str) -> FdInfo {
        let mut i = FdInfo::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "pos" => i.pos = value.parse().unwrap_or(0),
                "flags" => i.flags = u32::from_str_radix(value, 8).unwrap_or(0),
                _ => {}
            }
        }
        i
    }
}

/// Clock ticks per second (USER_HZ), the unit of /proc's times.
pub(crate) fn hz() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

/// Milliseconds since boot (CLOCK_BOOTTIME, the clock of /proc's start times).
pub(crate) fn boot_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
}

/// Clock ticks as milliseconds.
pub(crate) fn ticks_ms(ticks: u64) -> u64 {
    u64::try_from(u128::from(ticks) * 1000 / u128::from(hz())).unwrap_or(u64::MAX)
}

/// When a process that started `start` ticks after boot started, in seconds since the
/// epoch (0 if the clocks make no sense).
pub(crate) fn start_epoch(start: u64) -> u32 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let boot = now.saturating_sub(u128::from(boot_ms()));
    let at = boot.saturating_add(u128::from(ticks_ms(start))) / 1000;
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// The name of user `uid`, or its number when it has none.
pub(crate) fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_names() {
        let line = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 30 7 8 20 -5 1 0 \
                    98765 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let s = ProcStat::parse(line).unwrap();
        assert_eq!(s.comm, "a (b) c");
        assert_eq!(s.state, 'S');
        assert_eq!((s.ppid, s.pgrp), (1, 1234));
        assert_eq!((s.utime, s.stime, s.cutime, s.cstime), (250, 30, 7, 8));
        assert_eq!(s.nice, -5);
        assert_eq!(s.start, 98765);
        assert_eq!(s.policy, 0);
        for bad in ["", "1 (x", "1 (x) S", "1 x) S 1 2", "1 (x) S a b c"] {
            assert!(ProcStat::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn status_fields() {
        let t = "Name:\tsleep\nTgid:\t42\nPid:\t42\nUid:\t1000\t1000\t1000\t1000\n\
                 VmSize:\t    8000 kB\nVmStk:\t     132 kB\n";
        let s = ProcStatus::parse(t).unwrap();
        assert_eq!(
            (s.tgid, s.uid, s.vm_size, s.vm_stack),
            (42, 1000, 8000, 132)
        );
        assert!(ProcStatus::parse("Name:\tx\n").is_none());
    }

    #[test]
    fn pids_and_cmdlines() {
        assert_eq!(parse_pid("42"), Some(42));
        for bad in ["", "0", "042", "+1", "self", "4294967296", "2147483648"] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
        assert_eq!(split_cmdline(b"sh\0-c\0a b\0"), ["sh", "-c", "a b"]);
        assert_eq!(split_cmdline(b"sh\0\0"), ["sh", ""]);
        assert!(split_cmdline(b"").is_empty());
        let env = b"A=1\0NINEFOLD_NS=/run/x.sock\0NINEFOLD_NSX=no\0";
        assert_eq!(environ_var(env, "NINEFOLD_NS").unwrap(), "/run/x.sock");
        assert_eq!(environ_var(env, "B"), None);
        let i = FdInfo::parse("pos:\t42\nflags:\t0100002\nmnt_id:\t3\n");
        assert_eq!((i.pos, i.flags & 3), (42, 2));
    }
}
