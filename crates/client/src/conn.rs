//! The connection: tags, the reply dispatcher, Tversion and Tflush.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::BytesMut;
use ninefold_fs::{Error, NodeRef, Result, Tree};
use ninefold_io::{Frame, FrameReader, FrameSender, spawn_writer};
use ninefold_proto::{
    HEADER_SIZE, MIN_MSIZE, NOFID, NOTAG, Rmsg, Tmsg, VERSION_9P2000, decode_r, encode_t,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use crate::alloc::IdAlloc;
use crate::remote::RemoteNode;

/// A 9P connection. Cheap to clone; the connection closes when the last clone and the last
/// node made from it are gone.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    out: FrameSender,
    shared: Arc<Shared>,
}

/// What the reply dispatcher shares with callers.
#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
    fids: Mutex<IdAlloc<u32>>,
    msize: AtomicU32,
    /// Twrites of one large write that may be in flight at once.
    write_window: AtomicUsize,
}

#[derive(Debug)]
struct Pending {
    slots: HashMap<u16, Slot>,
    tags: IdAlloc<u16>,
    /// The connection is gone: no new requests.
    closed: bool,
    /// Why, when the transport said (a TLS refusal, a reset): added to hang-up errors.
    cause: Option<String>,
    /// Fids that flushed requests created after all; they need clunking.
    orphans: Vec<u32>,
}

#[derive(Debug)]
enum Slot {
    /// A caller waits for the reply.
    Waiting(oneshot::Sender<Rmsg>),
    /// The caller gave up and a Tflush is on its way. If the request would have created a
    /// fid, that fid must be clunked should the reply still come.
    Abandoned(Option<NewFid>),
}

/// A fid a request asks the server to create (attach, walk).
#[derive(Debug, Clone, Copy)]
struct NewFid {
    fid: u32,
    /// For walks: the reply creates the fid only if it walks this many names.
    nwname: Option<usize>,
}

impl NewFid {
    fn of(msg: &Tmsg) -> Option<NewFid> {
        match msg {
            Tmsg::Attach { fid, .. } => Some(NewFid {
                fid: *fid,
                nwname: None,
            }),
            Tmsg::Walk {
                fid,
                newfid,
                wnames,
            } if fid != newfid => Some(NewFid {
                fid: *newfid,
                nwname: Some(wnames.len()),
            }),
            _ => None,
        }
    }

    fn created_by(&self, reply: &Rmsg) -> bool {
        match (reply, self.nwname) {
            (Rmsg::Attach { .. }, None) => true,
            (Rmsg::Walk { wqids }, Some(n)) => wqids.len() == n,
            _ => false,
        }
    }
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fids(&self) -> MutexGuard<'_, IdAlloc<u32>> {
        self.fids.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Client {
    /// Negotiates a session (Tversion) on a read and a write half, offering `msize`.
    pub async fn connect<R, W>(r: R, w: W, msize: u32) -> Result<Client>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let msize = msize.max(MIN_MSIZE);
        let (out, _writer) = spawn_writer(w);
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                slots: HashMap::new(),
                // NOTAG is Tversion's alone.
                tags: IdAlloc::<u16>::new(0, NOTAG),
                closed: false,
                cause: None,
                orphans: Vec::new(),
            }),
            fids: Mutex::new(IdAlloc::<u32>::new(0, NOFID)),
            msize: AtomicU32::new(msize),
            write_window: AtomicUsize::new(1),
        });
        tokio::spawn(read_replies(FrameReader::new(r), shared.clone(), msize));
        let client = Client {
            inner: Arc::new(Inner { out, shared }),
        };
        client.version(msize).await?;
        Ok(client)
    }

    /// [`Client::connect`] on one bidirectional stream.
    pub async fn connect_stream<S>(stream: S, msize: u32) -> Result<Client>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (r, w) = tokio::io::split(stream);
        Client::connect(r, w, msize).await
    }

    async fn version(&self, msize: u32) -> Result<()> {
        let rx = {
            let mut p = self.inner.shared.pending();
            let (tx, rx) = oneshot::channel();
            p.slots.insert(NOTAG, Slot::Waiting(tx));
            rx
        };
        let msg = Tmsg::Version {
            msize,
            version: VERSION_9P2000.into(),
        };
        self.send(NOTAG, &msg).await?;
        match rx.await.map_err(|_| self.hungup())? {
            Rmsg::Version { msize: m, version } if version == VERSION_9P2000 => {
                if !(MIN_MSIZE..=msize).contains(&m) {
                    return Err(Error::new(format!("server chose an unusable msize {m}")));
                }
                self.inner.shared.msize.store(m, Ordering::Relaxed);
                Ok(())
            }
            Rmsg::Version { version, .. } => Err(Error::new(format!(
                "server does not speak 9P2000 (it answered version {version:?})"
            ))),
            Rmsg::Error { ename } => Err(Error::new(ename)),
            _ => Err(Error::from_static(
                "9P protocol botch: bad reply to Tversion",
            )),
        }
    }

    /// The negotiated message size.
    pub fn msize(&self) -> u32 {
        self.inner.shared.msize.load(Ordering::Relaxed)
    }

    /// Lets one write larger than a message keep up to `n` Twrites in flight instead of
    /// one. Only for a server known to apply writes to a fid in the order they were sent,
    /// as ninefold's does: 9P does not promise it (9front's exportfs serves requests in
    /// parallel), and a stream written out of order is corrupt without any error.
    pub fn set_write_window(&self, n: usize) {
        self.inner
            .shared
            .write_window
            .store(n.max(1), Ordering::Relaxed);
    }

    pub(crate) fn write_window(&self) -> usize {
        self.inner.shared.write_window.load(Ordering::Relaxed)
    }

    /// The most payload one Tread or Twrite can carry.
    pub fn max_io(&self) -> u32 {
        self.msize() - ninefold_proto::IOHDRSZ
    }

    /// Sends one request and waits for its reply; Rerror becomes `Err`. Dropping the
    /// future before the reply arrives flushes the request.
    pub async fn rpc(&self, msg: Tmsg) -> Result<Rmsg> {
        self.call(msg).await?.reply().await
    }

    /// Sends one request without waiting for its reply, so that the next can follow at
    /// once (a ninefold server runs requests on one fid in the order they came). Dropping
    /// the [`Call`] before its reply flushes the request.
    pub(crate) async fn call(&self, msg: Tmsg) -> Result<Call<'_>> {
        let (tag, rx) = self.register()?;
        let mut guard = InFlight {
            client: self,
            tag,
            newfid: NewFid::of(&msg),
            state: State::Unsent,
        };
        self.send(tag, &msg).await?;
        guard.state = State::Sent;
        Ok(Call { guard, rx })
    }

    /// The error for a request the connection's end left unanswered.
    fn hungup(&self) -> Error {
        hungup(&self.inner.shared.pending())
    }

    fn register(&self) -> Result<(u16, oneshot::Receiver<Rmsg>)> {
        let mut p = self.inner.shared.pending();
        if p.closed {
            return Err(hungup(&p));
        }
        let tag = p
            .tags
            .alloc()
            .ok_or_else(|| Error::from_static("too many requests in flight"))?;
        let (tx, rx) = oneshot::channel();
        p.slots.insert(tag, Slot::Waiting(tx));
        Ok((tag, rx))
    }

    async fn send(&self, tag: u16, msg: &Tmsg) -> Result<()> {
        let mut head = BytesMut::with_capacity(HEADER_SIZE + 64);
        let payload = encode_t(tag, msg, &mut head, true);
        self.inner
            .out
            .send(Frame {
                head: head.freeze(),
                payload,
            })
            .await
            .map_err(|_| self.hungup())
    }

    pub(crate) fn alloc_fid(&self) -> Result<u32> {
        self.inner
            .shared
            .fids()
            .alloc()
            .ok_or_else(|| Error::from_static("out of fids"))
    }

    /// Returns a fid number the server no longer knows.
    pub(crate) fn free_fid(&self, fid: u32) {
        self.inner.shared.fids().free(fid);
    }

    /// Clunks `fid` on the server, then frees its number.
    pub(crate) async fn clunk_fid(&self, fid: u32) {
        // The fid is gone whatever the server says.
        let _ = self.rpc(Tmsg::Clunk { fid }).await;
        self.free_fid(fid);
    }

    /// Clunks `fid` in the background, for destructors.
    pub(crate) fn clunk_later(&self, fid: u32) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let c = self.clone();
            rt.spawn(async move { c.clunk_fid(fid).await });
        }
    }

    /// Attaches to the tree named `aname` as `uname`.
    pub async fn attach_node(&self, uname: &str, aname: &str) -> Result<RemoteNode> {
        let fid = self.alloc_fid()?;
        let r = self
            .rpc(Tmsg::Attach {
                fid,
                afid: NOFID,
                uname: uname.into(),
                aname: aname.into(),
            })
            .await;
        match r {
            Ok(Rmsg::Attach { qid }) => Ok(RemoteNode::new(self.clone(), fid, qid)),
            Ok(_) => {
                self.clunk_later(fid);
                Err(botch())
            }
            Err(e) => {
                self.free_fid(fid);
                Err(e)
            }
        }
    }

    /// Sends Tflush for an abandoned request and cleans up after it.
    async fn flush(&self, oldtag: u16) {
        let r = self.rpc(Tmsg::Flush { oldtag }).await;
        // After Rflush (or a dead connection) the old tag can no longer be answered.
        let (leftover, orphans) = {
            let mut p = self.inner.shared.pending();
            let mut leftover = None;
            if r.is_ok() || p.closed {
                if let Some(Slot::Abandoned(nf)) = p.slots.remove(&oldtag) {
                    p.tags.free(oldtag);
                    leftover = nf;
                } else if let Some(other) = p.slots.remove(&oldtag) {
                    // The tag was answered and reused meanwhile: not ours to touch.
                    p.slots.insert(oldtag, other);
                }
            }
            (leftover, std::mem::take(&mut p.orphans))
        };
        if let Some(nf) = leftover {
            self.free_fid(nf.fid);
        }
        for fid in orphans {
            self.clunk_fid(fid).await;
        }
    }
}

pub(crate) fn botch() -> Error {
    Error::from_static("9P protocol botch: unexpected reply")
}

#[async_trait]
impl Tree for Client {
    async fn attach(&self, uname: &str, aname: &str) -> Result<NodeRef> {
        Ok(Arc::new(self.attach_node(uname, aname).await?))
    }
}

/// A request on the wire, its reply still to come.
pub(crate) struct Call<'a> {
    guard: InFlight<'a>,
    rx: oneshot::Receiver<Rmsg>,
}

impl Call<'_> {
    /// Waits for the reply; Rerror becomes `Err`.
    pub async fn reply(mut self) -> Result<Rmsg> {
        let reply = (&mut self.rx).await;
        self.guard.state = State::Answered;
        match reply.map_err(|_| self.guard.client.hungup())? {
            Rmsg::Error { ename } => Err(Error::new(ename)),
            r => Ok(r),
        }
    }
}

#[derive(Debug, PartialEq)]
enum State {
    Unsent,
    Sent,
    Answered,
}

/// Keeps a request's tag honest if the caller stops waiting.
struct InFlight<'a> {
    client: &'a Client,
    tag: u16,
    newfid: Option<NewFid>,
    state: State,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let shared = &self.client.inner.shared;
        match self.state {
            State::Answered => {}
            State::Unsent => {
                // Never reached the wire: the tag is simply free again.
                let mut p = shared.pending();
                p.slots.remove(&self.tag);
                p.tags.free(self.tag);
            }
            State::Sent => {
                {
                    let mut p = shared.pending();
                    match p.slots.get_mut(&self.tag) {
                        Some(slot @ Slot::Waiting(_)) => *slot = Slot::Abandoned(self.newfid),
                        // The reply raced us and was dropped with the receiver; the
                        // dispatcher already freed the tag.
                        _ => return,
                    }
                }
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    let c = self.client.clone();
                    let tag = self.tag;
                    rt.spawn(async move { c.flush(tag).await });
                }
            }
        }
    }
}

/// Delivers replies to their callers until the connection ends; then fails everyone waiting.
async fn read_replies<R: AsyncRead + Unpin>(
    mut frames: FrameReader<R>,
    shared: Arc<Shared>,
    max: u32,
) {
    loop {
        let frame = match frames.next(max).await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "9P connection failed");
                shared.pending().cause = Some(e.to_string());
                break;
            }
        };
        let (tag, msg) = match decode_r(frame) {
            Ok(m) => m,
            Err(e) => {
                // A reply we cannot parse leaves its caller waiting forever: give up on the
                // connection rather than guess.
                tracing::warn!(error = %e, "malformed reply from server");
                shared.pending().cause = Some(format!("malformed reply: {e}"));
                break;
            }
        };
        deliver(&shared, tag, msg);
    }
    let mut p = shared.pending();
    p.closed = true;
    // Dropping the senders wakes every waiting caller with a hang-up.
    p.slots.clear();
}

/// "i/o on hungup channel", with the cause if one is known (the errno stays EIO: Plan 9
/// error strings match by prefix).
fn hungup(p: &Pending) -> Error {
    match &p.cause {
        Some(c) => Error::new(format!("{}: {c}", Error::HUNGUP)),
        None => Error::HUNGUP,
    }
}

fn deliver(shared: &Shared, tag: u16, msg: Rmsg) {
    let slot = {
        let mut p = shared.pending();
        let slot = p.slots.remove(&tag);
        if slot.is_some() && tag != NOTAG {
            p.tags.free(tag);
        }
        slot
    };
    match slot {
        Some(Slot::Waiting(tx)) => {
            // The caller may have just gone; then nobody needs the reply.
            let _ = tx.send(msg);
        }
        Some(Slot::Abandoned(Some(nf))) => {
            if nf.created_by(&msg) {
                // The request finished before the flush reached the server: the flush task
                // clunks the fid once Rflush is in.
                shared.pending().orphans.push(nf.fid);
            } else {
                shared.fids().free(nf.fid);
            }
        }
        Some(Slot::Abandoned(None)) => {}
        None => tracing::debug!(tag, "reply for a tag not in flight"),
    }
}
