//! One function per 9P request: check the fid rules, call the tree, record the outcome.
//!
//! Cancellation (Tflush) can only strike at an `.await` on the tree; the fid table is changed
//! after the last such await, so a flushed request either took full effect and replied, or
//! changed nothing.

use std::sync::Arc;

use bytes::Bytes;
use ninefold_fs::{Error, NodeRef, Result};
use ninefold_proto::{HEADER_SIZE, IOHDRSZ, NOFID, Rmsg, Stat, Tmsg, om};

use crate::fids::{Fid, fid_in_use};
use crate::session::Session;

pub(crate) async fn handle(sess: &Arc<Session>, msg: Tmsg) -> Result<Rmsg> {
    match msg {
        Tmsg::Auth { .. } => Err(Error::from_static("authentication not required")),
        Tmsg::Attach {
            fid,
            afid,
            uname,
            aname,
        } => attach(sess, fid, afid, &uname, &aname).await,
        Tmsg::Walk {
            fid,
            newfid,
            wnames,
        } => walk(sess, fid, newfid, &wnames).await,
        Tmsg::Open { fid, mode } => open(sess, fid, mode).await,
        Tmsg::Create {
            fid,
            name,
            perm,
            mode,
        } => create(sess, fid, &name, perm, mode).await,
        Tmsg::Read { fid, offset, count } => read(sess, fid, offset, count).await,
        Tmsg::Write { fid, offset, data } => write(sess, fid, offset, data).await,
        Tmsg::Clunk { fid } => clunk(sess, fid).await,
        Tmsg::Remove { fid } => remove(sess, fid).await,
        Tmsg::Stat { fid } => stat(sess, fid).await,
        Tmsg::Wstat { fid, stat } => wstat(sess, fid, &stat).await,
        // Version and Flush are the session's own business.
        Tmsg::Version { .. } | Tmsg::Flush { .. } => Err(Error::from_static("9P protocol botch")),
    }
}

async fn attach(sess: &Session, fid: u32, afid: u32, uname: &str, aname: &str) -> Result<Rmsg> {
    if afid != NOFID {
        return Err(Error::from_static("authentication not required"));
    }
    if sess.fids.contains(fid) {
        return Err(fid_in_use());
    }
    let claimed = uname;
    let uname = sess.principal.as_deref().unwrap_or(uname);
    match sess.principal.as_deref() {
        Some(p) if p != claimed => {
            tracing::info!(principal = %p, claimed = %claimed, %aname, "attach")
        }
        Some(p) => tracing::info!(principal = %p, %aname, "attach"),
        None => tracing::info!(uname = %claimed, %aname, "attach (unauthenticated name)"),
    }
    let node = sess.tree.attach(uname, aname).await?;
    let qid = node.qid();
    install_new(sess, fid, node)?;
    Ok(Rmsg::Attach { qid })
}

async fn walk(sess: &Session, fid: u32, newfid: u32, names: &[String]) -> Result<Rmsg> {
    let f = sess.fids.get(fid)?;
    if f.open_mode().is_some() {
        return Err(Error::from_static("cannot walk an open fid"));
    }
    if newfid != fid && sess.fids.contains(newfid) {
        return Err(fid_in_use());
    }
    if !names.is_empty() && !f.node.qid().is_dir() {
        return Err(Error::WALK_NO_DIR);
    }
    let walked = f.node.walk(names).await?;
    let wqids = walked.qids;
    match walked.node {
        Some(node) if wqids.len() == names.len() => {
            if newfid == fid {
                if let Some(old) = sess.fids.replace(fid, Fid::new(node)) {
                    release(old.node.clone());
                }
            } else {
                install_new(sess, newfid, node)?;
            }
        }
        Some(node) => release(node),
        None => {}
    }
    if wqids.is_empty() && !names.is_empty() {
        // A tree must fail a walk whose first element is missing; make sure it did.
        return Err(Error::NOT_FOUND);
    }
    Ok(Rmsg::Walk { wqids })
}

async fn open(sess: &Session, fid: u32, mode: u8) -> Result<Rmsg> {
    check_mode(mode)?;
    let f = sess.fids.get(fid)?;
    let claim = OpenClaim::new(&f, mode)?;
    let opened = f.node.open(mode).await?;
    claim.commit();
    Ok(Rmsg::Open {
        qid: opened.qid,
        iounit: opened.iounit,
    })
}

async fn create(sess: &Session, fid: u32, name: &str, perm: u32, mode: u8) -> Result<Rmsg> {
    check_mode(mode)?;
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(Error::BAD_ARG);
    }
    let f = sess.fids.get(fid)?;
    if !f.node.qid().is_dir() {
        return Err(Error::NOT_DIR);
    }
    let claim = OpenClaim::new(&f, mode)?;
    let opened = f.node.create(name, perm, mode).await?;
    claim.commit();
    Ok(Rmsg::Create {
        qid: opened.qid,
        iounit: opened.iounit,
    })
}

async fn read(sess: &Session, fid: u32, offset: u64, count: u32) -> Result<Rmsg> {
    let f = sess.fids.get(fid)?;
    if !f.can_read() {
        return Err(Error::BAD_USE);
    }
    let count = count.min(sess.msize().saturating_sub(IOHDRSZ));
    let mut data = f.node.read(offset, count).await?;
    // A tree that returns more than asked must not overflow the frame.
    data.truncate(count as usize);
    Ok(Rmsg::Read { data })
}

async fn write(sess: &Session, fid: u32, offset: u64, data: Bytes) -> Result<Rmsg> {
    let f = sess.fids.get(fid)?;
    if !f.can_write() {
        return Err(Error::BAD_USE);
    }
    let len = data.len() as u32;
    let n = f.node.write(offset, data).await?;
    Ok(Rmsg::Write { count: n.min(len) })
}

async fn clunk(sess: &Session, fid: u32) -> Result<Rmsg> {
    let f = sess.fids.remove(fid)?;
    finish(f).await;
    Ok(Rmsg::Clunk)
}

async fn remove(sess: &Session, fid: u32) -> Result<Rmsg> {
    let f = sess.fids.remove(fid)?;
    f.node.remove().await?;
    Ok(Rmsg::Remove)
}

async fn stat(sess: &Session, fid: u32) -> Result<Rmsg> {
    let f = sess.fids.get(fid)?;
    let stat = f.node.stat().await?;
    if HEADER_SIZE + 2 + stat.size() > sess.msize() as usize {
        return Err(Error::from_static("stat entry larger than msize"));
    }
    Ok(Rmsg::Stat { stat })
}

async fn wstat(sess: &Session, fid: u32, st: &Stat) -> Result<Rmsg> {
    let f = sess.fids.get(fid)?;
    f.node.wstat(st).await?;
    Ok(Rmsg::Wstat)
}

/// Clunks every fid, as at hang-up and Tversion.
pub(crate) async fn clunk_all(sess: &Session) {
    for f in sess.fids.drain() {
        finish(f).await;
    }
}

/// The end of a fid: clunk, or remove if it was opened ORCLOSE. Runs in its own task so that
/// cancelling the request that asked for it cannot leave the file half released.
async fn finish(f: Arc<Fid>) {
    let task = tokio::spawn(async move {
        if f.remove_on_clunk() {
            if let Err(e) = f.node.remove().await {
                tracing::debug!(error = %e, "ORCLOSE remove failed");
            }
        } else {
            f.node.clunk().await;
        }
    });
    let _ = task.await;
}

/// Releases a node nobody will use, without making the caller wait.
fn release(node: NodeRef) {
    tokio::spawn(async move { node.clunk().await });
}

fn install_new(sess: &Session, fid: u32, node: NodeRef) -> Result<()> {
    sess.fids
        .insert_new(fid, Fid::new(node.clone()))
        .inspect_err(|_| release(node))
}

fn check_mode(mode: u8) -> Result<()> {
    let known = om::OACCMODE | om::OTRUNC | om::OCEXEC | om::ORCLOSE;
    if mode & !known != 0 {
        return Err(Error::from_static("bad open mode"));
    }
    Ok(())
}

/// Marks a fid as being opened; if the open fails or is flushed, the mark is taken back.
struct OpenClaim<'a> {
    fid: &'a Fid,
    committed: bool,
}

impl<'a> OpenClaim<'a> {
    fn new(fid: &'a Fid, mode: u8) -> Result<Self> {
        fid.begin_open(mode)?;
        Ok(OpenClaim {
            fid,
            committed: false,
        })
    }

    fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for OpenClaim<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.fid.abort_open();
        }
    }
}
