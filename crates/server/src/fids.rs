//! The fid table of one connection: a hash map, so lookups are O(1) however many fids a
//! client keeps (a linked list here once cost QEMU hours).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ninefold_fs::{Error, NodeRef};
use ninefold_proto::om;

/// What a fid points at, and how it was opened.
#[derive(Debug)]
pub(crate) struct Fid {
    pub node: NodeRef,
    open: Mutex<Option<u8>>,
}

impl Fid {
    pub fn new(node: NodeRef) -> Arc<Fid> {
        Arc::new(Fid {
            node,
            open: Mutex::new(None),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<u8>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The mode it was opened with, if it was.
    pub fn open_mode(&self) -> Option<u8> {
        *self.lock()
    }

    /// Claims the fid for an open or create; fails if it is already open (or being opened).
    pub fn begin_open(&self, mode: u8) -> Result<(), Error> {
        let mut m = self.lock();
        if m.is_some() {
            return Err(Error::new("file already open"));
        }
        *m = Some(mode);
        Ok(())
    }

    /// Undoes [`Fid::begin_open`] after the open failed.
    pub fn abort_open(&self) {
        *self.lock() = None;
    }

    pub fn can_read(&self) -> bool {
        matches!(
            self.open_mode().map(|m| m & om::OACCMODE),
            Some(om::OREAD | om::ORDWR | om::OEXEC)
        )
    }

    pub fn can_write(&self) -> bool {
        matches!(
            self.open_mode().map(|m| m & om::OACCMODE),
            Some(om::OWRITE | om::ORDWR)
        )
    }

    pub fn remove_on_clunk(&self) -> bool {
        self.open_mode().is_some_and(|m| m & om::ORCLOSE != 0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct FidTable {
    map: Mutex<HashMap<u32, Arc<Fid>>>,
}

impl FidTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<u32, Arc<Fid>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, fid: u32) -> Result<Arc<Fid>, Error> {
        self.lock().get(&fid).cloned().ok_or_else(unknown_fid)
    }

    pub fn contains(&self, fid: u32) -> bool {
        self.lock().contains_key(&fid)
    }

    /// Adds a fid that must not exist yet.
    pub fn insert_new(&self, fid: u32, entry: Arc<Fid>) -> Result<(), Error> {
        let mut map = self.lock();
        if map.contains_key(&fid) {
            return Err(fid_in_use());
        }
        map.insert(fid, entry);
        Ok(())
    }

    /// Points `fid` at a new entry, returning the one it replaces.
    pub fn replace(&self, fid: u32, entry: Arc<Fid>) -> Option<Arc<Fid>> {
        self.lock().insert(fid, entry)
    }

    pub fn remove(&self, fid: u32) -> Result<Arc<Fid>, Error> {
        self.lock().remove(&fid).ok_or_else(unknown_fid)
    }

    pub fn drain(&self) -> Vec<Arc<Fid>> {
        self.lock().drain().map(|(_, f)| f).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

pub(crate) fn unknown_fid() -> Error {
    Error::from_static("unknown fid")
}

pub(crate) fn fid_in_use() -> Error {
    Error::from_static("fid already in use")
}
