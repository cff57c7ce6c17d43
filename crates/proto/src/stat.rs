//! Stat entries: the machine-independent directory entry of Rstat, Twstat and directory reads.

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::{Reader, put_qid, put_string, string_size};
use crate::{DecodeError, Qid, QidType};

/// One 9P2000 directory entry.
///
/// In Twstat, a field holding its "don't touch" value (all ones for numbers, empty for
/// strings) asks the server to leave that attribute alone; [`Stat::dont_touch`] builds one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stat {
    /// For kernel use (the device type).
    pub ty: u16,
    /// For kernel use (the device instance).
    pub dev: u32,
    pub qid: Qid,
    /// Permissions in the low bits, `DM*` flags in the high ones.
    pub mode: u32,
    pub atime: u32,
    pub mtime: u32,
    pub length: u64,
    pub name: String,
    pub uid: String,
    pub gid: String,
    /// The user who last modified the file.
    pub muid: String,
}

impl Stat {
    /// Fixed part of an entry, after its own size[2]: type dev qid mode atime mtime length.
    const FIXED: usize = 2 + 4 + Qid::SIZE + 4 + 4 + 4 + 8;

    /// A Twstat entry that changes nothing; set the fields to change.
    pub fn dont_touch() -> Stat {
        Stat {
            ty: u16::MAX,
            dev: u32::MAX,
            qid: Qid {
                ty: QidType(u8::MAX),
                version: u32::MAX,
                path: u64::MAX,
            },
            mode: u32::MAX,
            atime: u32::MAX,
            mtime: u32::MAX,
            length: u64::MAX,
            name: String::new(),
            uid: String::new(),
            gid: String::new(),
            muid: String::new(),
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & crate::dm::DMDIR != 0
    }

    /// Encoded size including the leading size[2].
    pub fn size(&self) -> usize {
        2 + Self::FIXED + self.strings().iter().map(|s| string_size(s)).sum::<usize>()
    }

    /// name, uid, gid, muid, cut so the entry's size still fits its size[2]: muid, gid and
    /// uid give way first, the name last. Only absurdly long strings are ever cut.
    fn strings(&self) -> [&str; 4] {
        let mut budget = u16::MAX as usize - Self::FIXED - 4 * 2;
        let mut out = [self.name.as_str(), &self.uid, &self.gid, &self.muid];
        for s in out.iter_mut() {
            let mut end = s.len().min(budget);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            *s = &s[..end];
            budget -= end;
        }
        out
    }

    /// Appends the entry, size[2] first.
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.reserve(self.size());
        buf.put_u16_le((self.size() - 2) as u16);
        buf.put_u16_le(self.ty);
        buf.put_u32_le(self.dev);
        put_qid(buf, &self.qid);
        buf.put_u32_le(self.mode);
        buf.put_u32_le(self.atime);
        buf.put_u32_le(self.mtime);
        buf.put_u64_le(self.length);
        for s in self.strings() {
            put_string(buf, s);
        }
    }

    /// Decodes one whole entry, which must fill `bytes` exactly.
    pub fn decode(bytes: Bytes) -> Result<Stat, DecodeError> {
        let mut r = Reader::new(bytes);
        let st = Self::read(&mut r)?;
        r.finish()?;
        Ok(st)
    }

    /// Reads one entry from `r`; its size[2] must match what it contains.
    pub(crate) fn read(r: &mut Reader) -> Result<Stat, DecodeError> {
        let declared = r.u16()? as usize;
        if declared > r.remaining() {
            return Err(DecodeError::Truncated);
        }
        let before = r.remaining();
        let st = Stat {
            ty: r.u16()?,
            dev: r.u32()?,
            qid: r.qid()?,
            mode: r.u32()?,
            atime: r.u32()?,
            mtime: r.u32()?,
            length: r.u64()?,
            name: r.string()?,
            uid: r.string()?,
            gid: r.string()?,
            muid: r.string()?,
        };
        let actual = before - r.remaining();
        if actual != declared {
            return Err(DecodeError::BadStatSize { declared, actual });
        }
        Ok(st)
    }
}

/// Splits the data of a directory read into its entries. Any malformed entry is an error:
/// directory reads carry whole entries only.
pub fn read_dir_entries(data: Bytes) -> Result<Vec<Stat>, DecodeError> {
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        out.push(Stat::read(&mut r)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurdly_long_strings_are_cut_to_fit_the_entry() {
        let st = Stat {
            name: "n".repeat(70_000),
            uid: "é".repeat(40_000),
            gid: "g".into(),
            ..Stat::default()
        };
        assert!(st.size() <= u16::MAX as usize + 2);
        let mut buf = BytesMut::new();
        st.encode(&mut buf);
        assert_eq!(buf.len(), st.size());
        let back = Stat::decode(buf.freeze()).unwrap();
        assert!(st.name.starts_with(&back.name) && !back.name.is_empty());
        assert!(back.uid.is_empty() || st.uid.starts_with(&back.uid));
    }
}
