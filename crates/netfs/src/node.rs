//! A fid of the `/net` tree: walks, opens, reads and writes, dispatched on the file.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use ninefold_fs::synth::slice_at;
use ninefold_fs::{DirCursor, Error, Node, NodeRef, Opened, Qid, Result, Stat};
use ninefold_proto::om;

use crate::conv::{Phase, Use};
use crate::gate::Caller;
use crate::tree::{ConvFile, Net, Target};
use crate::{cs, ctl, dns};

pub(crate) struct NetNode {
    net: Arc<Net>,
    /// The attach name: who owns the conversations this fid opens.
    user: Arc<str>,
    /// Who the policy judges and the log names.
    caller: Arc<Caller>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    at: Target,
    open: Open,
}

#[derive(Debug)]
enum Open {
    No,
    /// Opened, holding nothing.
    Yes,
    Dir(DirCursor),
    /// Opened `ctl`, `data` or `err` (or `clone` or `listen`, which became a `ctl`): the
    /// conversation stays in use until this is dropped, at clunk.
    Conv(#[allow(dead_code)] Use),
    /// Opened `cs` or `dns`: the records answering the last query, one per read.
    Query(Vec<Bytes>),
    /// Opened a file whose text was made at the open (the files of `/ipifc`).
    Text(Bytes),
}

impl std::fmt::Debug for NetNode {
    // The whole device is not this fid's business.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("NetNode");
        d.field("user", &self.user);
        // try_lock: formatting must never wait on (or deadlock with) the node's own work.
        if let Ok(s) = self.state.try_lock() {
            d.field("qid", &s.at.qid()).field("open", &s.open);
        }
        d.finish_non_exhaustive()
    }
}

impl NetNode {
    pub(crate) fn new(net: Arc<Net>, user: Arc<str>, caller: Arc<Caller>, at: Target) -> NetNode {
        NetNode {
            net,
            user,
            caller,
            state: Mutex::new(State { at, open: Open::No }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn at(&self) -> Target {
        self.state().at.clone()
    }

    /// The node now refers to `at`, opened as `open`.
    fn become_open(&self, at: Target, open: Open) -> Opened {
        let mut s = self.state();
        s.at = at;
        s.open = open;
        Opened {
            qid: s.at.qid(),
            iounit: 0,
        }
    }

    /// A read of `cs` or `dns`: the rest of the record `offset` falls in, as Plan 9's cs
    /// does, so reading on from where the last read ended returns one record per read.
    fn read_record(&self, offset: u64, count: u32) -> Result<Bytes> {
        let s = self.state();
        let Open::Query(records) = &s.open else {
            return Err(Error::BAD_USE);
        };
        let mut off = offset;
        for r in records {
            let len = r.len() as u64;
            if off < len {
                return Ok(slice_at(r, off, count));
            }
            off -= len;
        }
        Ok(Bytes::new())
    }

    /// Keeps the answer to a query for the reads to come; a failed query leaves none.
    fn answer(&self, answer: Result<Vec<String>>, len: usize) -> Result<u32> {
        let mut s = self.state();
        let Open::Query(records) = &mut s.open else {
            return Err(Error::BAD_USE);
        };
        records.clear();
        *records = answer?.into_iter().map(Bytes::from).collect();
        Ok(u32::try_from(len).unwrap_or(u32::MAX))
    }

    fn read_text(&self, offset: u64, count: u32) -> Result<Bytes> {
        match &self.state().open {
            Open::Text(b) => Ok(slice_at(b, offset, count)),
            _ => Err(Error::BAD_USE),
        }
    }

    async fn read_dir(&self, offset: u64, count: u32) -> Result<Bytes> {
        let at = self.at();
        let mut s = self.state();
        let Open::Dir(cursor) = &mut s.open else {
            return Err(Error::BAD_USE);
        };
        if cursor.wants_reload(offset) {
            let entries = at
                .children(&self.net)
                .iter()
                .map(|t| t.stat(&self.net))
                .collect();
            cursor.reset(entries);
        }
        cursor.read(offset, count)
    }
}

#[async_trait]
impl Node for NetNode {
    fn qid(&self) -> Qid {
        self.state().at.qid()
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        Ok(Arc::new(NetNode::new(
            self.net.clone(),
            self.user.clone(),
            self.caller.clone(),
            self.at(),
        )))
    }

    async fn walk1(&self, name: &str) -> Result<NodeRef> {
        let next = self.at().walk1(&self.net, name)?;
        Ok(Arc::new(NetNode::new(
            self.net.clone(),
            self.user.clone(),
            self.caller.clone(),
            next,
        )))
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        let at = self.at();
        // Plan 9's openmode: OTRUNC and the like do not matter here; OEXEC reads.
        let read_only = matches!(mode & om::OACCMODE, om::OREAD | om::OEXEC);
        match at {
            Target::Root | Target::ProtoDir(_) | Target::ConvDir(_) => {
                if !read_only {
                    return Err(Error::PERM);
                }
                Ok(self.become_open(at, Open::Dir(DirCursor::new())))
            }
            Target::Cs | Target::Dns => Ok(self.become_open(at, Open::Query(Vec::new()))),
            // Read-only throughout; the text is the host's as of now.
            Target::Ipifc(t) => {
                if !read_only {
                    return Err(Error::PERM);
                }
                if t.is_dir() {
                    return Ok(self.become_open(at, Open::Dir(DirCursor::new())));
                }
                let text = Bytes::from(t.text()?);
                Ok(self.become_open(at, Open::Text(text)))
            }
            Target::Stats(_)
            | Target::File(_, ConvFile::Local | ConvFile::Remote | ConvFile::Status) => {
                if !read_only {
                    return Err(Error::PERM);
                }
                Ok(self.become_open(at, Open::Yes))
            }
            Target::Clone(p) => {
                let conv = self.net.proto(p)?.alloc(&self.user, Phase::Idle)?;
                let at = Target::File(conv.clone(), ConvFile::Ctl);
                Ok(self.become_open(at, Open::Conv(Use(conv))))
            }
            Target::File(ref conv, ConvFile::Ctl | ConvFile::Data | ConvFile::Err) => {
                conv.acquire(&self.user)?;
                let held = Use(conv.clone());
                Ok(self.become_open(at, Open::Conv(held)))
            }
            Target::File(ref conv, ConvFile::Listen) => {
                let proto = self.net.proto(conv.proto)?;
                // Waits for a call; a Tflush drops this future and with it the wait.
                let new = proto.listen(conv, &self.user).await?;
                let at = Target::File(new.clone(), ConvFile::Ctl);
                Ok(self.become_open(at, Open::Conv(Use(new))))
            }
        }
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        let at = self.at();
        let text = match &at {
            Target::Root | Target::ProtoDir(_) | Target::ConvDir(_) => {
                return self.read_dir(offset, count).await;
            }
            Target::Cs | Target::Dns => return self.read_record(offset, count),
            Target::Ipifc(t) if t.is_dir() => return self.read_dir(offset, count).await,
            Target::Ipifc(_) => return self.read_text(offset, count),
            Target::File(c, ConvFile::Data) => return c.read_data(count).await,
            Target::File(c, ConvFile::Err) => {
                // TCP never queues anything here: EOF once the conversation ends.
                c.wait_ended().await;
                return Ok(Bytes::new());
            }
            Target::File(c, ConvFile::Ctl) => c.num.to_string(),
            Target::File(c, ConvFile::Local) => c.local_text(),
            Target::File(c, ConvFile::Remote) => c.remote_text(),
            Target::File(c, ConvFile::Status) => c.status_text(),
            Target::Stats(p) => self.net.proto(*p)?.stats_text(),
            Target::Clone(_) | Target::File(_, ConvFile::Listen) => return Err(Error::BAD_USE),
        };
        Ok(slice_at(&Bytes::from(text), offset, count))
    }

    async fn write(&self, offset: u64, data: Bytes) -> Result<u32> {
        match self.at() {
            // The lookup runs inside the write, so a Tflush abandons it.
            Target::Cs => self.answer(cs::translate(&data).await, data.len()),
            Target::Dns => self.answer(dns::query(offset, &data).await, data.len()),
            Target::File(c, ConvFile::Ctl) => {
                let msg = ctl::parse(&data)?;
                c.ctl(msg, &self.caller).await?;
                Ok(u32::try_from(data.len()).unwrap_or(u32::MAX))
            }
            Target::File(c, ConvFile::Data) => c.write_data(&data, &self.caller).await,
            Target::File(_, ConvFile::Err) | Target::Ipifc(_) => Err(Error::PERM),
            _ => Err(Error::BAD_USE),
        }
    }

    async fn clunk(&self) {
        // Dropping a `Use` ends it: the last one hangs the conversation up.
        let open = std::mem::replace(&mut self.state().open, Open::No);
        drop(open);
    }

    async fn remove(&self) -> Result<()> {
        self.clunk().await;
        Err(Error::PERM)
    }

    async fn stat(&self) -> Result<Stat> {
        Ok(self.at().stat(&self.net))
    }
}
