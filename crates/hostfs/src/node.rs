//! [`HostNode`]: one fid's view of one host file.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use ninefold_fs::{DirCursor, Error, Node, NodeRef, Opened, Result, Walked};
use ninefold_proto::om::{OACCMODE, ORCLOSE, ORDWR, OTRUNC, OWRITE};
use ninefold_proto::{Qid, Stat};
use rustix::fs::{OFlags, fstat, ftruncate};

use crate::io::{blocking, list_dir, read_at, write_at};
use crate::resolve::{errno, open_beneath, open_self, step};
use crate::stat::{HostStat, is_dir, qid, to_stat};
use crate::tree::Shared;

/// What open acquired.
#[derive(Debug)]
pub(crate) enum OpenFile {
    File { fd: Arc<OwnedFd>, writable: bool },
    Dir { fd: Arc<OwnedFd>, cursor: DirCursor },
}

impl OpenFile {
    pub(crate) fn fd(&self) -> &Arc<OwnedFd> {
        match self {
            OpenFile::File { fd, .. } | OpenFile::Dir { fd, .. } => fd,
        }
    }
}

/// The mutable part of a node. It sits behind an `Arc` so that blocking work can record
/// its outcome itself: a request cancelled mid-rename still leaves the node's path right.
#[derive(Debug)]
pub(crate) struct State {
    /// Components relative to the root; never holds `.` or `..`.
    pub(crate) path: Vec<String>,
    /// Taken at walk time (`O_PATH`), or the fd create opened: stat and identity checks.
    pub(crate) fd: Arc<OwnedFd>,
    pub(crate) qid: Qid,
    pub(crate) open: Option<OpenFile>,
}

pub(crate) type StateRef = Arc<Mutex<State>>;

pub(crate) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct HostNode {
    pub(crate) shared: Arc<Shared>,
    pub(crate) state: StateRef,
}

impl fmt::Debug for HostNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // try_lock: formatting must never wait on (or deadlock with) a holder of the state.
        let mut d = f.debug_struct("HostNode");
        match self.state.try_lock() {
            Ok(st) => d
                .field("path", &st.path)
                .field("qid", &st.qid)
                .field("open", &st.open.is_some()),
            Err(_) => d.field("state", &"<busy>"),
        };
        d.finish()
    }
}

impl HostNode {
    pub(crate) fn new(
        shared: Arc<Shared>,
        path: Vec<String>,
        fd: Arc<OwnedFd>,
        st: &HostStat,
    ) -> HostNode {
        let qid = qid(&shared.devs, st);
        HostNode {
            shared,
            state: Arc::new(Mutex::new(State {
                path,
                fd,
                qid,
                open: None,
            })),
        }
    }

    /// The lexical path and held fd, for work done outside the lock.
    pub(crate) fn snapshot(&self) -> (Vec<String>, Arc<OwnedFd>) {
        let st = lock(&self.state);
        (st.path.clone(), st.fd.clone())
    }
}

/// The result of walking several elements: qids walked, and the end point if all were.
type WalkOutcome = (Vec<Qid>, Option<(Vec<String>, OwnedFd, HostStat)>);

/// Walks `names` from the lexical `path` (a directory iff `dir`), each step resolved afresh
/// beneath the root.
fn walk_names(
    shared: &Shared,
    mut path: Vec<String>,
    mut dir: bool,
    names: &[String],
) -> Result<WalkOutcome> {
    let mut qids = Vec::with_capacity(names.len());
    let mut last = None;
    for (i, name) in names.iter().enumerate() {
        let next = if dir {
            let mut next = path.clone();
            step(&mut next, name).and_then(|()| {
                let fd = open_beneath(shared.root.as_fd(), &next, OFlags::PATH)?;
                let st = fstat(&fd).map_err(errno)?;
                Ok((next, fd, st))
            })
        } else {
            Err(Error::WALK_NO_DIR)
        };
        match next {
            Ok((next, fd, st)) => {
                qids.push(qid(&shared.devs, &st));
                dir = is_dir(&st);
                path = next.clone();
                last = Some((next, fd, st));
            }
            Err(e) if i == 0 => return Err(e),
            Err(_) => return Ok((qids, None)),
        }
    }
    Ok((qids, last))
}

#[async_trait]
impl Node for HostNode {
    fn qid(&self) -> Qid {
        lock(&self.state).qid
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        let st = lock(&self.state);
        Ok(Arc::new(HostNode {
            shared: self.shared.clone(),
            state: Arc::new(Mutex::new(State {
                path: st.path.clone(),
                fd: st.fd.clone(),
                qid: st.qid,
                open: None,
            })),
        }))
    }

    async fn walk1(&self, name: &str) -> Result<NodeRef> {
        let walked = self.walk(&[name.to_owned()]).await?;
        walked.node.ok_or(Error::NOT_FOUND)
    }

    /// All elements in one trip to the blocking pool.
    async fn walk(&self, names: &[String]) -> Result<Walked> {
        if names.is_empty() {
            return Ok(Walked {
                qids: Vec::new(),
                node: Some(self.clone_node().await?),
            });
        }
        let (path, dir) = {
            let st = lock(&self.state);
            (st.path.clone(), st.qid.is_dir())
        };
        let shared = self.shared.clone();
        let names = names.to_vec();
        let (qids, last) = blocking(move || walk_names(&shared, path, dir, &names)).await?;
        let node = last.map(|(path, fd, st)| {
            Arc::new(HostNode::new(self.shared.clone(), path, Arc::new(fd), &st)) as NodeRef
        });
        Ok(Walked { qids, node })
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        let acc = mode & OACCMODE;
        let writing = acc == OWRITE || acc == ORDWR;
        let trunc = mode & OTRUNC != 0;
        // ORCLOSE means a remove at clunk, which a read-only tree would refuse then.
        if writing || trunc || mode & ORCLOSE != 0 {
            self.shared.check_writable()?;
        }
        let shared = self.shared.clone();
        let state = self.state.clone();
        let (path, held) = self.snapshot();
        blocking(move || {
            let root = shared.root.as_fd();
            let open = if is_dir(&fstat(&held).map_err(errno)?) {
                if writing || trunc {
                    return Err(Error::IS_DIR);
                }
                let fd = open_self(root, &path, &held, OFlags::RDONLY | OFlags::DIRECTORY)?;
                OpenFile::Dir {
                    fd: Arc::new(fd),
                    cursor: DirCursor::new(),
                }
            } else {
                // OREAD and OEXEC both read.
                let flags = match acc {
                    OWRITE => OFlags::WRONLY,
                    ORDWR => OFlags::RDWR,
                    _ => OFlags::RDONLY,
                };
                let fd = open_self(root, &path, &held, flags)?;
                // Truncate only once the file is known to be ours.
                if trunc {
                    ftruncate(&fd, 0).map_err(errno)?;
                }
                OpenFile::File {
                    fd: Arc::new(fd),
                    writable: writing,
                }
            };
            let qid = qid(&shared.devs, &fstat(open.fd()).map_err(errno)?);
            let mut st = lock(&state);
            st.qid = qid;
            st.open = Some(open);
            Ok(Opened { qid, iounit: 0 })
        })
        .await
    }

    async fn create(&self, name: &str, perm: u32, mode: u8) -> Result<Opened> {
        crate::create::create(self, name, perm, mode).await
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        let (fd, path) = {
            let mut guard = lock(&self.state);
            let st = &mut *guard;
            match &mut st.open {
                Some(OpenFile::File { fd, .. }) => (fd.clone(), None),
                Some(OpenFile::Dir { cursor, .. }) if !cursor.wants_reload(offset) => {
                    return cursor.read(offset, count);
                }
                Some(OpenFile::Dir { fd, .. }) => (fd.clone(), Some(st.path.clone())),
                None => return Err(Error::BAD_USE),
            }
        };
        let Some(path) = path else {
            return blocking(move || read_at(&fd, offset, count)).await;
        };
        // Offset 0: list the directory afresh, then serve from the new listing.
        let shared = self.shared.clone();
        let entries = blocking(move || list_dir(&shared, &fd, &path)).await?;
        match &mut lock(&self.state).open {
            Some(OpenFile::Dir { cursor, .. }) => {
                cursor.reset(entries);
                cursor.read(offset, count)
            }
            _ => Err(Error::BAD_USE),
        }
    }

    async fn write(&self, offset: u64, data: Bytes) -> Result<u32> {
        let fd = match &lock(&self.state).open {
            Some(OpenFile::File { fd, writable: true }) => fd.clone(),
            Some(OpenFile::Dir { .. }) => return Err(Error::IS_DIR),
            _ => return Err(Error::BAD_USE),
        };
        blocking(move || write_at(&fd, offset, &data)).await
    }

    async fn clunk(&self) {
        lock(&self.state).open = None;
    }

    async fn remove(&self) -> Result<()> {
        crate::create::remove(self).await
    }

    async fn stat(&self) -> Result<Stat> {
        let (name, fd) = {
            let st = lock(&self.state);
            let name = st.path.last().cloned().unwrap_or_else(|| "/".to_owned());
            (name, st.fd.clone())
        };
        let host = fstat(&fd).map_err(errno)?;
        let owner = match self.shared.names.cached(&host) {
            Some(owner) => owner,
            None => {
                let shared = self.shared.clone();
                blocking(move || Ok(shared.names.lookup(&host))).await?
            }
        };
        let stat = to_stat(&self.shared.devs, &host, name, owner);
        lock(&self.state).qid = stat.qid;
        Ok(stat)
    }

    async fn wstat(&self, stat: &Stat) -> Result<()> {
        crate::wstat::wstat(self, stat).await
    }
}
