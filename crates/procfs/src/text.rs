//! The text of `#p`'s files, in Plan 9's formats.

use std::fmt::Write;

use crate::linux::{FdInfo, ProcStat, ProcStatus, ticks_ms};

/// Bytes of a `status` file: `2*KNAMELEN + 12 + 9*12` (devproc.c's STATSIZE).
pub const STATUS_SIZE: usize = 176;

/// A Linux state letter as the Plan 9 state word `status` shows.
///
/// | Linux | Plan 9 | why |
/// |---|---|---|
/// | `R` running or runnable | `Running` | Linux does not tell on-CPU from ready |
/// | `S` interruptible sleep | `Wakeme` | asleep in the kernel until woken (Plan 9's ps would show the system call instead; Linux tells that only to a tracer) |
/// | `D` uninterruptible sleep | `Queueing` | blocked on a kernel lock; notes wait |
/// | `T` stopped, `t` traced | `Stopped` | |
/// | `Z` zombie | `Moribund` | exited, waiting to be reaped |
/// | `X`, `x` dead | `Dead` | |
/// | `I` idle kernel thread, `P` parked | `Idle` | |
/// | `W` waking | `Ready` | |
/// | `K` wakekill | `Wakeme` | |
/// | anything else | the letter itself | |
pub fn state_word(state: char) -> String {
    let w = match state {
        'R' => "Running",
        'S' | 'K' => "Wakeme",
        'D' => "Queueing",
        'T' | 't' => "Stopped",
        'Z' => "Moribund",
        'X' | 'x' => "Dead",
        'I' | 'P' => "Idle",
        'W' => "Ready",
        c => return c.to_string(),
    };
    w.to_owned()
}

/// Plan 9's priority (0 to 19, larger runs first, 10 normal) for a Linux process: real-time
/// policies are 19; otherwise 10 − nice/2, within 0 to 19.
pub fn priority(st: &ProcStat) -> u64 {
    if matches!(st.policy, 1 | 2) {
        return 19;
    }
    u64::try_from((10 - st.nice / 2).clamp(0, 19)).unwrap_or(10)
}

/// `s` cut to at most `width` bytes (at a character boundary) and padded with spaces to
/// exactly `width`, then a space: one of `status`'s text columns.
fn column(out: &mut String, s: &str, width: usize) {
    let mut end = s.len().min(width);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&s[..end]);
    out.extend(std::iter::repeat_n(' ', width - end + 1));
}

/// A number as Plan 9's `readnum` writes it: right-justified in 11 columns, then a space
/// (numbers wider than 11 digits are clamped, so the layout holds).
pub fn num(n: u64) -> String {
    format!("{:>11} ", n.min(99_999_999_999))
}

/// A name fit for a `status` column: whitespace and control characters (which would split
/// the field when ps tokenizes the line) become `_`.
pub fn field_name(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

/// The `status` file: name, user, state (27, 27 and 11 columns, each then a space), then
/// user, system and real time, the children's user, system and real time in milliseconds,
/// memory in KiB, base and current priority, as [`num`]s. Always [`STATUS_SIZE`] bytes.
///
/// Linux keeps no total of the children's real time: that field is 0. Memory is the
/// virtual size less the stack (Plan 9 counts every segment but the stack).
pub fn status(st: &ProcStat, ps: &ProcStatus, user: &str, now_ms: u64) -> String {
    let mut out = String::with_capacity(STATUS_SIZE);
    column(&mut out, &field_name(&st.comm), 27);
    column(&mut out, &field_name(user), 27);
    column(&mut out, &state_word(st.state), 11);
    let real = now_ms.saturating_sub(ticks_ms(st.start));
    let pri = priority(st);
    for n in [
        ticks_ms(st.utime),
        ticks_ms(st.stime),
        real,
        ticks_ms(st.cutime),
        ticks_ms(st.cstime),
        0,
        ps.vm_size.saturating_sub(ps.vm_stack),
        pri,
        pri,
    ] {
        out.push_str(&num(n));
    }
    out
}

/// One word as Plan 9's `quote` writes it for `tokenize`: in single quotes (doubled inside)
/// when empty or holding a quote, a blank or a control character.
pub fn quote(s: &str) -> String {
    if !s.is_empty() && !s.chars().any(|c| c <= ' ' || c == '\'' || c.is_control()) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', "''"))
}

/// The `args` file: the arguments quoted and separated by spaces, no newline.
pub fn args(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// What `fd` says of one open file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdLine {
    pub fd: u32,
    pub info: FdInfo,
    /// Plan 9's device character for the file (see [`device_char`]).
    pub dev_char: char,
    pub dev: u64,
    pub ino: u64,
    pub is_dir: bool,
    /// What /proc/N/fd/K links to: a path, `pipe:[…]`, `socket:[…]`, `anon_inode:[…]`.
    pub name: String,
}

/// The device character `fd` shows for a Linux file: `|` for pipes, `I` for sockets (the
/// IP device), `c` for character devices (as `#c` holds /dev/null and the console), `S`
/// for block devices (the storage device), `-` for anonymous inodes (eventfd, epoll,
/// pidfd: no device at all), `M` for everything else (files of a mounted file system).
pub fn device_char(name: &str, file_type: Option<rustix::fs::FileType>) -> char {
    use rustix::fs::FileType;
    if name.starts_with("pipe:") {
        return '|';
    }
    if name.starts_with("socket:") {
        return 'I';
    }
    if name.starts_with("anon_inode:") {
        return '-';
    }
    match file_type {
        Some(FileType::Fifo) => '|',
        Some(FileType::Socket) => 'I',
        Some(FileType::CharacterDevice) => 'c',
        Some(FileType::BlockDevice) => 'S',
        _ => 'M',
    }
}

/// The `fd` file: the current directory, then one line per descriptor in Plan 9's
/// `"%3d %.2s %C %4ld (%.16llux %*lud %.2ux) %5ld %8lld %s\n"`: descriptor, mode (`r `,
/// `w `, `rw`), device character, device number, qid (inode, version 0, type), iounit 0,
/// offset, name.
pub fn fd(cwd: &str, lines: &[FdLine]) -> String {
    let mut out = format!("{cwd}\n");
    for l in lines {
        let mode = match l.info.flags & 3 {
            0 => "r ",
            1 => "w ",
            _ => "rw",
        };
        let ty = if l.is_dir { 0x80 } else { 0 };
        let _ = writeln!(
            out,
            "{:3} {} {} {:4} ({:016x} {} {:02x}) {:5} {:8} {}",
            l.fd, mode, l.dev_char, l.dev, l.ino, 0, ty, 0, l.info.pos, l.name
        );
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn stat() -> ProcStat {
        ProcStat {
            comm: "sleep".into(),
            state: 'S',
            ppid: 1,
            pgrp: 1,
            utime: 250,
            stime: 30,
            cutime: 0,
            cstime: 0,
            nice: 0,
            start: 100,
            policy: 0,
        }
    }

    #[test]
    fn status_is_fixed_width_and_tokenizes() {
        let ps = ProcStatus {
            tgid: 7,
            uid: 0,
            vm_size: 8000,
            vm_stack: 132,
        };
        let mut st = stat();
        let s = status(&st, &ps, "glenda", 1_000_000);
        assert_eq!(s.len(), STATUS_SIZE, "{s:?}");
        let f: Vec<&str> = s.split_whitespace().collect();
        let hz = crate::linux::hz();
        let want_user = (250 * 1000 / hz).to_string();
        assert_eq!(f[..4], ["sleep", "glenda", "Wakeme", want_user.as_str()]);
        assert_eq!(f[9], "7868");
        assert_eq!(f[10..], ["10", "10"]);
        st.comm = "Web Content and a name far too long for the column".into();
        st.nice = 19;
        let s = status(&st, &ps, "ü".repeat(20).as_str(), 0);
        assert_eq!(s.len(), STATUS_SIZE);
        let f: Vec<&str> = s.split_whitespace().collect();
        assert_eq!(f.len(), 12);
        assert_eq!(f[0], "Web_Content_and_a_name_far_");
        assert_eq!(f[10], "1");
        st.policy = 1;
        assert_eq!(priority(&st), 19);
    }

    #[test]
    fn states() {
        for (c, w) in [
            ('R', "Running"),
            ('S', "Wakeme"),
            ('D', "Queueing"),
            ('T', "Stopped"),
            ('t', "Stopped"),
            ('Z', "Moribund"),
            ('I', "Idle"),
            ('?', "?"),
        ] {
            assert_eq!(state_word(c), w);
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(
            args(&["sh".into(), "-c".into(), "it's a b".into(), String::new()]),
            "sh -c 'it''s a b' ''"
        );
        assert_eq!(args(&[]), "");
        assert_eq!(quote("a\tb"), "'a\tb'");
    }

    #[test]
    fn fd_lines() {
        let l = FdLine {
            fd: 3,
            info: FdInfo { pos: 42, flags: 2 },
            dev_char: 'M',
            dev: 2049,
            ino: 0x1234,
            is_dir: false,
            name: "/tmp/x".into(),
        };
        assert_eq!(
            fd("/home/glenda", &[l]),
            "/home/glenda\n  3 rw M 2049 (0000000000001234 0 00)     0       42 /tmp/x\n"
        );
        assert_eq!(device_char("pipe:[12]", None), '|');
        assert_eq!(device_char("socket:[12]", None), 'I');
        assert_eq!(device_char("anon_inode:[eventfd]", None), '-');
        assert_eq!(device_char("/etc/passwd", None), 'M');
        assert_eq!(
            device_char("/dev/null", Some(rustix::fs::FileType::CharacterDevice)),
            'c'
        );
    }
}
