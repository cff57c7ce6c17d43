//! `#s`: the service registry — a flat directory of posted 9P connections.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use ninefold_fs::synth::slice_at;
use ninefold_fs::{DirCursor, Error, Node, NodeRef, Opened, Qid, QidType, Result, Stat, Tree};
use ninefold_proto::dm;

use crate::common::{
    check_name, check_open, check_open_dir, lock, now_secs, plan_wstat, read_dir, stat, written,
    wstat_nothing,
};

/// What a [`Poster`] returns: the tree a dial string leads to, once it is connected.
pub type PostFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn Tree>>> + Send>>;

/// Turns a dial string written into a new `/srv` entry (`unix!/tmp/x.sock`, …) into a
/// connected tree: the part of posting that needs a network.
pub type Poster = Arc<dyn Fn(String) -> PostFuture + Send + Sync>;

/// The most entries one registry holds (then "file system full").
pub const MAX_ENTRIES: usize = 4096;

/// The longest dial string a write may post (then "read or write too large").
pub const MAX_DIAL: usize = 4096;

/// Permission of entries posted with [`SrvTree::post`].
const POST_PERM: u32 = 0o666;

/// The service registry `#s`: named, already-connected 9P trees, as Plan 9's `/srv`.
///
/// Programs use the API: [`SrvTree::post`] a tree under a name, [`SrvTree::get`] it to
/// mount it, [`SrvTree::remove`] it. Through the files:
///
/// - the directory lists every entry (mode 0777, like Plan 9's);
/// - reading `/NAME` gives the entry's source (the dial string, or what [`SrvTree::post`]
///   was told) and a newline;
/// - creating `/NAME` makes an empty entry; writing a dial string to it (a trailing
///   newline is ignored) calls the [`Poster`] and posts the tree it returns under `NAME`.
///   Without a poster the write fails with "operation not supported"; a write to an entry
///   already posted (or being posted) with "device or object already in use". An entry
///   that was created but never posted disappears when the fid that created it is
///   clunked; if the poster fails, the entry stays empty and may be written again;
/// - removing `/NAME` drops the entry; its tree goes when nobody else holds it;
/// - a wstat may rename an entry or change its permissions.
///
/// Entries stay until removed, whoever made them. Cloning a `SrvTree` shares the
/// registry.
///
/// Plan 9 posts an open file descriptor (a decimal fd number is written), and opening the
/// entry gives that same channel. Here the channel is a 9P tree: one posts a dial string
/// (or calls [`SrvTree::post`]), and a namespace mounts what [`SrvTree::get`] returns;
/// opening the file gives only the text.
#[derive(Clone)]
pub struct SrvTree {
    board: Arc<Board>,
    owner: Arc<str>,
}

struct Board {
    poster: Option<Poster>,
    made: u32,
    entries: Mutex<Entries>,
}

struct Entries {
    by_name: BTreeMap<String, u64>,
    by_path: HashMap<u64, Entry>,
    /// The qid path of the next entry (the root is 0).
    next_path: u64,
}

struct Entry {
    name: String,
    perm: u32,
    mtime: u32,
    state: Posting,
}

enum Posting {
    /// Created, not yet written. `orphan`: the creating fid is gone, so the entry goes if
    /// a post under way fails.
    Empty {
        orphan: bool,
    },
    /// A dial string was written and the poster is at work.
    Dialing {
        orphan: bool,
    },
    Posted {
        tree: Arc<dyn Tree>,
        source: String,
    },
}

impl fmt::Debug for SrvTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrvTree")
            .field("owner", &self.owner)
            .field("board", &self.board)
            .finish()
    }
}

impl fmt::Debug for Board {
    // try_lock: formatting never waits (nor deadlocks with the registry's own work).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Board");
        d.field("poster", &self.poster.is_some());
        if let Ok(e) = self.entries.try_lock() {
            d.field("entries", &e.by_name.keys().collect::<Vec<_>>());
        }
        d.finish_non_exhaustive()
    }
}

impl Entries {
    fn get(&self, path: u64) -> Result<&Entry> {
        self.by_path.get(&path).ok_or(Error::NOT_FOUND)
    }

    fn get_mut(&mut self, path: u64) -> Result<&mut Entry> {
        self.by_path.get_mut(&path).ok_or(Error::NOT_FOUND)
    }

    /// Checks that an entry `name` may be made.
    fn may_insert(&self, name: &str) -> Result<()> {
        check_name(name)?;
        if self.by_name.contains_key(name) {
            return Err(Error::EXISTS);
        }
        if self.by_path.len() >= MAX_ENTRIES {
            return Err(Error::NO_SPACE);
        }
        Ok(())
    }

    /// Makes the entry `name`, which [`Entries::may_insert`] allowed.
    fn insert(&mut self, name: &str, perm: u32, state: Posting) -> u64 {
        let path = self.next_path;
        self.next_path += 1;
        self.by_name.insert(name.to_owned(), path);
        self.by_path.insert(
            path,
            Entry {
                name: name.to_owned(),
                perm,
                mtime: now_secs(),
                state,
            },
        );
        path
    }

    /// Takes the entry out; the caller drops it (and with it maybe the tree) unlocked.
    fn remove(&mut self, path: u64) -> Option<Entry> {
        let e = self.by_path.remove(&path)?;
        self.by_name.remove(&e.name);
        Some(e)
    }
}

impl SrvTree {
    /// An empty registry. `poster` connects the dial strings written into new entries;
    /// without one, only [`SrvTree::post`] posts. Files are owned by "none".
    pub fn new(poster: Option<Poster>) -> SrvTree {
        SrvTree {
            board: Arc::new(Board {
                poster,
                made: now_secs(),
                entries: Mutex::new(Entries {
                    by_name: BTreeMap::new(),
                    by_path: HashMap::new(),
                    next_path: 1,
                }),
            }),
            owner: "none".into(),
        }
    }

    /// The same registry, its files seen through this handle (and the trees it is
    /// attached as) owned by `owner`.
    pub fn with_owner(mut self, owner: impl Into<String>) -> SrvTree {
        self.owner = owner.into().into();
        self
    }

    /// Posts `tree` as `name`; `source` says where it came from (a dial string, a
    /// command) and is what reading the file gives. A name taken fails with "file already
    /// exists"; names that are empty, `.`, `..`, hold `/` or NUL, or exceed 255 bytes
    /// with "bad arg in system call" (or "file name too long").
    pub fn post(&self, name: &str, tree: Arc<dyn Tree>, source: String) -> Result<()> {
        let mut entries = lock(&self.board.entries);
        // Checked first: a tree refused is dropped after the lock, never under it.
        entries.may_insert(name)?;
        entries.insert(name, POST_PERM, Posting::Posted { tree, source });
        Ok(())
    }

    /// The tree posted as `name`, and its source.
    pub fn get(&self, name: &str) -> Option<(Arc<dyn Tree>, String)> {
        let entries = lock(&self.board.entries);
        let path = entries.by_name.get(name)?;
        match &entries.by_path.get(path)?.state {
            Posting::Posted { tree, source } => Some((tree.clone(), source.clone())),
            _ => None,
        }
    }

    /// Removes the entry `name`, posted or not; false if there was none.
    pub fn remove(&self, name: &str) -> bool {
        let gone = {
            let mut entries = lock(&self.board.entries);
            let path = entries.by_name.get(name).copied();
            path.and_then(|p| entries.remove(p))
        };
        gone.is_some()
    }

    /// The names of the posted entries (those [`SrvTree::get`] finds), sorted.
    pub fn names(&self) -> Vec<String> {
        let entries = lock(&self.board.entries);
        entries
            .by_name
            .iter()
            .filter(|(_, p)| {
                entries
                    .by_path
                    .get(p)
                    .is_some_and(|e| matches!(e.state, Posting::Posted { .. }))
            })
            .map(|(n, _)| n.clone())
            .collect()
    }
}

#[async_trait]
impl Tree for SrvTree {
    /// Every attach sees the registry; `uname` and `aname` are ignored.
    async fn attach(&self, _uname: &str, _aname: &str) -> Result<NodeRef> {
        Ok(Arc::new(SrvNode::new(
            self.board.clone(),
            self.owner.clone(),
            Target::Root,
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Root,
    Entry(u64),
}

#[derive(Debug)]
enum Open {
    No,
    Dir(DirCursor),
    /// An entry, opened; `created`: by this fid's create.
    File {
        created: bool,
    },
}

#[derive(Debug)]
struct State {
    at: Target,
    open: Open,
}

#[derive(Debug)]
struct SrvNode {
    board: Arc<Board>,
    owner: Arc<str>,
    state: Mutex<State>,
}

const ROOT_QID: Qid = Qid {
    ty: QidType::DIR,
    version: 0,
    path: 0,
};

fn entry_qid(path: u64) -> Qid {
    Qid {
        ty: QidType::FILE,
        version: 0,
        path,
    }
}

/// A post under way: if it does not finish (the poster failed, or the write was flushed),
/// dropping this puts the entry back to empty — or away, if its creator has gone.
struct Dialing<'a> {
    board: &'a Board,
    path: u64,
    finished: bool,
}

impl Drop for Dialing<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut entries = lock(&self.board.entries);
        let Ok(e) = entries.get_mut(self.path) else {
            return;
        };
        if let Posting::Dialing { orphan } = e.state {
            if orphan {
                let gone = entries.remove(self.path);
                drop(entries);
                drop(gone);
            } else {
                e.state = Posting::Empty { orphan: false };
            }
        }
    }
}

impl SrvNode {
    fn new(board: Arc<Board>, owner: Arc<str>, at: Target) -> SrvNode {
        SrvNode {
            board,
            owner,
            state: Mutex::new(State { at, open: Open::No }),
        }
    }

    fn at(&self) -> Target {
        lock(&self.state).at
    }

    fn root_stat(&self) -> Stat {
        let mut st = stat(ROOT_QID, dm::DMDIR | 0o777, 0, "/", &self.owner);
        st.atime = self.board.made;
        st.mtime = self.board.made;
        st
    }

    fn entry_stat(&self, path: u64, e: &Entry) -> Stat {
        let mut st = stat(entry_qid(path), e.perm, 0, &e.name, &self.owner);
        st.atime = e.mtime;
        st.mtime = e.mtime;
        st
    }

    fn opened(&self, at: Target, open: Open) -> Opened {
        let mut s = lock(&self.state);
        s.at = at;
        s.open = open;
        let qid = match at {
            Target::Root => ROOT_QID,
            Target::Entry(p) => entry_qid(p),
        };
        Opened { qid, iounit: 0 }
    }

    /// Posts what the dial string `data` leads to as entry `path`.
    async fn post(&self, path: u64, data: &[u8]) -> Result<()> {
        if data.len() > MAX_DIAL {
            return Err(Error::TOO_BIG);
        }
        let dial = std::str::from_utf8(data)
            .map_err(|_| Error::BAD_ARG)?
            .trim_end_matches(['\n', '\r', ' ', '\t']);
        if dial.is_empty() || dial.contains('\0') {
            return Err(Error::BAD_ARG);
        }
        let poster = {
            let mut entries = lock(&self.board.entries);
            let e = entries.get_mut(path)?;
            let Posting::Empty { orphan } = e.state else {
                return Err(Error::IN_USE);
            };
            let poster = self.board.poster.clone().ok_or(Error::NOT_SUPPORTED)?;
            e.state = Posting::Dialing { orphan };
            poster
        };
        let mut dialing = Dialing {
            board: &self.board,
            path,
            finished: false,
        };
        // A Tflush drops this future here, and `dialing` puts the entry back.
        let tree = poster(dial.to_owned()).await?;
        let mut entries = lock(&self.board.entries);
        // Removed while dialing: the tree is dropped, unposted.
        let e = entries.get_mut(path)?;
        e.state = Posting::Posted {
            tree,
            source: dial.to_owned(),
        };
        e.mtime = now_secs();
        dialing.finished = true;
        Ok(())
    }
}

#[async_trait]
impl Node for SrvNode {
    fn qid(&self) -> Qid {
        match self.at() {
            Target::Root => ROOT_QID,
            Target::Entry(p) => entry_qid(p),
        }
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        Ok(Arc::new(SrvNode::new(
            self.board.clone(),
            self.owner.clone(),
            self.at(),
        )))
    }

    async fn walk1(&self, name: &str) -> Result<NodeRef> {
        if self.at() != Target::Root {
            return Err(Error::WALK_NO_DIR);
        }
        let next = match name {
            ".." => Target::Root,
            n => Target::Entry(
                *lock(&self.board.entries)
                    .by_name
                    .get(n)
                    .ok_or(Error::NOT_FOUND)?,
            ),
        };
        Ok(Arc::new(SrvNode::new(
            self.board.clone(),
            self.owner.clone(),
            next,
        )))
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        match self.at() {
            Target::Root => {
                check_open_dir(mode)?;
                Ok(self.opened(Target::Root, Open::Dir(DirCursor::new())))
            }
            at @ Target::Entry(path) => {
                let perm = lock(&self.board.entries).get(path)?.perm;
                check_open(perm, mode)?;
                Ok(self.opened(at, Open::File { created: false }))
            }
        }
    }

    async fn create(&self, name: &str, perm: u32, _mode: u8) -> Result<Opened> {
        if self.at() != Target::Root {
            return Err(Error::NOT_DIR);
        }
        if perm & dm::DMDIR != 0 {
            return Err(Error::PERM);
        }
        let path = {
            let mut entries = lock(&self.board.entries);
            entries.may_insert(name)?;
            entries.insert(name, perm & 0o777, Posting::Empty { orphan: false })
        };
        Ok(self.opened(Target::Entry(path), Open::File { created: true }))
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        let mut s = lock(&self.state);
        match (s.at, &mut s.open) {
            (Target::Root, Open::Dir(cursor)) => read_dir(cursor, offset, count, || {
                let entries = lock(&self.board.entries);
                entries
                    .by_name
                    .values()
                    .filter_map(|&p| Some(self.entry_stat(p, entries.by_path.get(&p)?)))
                    .collect()
            }),
            (Target::Entry(path), _) => {
                drop(s);
                let text = match &lock(&self.board.entries).get(path)?.state {
                    Posting::Posted { source, .. } => format!("{source}\n"),
                    _ => String::new(),
                };
                Ok(slice_at(&Bytes::from(text), offset, count))
            }
            (Target::Root, _) => Err(Error::BAD_USE),
        }
    }

    async fn write(&self, _offset: u64, data: Bytes) -> Result<u32> {
        match self.at() {
            Target::Root => Err(Error::IS_DIR),
            Target::Entry(path) => {
                self.post(path, &data).await?;
                Ok(written(data.len()))
            }
        }
    }

    async fn clunk(&self) {
        let (at, open) = {
            let mut s = lock(&self.state);
            (s.at, std::mem::replace(&mut s.open, Open::No))
        };
        let (Target::Entry(path), Open::File { created: true }) = (at, open) else {
            return;
        };
        // The creator is gone: an entry it never posted goes too.
        let mut entries = lock(&self.board.entries);
        let Ok(e) = entries.get_mut(path) else {
            return;
        };
        match &mut e.state {
            Posting::Empty { .. } => {
                let gone = entries.remove(path);
                drop(entries);
                drop(gone);
            }
            Posting::Dialing { orphan } => *orphan = true,
            Posting::Posted { .. } => {}
        }
    }

    async fn remove(&self) -> Result<()> {
        let at = {
            let mut s = lock(&self.state);
            s.open = Open::No;
            s.at
        };
        let Target::Entry(path) = at else {
            return Err(Error::PERM);
        };
        let gone = lock(&self.board.entries).remove(path);
        // The tree, if this held the last reference, is dropped here, unlocked.
        gone.map(drop).ok_or(Error::NOT_FOUND)
    }

    async fn stat(&self) -> Result<Stat> {
        match self.at() {
            Target::Root => Ok(self.root_stat()),
            Target::Entry(path) => {
                let entries = lock(&self.board.entries);
                Ok(self.entry_stat(path, entries.get(path)?))
            }
        }
    }

    async fn wstat(&self, req: &Stat) -> Result<()> {
        let Target::Entry(path) = self.at() else {
            return wstat_nothing(&self.root_stat(), req);
        };
        let mut entries = lock(&self.board.entries);
        let cur = self.entry_stat(path, entries.get(path)?);
        let plan = plan_wstat(&cur, req, true, false)?;
        if let Some(to) = &plan.rename
            && entries.by_name.contains_key(to.as_str())
        {
            return Err(Error::EXISTS);
        }
        let e = entries.get_mut(path)?;
        if let Some(p) = plan.perm {
            e.perm = p;
        }
        if let Some(t) = plan.mtime {
            e.mtime = t;
        }
        if let Some(to) = plan.rename {
            let from = std::mem::replace(&mut e.name, to.clone());
            entries.by_name.remove(&from);
            entries.by_name.insert(to, path);
        }
        Ok(())
    }
}
