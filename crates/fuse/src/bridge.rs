//! FUSE operations in terms of [`Node`]s: the inode table, the open-file table, and one
//! async function per operation. Nothing here touches `/dev/fuse`: an operation returns
//! the reply body (or an errno), and [`crate::session`] writes it; the only message sent
//! from here is a poll wakeup, through a [`Notifier`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ninefold_fs::{Error, NodeRef, Opened, Qid, QidType, Stat};
use ninefold_proto::{dm, om, read_dir_entries};
use tokio::runtime::Handle;

use crate::DirectIo;
use crate::abi::{
    self, Attr, Op, Out, RENAME_NOREPLACE, ROOT_ID, S_IFDIR, S_IFREG, SetAttrIn, Validity, errno,
    fattr, fopen, pollev,
};
use crate::ahead::ReadAhead;
use crate::conn::Notifier;
use crate::prefetch::Prefetch;

/// What the kernel gets back: a reply body or an errno, and what to undo if the reply
/// never reaches the kernel (a lookup's reference, a create's open file).
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) reply: Result<Bytes, i32>,
    pub(crate) undo: Option<Undo>,
}

/// References a reply hands out, to be dropped if the kernel did not take the reply.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Undo {
    pub(crate) nodeid: u64,
    pub(crate) fh: Option<u64>,
}

impl Outcome {
    pub(crate) fn err(e: i32) -> Outcome {
        Outcome {
            reply: Err(e),
            undo: None,
        }
    }
}

impl From<Result<Vec<u8>, i32>> for Outcome {
    fn from(reply: Result<Vec<u8>, i32>) -> Outcome {
        Outcome {
            reply: reply.map(Bytes::from),
            undo: None,
        }
    }
}

impl From<Result<Bytes, i32>> for Outcome {
    fn from(reply: Result<Bytes, i32>) -> Outcome {
        Outcome { reply, undo: None }
    }
}

type R<T> = Result<T, i32>;

fn ex(e: Error) -> i32 {
    e.errno()
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A node we own: one fid. It is clunked exactly once: explicitly (release), by remove,
/// or — when the last reference goes without either (forget, a cancelled open, an
/// unmount with files open) — by a task spawned from `Drop`.
#[derive(Debug)]
pub(crate) struct Fid {
    pub(crate) node: NodeRef,
    gone: AtomicBool,
    rt: Handle,
}

impl Fid {
    fn new(node: NodeRef, rt: &Handle) -> Arc<Fid> {
        Arc::new(Fid {
            node,
            gone: AtomicBool::new(false),
            rt: rt.clone(),
        })
    }

    async fn clunk(&self) {
        if !self.gone.swap(true, Ordering::AcqRel) {
            self.node.clunk().await;
        }
    }

    async fn remove(&self) -> ninefold_fs::Result<()> {
        if self.gone.swap(true, Ordering::AcqRel) {
            return Err(Error::BAD_USE);
        }
        self.node.remove().await
    }
}

impl Drop for Fid {
    fn drop(&mut self) {
        if !self.gone.swap(true, Ordering::AcqRel) {
            let node = self.node.clone();
            // A runtime already shut down drops the task, and with it the node.
            self.rt.spawn(async move { node.clunk().await });
        }
    }
}

/// Inodes are identified by the qid's path and whether it is a directory.
type Key = (u64, bool);

fn key(q: &Qid) -> Key {
    (q.path, q.is_dir())
}

#[derive(Debug)]
struct Inode {
    /// An unopened node for the file: walked from, cloned to open, stat'ed and wstat'ed.
    /// None until first needed for an inode looked up from a directory read's stats
    /// (such an inode is also `stale`: [`Bridge::fresh`] walks it from its parent).
    fid: Option<Arc<Fid>>,
    key: Key,
    /// The kernel's references (lookups not yet forgotten).
    nlookup: u64,
    /// qid.version at the last cached open, to decide whether the page cache is kept.
    cached_version: Option<u32>,
    /// The file's size as last told to the kernel (in an entry or attributes): through
    /// the page cache the kernel reads no further than it.
    told_size: Option<u64>,
    /// Where the kernel last found it: the path to walk again if `fid` went stale.
    parent: u64,
    name: String,
    /// A directory above was renamed through the mount: a host tree's node names the
    /// old path, so the inode is walked again before its next use.
    stale: bool,
}

#[derive(Debug)]
struct Inodes {
    map: HashMap<u64, Inode>,
    by_qid: HashMap<Key, u64>,
    next: u64,
}

/// The stats of recent directory reads, per directory inode: LOOKUP (and GETATTR of
/// an inode not walked yet) is answered from them while they are younger than the
/// mount's entry and attribute timeouts. Bounded in directories and in entries; any
/// change made through the mount empties it.
#[derive(Debug, Default)]
struct DirCache {
    dirs: HashMap<u64, CachedDir>,
    entries: usize,
    next_born: u64,
}

#[derive(Debug)]
struct CachedDir {
    /// Order of creation, for eviction of the oldest.
    born: u64,
    /// When the last stats were added.
    last: Instant,
    stats: HashMap<String, (Instant, Stat)>,
    /// The whole listing in order, once a read of it reached its end, and when.
    listing: Option<(Instant, Arc<Vec<Stat>>)>,
}

/// At most this many directories' stats are kept…
const CACHE_DIRS: usize = 64;
/// …and at most this many stats in all.
const CACHE_ENTRIES: usize = 128 << 10;

impl DirCache {
    fn drop_dir(&mut self, dir: u64) {
        if let Some(d) = self.dirs.remove(&dir) {
            self.entries -= d.stats.len().min(self.entries);
        }
    }

    fn evict_oldest(&mut self, keep: u64) -> bool {
        let oldest = self
            .dirs
            .iter()
            .filter(|&(&id, _)| id != keep)
            .min_by_key(|(_, d)| d.born)
            .map(|(&id, _)| id);
        match oldest {
            Some(id) => {
                self.drop_dir(id);
                true
            }
            None => false,
        }
    }

    /// A listing of `dir` starts afresh: what was kept of it goes, as does anything
    /// expired.
    fn begin(&mut self, dir: u64, ttl: Duration) {
        self.drop_dir(dir);
        let now = Instant::now();
        let old: Vec<u64> = self
            .dirs
            .iter()
            .filter(|(_, d)| now.duration_since(d.last) >= ttl)
            .map(|(&id, _)| id)
            .collect();
        for id in old {
            self.drop_dir(id);
        }
    }

    /// Keeps the stats one 9P read of `dir` brought.
    fn add(&mut self, dir: u64, stats: &[Stat]) {
        let now = Instant::now();
        if !self.dirs.contains_key(&dir) {
            while self.dirs.len() >= CACHE_DIRS {
                if !self.evict_oldest(dir) {
                    break;
                }
            }
            let born = self.next_born;
            self.next_born += 1;
            self.dirs.insert(
                dir,
                CachedDir {
                    born,
                    last: now,
                    stats: HashMap::new(),
                    listing: None,
                },
            );
        }
        while self.entries + stats.len() > CACHE_ENTRIES {
            if !self.evict_oldest(dir) {
                break;
            }
        }
        let Some(d) = self.dirs.get_mut(&dir) else {
            return;
        };
        d.last = now;
        for st in stats {
            if self.entries >= CACHE_ENTRIES {
                break;
            }
            // A union lists a name once per member; a walk finds the first.
            if !d.stats.contains_key(&st.name) {
                d.stats.insert(st.name.clone(), (now, st.clone()));
                self.entries += 1;
            }
        }
    }

    /// A listing of `dir` read to its end: kept whole, for the next listing.
    fn complete(&mut self, dir: u64, listing: Vec<Stat>) {
        if let Some(d) = self.dirs.get_mut(&dir) {
            d.listing = Some((Instant::now(), Arc::new(listing)));
        }
    }

    /// The whole listing of `dir`, if one was read to its end less than `ttl` ago.
    fn listing(&self, dir: u64, ttl: Duration) -> Option<Arc<Vec<Stat>>> {
        let (at, l) = self.dirs.get(&dir)?.listing.as_ref()?;
        (at.elapsed() < ttl).then(|| l.clone())
    }

    /// The stat of `name` in `dir`, if read less than `ttl` ago.
    fn get(&self, dir: u64, name: &str, ttl: Duration) -> Option<Stat> {
        let (at, st) = self.dirs.get(&dir)?.stats.get(name)?;
        (at.elapsed() < ttl).then(|| st.clone())
    }

    fn forget_name(&mut self, dir: u64, name: &str) {
        if let Some(d) = self.dirs.get_mut(&dir)
            && d.stats.remove(name).is_some()
        {
            self.entries = self.entries.saturating_sub(1);
        }
    }

    fn clear(&mut self) {
        if !self.dirs.is_empty() {
            self.dirs.clear();
            self.entries = 0;
        }
    }
}

#[derive(Debug)]
struct DirState {
    /// The directory's inode, whose stats the listing feeds to the [`DirCache`].
    nodeid: u64,
    /// Entries read so far; kernel offset `i` is entry `i` (`.` and `..` first).
    entries: Vec<DirEntry>,
    /// Where the next 9P directory read continues.
    offset: u64,
    eof: bool,
}

/// A listed file, as READDIR shows it.
fn dir_entry(st: Stat) -> DirEntry {
    DirEntry {
        name: st.name.clone().into_bytes(),
        ino: st.qid.path,
        dir: st.qid.is_dir() || st.mode & dm::DMDIR != 0,
        stat: Some(st),
    }
}

#[derive(Debug)]
struct DirEntry {
    /// What READDIRPLUS tells of it (not `.` and `..`).
    stat: Option<Stat>,
    name: Vec<u8>,
    ino: u64,
    dir: bool,
}

#[derive(Debug)]
enum Kind {
    File {
        direct: bool,
        /// Open for reading (not only for writing).
        readable: bool,
        /// For a synthetic file open for reading: what poll(2) reads ahead.
        ahead: Option<Arc<ReadAhead>>,
        /// For a page-cached file open for reading: sequential reads fetched ahead.
        prefetch: Option<Prefetch>,
    },
    Dir(tokio::sync::Mutex<DirState>),
}

impl Kind {
    /// An open file with qid `q`, opened with 9P mode `mode`. A synthetic file whose
    /// reads may wait (direct_io, open for reading) learns poll readiness by reading
    /// ahead; a real file read through direct_io ([`DirectIo::Always`]) never waits.
    fn file(q: &Qid, direct: bool, mode: u8) -> Kind {
        let readable = mode & om::OACCMODE != om::OWRITE;
        Kind::File {
            direct,
            readable,
            ahead: (direct && synthetic(q) && readable).then(Arc::default),
            prefetch: (!direct && readable).then(Prefetch::default),
        }
    }
}

/// A file whose contents nothing may cache: the server does not track its versions
/// (qid.version 0), or it is append-only or exclusive.
fn synthetic(q: &Qid) -> bool {
    q.version == 0 || q.ty.0 & (QidType::APPEND.0 | QidType::EXCL.0) != 0
}

/// One open file: its own fid, opened.
#[derive(Debug)]
struct OpenFile {
    fid: Arc<Fid>,
    iounit: u32,
    kind: Kind,
}

/// Settings the operations need.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) validity: Validity,
    pub(crate) direct_io: DirectIo,
}

/// The state of one mount.
#[derive(Debug)]
pub(crate) struct Bridge {
    inodes: Mutex<Inodes>,
    dircache: Mutex<DirCache>,
    files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    next_fh: AtomicU64,
    rt: Handle,
    cfg: Config,
    wake: Notifier,
    /// Changes made through the mount, counted: see [`Prefetch`].
    writes: AtomicU64,
}

/// How much one 9P directory read asks for.
const DIR_READ: u32 = 64 << 10;

impl Bridge {
    pub(crate) fn new(root: NodeRef, rt: Handle, cfg: Config, wake: Notifier) -> Bridge {
        let root_key = key(&root.qid());
        let mut map = HashMap::new();
        map.insert(
            ROOT_ID,
            Inode {
                fid: Some(Fid::new(root, &rt)),
                key: root_key,
                nlookup: 1,
                cached_version: None,
                told_size: None,
                parent: ROOT_ID,
                name: String::new(),
                stale: false,
            },
        );
        let mut by_qid = HashMap::new();
        by_qid.insert(root_key, ROOT_ID);
        Bridge {
            inodes: Mutex::new(Inodes {
                map,
                by_qid,
                next: ROOT_ID + 1,
            }),
            dircache: Mutex::new(DirCache::default()),
            files: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            rt,
            cfg,
            wake,
            writes: AtomicU64::new(0),
        }
    }

    /// How many inodes and open files are held (for tests of bounded memory).
    pub(crate) fn counts(&self) -> (usize, usize) {
        (lock(&self.inodes).map.len(), lock(&self.files).len())
    }

    fn file(&self, fh: u64) -> R<Arc<OpenFile>> {
        lock(&self.files).get(&fh).cloned().ok_or(errno::EBADF)
    }

    /// The read-ahead of an open file, if it has one.
    #[cfg(test)]
    pub(crate) fn ahead(&self, fh: u64) -> Option<Arc<ReadAhead>> {
        match &self.file(fh).ok()?.kind {
            Kind::File { ahead, .. } => ahead.clone(),
            Kind::Dir(_) => None,
        }
    }

    /// Records one kernel reference to the file `fid` names, newest fid first: the one
    /// just walked names the file by its current path (a host tree's nodes are lexical).
    fn remember(&self, fid: Arc<Fid>, parent: u64, name: &str) -> u64 {
        let k = key(&fid.node.qid());
        let mut t = lock(&self.inodes);
        if let Some(&id) = t.by_qid.get(&k)
            && let Some(ino) = t.map.get_mut(&id)
        {
            if id != ROOT_ID && id != parent {
                ino.nlookup += 1;
                ino.fid = Some(fid);
                ino.parent = parent;
                name.clone_into(&mut ino.name);
                ino.stale = false;
            } else if id == parent {
                ino.nlookup += 1;
            }
            return id;
        }
        let id = t.next;
        t.next += 1;
        t.map.insert(
            id,
            Inode {
                fid: Some(fid),
                key: k,
                nlookup: 1,
                cached_version: None,
                told_size: None,
                parent,
                name: name.to_owned(),
                stale: false,
            },
        );
        t.by_qid.insert(k, id);
        id
    }

    /// The inode's fid, walked again from the nearest sound ancestor if it went stale.
    async fn fresh(&self, nodeid: u64) -> R<Arc<Fid>> {
        // The names from the nearest ancestor that is not stale, and that ancestor's fid.
        let (mut names, start, want) = {
            let t = lock(&self.inodes);
            let ino = t.map.get(&nodeid).ok_or(errno::ENOENT)?;
            if !ino.stale
                && let Some(fid) = &ino.fid
            {
                return Ok(fid.clone());
            }
            let want = ino.key;
            let mut names = vec![ino.name.clone()];
            let mut cur = ino.parent;
            loop {
                let up = t.map.get(&cur).ok_or(errno::ENOENT)?;
                if (!up.stale || cur == ROOT_ID)
                    && let Some(fid) = &up.fid
                {
                    break (names, fid.clone(), want);
                }
                if names.len() > 4096 {
                    return Err(errno::ENOENT);
                }
                names.push(up.name.clone());
                cur = up.parent;
            }
        };
        names.reverse();
        let walked = start.node.walk(&names).await.map_err(ex)?;
        let node = walked.node.ok_or(errno::ENOENT)?;
        if key(&node.qid()) != want {
            // Another file now has the name (or a directory read's stats disagree with
            // a walk): nothing cached may say otherwise, and the kernel looks it up
            // again after ESTALE.
            self.forget_stats(nodeid);
            return Err(errno::ESTALE);
        }
        let fid = Fid::new(node, &self.rt);
        let mut t = lock(&self.inodes);
        if let Some(ino) = t.map.get_mut(&nodeid) {
            // Walked once per inode: a concurrent walk that finished first wins.
            if !ino.stale
                && let Some(have) = &ino.fid
            {
                return Ok(have.clone());
            }
            ino.fid = Some(fid.clone());
            ino.stale = false;
        }
        Ok(fid)
    }

    /// The inode the kernel knows by the path `names` from the root, if it knows one.
    pub(crate) fn known(&self, names: &[&str]) -> Option<u64> {
        let t = lock(&self.inodes);
        let mut cur = ROOT_ID;
        for name in names {
            cur = t
                .map
                .iter()
                .find(|(_, i)| i.parent == cur && i.name == *name)
                .map(|(id, _)| *id)?;
        }
        Some(cur)
    }

    /// Something changed beneath the mount that did not come through it: no cached
    /// directory read is trusted.
    pub(crate) fn forget_listings(&self) {
        lock(&self.dircache).clear();
    }

    /// Drops the cached stat of the name `nodeid` was found by.
    fn forget_stats(&self, nodeid: u64) {
        let found = {
            let t = lock(&self.inodes);
            t.map.get(&nodeid).map(|i| (i.parent, i.name.clone()))
        };
        if let Some((parent, name)) = found {
            lock(&self.dircache).forget_name(parent, &name);
        }
    }

    /// How long a directory read's stats may answer: the shorter of the kernel's
    /// timeouts.
    fn stats_ttl(&self) -> Duration {
        self.cfg.validity.entry.min(self.cfg.validity.attr)
    }

    /// Something changed through the mount: no cached stat is trusted.
    fn changed(&self) {
        lock(&self.dircache).clear();
        // What open files fetched ahead may now be stale.
        self.writes.fetch_add(1, Ordering::AcqRel);
    }

    /// Records one kernel reference to `name` in `parent`, known only by its stat from
    /// a directory read: the inode is walked when first needed.
    fn remember_lazy(&self, k: Key, parent: u64, name: &str) -> R<u64> {
        let mut t = lock(&self.inodes);
        if !t.map.contains_key(&parent) {
            return Err(errno::ENOENT);
        }
        if let Some(&id) = t.by_qid.get(&k)
            && let Some(ino) = t.map.get_mut(&id)
        {
            if id != ROOT_ID && id != parent {
                ino.nlookup += 1;
                if ino.parent != parent || ino.name != name {
                    // Found by another path now: walked again by that one when used.
                    ino.parent = parent;
                    name.clone_into(&mut ino.name);
                    ino.stale = true;
                }
            } else if id == parent {
                ino.nlookup += 1;
            }
            return Ok(id);
        }
        let id = t.next;
        t.next += 1;
        t.map.insert(
            id,
            Inode {
                fid: None,
                key: k,
                nlookup: 1,
                cached_version: None,
                told_size: None,
                parent,
                name: name.to_owned(),
                stale: true,
            },
        );
        t.by_qid.insert(k, id);
        Ok(id)
    }

    /// After directory `dir` was renamed: every inode beneath it is stale.
    fn stale_beneath(&self, dir: u64) {
        let mut t = lock(&self.inodes);
        let below: Vec<u64> = t
            .map
            .iter()
            .filter(|&(&id, _)| {
                let mut cur = id;
                for _ in 0..4096 {
                    let Some(ino) = t.map.get(&cur) else {
                        return false;
                    };
                    if ino.parent == dir && cur != dir {
                        return true;
                    }
                    if cur == ROOT_ID {
                        return false;
                    }
                    cur = ino.parent;
                }
                false
            })
            .map(|(&id, _)| id)
            .collect();
        for id in below {
            if let Some(ino) = t.map.get_mut(&id) {
                ino.stale = true;
            }
        }
    }

    /// The kernel dropped `n` references.
    pub(crate) fn forget(&self, nodeid: u64, n: u64) {
        if nodeid == ROOT_ID {
            return;
        }
        let dropped = {
            let mut t = lock(&self.inodes);
            let Some(ino) = t.map.get_mut(&nodeid) else {
                return;
            };
            ino.nlookup = ino.nlookup.saturating_sub(n);
            if ino.nlookup > 0 {
                return;
            }
            let gone = t.map.remove(&nodeid);
            if let Some(g) = &gone
                && t.by_qid.get(&g.key) == Some(&nodeid)
            {
                t.by_qid.remove(&g.key);
            }
            gone
        };
        // The fid (clunked by its Drop) goes outside the lock.
        drop(dropped);
    }

    /// A removed file's qid no longer names that inode: a new file may reuse the path.
    fn unmap(&self, k: Key) {
        let mut t = lock(&self.inodes);
        if let Some(&id) = t.by_qid.get(&k)
            && id != ROOT_ID
        {
            t.by_qid.remove(&k);
        }
    }

    /// The inode with `fid`'s qid (if the kernel knows it) was renamed to `name`: it
    /// takes `fid`, which knows the new name, and what is beneath it goes stale.
    fn renamed(&self, fid: Arc<Fid>, name: &str) {
        let k = key(&fid.node.qid());
        let dir = {
            let mut t = lock(&self.inodes);
            let Some(&id) = t.by_qid.get(&k) else {
                return;
            };
            let Some(ino) = t.map.get_mut(&id) else {
                return;
            };
            if id == ROOT_ID {
                return;
            }
            ino.fid = Some(fid);
            name.clone_into(&mut ino.name);
            ino.stale = false;
            k.1.then_some(id)
        };
        if let Some(dir) = dir {
            self.stale_beneath(dir);
        }
    }

    /// Undoes what a reply handed out when the kernel did not take it.
    pub(crate) fn undo(&self, u: Undo) {
        self.forget(u.nodeid, 1);
        if let Some(fh) = u.fh {
            let f = lock(&self.files).remove(&fh);
            // Its fid is clunked by Drop.
            drop(f);
        }
    }

    /// Drops every open file, as at unmount: their fids are clunked.
    pub(crate) fn close_all(&self) {
        let files: Vec<_> = lock(&self.files).drain().collect();
        drop(files);
    }

    fn attr(&self, st: &Stat) -> Attr {
        let dir = st.qid.is_dir() || st.mode & dm::DMDIR != 0;
        Attr {
            ino: st.qid.path,
            size: st.length,
            atime: st.atime.into(),
            mtime: st.mtime.into(),
            mode: (if dir { S_IFDIR } else { S_IFREG }) | (st.mode & dm::PERM_MASK),
            uid: self.cfg.uid,
            gid: self.cfg.gid,
        }
    }

    /// The attributes of inode `nodeid` for the kernel, remembering the size they say.
    fn told(&self, nodeid: u64, st: &Stat) -> Attr {
        let attr = self.attr(st);
        if let Some(ino) = lock(&self.inodes).map.get_mut(&nodeid) {
            ino.told_size = Some(attr.size);
        }
        attr
    }

    fn entry(&self, nodeid: u64, st: &Stat) -> Vec<u8> {
        let mut o = Out::with_capacity(128);
        abi::entry_out(&mut o, nodeid, &self.told(nodeid, st), self.cfg.validity);
        o.0
    }

    fn attr_reply(&self, nodeid: u64, st: &Stat) -> Vec<u8> {
        let mut o = Out::with_capacity(104);
        abi::attr_out(&mut o, &self.told(nodeid, st), self.cfg.validity);
        o.0
    }

    /// Whether reads of a file opened with this qid bypass the page cache.
    fn direct(&self, q: &Qid) -> bool {
        match self.cfg.direct_io {
            DirectIo::Always => true,
            DirectIo::Never => false,
            DirectIo::Auto => synthetic(q),
        }
    }

    /// Whether an OPEN of inode `nodeid` with 9P mode `mode`, answered with qid `q`,
    /// bypasses the page cache: as [`Bridge::direct`] says, and also (in
    /// [`DirectIo::Auto`]) when it is opened only for reading and the kernel believes the
    /// file empty. Through the page cache the kernel never asks for bytes past the size
    /// it was told, so a file whose stat says 0 but that has contents — Linux's /proc
    /// files served from a host directory, any server's generated file that keeps a
    /// qid.version — would read as empty; read directly, such a file reads what the tree
    /// returns, and a file that really is empty reads the same nothing. Opens for
    /// writing keep the page cache: what they write the kernel learns (the size grows
    /// through the mount), and a shared mmap, which direct_io refuses, stays possible.
    fn direct_open(&self, nodeid: u64, q: &Qid, mode: u8) -> bool {
        if self.direct(q) {
            return true;
        }
        if self.cfg.direct_io != DirectIo::Auto || mode & om::OACCMODE != om::OREAD {
            return false;
        }
        let told = lock(&self.inodes)
            .map
            .get(&nodeid)
            .and_then(|i| i.told_size);
        told == Some(0)
    }

    fn add_file(&self, f: OpenFile) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.files).insert(fh, Arc::new(f));
        fh
    }

    /// Serves one request (not INIT, DESTROY, FORGET or INTERRUPT, which the session
    /// handles itself).
    pub(crate) async fn call(&self, nodeid: u64, op: Op) -> Outcome {
        // A change made through the mount empties the cache of directory reads' stats,
        // before (so nothing answers from it meanwhile) and after (a listing read while
        // the change was made may hold the old stat).
        let changes = matches!(
            op,
            Op::SetAttr(_)
                | Op::Write { .. }
                | Op::Create { .. }
                | Op::Mkdir { .. }
                | Op::Mknod { .. }
                | Op::Unlink { .. }
                | Op::Rmdir { .. }
                | Op::Rename { .. }
        );
        if !changes {
            return self.serve(nodeid, op).await;
        }
        self.changed();
        let out = self.serve(nodeid, op).await;
        self.changed();
        out
    }

    async fn serve(&self, nodeid: u64, op: Op) -> Outcome {
        match op {
            Op::Lookup { name } => self.lookup(nodeid, &name).await,
            Op::GetAttr { fh } => self.getattr(nodeid, fh).await.into(),
            Op::SetAttr(a) => self.setattr(nodeid, a).await.into(),
            Op::Open { flags } => self.open(nodeid, flags).await.into(),
            Op::Read { fh, offset, size } => self.read(fh, offset, size).await.into(),
            Op::Write { fh, offset, data } => self.write(fh, offset, data).await.into(),
            Op::Release { fh } | Op::ReleaseDir { fh } => self.release(fh).await.into(),
            // Nothing to do at close(2), and close must never wait on us: a child forked
            // while a mount goes away would hang in exec, closing an inherited file of a
            // connection nobody serves (FLUSH is uninterruptible). NOFLUSH on every open
            // says so; a kernel that sends one anyway hears ENOSYS and sends no more.
            Op::Flush => Outcome::err(errno::ENOSYS),
            Op::FsyncDir => Ok(Vec::new()).into(),
            Op::Fsync { fh } => self.fsync(fh).await.into(),
            Op::OpenDir => self.opendir(nodeid).await.into(),
            Op::ReadDir {
                fh,
                offset,
                size,
                plus,
            } => self.readdir(fh, offset, size, plus).await.into(),
            Op::Create { name, mode, flags } => self.create(nodeid, &name, mode, flags).await,
            Op::Mkdir { name, mode } => self.mkdir(nodeid, &name, mode).await,
            Op::Mknod { name, mode } => self.mknod(nodeid, &name, mode).await,
            Op::Unlink { name } => self.remove(nodeid, &name, false).await.into(),
            Op::Rmdir { name } => self.remove(nodeid, &name, true).await.into(),
            Op::Rename {
                newdir,
                flags,
                old,
                new,
            } => self.rename(nodeid, &old, newdir, &new, flags).await.into(),
            Op::StatFs => {
                let mut o = Out::with_capacity(80);
                abi::statfs_out(&mut o);
                Ok(o.0).into()
            }
            Op::Poll {
                fh,
                kh,
                flags,
                events,
            } => self.poll(fh, kh, flags, events).await.into(),
            Op::NoLinks => Outcome::err(errno::EPERM),
            Op::Unsupported
            | Op::Init { .. }
            | Op::Destroy
            | Op::Interrupt { .. }
            | Op::Forget { .. }
            | Op::BatchForget { .. } => Outcome::err(errno::ENOSYS),
        }
    }

    async fn lookup(&self, parent: u64, name: &[u8]) -> Outcome {
        let r = async {
            let name = lookup_name(name)?;
            if name != "." {
                let cached = lock(&self.dircache).get(parent, name, self.stats_ttl());
                if let Some(st) = cached {
                    let id = self.remember_lazy(key(&st.qid), parent, name)?;
                    return Ok((self.entry(id, &st), id));
                }
            }
            let pfid = self.fresh(parent).await?;
            if name == "." {
                let st = pfid.node.stat().await.map_err(ex)?;
                let id = self.remember(pfid, parent, "");
                return Ok((self.entry(id, &st), id));
            }
            let fid = Fid::new(pfid.node.walk1(name).await.map_err(ex)?, &self.rt);
            let st = fid.node.stat().await.map_err(ex)?;
            let id = self.remember(fid, parent, name);
            Ok((self.entry(id, &st), id))
        }
        .await;
        match r {
            Ok((body, nodeid)) => Outcome {
                reply: Ok(body.into()),
                undo: Some(Undo { nodeid, fh: None }),
            },
            Err(e) => Outcome::err(e),
        }
    }

    async fn getattr(&self, nodeid: u64, fh: Option<u64>) -> R<Vec<u8>> {
        // fstat on an open file stats that fid: opening /net's clone made it a ctl.
        let fid = match fh.map(|fh| self.file(fh)) {
            Some(Ok(f)) => f.fid.clone(),
            _ => {
                if let Some(st) = self.unwalked_stat(nodeid) {
                    return Ok(self.attr_reply(nodeid, &st));
                }
                self.fresh(nodeid).await?
            }
        };
        let st = fid.node.stat().await.map_err(ex)?;
        Ok(self.attr_reply(nodeid, &st))
    }

    /// For an inode not walked yet, the stat of its directory's recent read, if that
    /// still names the same file.
    fn unwalked_stat(&self, nodeid: u64) -> Option<Stat> {
        let (parent, name, k) = {
            let t = lock(&self.inodes);
            let ino = t.map.get(&nodeid)?;
            if ino.fid.is_some() {
                return None;
            }
            (ino.parent, ino.name.clone(), ino.key)
        };
        let st = lock(&self.dircache).get(parent, &name, self.stats_ttl())?;
        (key(&st.qid) == k).then_some(st)
    }

    async fn setattr(&self, nodeid: u64, a: SetAttrIn) -> R<Vec<u8>> {
        let fid = match (a.valid & fattr::FH != 0).then(|| self.file(a.fh)) {
            Some(Ok(f)) => f.fid.clone(),
            _ => self.fresh(nodeid).await?,
        };
        let cur = fid.node.stat().await.map_err(ex)?;
        let mut want = Stat::dont_touch();
        if a.valid & fattr::MODE != 0 {
            want.mode = (cur.mode & !dm::PERM_MASK) | (a.mode & dm::PERM_MASK);
        }
        // Every file shows as the mounting user's: chown to that is no change.
        if a.valid & fattr::UID != 0 && a.uid != self.cfg.uid {
            return Err(errno::EPERM);
        }
        if a.valid & fattr::GID != 0 && a.gid != self.cfg.gid {
            return Err(errno::EPERM);
        }
        if a.valid & fattr::SIZE != 0 {
            want.length = a.size;
        }
        let now = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        let secs = |t: u64| u32::try_from(t).unwrap_or(u32::MAX - 1).min(u32::MAX - 1);
        if a.valid & fattr::ATIME_NOW != 0 {
            want.atime = secs(now());
        } else if a.valid & fattr::ATIME != 0 {
            want.atime = secs(a.atime);
        }
        if a.valid & fattr::MTIME_NOW != 0 {
            want.mtime = secs(now());
        } else if a.valid & fattr::MTIME != 0 {
            want.mtime = secs(a.mtime);
        }
        if want != Stat::dont_touch()
            && let Err(e) = fid.node.wstat(&want).await
        {
            // `> ctl` on a synthetic file: the truncate that follows open(O_TRUNC) (when
            // the kernel sends one) is no error, whatever the file thinks.
            let synthetic = cur.qid.version == 0 && !cur.qid.is_dir();
            let truncating = a.valid & fattr::SIZE != 0 && a.size == 0;
            if !(synthetic && truncating) {
                return Err(ex(e));
            }
        }
        let st = fid.node.stat().await.map_err(ex)?;
        Ok(self.attr_reply(nodeid, &st))
    }

    async fn open(&self, nodeid: u64, flags: u32) -> R<Vec<u8>> {
        let ifid = self.fresh(nodeid).await?;
        let fid = Fid::new(ifid.node.clone_node().await.map_err(ex)?, &self.rt);
        let mode = open_mode(flags);
        let opened = match fid.node.open(mode).await {
            Ok(o) => o,
            // A synthetic file that refuses OTRUNC is opened without it: `echo x >ctl`.
            Err(_) if mode & om::OTRUNC != 0 && ifid.node.qid().version == 0 => {
                fid.node.open(mode & !om::OTRUNC).await.map_err(ex)?
            }
            Err(e) => return Err(ex(e)),
        };
        let direct = self.direct_open(nodeid, &opened.qid, mode);
        let mut flags = fopen::NOFLUSH;
        if direct {
            flags |= fopen::DIRECT_IO;
        } else if self.keep_cache(nodeid, &opened) {
            flags |= fopen::KEEP_CACHE;
        }
        let fh = self.add_file(OpenFile {
            fid,
            iounit: opened.iounit,
            kind: Kind::file(&opened.qid, direct, mode),
        });
        let mut o = Out::with_capacity(16);
        abi::open_out(&mut o, fh, flags);
        Ok(o.0)
    }

    /// The page cache of a file is kept across opens while its qid.version stays.
    fn keep_cache(&self, nodeid: u64, opened: &Opened) -> bool {
        let mut t = lock(&self.inodes);
        let Some(ino) = t.map.get_mut(&nodeid) else {
            return false;
        };
        let keep = ino.cached_version == Some(opened.qid.version);
        ino.cached_version = Some(opened.qid.version);
        keep
    }

    async fn read(&self, fh: u64, offset: u64, size: u32) -> R<Bytes> {
        let f = self.file(fh)?;
        let Kind::File {
            direct,
            ahead,
            prefetch,
            ..
        } = &f.kind
        else {
            return Err(errno::EISDIR);
        };
        let direct = *direct;
        if let Some(p) = prefetch {
            let writes = self.writes.load(Ordering::Acquire);
            if let Some(r) = p.read(&f.fid.node, &self.rt, writes, offset, size).await {
                return r;
            }
        }
        let cap = |n: u32| if f.iounit > 0 { n.min(f.iounit) } else { n };
        if let Some(ahead) = ahead {
            // What a poll read ahead comes first; else one read(2), one tree read.
            return ahead
                .read(&f.fid, offset, size, cap(size), &self.wake)
                .await;
        }
        if direct {
            // One read(2), one tree read: what it returns is what the caller gets.
            let data = f.fid.node.read(offset, cap(size)).await.map_err(ex)?;
            let n = data.len().min(size as usize);
            return Ok(data.slice(..n));
        }
        // Through the page cache a short read means end of file: fill the request (with
        // no copy when one tree read does).
        let first = f.fid.node.read(offset, cap(size)).await.map_err(ex)?;
        if first.len() >= size as usize || first.is_empty() {
            return Ok(first.slice(..first.len().min(size as usize)));
        }
        let mut out = first.to_vec();
        out.reserve(size as usize - out.len());
        while out.len() < size as usize {
            let want = cap(size - out.len() as u32);
            let data = f
                .fid
                .node
                .read(offset.saturating_add(out.len() as u64), want)
                .await
                .map_err(ex)?;
            if data.is_empty() {
                break;
            }
            let n = data.len().min(size as usize - out.len());
            out.extend_from_slice(&data[..n]);
        }
        Ok(out.into())
    }

    async fn write(&self, fh: u64, offset: u64, data: Bytes) -> R<Vec<u8>> {
        let f = self.file(fh)?;
        let Kind::File { direct, .. } = f.kind else {
            return Err(errno::EISDIR);
        };
        let total = data.len();
        let mut done = 0usize;
        while done < total {
            let mut chunk = data.slice(done..);
            if f.iounit > 0 && chunk.len() > f.iounit as usize {
                chunk.truncate(f.iounit as usize);
            }
            let n = f
                .fid
                .node
                .write(offset.saturating_add(done as u64), chunk)
                .await
                .map_err(ex)? as usize;
            done += n.min(total - done);
            // A synthetic file's short write is its answer; a regular file's is retried.
            if direct || n == 0 {
                break;
            }
        }
        let mut o = Out::with_capacity(8);
        abi::write_out(&mut o, done as u32);
        Ok(o.0)
    }

    async fn release(&self, fh: u64) -> R<Vec<u8>> {
        // The kernel sends nothing more for `fh`; it leaves the table once all is done,
        // so what is held never counts a file whose read is still being cancelled.
        let f = lock(&self.files).get(&fh).cloned();
        if let Some(f) = f {
            // A background read still running is cancelled (Tflush) before the clunk.
            if let Kind::File { ahead: Some(a), .. } = &f.kind
                && let Some(task) = a.stop()
            {
                let _ = task.await;
            }
            if let Kind::File {
                prefetch: Some(p), ..
            } = &f.kind
            {
                p.stop();
            }
            f.fid.clunk().await;
        }
        let f = lock(&self.files).remove(&fh);
        drop(f);
        Ok(Vec::new())
    }

    /// poll(2) on an open file. A synthetic file open for reading is ready once a read
    /// of it has something to give (see [`ReadAhead`]); anything else is ready at once
    /// for what it was opened for.
    async fn poll(&self, fh: u64, kh: u64, flags: u32, events: u32) -> R<Vec<u8>> {
        let f = self.file(fh)?;
        let revents = match &f.kind {
            Kind::File { ahead: Some(a), .. } => {
                a.poll(&f.fid, f.iounit, kh, flags, events, &self.rt, &self.wake)
                    .await
            }
            // Open only for writing: never readable, as a pipe's writing end.
            Kind::File {
                readable: false, ..
            } => pollev::WRITABLE,
            // A real file's reads never wait (through the page cache or not).
            Kind::File { .. } | Kind::Dir(_) => pollev::READABLE | pollev::WRITABLE,
        };
        let mut o = Out::with_capacity(8);
        abi::poll_out(&mut o, revents);
        Ok(o.0)
    }

    async fn fsync(&self, fh: u64) -> R<Vec<u8>> {
        let f = self.file(fh)?;
        // A wstat that changes nothing is 9P's sync. Synthetic files have nothing to sync
        // and may refuse every wstat: that is no failure of fsync(2).
        match f.fid.node.wstat(&Stat::dont_touch()).await {
            Err(_) if matches!(f.kind, Kind::File { direct: true, .. }) => Ok(Vec::new()),
            Err(e) => Err(ex(e)),
            Ok(()) => Ok(Vec::new()),
        }
    }

    async fn opendir(&self, nodeid: u64) -> R<Vec<u8>> {
        let ifid = self.fresh(nodeid).await?;
        let fid = Fid::new(ifid.node.clone_node().await.map_err(ex)?, &self.rt);
        let opened = fid.node.open(om::OREAD).await.map_err(ex)?;
        let fh = self.add_file(OpenFile {
            fid,
            iounit: opened.iounit,
            kind: Kind::Dir(tokio::sync::Mutex::new(DirState {
                nodeid,
                entries: Vec::new(),
                offset: 0,
                eof: false,
            })),
        });
        let mut o = Out::with_capacity(16);
        abi::open_out(&mut o, fh, 0);
        Ok(o.0)
    }

    /// READDIR, or READDIRPLUS (`plus`): then each entry comes with the inode and
    /// attributes LOOKUP would give from the same stat, so `ls -l` needs no LOOKUP at all.
    /// Every entry sent counts as one lookup of its inode (the kernel FORGETs it later).
    async fn readdir(&self, fh: u64, offset: u64, size: u32, plus: bool) -> R<Vec<u8>> {
        let f = self.file(fh)?;
        let Kind::Dir(state) = &f.kind else {
            return Err(errno::ENOTDIR);
        };
        let mut d = state.lock().await;
        if offset == 0 {
            // rewinddir, or the first read: a fresh listing from 9P offset 0.
            let ino = f.fid.node.qid().path;
            d.entries = vec![
                DirEntry {
                    stat: None,
                    name: b".".to_vec(),
                    ino,
                    dir: true,
                },
                DirEntry {
                    stat: None,
                    name: b"..".to_vec(),
                    ino,
                    dir: true,
                },
            ];
            d.offset = 0;
            d.eof = false;
            // A directory the server versions (a host directory; not a synthetic one such
            // as /net/tcp, whose qid.version stays 0) listed to its end within the
            // timeouts, with no change through the mount since: listed again from that,
            // as the kernel keeps its entries that long anyway.
            let ttl = self.stats_ttl();
            let cached = (f.fid.node.qid().version != 0)
                .then(|| lock(&self.dircache).listing(d.nodeid, ttl))
                .flatten();
            match cached {
                Some(listing) => {
                    for st in listing.iter() {
                        d.entries.push(dir_entry(st.clone()));
                    }
                    d.eof = true;
                }
                None => lock(&self.dircache).begin(d.nodeid, ttl),
            }
        }
        let mut o = Out::with_capacity(size as usize);
        let mut i = usize::try_from(offset).unwrap_or(usize::MAX);
        loop {
            while let Some(e) = d.entries.get(i) {
                let need = if plus {
                    abi::direntplus_size(&e.name)
                } else {
                    abi::dirent_size(&e.name)
                };
                if o.0.len() + need > size as usize {
                    return Ok(o.0);
                }
                if plus {
                    self.entry_plus(&mut o, d.nodeid, e);
                }
                abi::dirent(&mut o, e.ino, i as u64 + 1, e.dir, &e.name);
                i += 1;
            }
            if d.eof {
                return Ok(o.0);
            }
            let count = if f.iounit > 0 {
                DIR_READ.min(f.iounit)
            } else {
                DIR_READ
            };
            let data = f.fid.node.read(d.offset, count).await.map_err(ex)?;
            if data.is_empty() {
                d.eof = true;
                if !self.stats_ttl().is_zero() {
                    let listing = d.entries[2..]
                        .iter()
                        .filter_map(|e| e.stat.clone())
                        .collect();
                    lock(&self.dircache).complete(d.nodeid, listing);
                }
                continue;
            }
            d.offset += data.len() as u64;
            let stats = read_dir_entries(data).map_err(|_| errno::EIO)?;
            if !self.stats_ttl().is_zero() {
                let keep: Vec<Stat> = stats
                    .iter()
                    .filter(|st| valid_name(&st.name).is_ok())
                    .cloned()
                    .collect();
                lock(&self.dircache).add(d.nodeid, &keep);
            }
            for st in stats {
                if valid_name(&st.name).is_err() {
                    continue;
                }
                d.entries.push(dir_entry(st));
            }
        }
    }

    /// The `fuse_entry_out` half of a READDIRPLUS entry: an inode for it, as a LOOKUP
    /// answered from this listing's stat would make; none (0, which the kernel passes
    /// over) for `.` and `..`, or when the directory is gone.
    fn entry_plus(&self, o: &mut Out, dir: u64, e: &DirEntry) {
        let known = e.stat.as_ref().and_then(|st| {
            let name = std::str::from_utf8(&e.name).ok()?;
            let id = self.remember_lazy(key(&st.qid), dir, name).ok()?;
            Some((id, st))
        });
        match known {
            Some((id, st)) => o.0.extend_from_slice(&self.entry(id, st)),
            None => o.0.resize(o.0.len() + abi::ENTRY_OUT_SIZE, 0),
        }
    }

    /// Creates `name` in `parent` and walks to it: the created (open) fid and the
    /// inode's unopened one.
    async fn make(&self, parent: u64, name: &str, perm: u32, mode: u8) -> R<(Arc<Fid>, Arc<Fid>)> {
        let pfid = self.fresh(parent).await?;
        let created = Fid::new(pfid.node.clone_node().await.map_err(ex)?, &self.rt);
        created.node.create(name, perm, mode).await.map_err(ex)?;
        let walked = Fid::new(pfid.node.walk1(name).await.map_err(ex)?, &self.rt);
        Ok((created, walked))
    }

    async fn create(&self, parent: u64, name: &[u8], mode: u32, flags: u32) -> Outcome {
        let r = async {
            let name = valid_name(name)?;
            let omode = open_mode(flags) & !om::OTRUNC;
            let (created, walked) = self.make(parent, &name, mode & 0o777, omode).await?;
            let st = walked.node.stat().await.map_err(ex)?;
            let opened_qid = created.node.qid();
            let direct = self.direct(&opened_qid);
            let nodeid = self.remember(walked, parent, &name);
            let fh = self.add_file(OpenFile {
                fid: created,
                iounit: 0,
                kind: Kind::file(&opened_qid, direct, omode),
            });
            let mut o = Out::with_capacity(144);
            abi::entry_out(&mut o, nodeid, &self.told(nodeid, &st), self.cfg.validity);
            let flags = if direct { fopen::DIRECT_IO } else { 0 };
            abi::open_out(&mut o, fh, flags | fopen::NOFLUSH);
            Ok((o.0, nodeid, fh))
        }
        .await;
        match r {
            Ok((body, nodeid, fh)) => Outcome {
                reply: Ok(body.into()),
                undo: Some(Undo {
                    nodeid,
                    fh: Some(fh),
                }),
            },
            Err(e) => Outcome::err(e),
        }
    }

    async fn mkdir(&self, parent: u64, name: &[u8], mode: u32) -> Outcome {
        self.make_closed(parent, name, dm::DMDIR | (mode & 0o777))
            .await
    }

    async fn mknod(&self, parent: u64, name: &[u8], mode: u32) -> Outcome {
        // Only regular files: 9P2000 has no devices, fifos or sockets.
        if mode & abi::S_IFMT != S_IFREG {
            return Outcome::err(errno::EPERM);
        }
        self.make_closed(parent, name, mode & 0o777).await
    }

    /// mkdir and mknod: create, clunk, answer with the entry.
    async fn make_closed(&self, parent: u64, name: &[u8], perm: u32) -> Outcome {
        let r = async {
            let name = valid_name(name)?;
            let (created, walked) = self.make(parent, &name, perm, om::OREAD).await?;
            created.clunk().await;
            let st = walked.node.stat().await.map_err(ex)?;
            let nodeid = self.remember(walked, parent, &name);
            Ok((self.entry(nodeid, &st), nodeid))
        }
        .await;
        match r {
            Ok((body, nodeid)) => Outcome {
                reply: Ok(body.into()),
                undo: Some(Undo { nodeid, fh: None }),
            },
            Err(e) => Outcome::err(e),
        }
    }

    async fn remove(&self, parent: u64, name: &[u8], dir: bool) -> R<Vec<u8>> {
        let name = valid_name(name)?;
        let pfid = self.fresh(parent).await?;
        let fid = Fid::new(pfid.node.walk1(&name).await.map_err(ex)?, &self.rt);
        let q = fid.node.qid();
        match (dir, q.is_dir()) {
            (true, false) => return Err(errno::ENOTDIR),
            (false, true) => return Err(errno::EISDIR),
            _ => {}
        }
        fid.remove().await.map_err(ex)?;
        self.unmap(key(&q));
        Ok(Vec::new())
    }

    /// Rename within one directory is a wstat of the name. Linux's rename replaces an
    /// existing target and 9P's never does, so the target is removed first (not atomic:
    /// a failure after the remove loses the target). Across directories: EXDEV, and mv
    /// falls back to copy and remove.
    async fn rename(
        &self,
        parent: u64,
        old: &[u8],
        newdir: u64,
        new: &[u8],
        flags: u32,
    ) -> R<Vec<u8>> {
        if flags & !RENAME_NOREPLACE != 0 {
            return Err(errno::EINVAL);
        }
        if newdir != parent {
            return Err(errno::EXDEV);
        }
        let old = valid_name(old)?;
        let new = valid_name(new)?;
        let pfid = self.fresh(parent).await?;
        let src = Fid::new(pfid.node.walk1(&old).await.map_err(ex)?, &self.rt);
        if old == new {
            return Ok(Vec::new());
        }
        if flags & RENAME_NOREPLACE == 0 {
            match pfid.node.walk1(&new).await {
                Ok(node) => {
                    let dst = Fid::new(node, &self.rt);
                    let (sq, dq) = (src.node.qid(), dst.node.qid());
                    if key(&sq) == key(&dq) {
                        // Two names of one file: rename(2) does nothing.
                        return Ok(Vec::new());
                    }
                    match (sq.is_dir(), dq.is_dir()) {
                        (false, true) => return Err(errno::EISDIR),
                        (true, false) => return Err(errno::ENOTDIR),
                        _ => {}
                    }
                    dst.remove().await.map_err(ex)?;
                    self.unmap(key(&dq));
                }
                Err(e) if e == Error::NOT_FOUND => {}
                Err(e) => return Err(ex(e)),
            }
        }
        let mut st = Stat::dont_touch();
        st.name = new.clone();
        src.node.wstat(&st).await.map_err(ex)?;
        // The fid we renamed through knows the new name; the inode's old one may not.
        self.renamed(src, &new);
        Ok(Vec::new())
    }
}

/// The 9P open mode for Linux open flags: the access mode, and OTRUNC.
fn open_mode(flags: u32) -> u8 {
    const O_ACCMODE: u32 = 0o3;
    const O_TRUNC: u32 = 0o1000;
    let acc = match flags & O_ACCMODE {
        0 => om::OREAD,
        1 => om::OWRITE,
        _ => om::ORDWR,
    };
    if flags & O_TRUNC != 0 {
        acc | om::OTRUNC
    } else {
        acc
    }
}

/// A name the kernel may look up: anything that is not UTF-8 cannot exist in 9P.
fn lookup_name(name: &[u8]) -> R<&str> {
    let s = std::str::from_utf8(name).map_err(|_| errno::ENOENT)?;
    if s.is_empty() || s == ".." || s.contains('/') {
        return Err(errno::ENOENT);
    }
    Ok(s)
}

/// A name for a new or renamed file.
fn valid_name(name: impl AsRef<[u8]>) -> R<String> {
    let name = name.as_ref();
    if name.len() > 255 {
        return Err(errno::ENAMETOOLONG);
    }
    let s = std::str::from_utf8(name).map_err(|_| errno::EINVAL)?;
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0') {
        return Err(errno::EINVAL);
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_modes() {
        assert_eq!(open_mode(0), om::OREAD);
        assert_eq!(open_mode(1 | 0o1000), om::OWRITE | om::OTRUNC);
        assert_eq!(open_mode(2 | 0o100), om::ORDWR);
    }

    #[test]
    fn names() {
        assert!(valid_name("a").is_ok());
        assert!(valid_name("").is_err());
        assert!(valid_name("..").is_err());
        assert!(valid_name([0xff]).is_err());
        assert_eq!(lookup_name(b".."), Err(errno::ENOENT));
        assert!(lookup_name(b".").is_ok());
    }
}
