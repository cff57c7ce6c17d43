//! Little-endian primitives over a frame. The reader never panics: running past the end is
//! [`DecodeError::Truncated`].

use bytes::{BufMut, Bytes, BytesMut};

use crate::{DecodeError, Qid, QidType};

/// A cursor over one received frame; slices of it are handed out as `Bytes` without copying.
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A zero-copy slice of the next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated);
        }
        let b = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    /// s[2]: a length-prefixed UTF-8 string.
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        let n = self.u16()? as usize;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::BadUtf8)
    }

    pub(crate) fn qid(&mut self) -> Result<Qid, DecodeError> {
        Ok(Qid {
            ty: QidType(self.u8()?),
            version: self.u32()?,
            path: self.u64()?,
        })
    }

    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// Writes a string as s[2]. Strings longer than 65535 bytes are cut at a character boundary:
/// the wire cannot carry more, and a truncated name beats a corrupt frame.
pub(crate) fn put_string(buf: &mut BytesMut, s: &str) {
    let s = clip(s);
    buf.put_u16_le(s.len() as u16);
    buf.put_slice(s.as_bytes());
}

/// Encoded size of a string as s[2].
pub(crate) fn string_size(s: &str) -> usize {
    2 + clip(s).len()
}

fn clip(s: &str) -> &str {
    if s.len() <= u16::MAX as usize {
        return s;
    }
    let mut end = u16::MAX as usize;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub(crate) fn put_qid(buf: &mut BytesMut, q: &Qid) {
    buf.put_u8(q.ty.0);
    buf.put_u32_le(q.version);
    buf.put_u64_le(q.path);
}
