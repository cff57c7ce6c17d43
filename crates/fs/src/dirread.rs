//! Directory reads by the 9P rules: whole entries only, and each read continues exactly
//! where the previous one ended (or restarts at offset 0).

use bytes::{Bytes, BytesMut};
use ninefold_proto::Stat;

use crate::{Error, Result};

/// The read position of one open directory.
#[derive(Debug, Default)]
pub struct DirCursor {
    entries: Vec<Stat>,
    /// Index of the next entry to return.
    index: usize,
    /// Byte offset the next read must ask for.
    offset: u64,
}

impl DirCursor {
    pub fn new() -> DirCursor {
        DirCursor::default()
    }

    /// True when a read at `offset` must start over: the caller then reloads the
    /// directory and calls [`DirCursor::reset`] before [`DirCursor::read`].
    pub fn wants_reload(&self, offset: u64) -> bool {
        offset == 0
    }

    /// Starts over with a fresh listing.
    pub fn reset(&mut self, entries: Vec<Stat>) {
        self.entries = entries;
        self.index = 0;
        self.offset = 0;
    }

    /// The entries that fit in `count` bytes, continuing from the last read.
    pub fn read(&mut self, offset: u64, count: u32) -> Result<Bytes> {
        if offset != self.offset {
            return Err(Error::BAD_OFFSET);
        }
        let mut buf = BytesMut::new();
        while let Some(st) = self.entries.get(self.index) {
            if buf.len() + st.size() > count as usize {
                break;
            }
            st.encode(&mut buf);
            self.index += 1;
        }
        if buf.is_empty() && self.index < self.entries.len() {
            // Returning nothing would read as end of directory.
            return Err(Error::new("read count too small for a directory entry"));
        }
        self.offset += buf.len() as u64;
        Ok(buf.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Stat {
        Stat {
            name: name.into(),
            uid: "u".into(),
            gid: "g".into(),
            muid: "m".into(),
            ..Stat::default()
        }
    }

    #[test]
    fn reads_whole_entries_and_continues_where_it_ended() {
        let mut c = DirCursor::new();
        c.reset(vec![entry("a"), entry("bb"), entry("ccc")]);
        let one = entry("a").size() as u32;
        let first = c.read(0, one + 3).unwrap();
        assert_eq!(first.len(), one as usize);
        let rest = c.read(one as u64, 4096).unwrap();
        let names: Vec<_> = ninefold_proto::read_dir_entries(rest)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["bb", "ccc"]);
        let end = c.read(c.offset, 4096).unwrap();
        assert!(end.is_empty());
    }

    #[test]
    fn refuses_an_offset_it_never_returned() {
        let mut c = DirCursor::new();
        c.reset(vec![entry("a"), entry("b")]);
        assert_eq!(c.read(3, 4096), Err(Error::BAD_OFFSET));
    }

    #[test]
    fn too_small_a_count_is_an_error_not_eof() {
        let mut c = DirCursor::new();
        c.reset(vec![entry("a")]);
        assert!(c.read(0, 10).is_err());
    }
}
