//! Encoding and decoding whole frames: size[4] type[1] tag[2] body.
//!
//! Decoding checks everything once: the size field against the frame, every count against
//! the bytes present, walk lengths against [`MAXWELEM`], and that nothing is left over.

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::{Reader, put_qid, put_string};
use crate::{DecodeError, HEADER_SIZE, MAXWELEM, MsgType, Rmsg, Stat, Tmsg};

/// Appends one T-message frame to `buf`.
///
/// If `split_payload` is set, the Twrite payload is not copied: the frame's size counts it,
/// the bytes written stop before it, and it is returned for the caller to send next.
pub fn encode_t(tag: u16, msg: &Tmsg, buf: &mut BytesMut, split_payload: bool) -> Option<Bytes> {
    let start = begin(buf, msg.msg_type(), tag);
    let mut payload = None;
    match msg {
        Tmsg::Version { msize, version } => {
            buf.put_u32_le(*msize);
            put_string(buf, version);
        }
        Tmsg::Auth { afid, uname, aname } => {
            buf.put_u32_le(*afid);
            put_string(buf, uname);
            put_string(buf, aname);
        }
        Tmsg::Attach {
            fid,
            afid,
            uname,
            aname,
        } => {
            buf.put_u32_le(*fid);
            buf.put_u32_le(*afid);
            put_string(buf, uname);
            put_string(buf, aname);
        }
        Tmsg::Flush { oldtag } => buf.put_u16_le(*oldtag),
        Tmsg::Walk {
            fid,
            newfid,
            wnames,
        } => {
            buf.put_u32_le(*fid);
            buf.put_u32_le(*newfid);
            buf.put_u16_le(wnames.len() as u16);
            for n in wnames {
                put_string(buf, n);
            }
        }
        Tmsg::Open { fid, mode } => {
            buf.put_u32_le(*fid);
            buf.put_u8(*mode);
        }
        Tmsg::Create {
            fid,
            name,
            perm,
            mode,
        } => {
            buf.put_u32_le(*fid);
            put_string(buf, name);
            buf.put_u32_le(*perm);
            buf.put_u8(*mode);
        }
        Tmsg::Read { fid, offset, count } => {
            buf.put_u32_le(*fid);
            buf.put_u64_le(*offset);
            buf.put_u32_le(*count);
        }
        Tmsg::Write { fid, offset, data } => {
            buf.put_u32_le(*fid);
            buf.put_u64_le(*offset);
            buf.put_u32_le(data.len() as u32);
            payload = put_payload(buf, data, split_payload);
        }
        Tmsg::Clunk { fid } | Tmsg::Remove { fid } | Tmsg::Stat { fid } => buf.put_u32_le(*fid),
        Tmsg::Wstat { fid, stat } => {
            buf.put_u32_le(*fid);
            put_stat(buf, stat);
        }
    }
    finish(buf, start, payload.as_ref());
    payload
}

/// Appends one R-message frame to `buf`; `split_payload` works as in [`encode_t`], for Rread.
pub fn encode_r(tag: u16, msg: &Rmsg, buf: &mut BytesMut, split_payload: bool) -> Option<Bytes> {
    let start = begin(buf, msg.msg_type(), tag);
    let mut payload = None;
    match msg {
        Rmsg::Version { msize, version } => {
            buf.put_u32_le(*msize);
            put_string(buf, version);
        }
        Rmsg::Auth { aqid: qid } | Rmsg::Attach { qid } => put_qid(buf, qid),
        Rmsg::Error { ename } => put_string(buf, ename),
        Rmsg::Flush | Rmsg::Clunk | Rmsg::Remove | Rmsg::Wstat => {}
        Rmsg::Walk { wqids } => {
            buf.put_u16_le(wqids.len() as u16);
            for q in wqids {
                put_qid(buf, q);
            }
        }
        Rmsg::Open { qid, iounit } | Rmsg::Create { qid, iounit } => {
            put_qid(buf, qid);
            buf.put_u32_le(*iounit);
        }
        Rmsg::Read { data } => {
            buf.put_u32_le(data.len() as u32);
            payload = put_payload(buf, data, split_payload);
        }
        Rmsg::Write { count } => buf.put_u32_le(*count),
        Rmsg::Stat { stat } => put_stat(buf, stat),
    }
    finish(buf, start, payload.as_ref());
    payload
}

fn begin(buf: &mut BytesMut, ty: MsgType, tag: u16) -> usize {
    let start = buf.len();
    buf.put_u32_le(0); // patched by finish
    buf.put_u8(ty as u8);
    buf.put_u16_le(tag);
    start
}

fn finish(buf: &mut BytesMut, start: usize, payload: Option<&Bytes>) {
    let size = buf.len() - start + payload.map_or(0, Bytes::len);
    buf[start..start + 4].copy_from_slice(&(size as u32).to_le_bytes());
}

fn put_payload(buf: &mut BytesMut, data: &Bytes, split: bool) -> Option<Bytes> {
    if split {
        Some(data.clone())
    } else {
        buf.put_slice(data);
        None
    }
}

/// stat[n] in Rstat and Twstat: a count n[2], then the entry, which begins with its own size.
fn put_stat(buf: &mut BytesMut, stat: &Stat) {
    buf.put_u16_le(stat.size() as u16);
    stat.encode(buf);
}

/// Decodes one T-message from a whole frame (size field included).
pub fn decode_t(frame: Bytes) -> Result<(u16, Tmsg), DecodeError> {
    let (ty, tag, mut r) = open_frame(frame)?;
    let msg = match ty {
        100 => Tmsg::Version {
            msize: r.u32()?,
            version: r.string()?,
        },
        102 => Tmsg::Auth {
            afid: r.u32()?,
            uname: r.string()?,
            aname: r.string()?,
        },
        104 => Tmsg::Attach {
            fid: r.u32()?,
            afid: r.u32()?,
            uname: r.string()?,
            aname: r.string()?,
        },
        108 => Tmsg::Flush { oldtag: r.u16()? },
        110 => {
            let fid = r.u32()?;
            let newfid = r.u32()?;
            let n = r.u16()?;
            if n as usize > MAXWELEM {
                return Err(DecodeError::TooManyWalkElements(n));
            }
            let mut wnames = Vec::with_capacity(n as usize);
            for _ in 0..n {
                wnames.push(r.string()?);
            }
            Tmsg::Walk {
                fid,
                newfid,
                wnames,
            }
        }
        112 => Tmsg::Open {
            fid: r.u32()?,
            mode: r.u8()?,
        },
        114 => Tmsg::Create {
            fid: r.u32()?,
            name: r.string()?,
            perm: r.u32()?,
            mode: r.u8()?,
        },
        116 => Tmsg::Read {
            fid: r.u32()?,
            offset: r.u64()?,
            count: r.u32()?,
        },
        118 => {
            let fid = r.u32()?;
            let offset = r.u64()?;
            let data = counted_payload(&mut r)?;
            Tmsg::Write { fid, offset, data }
        }
        120 => Tmsg::Clunk { fid: r.u32()? },
        122 => Tmsg::Remove { fid: r.u32()? },
        124 => Tmsg::Stat { fid: r.u32()? },
        126 => Tmsg::Wstat {
            fid: r.u32()?,
            stat: stat_field(&mut r)?,
        },
        other => return Err(DecodeError::UnknownType(other)),
    };
    r.finish()?;
    Ok((tag, msg))
}

/// Decodes one R-message from a whole frame (size field included).
pub fn decode_r(frame: Bytes) -> Result<(u16, Rmsg), DecodeError> {
    let (ty, tag, mut r) = open_frame(frame)?;
    let msg = match ty {
        101 => Rmsg::Version {
            msize: r.u32()?,
            version: r.string()?,
        },
        103 => Rmsg::Auth { aqid: r.qid()? },
        105 => Rmsg::Attach { qid: r.qid()? },
        107 => Rmsg::Error { ename: r.string()? },
        109 => Rmsg::Flush,
        111 => {
            let n = r.u16()?;
            if n as usize > MAXWELEM {
                return Err(DecodeError::TooManyWalkElements(n));
            }
            let mut wqids = Vec::with_capacity(n as usize);
            for _ in 0..n {
                wqids.push(r.qid()?);
            }
            Rmsg::Walk { wqids }
        }
        113 => Rmsg::Open {
            qid: r.qid()?,
            iounit: r.u32()?,
        },
        115 => Rmsg::Create {
            qid: r.qid()?,
            iounit: r.u32()?,
        },
        117 => Rmsg::Read {
            data: counted_payload(&mut r)?,
        },
        119 => Rmsg::Write { count: r.u32()? },
        121 => Rmsg::Clunk,
        123 => Rmsg::Remove,
        125 => Rmsg::Stat {
            stat: stat_field(&mut r)?,
        },
        127 => Rmsg::Wstat,
        other => return Err(DecodeError::UnknownType(other)),
    };
    r.finish()?;
    Ok((tag, msg))
}

fn open_frame(frame: Bytes) -> Result<(u8, u16, Reader), DecodeError> {
    if frame.len() < HEADER_SIZE {
        return Err(DecodeError::Truncated);
    }
    let mut r = Reader::new(frame);
    let size = r.u32()? as usize;
    if size != r.remaining() + 4 {
        return Err(if size > r.remaining() + 4 {
            DecodeError::Truncated
        } else {
            DecodeError::TrailingBytes(r.remaining() + 4 - size)
        });
    }
    let ty = r.u8()?;
    let tag = r.u16()?;
    Ok((ty, tag, r))
}

/// count[4] data[count], where count must equal what is left of the frame.
fn counted_payload(r: &mut Reader) -> Result<Bytes, DecodeError> {
    let count = r.u32()?;
    if count as usize != r.remaining() {
        return Err(DecodeError::BadCount { count });
    }
    r.bytes(count as usize)
}

fn stat_field(r: &mut Reader) -> Result<Stat, DecodeError> {
    let n = r.u16()? as usize;
    if n > r.remaining() {
        return Err(DecodeError::Truncated);
    }
    let st = Stat::read(r)?;
    if st.size() != n {
        return Err(DecodeError::BadStatSize {
            declared: n,
            actual: st.size(),
        });
    }
    Ok(st)
}
