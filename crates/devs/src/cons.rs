//! `#c`: the console device's small files — null, zero, random, the time, who and where.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use ninefold_fs::synth::slice_at;
use ninefold_fs::{DirCursor, Error, Node, NodeRef, Opened, Qid, QidType, Result, Stat, Tree};
use ninefold_proto::dm;

use crate::common::{
    check_open, check_open_dir, lock, now_secs, read_dir, stat, written, wstat_nothing,
};

/// The most one read of `zero` or `random` returns.
pub const MAX_READ: u32 = 1 << 20;

/// Ticks per second of the `time` and `bintime` clocks: ticks are CLOCK_MONOTONIC
/// nanoseconds.
pub const TICKS_PER_SEC: u64 = 1_000_000_000;

/// Zeros for `zero`, shared by every read (in .bss: costs nothing until touched).
static ZEROS: [u8; MAX_READ as usize] = [0; MAX_READ as usize];

/// The files of `#c`, in directory order; a file's qid path is its index plus one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum File {
    Root,
    Null,
    Zero,
    Random,
    Time,
    Bintime,
    User,
    Sysname,
    Hostowner,
    Pid,
    Ppid,
    Osversion,
}

const FILES: &[(File, &str, u32)] = &[
    (File::Bintime, "bintime", 0o444),
    (File::Hostowner, "hostowner", 0o444),
    (File::Null, "null", 0o666),
    (File::Osversion, "osversion", 0o444),
    (File::Pid, "pid", 0o444),
    (File::Ppid, "ppid", 0o444),
    (File::Random, "random", 0o444),
    (File::Sysname, "sysname", 0o444),
    (File::Time, "time", 0o444),
    (File::User, "user", 0o444),
    (File::Zero, "zero", 0o444),
];

impl File {
    fn index(self) -> Option<usize> {
        FILES.iter().position(|&(f, _, _)| f == self)
    }

    fn qid(self) -> Qid {
        match self.index() {
            Some(i) => Qid {
                ty: QidType::FILE,
                version: 0,
                path: i as u64 + 1,
            },
            None => Qid {
                ty: QidType::DIR,
                version: 0,
                path: 0,
            },
        }
    }

    fn name(self) -> &'static str {
        self.index().map_or("/", |i| FILES[i].1)
    }

    fn perm(self) -> u32 {
        self.index().map_or(dm::DMDIR | 0o555, |i| FILES[i].2)
    }

    fn lookup(name: &str) -> Option<File> {
        FILES
            .iter()
            .find(|&&(_, n, _)| n == name)
            .map(|&(f, _, _)| f)
    }
}

/// The console device `#c`, without the console: `cons` and `consctl` are left to Linux's
/// terminal. Every attach sees the same files.
///
/// | file | reads | writes |
/// |---|---|---|
/// | `null` | EOF | swallowed, reported written |
/// | `zero` | zeros, up to the count (at most [`MAX_READ`]) | refused |
/// | `random` | random bytes from getrandom(2), up to the count (at most [`MAX_READ`]) | refused |
/// | `time` | `%11d %21d %21d %21d ` (each number right-justified, then a space): seconds and nanoseconds since the epoch, ticks, ticks per second | refused |
/// | `bintime` | nanoseconds since the epoch, ticks, ticks per second: 8-byte big-endian numbers, as many as fit the count | refused |
/// | `user` | the user named at construction | refused |
/// | `hostowner` | the Linux user ninefold runs as | refused |
/// | `sysname` | the host name | refused |
/// | `pid`, `ppid` | ninefold's process id and its parent's, `%11d ` | refused |
/// | `osversion` | the Linux kernel release | refused |
///
/// Text files are taken when the fid is opened, so the reads of one fid see one value;
/// `time` and `bintime` are taken afresh at every read. "refused" is "permission denied",
/// at open for writing.
#[derive(Debug, Clone)]
pub struct ConsTree {
    cons: Arc<Cons>,
}

#[derive(Debug)]
struct Cons {
    user: String,
    hostowner: String,
    /// When the tree was made: the files' atime and mtime.
    made: u32,
}

impl ConsTree {
    /// A console device for `user`, who also owns its files.
    pub fn new(user: impl Into<String>) -> ConsTree {
        ConsTree {
            cons: Arc::new(Cons {
                user: user.into(),
                hostowner: host_owner(),
                made: now_secs(),
            }),
        }
    }

    /// The user `user` reads as.
    pub fn user(&self) -> &str {
        &self.cons.user
    }
}

#[async_trait]
impl Tree for ConsTree {
    /// Every attach sees the same device; `uname` and `aname` are ignored.
    async fn attach(&self, _uname: &str, _aname: &str) -> Result<NodeRef> {
        Ok(Arc::new(ConsNode::new(self.cons.clone(), File::Root)))
    }
}

/// The name of the user this process runs as, or its number when it has none.
fn host_owner() -> String {
    let uid = nix::unistd::geteuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

/// A number as Plan 9's `readnum` prints it: right-justified in 11 columns, then a space.
fn num(n: impl std::fmt::Display) -> String {
    format!("{n:>11} ")
}

/// Nanoseconds since the epoch (0 if the clock is before it).
fn epoch_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// CLOCK_MONOTONIC in nanoseconds: the tick counter.
fn ticks() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs.saturating_mul(TICKS_PER_SEC).saturating_add(nanos)
}

/// `time`: Plan 9's `readtime`, `"%*lud %*llud %*llud %*llud "` with widths 11, 21, 21, 21.
fn time_text() -> String {
    let nsec = epoch_nanos();
    let ticks = ticks();
    format!(
        "{:>11} {:>21} {:>21} {:>21} ",
        nsec / 1_000_000_000,
        nsec,
        ticks,
        TICKS_PER_SEC
    )
}

/// `bintime`: Plan 9's `readbintime` — whichever of nsec, ticks, fasthz fit in `count`.
fn bintime(count: u32) -> Bytes {
    let mut b = BytesMut::with_capacity(24);
    if count >= 8 {
        b.put_u64(epoch_nanos());
    }
    if count >= 16 {
        b.put_u64(ticks());
    }
    if count >= 24 {
        b.put_u64(TICKS_PER_SEC);
    }
    b.freeze()
}

/// Up to `count` random bytes (at most [`MAX_READ`]).
fn random(count: u32) -> Result<Bytes> {
    let mut buf = vec![0u8; count.min(MAX_READ) as usize];
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => continue,
            // A short read is still a read; nothing at all is an error.
            Err(_) if filled > 0 => break,
            Err(e) => return Err(Error::from_errno(e.raw_os_error())),
        }
    }
    buf.truncate(filled);
    Ok(Bytes::from(buf))
}

fn cstr_text(s: &std::ffi::CStr) -> String {
    s.to_string_lossy().into_owned()
}

#[derive(Debug)]
enum Open {
    No,
    Dir(DirCursor),
    /// A file whose contents do not depend on the read.
    Stream,
    /// A text file's contents, taken at open.
    Text(Bytes),
}

#[derive(Debug)]
struct ConsNode {
    cons: Arc<Cons>,
    file: File,
    open: Mutex<Open>,
}

impl ConsNode {
    fn new(cons: Arc<Cons>, file: File) -> ConsNode {
        ConsNode {
            cons,
            file,
            open: Mutex::new(Open::No),
        }
    }

    /// The contents of a text file now; `None` for the others.
    fn text(&self) -> Option<Bytes> {
        let s = match self.file {
            File::User => self.cons.user.clone(),
            File::Hostowner => self.cons.hostowner.clone(),
            File::Sysname => cstr_text(rustix::system::uname().nodename()),
            File::Osversion => cstr_text(rustix::system::uname().release()),
            File::Pid => num(std::process::id()),
            File::Ppid => num(std::os::unix::process::parent_id()),
            File::Time => time_text(),
            File::Root | File::Null | File::Zero | File::Random | File::Bintime => return None,
        };
        Some(Bytes::from(s))
    }

    fn stat_of(&self, file: File) -> Stat {
        let mut st = stat(file.qid(), file.perm(), 0, file.name(), &self.cons.user);
        st.atime = self.cons.made;
        st.mtime = self.cons.made;
        st
    }
}

#[async_trait]
impl Node for ConsNode {
    fn qid(&self) -> Qid {
        self.file.qid()
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        Ok(Arc::new(ConsNode::new(self.cons.clone(), self.file)))
    }

    async fn walk1(&self, name: &str) -> Result<NodeRef> {
        if self.file != File::Root {
            return Err(Error::WALK_NO_DIR);
        }
        let next = match name {
            ".." => File::Root,
            n => File::lookup(n).ok_or(Error::NOT_FOUND)?,
        };
        Ok(Arc::new(ConsNode::new(self.cons.clone(), next)))
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        let open = if self.file == File::Root {
            check_open_dir(mode)?;
            Open::Dir(DirCursor::new())
        } else {
            check_open(self.file.perm(), mode)?;
            match self.file {
                // Taken afresh at each read.
                File::Time => Open::Stream,
                _ => self.text().map_or(Open::Stream, Open::Text),
            }
        };
        *lock(&self.open) = open;
        Ok(Opened {
            qid: self.qid(),
            iounit: 0,
        })
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        match self.file {
            File::Root => {
                let mut open = lock(&self.open);
                let Open::Dir(cursor) = &mut *open else {
                    return Err(Error::BAD_USE);
                };
                read_dir(cursor, offset, count, || {
                    FILES.iter().map(|&(f, _, _)| self.stat_of(f)).collect()
                })
            }
            File::Null => Ok(Bytes::new()),
            File::Zero => Ok(Bytes::from_static(&ZEROS[..count.min(MAX_READ) as usize])),
            File::Random => random(count),
            File::Bintime => Ok(bintime(count)),
            _ => {
                let held = match &*lock(&self.open) {
                    Open::Text(t) => Some(t.clone()),
                    _ => None,
                };
                let text = held.or_else(|| self.text()).unwrap_or_default();
                Ok(slice_at(&text, offset, count))
            }
        }
    }

    async fn write(&self, _offset: u64, data: Bytes) -> Result<u32> {
        match self.file {
            File::Null => Ok(written(data.len())),
            File::Root => Err(Error::IS_DIR),
            _ => Err(Error::PERM),
        }
    }

    async fn clunk(&self) {
        *lock(&self.open) = Open::No;
    }

    async fn stat(&self) -> Result<Stat> {
        Ok(self.stat_of(self.file))
    }

    async fn wstat(&self, req: &Stat) -> Result<()> {
        wstat_nothing(&self.stat_of(self.file), req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(num(42), "         42 ");
        let t = time_text();
        assert_eq!(t.len(), 12 + 22 * 3);
        assert_eq!(bintime(7).len(), 0);
        assert_eq!(bintime(8).len(), 8);
        assert_eq!(bintime(100).len(), 24);
        assert_eq!(random(0).map(|b| b.len()), Ok(0));
        assert_eq!(random(u32::MAX).map(|b| b.len()), Ok(MAX_READ as usize));
    }

    #[test]
    fn qids_are_unique() {
        let mut paths: Vec<u64> = FILES.iter().map(|&(f, _, _)| f.qid().path).collect();
        paths.push(File::Root.qid().path);
        let n = paths.len();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), n);
    }
}
