//! A remote fid as a ninefold node.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use ninefold_fs::{Error, Node, NodeRef, Opened, Qid, Result, Stat, WalkOpened, Walked};
use ninefold_proto::{MAXWELEM, Rmsg, Tmsg};

use crate::conn::{Call, Client, botch};

/// One fid on the server. Dropping it clunks the fid in the background.
#[derive(Debug)]
pub struct RemoteNode {
    client: Client,
    fid: u32,
    qid: Mutex<Qid>,
    iounit: AtomicU32,
    /// Set once Tclunk or Tremove has been sent: the fid is no longer ours.
    gone: AtomicBool,
}

impl RemoteNode {
    pub(crate) fn new(client: Client, fid: u32, qid: Qid) -> RemoteNode {
        RemoteNode {
            client,
            fid,
            qid: Mutex::new(qid),
            iounit: AtomicU32::new(0),
            gone: AtomicBool::new(false),
        }
    }

    pub fn fid(&self) -> u32 {
        self.fid
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn set_qid(&self, q: Qid) {
        *self.qid.lock().unwrap_or_else(|p| p.into_inner()) = q;
    }

    /// The largest payload of one Tread/Twrite on this fid.
    fn io_limit(&self) -> u32 {
        match self.iounit.load(Ordering::Relaxed) {
            0 => self.client.max_io(),
            n => n.min(self.client.max_io()),
        }
    }

    /// Walks any number of names, sixteen per Twalk. Returns the qids walked and, if all
    /// names were walked, the new node.
    pub async fn walk_remote(
        &self,
        names: &[String],
    ) -> Result<(Vec<ninefold_proto::Qid>, Option<RemoteNode>)> {
        let newfid = self.client.alloc_fid()?;
        let mut qids = Vec::with_capacity(names.len());
        let mut chunks = names.chunks(MAXWELEM);
        // The first Twalk clones our fid (even for zero names); later ones move newfid on.
        let first = chunks.next().unwrap_or(&[]);
        match self.twalk(self.fid, newfid, first).await {
            Ok(q) if q.len() == first.len() => qids.extend(q),
            Ok(q) => {
                self.client.free_fid(newfid);
                qids.extend(q);
                return Ok((qids, None));
            }
            Err(e) => {
                self.client.free_fid(newfid);
                return Err(e);
            }
        }
        for chunk in chunks {
            match self.twalk(newfid, newfid, chunk).await {
                Ok(q) if q.len() == chunk.len() => qids.extend(q),
                r => {
                    // newfid still stands where the previous chunk left it.
                    if let Ok(q) = r {
                        qids.extend(q);
                    }
                    self.client.clunk_fid(newfid).await;
                    return Ok((qids, None));
                }
            }
        }
        let qid = qids.last().copied().unwrap_or_else(|| self.qid());
        Ok((
            qids,
            Some(RemoteNode::new(self.client.clone(), newfid, qid)),
        ))
    }

    async fn twalk(&self, fid: u32, newfid: u32, names: &[String]) -> Result<Vec<Qid>> {
        let r = self.client.rpc(walk_msg(fid, newfid, names)).await;
        walked(names, r)
    }

    /// Topen and, if `want` says how much, Tread at offset 0 sent together; then the replies.
    async fn open_read(&self, mode: u8, want: Option<u32>) -> Result<(Opened, Option<Bytes>)> {
        let sent = self.send_open_read(mode, want).await;
        self.finish_open_read(sent, mode, want).await
    }

    async fn send_open_read(&self, mode: u8, want: Option<u32>) -> OpenRead<'_> {
        let open = self.client.call(open_msg(self.fid, mode)).await;
        let read = match want {
            Some(n) => Some(self.client.call(self.read_msg(0, n)).await),
            None => None,
        };
        OpenRead { open, read }
    }

    async fn finish_open_read(
        &self,
        sent: OpenRead<'_>,
        mode: u8,
        want: Option<u32>,
    ) -> Result<(Opened, Option<Bytes>)> {
        let opened = match sent.open {
            Ok(c) => c.reply().await.and_then(|r| self.opened(r)),
            Err(e) => Err(e),
        };
        let data = match sent.read {
            Some(Ok(c)) => Some(c.reply().await.and_then(|r| read_data(r, self.io_limit()))),
            Some(Err(e)) => Some(Err(e)),
            None => None,
        };
        match (opened, data) {
            (Ok(o), None) => Ok((o, None)),
            (Ok(o), Some(Ok(d))) => Ok((o, Some(d))),
            // 9P does not promise that a server keeps them in order (ninefold's does): what
            // failed may have come before what it needed. Once more, one at a time.
            (Ok(o), Some(Err(_))) => Ok((o, self.read_first(want).await?)),
            (Err(_), _) => {
                let o = Node::open(self, mode).await?;
                Ok((o, self.read_first(want).await?))
            }
        }
    }

    async fn read_first(&self, want: Option<u32>) -> Result<Option<Bytes>> {
        match want {
            Some(n) => Ok(Some(Node::read(self, 0, n).await?)),
            None => Ok(None),
        }
    }

    fn opened(&self, r: Rmsg) -> Result<Opened> {
        match r {
            Rmsg::Open { qid, iounit } | Rmsg::Create { qid, iounit } => {
                self.set_qid(qid);
                self.iounit.store(iounit, Ordering::Relaxed);
                Ok(Opened { qid, iounit })
            }
            _ => Err(botch()),
        }
    }

    fn read_msg(&self, offset: u64, count: u32) -> Tmsg {
        Tmsg::Read {
            fid: self.fid,
            offset,
            count: count.min(self.io_limit()),
        }
    }

    /// Reads from `offset` until `want` bytes or end of file, in as many Treads as needed.
    pub async fn read_exact_or_eof(&self, mut offset: u64, want: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(want.min(1 << 20));
        while out.len() < want {
            let n = (want - out.len()).min(u32::MAX as usize) as u32;
            let chunk = self.read(offset, n).await?;
            if chunk.is_empty() {
                break;
            }
            offset += chunk.len() as u64;
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// A Topen and perhaps a Tread, sent.
struct OpenRead<'a> {
    open: Result<Call<'a>>,
    read: Option<Result<Call<'a>>>,
}

impl OpenRead<'_> {
    /// Waits for both replies, whatever they are.
    async fn settle(self) {
        if let Ok(c) = self.open {
            let _ = c.reply().await;
        }
        if let Some(Ok(c)) = self.read {
            let _ = c.reply().await;
        }
    }
}

fn walk_msg(fid: u32, newfid: u32, names: &[String]) -> Tmsg {
    Tmsg::Walk {
        fid,
        newfid,
        wnames: names.to_vec(),
    }
}

fn open_msg(fid: u32, mode: u8) -> Tmsg {
    Tmsg::Open { fid, mode }
}

/// The qids of a Twalk's reply; a walk that fails on its first name is an error.
fn walked(names: &[String], r: Result<Rmsg>) -> Result<Vec<Qid>> {
    match r? {
        Rmsg::Walk { wqids } if wqids.len() <= names.len() => {
            if wqids.is_empty() && !names.is_empty() {
                return Err(Error::NOT_FOUND);
            }
            Ok(wqids)
        }
        _ => Err(botch()),
    }
}

fn read_data(r: Rmsg, count: u32) -> Result<Bytes> {
    match r {
        Rmsg::Read { data } if data.len() <= count as usize => Ok(data),
        _ => Err(botch()),
    }
}

impl Drop for RemoteNode {
    fn drop(&mut self) {
        if !self.gone.swap(true, Ordering::Relaxed) {
            self.client.clunk_later(self.fid);
        }
    }
}

#[async_trait]
impl Node for RemoteNode {
    fn qid(&self) -> Qid {
        *self.qid.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        self.walk_remote(&[])
            .await?
            .1
            .map(|n| Arc::new(n) as NodeRef)
            .ok_or_else(botch)
    }

    async fn walk1(&self, name: &str) -> Result<NodeRef> {
        match self.walk_remote(&[name.to_owned()]).await? {
            (_, Some(n)) => Ok(Arc::new(n)),
            _ => Err(Error::NOT_FOUND),
        }
    }

    async fn walk(&self, names: &[String]) -> Result<Walked> {
        let (qids, node) = self.walk_remote(names).await?;
        Ok(Walked {
            qids,
            node: node.map(|n| Arc::new(n) as NodeRef),
        })
    }

    /// Twalk, Topen and Tread go out together: one round trip (see [`Client::call`]).
    async fn walk_open(&self, names: &[String], mode: u8, read: Option<u32>) -> Result<WalkOpened> {
        let (node, r) = if names.len() > MAXWELEM {
            let node = self.walk_remote(names).await?.1.ok_or(Error::NOT_FOUND)?;
            let r = node.open_read(mode, read).await;
            (node, r)
        } else {
            let newfid = self.client.alloc_fid()?;
            let walk = match self.client.call(walk_msg(self.fid, newfid, names)).await {
                Ok(c) => c,
                Err(e) => {
                    self.client.free_fid(newfid);
                    return Err(e);
                }
            };
            let node = RemoteNode::new(self.client.clone(), newfid, self.qid());
            let sent = node.send_open_read(mode, read).await;
            match walked(names, walk.reply().await) {
                Ok(q) if q.len() == names.len() => {
                    let r = node.finish_open_read(sent, mode, read).await;
                    (node, r)
                }
                r => {
                    // No fid was made, so what followed the walk fails: wait for that
                    // before the fid number can be used again.
                    sent.settle().await;
                    node.gone.store(true, Ordering::Relaxed);
                    self.client.free_fid(newfid);
                    return Err(r.err().unwrap_or(Error::NOT_FOUND));
                }
            }
        };
        match r {
            Ok((opened, data)) => Ok(WalkOpened {
                node: Arc::new(node),
                opened,
                data,
            }),
            Err(e) => {
                node.clunk().await;
                Err(e)
            }
        }
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        let r = self.client.rpc(open_msg(self.fid, mode)).await?;
        self.opened(r)
    }

    async fn create(&self, name: &str, perm: u32, mode: u8) -> Result<Opened> {
        let msg = Tmsg::Create {
            fid: self.fid,
            name: name.into(),
            perm,
            mode,
        };
        match self.client.rpc(msg).await? {
            r @ Rmsg::Create { .. } => self.opened(r),
            _ => Err(botch()),
        }
    }

    /// One Tread: at most one message's worth, whatever `count` asks.
    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        let r = self.client.rpc(self.read_msg(offset, count)).await?;
        read_data(r, count.min(self.io_limit()))
    }

    /// Writes all of `data`, in as many Twrites as the msize requires, stopping at a short
    /// write.
    async fn write(&self, offset: u64, data: Bytes) -> Result<u32> {
        crate::write::write(
            &self.client,
            self.fid,
            offset,
            data,
            self.io_limit() as usize,
        )
        .await
    }

    async fn clunk(&self) {
        if !self.gone.swap(true, Ordering::Relaxed) {
            self.client.clunk_fid(self.fid).await;
        }
    }

    async fn remove(&self) -> Result<()> {
        if self.gone.swap(true, Ordering::Relaxed) {
            return Err(Error::from_static("fid already clunked"));
        }
        // Tremove clunks the fid even when the remove fails.
        let r = self.client.rpc(Tmsg::Remove { fid: self.fid }).await;
        self.client.free_fid(self.fid);
        match r? {
            Rmsg::Remove => Ok(()),
            _ => Err(botch()),
        }
    }

    async fn stat(&self) -> Result<Stat> {
        match self.client.rpc(Tmsg::Stat { fid: self.fid }).await? {
            Rmsg::Stat { stat } => Ok(stat),
            _ => Err(botch()),
        }
    }

    async fn wstat(&self, stat: &Stat) -> Result<()> {
        let msg = Tmsg::Wstat {
            fid: self.fid,
            stat: stat.clone(),
        };
        match self.client.rpc(msg).await? {
            Rmsg::Wstat => Ok(()),
            _ => Err(botch()),
        }
    }
}
