//! `#p`: the tree and its nodes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::join_all;
use ninefold_fs::synth::slice_at;
use ninefold_fs::{DirCursor, Error, Node, NodeRef, Opened, Qid, QidType, Result, Stat, Tree};
use ninefold_proto::{dm, om};
use rustix::process::Signal;

use crate::linux::{
    self, FdInfo, ProcStat, ProcStatus, boot_ms, environ_var, parse_pid, pids, split_cmdline,
    start_epoch, user_name,
};
use crate::process::{Ctl, Process, WAITSTOP_POLL, note_signal, parse_ctl};
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
    /// Processes whose /proc files blocked past [`PROC_READ_LIMIT`] and have not answered
    /// since: skipped until they do.
    stuck: Mutex<HashSet<u32>>,
}

/// How long the /proc files of one process may take to read. Reading them can block:
/// `cmdline` and `fd` wait for locks a process stuck in a page fault (on a hung FUSE
/// mount, say) or in the middle of an exec holds, and `stat` can wait too. Such a
/// process is then "process not responding", and left out of listings, instead of
/// hanging every reader (procps `ps` hangs).
pub const PROC_READ_LIMIT: Duration = Duration::from_secs(2);

/// What a process whose /proc files block is.
const NOT_RESPONDING: Error = Error::from_static("process not responding");

fn now_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ProcTree {
    /// The processes of this host, signalled on behalf of uid `principal`. Linux's /proc
    /// is opened now, if it was not already, and read through that directory from then on:
    /// what is later mounted over /proc is not taken for this host's processes.
    pub fn new(principal: u32) -> ProcTree {
        if let Err(e) = linux::proc_dir() {
            tracing::warn!(error = %e, "#p has no processes to show");
        }
        ProcTree {
            inner: Arc::new(Inner {
                principal,
                principal_name: user_name(principal),
                users: Mutex::new(HashMap::new()),
                ns: None,
                made: now_secs(),
                stuck: Mutex::new(HashSet::new()),
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
                stuck: Mutex::new(HashSet::new()),
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
}

/// Runs `f`, which reads the /proc files of process `pid`, on a blocking thread, for at
/// most [`PROC_READ_LIMIT`]: past that it is "process not responding", and so is every
/// later call for `pid` until `f` returns.
async fn off_thread<T, F>(inner: &Arc<Inner>, pid: u32, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Inner) -> Result<T> + Send + 'static,
{
    if lock(&inner.stuck).contains(&pid) {
        return Err(NOT_RESPONDING);
    }
    let done = Arc::new(AtomicBool::new(false));
    let task = {
        let inner = inner.clone();
        let done = done.clone();
        tokio::task::spawn_blocking(move || {
            let r = f(&inner);
            let mut stuck = lock(&inner.stuck);
            done.store(true, Ordering::Relaxed);
            stuck.remove(&pid);
            r
        })
    };
    match tokio::time::timeout(PROC_READ_LIMIT, task).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(pid, error = %e, "reading /proc failed");
            Err(Error::IO)
        }
        Err(_) => {
            let mut stuck = lock(&inner.stuck);
            if !done.load(Ordering::Relaxed) {
                tracing::info!(pid, "process not responding: its /proc files block");
                stuck.insert(pid);
            }
            Err(NOT_RESPONDING)
        }
    }
}

/// How many processes' /proc files are read at once: a listing waits [`PROC_READ_LIMIT`]
/// for processes that do not respond, once per such batch rather than once each.
const BATCH: usize = 32;

/// The root's entries: every process now (but those not responding).
async fn list_root(inner: &Arc<Inner>) -> Vec<Stat> {
    let Ok(pids) = pids() else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(pids.len());
    for batch in pids.chunks(BATCH) {
        let reads = batch.iter().map(|&pid| {
            off_thread(inner, pid, move |inner| {
                let st = ProcStat::read(pid)?;
                let ps = ProcStatus::read(pid)?;
                // Threads are not processes (/proc lists none, but be sure).
                if ps.tgid != pid {
                    return Err(Error::NOT_FOUND);
                }
                Ok(inner.file_stat(pid, st.start, ps.uid, File::Dir))
            })
        });
        out.extend(join_all(reads).await.into_iter().filter_map(Result::ok));
    }
    out
}

/// The processes of process group `pgrp` that the principal may signal, other than
/// `except` and ninefold itself (Plan 9's notepg skips the writer), each held by its own
/// checked pidfd. Processes that go away or do not respond meanwhile are left out.
async fn group_members(inner: &Arc<Inner>, pgrp: u32, except: u32) -> Result<Vec<Arc<Process>>> {
    let me = std::process::id();
    let pids: Vec<u32> = pids()?
        .into_iter()
        .filter(|&pid| pid != me && pid != except)
        .collect();
    let mut out = Vec::new();
    for batch in pids.chunks(BATCH) {
        let reads = batch.iter().map(|&pid| {
            off_thread(inner, pid, move |inner| {
                if ProcStat::read(pid)?.pgrp != pgrp {
                    return Ok(None);
                }
                let p = Process::open(pid)?;
                inner.may_signal(&p)?;
                // Checked again through the pidfd's process: it may have moved meanwhile.
                Ok((p.live()?.pgrp == pgrp).then_some(p))
            })
        });
        let found = join_all(reads).await.into_iter();
        out.extend(found.filter_map(|r| r.ok().flatten()).map(Arc::new));
    }
    Ok(out)
}

/// Sends `sig` to `p`'s process group: `p` (unless it is ninefold) and every other member
/// the principal may signal. Every check is made first; the signals are then sent
/// together, with no wait between them, so a flushed or interrupted write sends all or
/// none.
async fn signal_group(inner: &Arc<Inner>, p: &Arc<Process>, sig: Signal) -> Result<()> {
    let pgrp = {
        let p = p.clone();
        off_thread(inner, p.pid, move |inner| {
            inner.may_signal(&p)?;
            Ok(p.live()?.pgrp)
        })
        .await?
    };
    let others = group_members(inner, pgrp, p.pid).await?;
    if p.pid != std::process::id() {
        p.send(sig)?;
    }
    for m in others {
        if let Err(e) = m.send(sig) {
            tracing::debug!(pid = m.pid, error = %e, "group member not signalled");
        }
    }
    Ok(())
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

/// The text of a read-only file of `p` other than `ns`, now.
fn text_of(inner: &Inner, p: &Process, file: File) -> Result<String> {
    Ok(match file {
        File::Status => {
            let st = p.stat()?;
            let ps = p.status()?;
            text::status(&st, &ps, &inner.user(ps.uid), boot_ms())
        }
        File::Args => {
            let b = linux::read(p.pid, "cmdline")?;
            p.stat()?;
            text::args(&split_cmdline(&b))
        }
        File::Fd => fd_text(p)?,
        File::Noteid => num(u64::from(p.stat()?.pgrp)),
        File::Ppid => num(u64::from(p.stat()?.ppid)),
        File::Ns | File::Note | File::Ctl | File::Notepg | File::Dir => String::new(),
    })
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

    /// Runs `f` on `p` off the async threads (see [`off_thread`]).
    async fn on<T, F>(&self, p: &Arc<Process>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &Process) -> Result<T> + Send + 'static,
    {
        let p = p.clone();
        off_thread(&self.inner, p.pid, move |inner| f(inner, &p)).await
    }

    /// The text of a read-only file of `p`, now.
    async fn text(&self, p: &Arc<Process>, file: File) -> Result<Bytes> {
        let s = match file {
            File::Ns => self.ns_text(p).await?,
            f => self.on(p, move |inner, p| text_of(inner, p, f)).await?,
        };
        Ok(Bytes::from(s))
    }

    async fn ns_text(&self, p: &Arc<Process>) -> Result<String> {
        let session = self
            .on(p, |_, p| {
                let env = linux::read(p.pid, "environ")?;
                p.stat()?;
                Ok(environ_var(&env, SESSION_VAR))
            })
            .await?;
        let Some(session) = session else {
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

    /// Sends `sig` to `p`, if the principal may. The checks read /proc off the async
    /// threads; the signal is then sent in the same poll that returns, so a write that is
    /// flushed (or interrupted through FUSE) has either sent it and replied, or not sent
    /// it — never sent it and then failed.
    async fn signal(&self, p: &Arc<Process>, sig: Signal) -> Result<()> {
        self.on(p, |inner, p| inner.may_signal(p)).await?;
        p.send(sig)
    }

    /// Waits until `p` is stopped; "process exited" if it goes first. Polls, since Linux
    /// tells only a parent or tracer when another process stops; dropping the future (a
    /// flushed write) stops waiting.
    async fn wait_stopped(&self, p: &Arc<Process>) -> Result<()> {
        loop {
            let st = self.on(p, |_, p| p.live()).await?;
            if matches!(st.state, 'T' | 't') {
                return Ok(());
            }
            tokio::time::sleep(WAITSTOP_POLL).await;
        }
    }

    async fn ctl(&self, p: &Arc<Process>, msg: &str) -> Result<()> {
        match parse_ctl(msg)? {
            Ctl::Kill => self.signal(p, Signal::KILL).await,
            Ctl::Killgrp => signal_group(&self.inner, p, Signal::KILL).await,
            Ctl::Stop => self.signal(p, Signal::STOP).await,
            Ctl::Start => self.signal(p, Signal::CONT).await,
            Ctl::Waitstop => {
                self.on(p, |inner, p| inner.may_signal(p)).await?;
                self.wait_stopped(p).await
            }
            Ctl::Startstop => {
                self.signal(p, Signal::CONT).await?;
                self.wait_stopped(p).await
            }
        }
    }
}

/// The `fd` file of `p`.
fn fd_text(p: &Process) -> Result<String> {
    let cwd = linux::read_link(&linux::path(p.pid, "cwd"))?;
    let mut fds: Vec<u32> = linux::list(&linux::path(p.pid, "fd"))?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    fds.sort_unstable();
    let mut lines = Vec::with_capacity(fds.len());
    for fd in fds {
        let link = linux::path(p.pid, &format!("fd/{fd}"));
        // A descriptor closed meanwhile is left out.
        let Ok(name) = linux::read_link(&link) else {
            continue;
        };
        let Ok(info) = linux::read(p.pid, &format!("fdinfo/{fd}")) else {
            continue;
        };
        let meta = linux::stat(&link).ok();
        let kind = meta
            .as_ref()
            .map(|m| rustix::fs::FileType::from_raw_mode(m.st_mode));
        lines.push(FdLine {
            fd,
            info: FdInfo::parse(&String::from_utf8_lossy(&info)),
            dev_char: text::device_char(&name, kind),
            #[allow(clippy::unnecessary_cast)] // c_ulong: u64 here, u32 on 32-bit targets
            dev: meta.as_ref().map_or(0, |m| m.st_dev as u64),
            #[allow(clippy::unnecessary_cast)]
            ino: meta.as_ref().map_or(0, |m| m.st_ino as u64),
            is_dir: kind == Some(rustix::fs::FileType::Directory),
            name,
        });
    }
    // Still the same process: the text is its.
    p.stat()?;
    Ok(text::fd(&cwd, &lines))
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
                let p = off_thread(&self.inner, pid, move |_| Process::open(pid)).await?;
                Ok(self.at(At::Proc(Arc::new(p), File::Dir)))
            }
            At::Proc(_, File::Dir) if name == ".." => Ok(self.at(At::Root)),
            At::Proc(p, File::Dir) => {
                let f = File::lookup(name).ok_or(Error::NOT_FOUND)?;
                self.on(p, |_, p| p.stat()).await?;
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
                    self.on(p, |_, p| p.stat()).await?;
                }
                Open::Dir(DirCursor::new())
            }
            At::Proc(p, f) => {
                let perm = f.perm();
                if (read && perm & 0o444 == 0) || (write && perm & 0o222 == 0) {
                    return Err(Error::PERM);
                }
                if write {
                    self.on(p, |inner, p| inner.may_signal(p)).await?;
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
        // A directory read at 0 lists afresh, before the cursor is locked.
        let fresh = match (&self.at, offset) {
            (At::Root, 0) => Some(list_root(&self.inner).await),
            (At::Proc(p, File::Dir), 0) => {
                let uid = self.on(p, |_, p| Ok(p.status()?.uid)).await?;
                Some(
                    FILES
                        .iter()
                        .map(|&(f, _, _)| self.inner.file_stat(p.pid, p.start, uid, f))
                        .collect(),
                )
            }
            _ => None,
        };
        let mut open = lock(&self.open);
        match &mut *open {
            Open::Dir(cursor) => {
                if cursor.wants_reload(offset) {
                    cursor.reset(fresh.unwrap_or_default());
                }
                cursor.read(offset, count)
            }
            Open::Text(t) => Ok(slice_at(t, offset, count)),
            // note opened for reading and writing: no note is ever pending.
            Open::Write => Ok(Bytes::new()),
            Open::No => Err(Error::BAD_USE),
        }
    }

    async fn write(&self, _offset: u64, data: Bytes) -> Result<u32> {
        let At::Proc(p, f) = &self.at else {
            return Err(Error::IS_DIR);
        };
        let msg = std::str::from_utf8(&data).map_err(|_| Error::BAD_ARG)?;
        match f {
            File::Ctl => self.ctl(p, msg).await?,
            File::Note => self.signal(p, note_signal(msg)?).await?,
            File::Notepg => signal_group(&self.inner, p, note_signal(msg)?).await?,
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
                let f = *f;
                self.on(p, move |inner, p| {
                    let uid = p.status()?.uid;
                    Ok(inner.file_stat(p.pid, p.start, uid, f))
                })
                .await
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A process whose /proc reads block is "not responding" after the limit, at once for
    /// every caller while the read is stuck, and answers again once it returns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocked_reads_are_bounded() {
        let tree = ProcTree::new(0);
        let inner = &tree.inner;
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let start = std::time::Instant::now();
        let r = off_thread(inner, 7, move |_| {
            let _ = rx.recv_timeout(Duration::from_secs(30));
            Ok(())
        })
        .await;
        assert_eq!(r, Err(NOT_RESPONDING));
        assert!(start.elapsed() >= PROC_READ_LIMIT);
        let again = std::time::Instant::now();
        assert_eq!(off_thread(inner, 7, |_| Ok(())).await, Err(NOT_RESPONDING));
        assert!(again.elapsed() < Duration::from_millis(500));
        // Other processes are not held up.
        assert_eq!(off_thread(inner, 8, |_| Ok(8)).await, Ok(8));
        tx.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while off_thread(inner, 7, |_| Ok(())).await.is_err() {
            assert!(std::time::Instant::now() < deadline, "still stuck");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[test]
    fn qids_differ_by_start_time_and_file() {
        let a = qid(42, 1000, File::Dir);
        let b = qid(42, 1001, File::Dir);
        assert_ne!(a.path, b.path);
        assert_ne!(
            qid(42, 1000, File::Ctl).path,
            qid(42, 1000, File::Note).path
        );
        assert_ne!(qid(1, 0, File::Dir).path, ROOT_QID.path);
        assert_eq!(qid(42, 1000, File::Status).ty, QidType::FILE);
        assert_eq!(a.ty, QidType::DIR);
    }
}
