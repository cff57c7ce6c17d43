//! Stat entries: the machine-independent directory entry of Rstat, Twstat and directory reads.

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::{put_qid, put_string, string_size, Reader};
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
        2 + Self::FIXED
            + string_size(&self.name)
            + string_size(&self.uid)
            + string_size(&self.gid)
            + string_size(&self.muid)
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
        put_string(buf, &self.name);
        put_string(buf, &self.uid);
        put_string(buf, &self.gid);
        put_string(buf, &self.muid);
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
