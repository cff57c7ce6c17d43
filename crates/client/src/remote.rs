//! A remote fid as a ninefold node.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use ninefold_fs::{Error, Node, NodeRef, Opened, Qid, Result, Stat, Walked};
use ninefold_proto::{MAXWELEM, Rmsg, Tmsg};

use crate::conn::{Client, botch};

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
        let r = self
            .client
            .rpc(Tmsg::Walk {
                fid,
                newfid,
                wnames: names.to_vec(),
            })
            .await?;
        match r {
            Rmsg::Walk { wqids } if wqids.len() <= names.len() => {
                if wqids.is_empty() && !names.is_empty() {
                    return Err(Error::NOT_FOUND);
                }
                Ok(wqids)
            }
            _ => Err(botch()),
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

    async fn open(&self, mode: u8) -> Result<Opened> {
        match self
            .client
            .rpc(Tmsg::Open {
                fid: self.fid,
                mode,
            })
            .await?
        {
            Rmsg::Open { qid, iounit } => {
                self.set_qid(qid);
                self.iounit.store(iounit, Ordering::Relaxed);
                Ok(Opened { qid, iounit })
            }
            _ => Err(botch()),
        }
    }

    async fn create(&self, name: &str, perm: u32, mode: u8) -> Result<Opened> {
        let msg = Tmsg::Create {
            fid: self.fid,
            name: name.into(),
            perm,
            mode,
        };
        match self.client.rpc(msg).await? {
            Rmsg::Create { qid, iounit } => {
                self.set_qid(qid);
                self.iounit.store(iounit, Ordering::Relaxed);
                Ok(Opened { qid, iounit })
            }
            _ => Err(botch()),
        }
    }

    /// One Tread: at most one message's worth, whatever `count` asks.
    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        let count = count.min(self.io_limit());
        match self
            .client
            .rpc(Tmsg::Read {
                fid: self.fid,
                offset,
                count,
            })
            .await?
        {
            Rmsg::Read { data } if data.len() <= count as usize => Ok(data),
            _ => Err(botch()),
        }
    }

    /// Writes all of `data`, in as many Twrites as the msize requires, stopping at a short
    /// write.
    async fn write(&self, offset: u64, mut data: Bytes) -> Result<u32> {
        let limit = self.io_limit() as usize;
        let mut done: u32 = 0;
        loop {
            let chunk = data.split_to(data.len().min(limit));
            let len = chunk.len() as u32;
            let msg = Tmsg::Write {
                fid: self.fid,
                offset: offset + done as u64,
                data: chunk,
            };
            let n = match self.client.rpc(msg).await? {
                Rmsg::Write { count } if count <= len => count,
                _ => return Err(botch()),
            };
            done += n;
            if n < len || data.is_empty() {
                return Ok(done);
            }
        }
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
