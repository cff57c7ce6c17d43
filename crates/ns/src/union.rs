//! Reading a union directory: each member in turn, whole (Plan 9's `unionread`).
//! Duplicates are kept, as Plan 9 keeps them; with `compact` only the first entry of each
//! name is returned (Inferno's readdir COMPACT), which is what a Linux `ls` expects.

use std::collections::HashSet;

use bytes::{Bytes, BytesMut};
use ninefold_fs::{Error, NodeRef, Result};
use ninefold_proto::{om, read_dir_entries};

use crate::chan::Chan;

#[derive(Debug)]
pub struct UnionDir {
    members: Vec<Chan>,
    /// The member being read, opened, and the offset within it.
    index: usize,
    current: Option<NodeRef>,
    member_offset: u64,
    /// The offset the next read must ask for (or 0 to start over).
    offset: u64,
    seen: Option<HashSet<String>>,
}

impl UnionDir {
    pub fn new(members: Vec<Chan>, compact: bool) -> UnionDir {
        UnionDir {
            members,
            index: 0,
            current: None,
            member_offset: 0,
            offset: 0,
            seen: compact.then(HashSet::new),
        }
    }

    async fn close_current(&mut self) {
        if let Some(n) = self.current.take() {
            n.clunk().await;
        }
        self.member_offset = 0;
    }

    pub async fn close(&mut self) {
        self.close_current().await;
    }

    pub async fn read(&mut self, offset: u64, count: u32) -> Result<Bytes> {
        if offset == 0 && self.offset != 0 {
            self.close_current().await;
            self.index = 0;
            self.offset = 0;
            if let Some(s) = &mut self.seen {
                s.clear();
            }
        } else if offset != self.offset {
            return Err(Error::BAD_OFFSET);
        }
        while self.index < self.members.len() {
            let node = match &self.current {
                Some(n) => n.clone(),
                None => match open(&self.members[self.index]).await {
                    Ok(n) => {
                        self.current = Some(n.clone());
                        n
                    }
                    Err(e) => {
                        // As Plan 9: a member that cannot be read is skipped.
                        tracing::debug!(error = %e, "union member skipped");
                        self.index += 1;
                        continue;
                    }
                },
            };
            // Read errors are passed on (a count too small for one entry must reach the
            // reader); only a member that cannot be opened is skipped.
            let data = node.read(self.member_offset, count).await?;
            if data.is_empty() {
                self.close_current().await;
                self.index += 1;
                continue;
            }
            self.member_offset += data.len() as u64;
            let data = crate::node::export_entries(self.members[self.index].dev, data)?;
            let out = self.filter(data)?;
            if out.is_empty() {
                continue;
            }
            self.offset += out.len() as u64;
            return Ok(out);
        }
        Ok(Bytes::new())
    }

    /// Drop names already returned, when compacting.
    fn filter(&mut self, data: Bytes) -> Result<Bytes> {
        let Some(seen) = &mut self.seen else {
            return Ok(data);
        };
        let entries = read_dir_entries(data).map_err(|_| Error::IO)?;
        let mut out = BytesMut::new();
        for st in entries {
            if seen.insert(st.name.clone()) {
                st.encode(&mut out);
            }
        }
        Ok(out.freeze())
    }
}

async fn open(chan: &Chan) -> Result<NodeRef> {
    let node = chan.node.clone_node().await?;
    node.open(om::OREAD).await?;
    Ok(node)
}
