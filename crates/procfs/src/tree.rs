//! `#p`: the tree and its nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use ninefold_fs::synth::slice_at;
use ninefold_fs::{DirCursor, Error, Node, NodeRef, Opened, Qid, QidType, Result, Stat, Tree};
use ninefold_proto::{dm, om};
use rustix::process::Signal;

use crate::linux::{
    self, FdInfo, ProcStat, ProcStatus, boot_ms, environ_var, gone_or, parse_pid, pids,
    split_cmdline, start_epoch, user_name,
};
use crate::process::{Ctl, Process, group_members, note_signal, parse_ctl};
use crate::text::{self, FdLine, STATUS_SIZE, num};

/// Where a process in a ninefold session finds its session: the variable whose value
/// (a control socket) is given to [`NsSource::ns`].
pub const SESSION_VAR: &str = "NINEFOLD_NS";

/// Who can tell the name space of a process in a ninefold session: the `ns` file of a
/// process whose environment has [`SESSION_VAR`] asks this (see [`ProcTree::with_ns`]).
#[async_trait]
pub trait NsSource: Send + Sync + std::fmt::Debug {
    /// The name space, as `/proc/N/ns` text (bind and mount lines, then `cd`), of process
    /// `pid`, which is in the session whose control socket is `session`.
    async fn ns(&self, pid: u32, session: &str) -> Result<String>;
}

/// The files of a process directory, in directory order; a file's number (in its qid) is
/// its index plus one, the directory's 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum File {
    Dir,
    Args,
    Ctl,
    Fd,
    Note,
    Noteid,
    Notepg,
    Ns,
    Ppid,
    Status,
}

const FILES: &[(File, &str, u32)] = &[
    (File::Args, "args", 0o444),
    (File::Ctl, "ctl", 0o200),
    (File::Fd, "fd", 0o400),
    (File::Note, "note", 0o600),
    (File::Noteid, "noteid", 0o444),
    (File::Notepg, "notepg", 0o200),
    (File::Ns, "ns", 0o400),
    (File::Ppid, "ppid", 0o444),
    (File::Status, "status", 0o444),
];

impl File {
    fn number(self) -> u64 {
        FILES
            .iter()
            .position(|&(f, _, _)| f == self)
            .map_or(0, |i| i as u64 + 1)
    }

    fn name(self) -> &'static str {
        FILES
            .iter()
            .find(|&&(f, _, _)| f == self)
            .map_or("", |&(_, n, _)| n)
    }

    fn perm(self) -> u32 {
        FILES
            .iter()
            .find(|&&(f, _, _)| f == self)
            .map_or(dm::DMDIR | 0o555, |&(_, _, p)| p)
    }

    fn lookup(name: &str) -> Option<File> {
        FILES
            .iter()
            .find(|&&(_, n, _)| n == name)
            .map(|&(f, _, _)| f)
    }
}

/// The qid of `file` of the process `pid` that started `start` ticks after boot:
/// `start << 27 | pid << 5 | file`. pids are below 2²², and 37 bits of ticks are 43 years
/// at 100 Hz, so two processes that ever held the same pid have different qids. The root
/// is path 0 (no process has pid 0).
fn qid(pid: u32, start: u64, file: File) -> Qid {
    let ty = if file == File::Dir {
        QidType::DIR
    } else {
        QidType::FILE
    };
    Qid {
        ty,
        version: 0,
        path: (start & ((1 << 37) - 1)) << 27 | u64::from(pid & 0x3f_ffff) << 5 | file.number(),
    }
}

const ROOT_QID: Qid = Qid {
    ty: QidType::DIR,
    version: 0,
    path: 0,
};

/// The process device `#p`: one directory per process Linux's /proc shows, named by pid,
/// holding Plan 9's process files.
///
/// | file | mode | reads | writes |
/// |---|---|---|---|
/// | `args` | 0444 | the arguments, each quoted for `tokenize`, separated by spaces | — |
/// | `ctl` | 0200 | — | `kill` (SIGKILL), `stop` (SIGSTOP), `start` (SIGCONT), `waitstop` (blocks until stopped; "process exited" if it exits first), `startstop` (start, then waitstop), `killgrp` (SIGKILL to the process group); anything else "not supported: MSG" |
/// | `fd` | 0400 | the current directory, then a line per descriptor in Plan 9's layout (`"%3d %.2s %C %4ld (%.16llux %*lud %.2ux) %5ld %8lld %s"`) | — |
/// | `note` | 0600 | nothing (no notes are ever pending: EOF) | a note, sent as a signal ([`note_signal`]) |
/// | `noteid` | 0444 | the process group, as `%11d ` | — |
/// | `notepg` | 0200 | — | a note, sent to every process of the group but ninefold itself |
/// | `ns` | 0400 | for a process in a ninefold session, the session's name space (from the [`NsSource`]); otherwise "not a ninefold session: process N" | — |
/// | `ppid` | 0444 | the parent's pid, as `%11d ` | — |
/// | `status` | 0444 | Plan 9's 176-byte status line ([`crate::STATUS_SIZE`] bytes: name, user, state, six times in ms, memory in KiB, two priorities) | — |
///
/// Text is made when a file is opened; every read of that fid sees it. Writes take one
/// message each, at any offset; opening with OTRUNC is allowed (`echo kill > ctl`).
///
/// **Processes, not pids.** Walking to a process directory opens a pidfd and checks it
/// holds the process /proc described (see `Process::open`); everything done through that
/// fid and the fids walked from it goes to that process. Once it has exited — even if a
/// new process took its pid — opens, reads' text and writes fail with "process exited",
/// and no signal is sent. qids carry the process's start time, so a new process under an
/// old pid has new qids. Thread ids are not walkable.
///
/// **Permission.** The tree has a principal, a uid: writes to `ctl`, `note` and `notepg`
/// (and opening them for writing) are allowed for processes whose real uid is the
/// principal's, or for any if the principal is root; otherwise they fail with "permission
/// denied: process N belongs to USER". The kernel checks too (ninefold may run as a user
/// other than the principal). `notepg` and `killgrp` signal the group's processes that
/// the principal owns and skip the others. Reading `fd` and `ns` of another user's process
/// is what Linux allows (usually "permission denied"). Attach names are ignored.
#[derive(Debug, Clone)]
pub struct ProcTree {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    principal: u32,
    principal_name: String,
    users: Mutex<HashMap<u32, String>>,
    ns: Option<Arc<dyn NsSource>>,
    /// When the tree was made: the root's times.
    made: u32,
}

fn now_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ProcTree {
    /// The processes of this host, signalled on behalf of uid `principal`.
    pub fn new(principal: u32) -> ProcTree {
        ProcTree {
            inner: Arc::new(Inner {
                principal,
                principal_name: user_name(principal),
                users: Mutex::new(HashMap::new()),
                ns: None,
                made: now_secs(),
            }),
        }
    }

    /// As [`ProcTree::new`], for the user ninefold runs as (its effective uid).
    pub fn for_this_user() -> ProcTree {
        ProcTree::new(rustix::process::geteuid().as_raw())
    }

    /// The same processes, with `source` telling the name spaces of processes in ninefold
    /// sessions.
    pub fn with_ns(self, source: Arc<dyn NsSource>) -> ProcTree {
        let i = &self.inner;
        ProcTree {
            inner: Arc::new(Inner {
                principal: i.principal,
                principal_name: i.principal_name.clone(),
                users: Mutex::new(lock(&i.users).clone()),
                ns: Some(source),
                made: i.made,
            }),
        }
    }

    /// The uid allowed to signal.
    pub fn principal(&self) -> u32 {
        self.inner.principal
    }
}

impl Inner {
    fn user(&self, uid: u32) -> String {
        if let Some(n) = lock(&self.users).get(&uid) {
            return n.clone();
        }
        // Looked up outside the lock: NSS may be slow.
        let name = user_name(uid);
        lock(&self.users).insert(uid, name.clone());
        name
    }

    /// Checks that the principal may signal `p`.
    fn may_signal(&self, p: &Process) -> Result<()> {
        if self.principal == 0 {
            p.live()?;
            return Ok(());
        }
        let uid = p.status()?.uid;
        p.live()?;
        if uid == self.principal {
            return Ok(());
        }
        Err(Error::new(format!(
            "permission denied: process {} belongs to {}",
            p.pid,
            self.user(uid)
        )))
    }

    /// Sends `sig` to `p`'s process group: `p` (unless it is ninefold) and every other
    /// member the principal may signal.
    fn signal_group(&self, p: &Process, sig: Signal) -> Result<()> {
        self.may_signal(p)?;
        let pgrp = p.live()?.pgrp;
        let others = group_members(pgrp, p.pid)?;
        if p.pid != std::process::id() {
            p.signal(sig)?;
        }
        for m in others {
            if self.may_signal(&m).is_ok()
                && let Err(e) = m.signal(sig)
            {
                tracing::debug!(pid = m.pid, error = %e, "group member not signalled");
            }
        }
        Ok(())
    }

    fn root_stat(&self) -> Stat {
        let mut st = stat_entry(ROOT_QID, dm::DMDIR | 0o555, 0, "/", &self.principal_name);
        st.atime = self.made;
        st.mtime = self.made;
        st
    }

    /// The stat of `file` of the process (`pid`, `start`) owned by `uid`.
    fn file_stat(&self, pid: u32, start: u64, uid: u32, file: File) -> Stat {
        let name = match file {
            File::Dir => pid.to_string(),
            f => f.name().to_owned(),
        };
        let length = if file == File::Status {
            STATUS_SIZE as u64
        } else {
            0
        };
        let mut st = stat_entry(
            qid(pid, start, file),
            file.perm(),
            length,
            &name,
            &self.user(uid),
        );
        let t = start_epoch(start);
        st.atime = t;
        st.mtime = t;
        st
    }

    /// The root's entries: every process now.
    fn list_root(&self) -> Vec<Stat> {
        let Ok(pids) = pids() else {
            return Vec::new();
        };
        pids.into_iter()
            .filter_map(|pid| {
                let st = ProcStat::read(pid).ok()?;
                let ps = ProcStatus::read(pid).ok()?;
                Some(self.file_stat(pid, st.start, ps.uid, File::Dir))
            })
            .collect()
    }
}

fn stat_entry(qid: Qid, mode: u32, length: u64, name: &str, owner: &str) -> Stat {
    Stat {
        qid,
        mode,
        length,
        name: name.into(),
        uid: owner.into(),
        gid: owner.into(),
        muid: owner.into(),
        ..Stat::default()
    }
}

#[async_trait]
impl Tree for ProcTree {
    /// Every attach sees the same processes; `uname` and `aname` are ignored.
    async fn attach(&self, _uname: &str, _aname: &str) -> Result<NodeRef> {
        Ok(Arc::new(ProcNode::new(self.inner.clone(), At::Root)))
    }
}

#[derive(Debug, Clone)]
enum At {
    Root,
    Proc(Arc<Process>, File),
}

#[derive(Debug)]
enum Open {
    No,
    Dir(DirCursor),
    Text(Bytes),
    Write,
}

#[derive(Debug)]
struct ProcNode {
    inner: Arc<Inner>,
    at: At,
    open: Mutex<Open>,
}

/// Whether an open mode reads and whether it writes (OTRUNC writes; OEXEC reads).
fn access(mode: u8) -> (bool, bool) {
    let (r, w) = match mode & om::OACCMODE {
        om::OWRITE => (false, true),
        om::ORDWR => (true, true),
        _ => (true, false),
    };
    (r, w || mode & om::OTRUNC != 0)
}

impl ProcNode {
    fn new(inner: Arc<Inner>, at: At) -> ProcNode {
        ProcNode {
            inner,
            at,
            open: Mutex::new(Open::No),
        }
    }

    fn at(&self, at: At) -> NodeRef {
        Arc::new(ProcNode::new(self.inner.clone(), at))
    }

    /// The text of a read-only file of `p`, now.
    async fn text(&self, p: &Process, file: File) -> Result<Bytes> {
        let s = match file {
            File::Status => {
                let st = p.stat()?;
                let ps = p.status()?;
                text::status(&st, &ps, &self.inner.user(ps.uid), boot_ms())
            }
            File::Args => {
                let b = linux::read(p.pid, "cmdline")?;
                p.stat()?;
                text::args(&split_cmdline(&b))
            }
            File::Fd => fd_text(p)?,
            File::Ns => self.ns_text(p).await?,
            File::Noteid => num(u64::from(p.stat()?.pgrp)),
            File::Ppid => num(u64::from(p.stat()?.ppid)),
            File::Note | File::Ctl | File::Notepg | File::Dir => String::new(),
        };
        Ok(Bytes::from(s))
    }

    async fn ns_text(&self, p: &Process) -> Result<String> {
        let env = linux::read(p.pid, "environ")?;
        p.stat()?;
        let Some(session) = environ_var(&env, SESSION_VAR) else {
            return Err(Error::new(format!(
                "not a ninefold session: process {}",
                p.pid
            )));
        };
        match &self.inner.ns {
            Some(source) => source.ns(p.pid, &session).await,
            None => Err(Error::new(format!(
                "process {} is in the ninefold session at {session}, which this #p cannot ask",
                p.pid
            ))),
        }
    }

    async fn ctl(&self, p: &Process, msg: &str) -> Result<()> {
        let ctl = parse_ctl(msg)?;
        self.inner.may_signal(p)?;
        match ctl {
            Ctl::Kill => p.signal(Signal::KILL),
            Ctl::Killgrp => self.inner.signal_group(p, Signal::KILL),
            Ctl::Stop => p.signal(Signal::STOP),
            Ctl::Start => p.signal(Signal::CONT),
            Ctl::Waitstop => p.wait_stopped().await,
            Ctl::Startstop => {
                p.signal(Signal::CONT)?;
                p.wait_stopped().await
            }
        }
    }
}

/// The `fd` file of `p`.
fn fd_text(p: &Process) -> Result<String> {
    let cwd = std::fs::read_link(linux::path(p.pid, "cwd")).map_err(gone_or)?;
    let dir = std::fs::read_dir(linux::path(p.pid, "fd")).map_err(gone_or)?;
    let mut fds: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    let mut lines = Vec::with_capacity(fds.len());
    for fd in fds {
        let link = linux::path(p.pid, &format!("fd/{fd}"));
        // A descriptor closed meanwhile is left out.
        let Ok(target) = std::fs::read_link(&link) else {
            continue;
        };
        let Ok(info) = std::fs::read_to_string(linux::path(p.pid, &format!("fdinfo/{fd}"))) else {
            continue;
        };
        let name = target.to_string_lossy().into_owned();
        let meta = std::fs::metadata(&link).ok();
        use std::os::unix::fs::MetadataExt;
        lines.push(FdLine {
            fd,
            info: FdInfo::parse(&info),
            dev_char: text::device_char(&name, meta.as_ref().map(|m| m.file_type())),
            dev: meta.as_ref().map_or(0, |m| m.dev()),
            ino: meta.as_ref().map_or(0, |m| m.ino()),
            is_dir: meta.as_ref().is_some_and(|m| m.is_dir()),
            name,
        });
    }
    // Still the same process: the text is its.
    p.stat()?;
    Ok(text::fd(&cwd.to_string_lossy(), &lines))
}

#[async_trait]
impl Node for ProcNode {
    fn qid(&self) -> Qid {
        match &self.at {
            At::Root => ROOT_QID,
            At::Proc(p, f) => qid(p.pid, p.start, *f),
        }
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        Ok(self.at(self.at.clone()))
    }

    async fn walk1(&self, name: &str) -> Result<NodeRef> {
        match &self.at {
            At::Root if name == ".." => Ok(self.at(At::Root)),
            At::Root => {
                let pid = parse_pid(name).ok_or(Error::NOT_FOUND)?;
                let p = Process::open(pid)?;
                Ok(self.at(At::Proc(Arc::new(p), File::Dir)))
            }
            At::Proc(_, File::Dir) if name == ".." => Ok(self.at(At::Root)),
            At::Proc(p, File::Dir) => {
                let f = File::lookup(name).ok_or(Error::NOT_FOUND)?;
                p.stat()?;
                Ok(self.at(At::Proc(p.clone(), f)))
            }
            At::Proc(..) => Err(Error::WALK_NO_DIR),
        }
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        let (read, write) = access(mode);
        let open = match &self.at {
            At::Root | At::Proc(_, File::Dir) => {
                if write {
                    return Err(Error::IS_DIR);
                }
                if let At::Proc(p, _) = &self.at {
                    p.stat()?;
                }
                Open::Dir(DirCursor::new())
            }
            At::Proc(p, f) => {
                let perm = f.perm();
                if (read && perm & 0o444 == 0) || (write && perm & 0o222 == 0) {
                    return Err(Error::PERM);
                }
                if write {
                    self.inner.may_signal(p)?;
                    Open::Write
                } else {
                    Open::Text(self.text(p, *f).await?)
                }
            }
        };
        *lock(&self.open) = open;
        Ok(Opened {
            qid: self.qid(),
            iounit: 0,
        })
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        let mut open = lock(&self.open);
        match (&self.at, &mut *open) {
            (At::Root, Open::Dir(cursor)) => {
                if cursor.wants_reload(offset) {
                    cursor.reset(self.inner.list_root());
                }
                cursor.read(offset, count)
            }
            (At::Proc(p, File::Dir), Open::Dir(cursor)) => {
                if cursor.wants_reload(offset) {
                    let uid = p.status()?.uid;
                    let entries = FILES
                        .iter()
                        .map(|&(f, _, _)| self.inner.file_stat(p.pid, p.start, uid, f))
                        .collect();
                    cursor.reset(entries);
                }
                cursor.read(offset, count)
            }
            (_, Open::Text(t)) => Ok(slice_at(t, offset, count)),
            _ => Err(Error::BAD_USE),
        }
    }

    async fn write(&self, _offset: u64, data: Bytes) -> Result<u32> {
        let At::Proc(p, f) = &self.at else {
            return Err(Error::IS_DIR);
        };
        let msg = std::str::from_utf8(&data).map_err(|_| Error::BAD_ARG)?;
        match f {
            File::Ctl => self.ctl(p, msg).await?,
            File::Note => {
                let sig = note_signal(msg)?;
                self.inner.may_signal(p)?;
                p.signal(sig)?;
            }
            File::Notepg => {
                let sig = note_signal(msg)?;
                self.inner.signal_group(p, sig)?;
            }
            File::Dir => return Err(Error::IS_DIR),
            _ => return Err(Error::PERM),
        }
        Ok(u32::try_from(data.len()).unwrap_or(u32::MAX))
    }

    async fn clunk(&self) {
        *lock(&self.open) = Open::No;
    }

    async fn stat(&self) -> Result<Stat> {
        match &self.at {
            At::Root => Ok(self.inner.root_stat()),
            At::Proc(p, f) => {
                let uid = p.status()?.uid;
                Ok(self.inner.file_stat(p.pid, p.start, uid, *f))
            }
        }
    }

    async fn wstat(&self, req: &Stat) -> Result<()> {
        // Nothing can change; a wstat asking for no change (a sync) succeeds.
        let cur = self.stat().await?;
        let same = (req.name.is_empty() || req.name == cur.name)
            && (req.length == u64::MAX || req.length == cur.length)
            && (req.mode == u32::MAX || req.mode == cur.mode)
            && (req.mtime == u32::MAX || req.mtime == cur.mtime)
            && (req.uid.is_empty() || req.uid == cur.uid)
            && (req.gid.is_empty() || req.gid == cur.gid);
        if same { Ok(()) } else { Err(Error::PERM) }
    }
}
