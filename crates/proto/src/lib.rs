//! The 9P2000 wire protocol, with no I/O and no async.
//!
//! Messages are plain values ([`Tmsg`], [`Rmsg`]); [`decode_t`]/[`decode_r`] validate a whole frame
//! once at the edge, and [`encode_t`]/[`encode_r`] write one. Read and write payloads are
//! [`bytes::Bytes`] slices of the frame they arrived in, so they are never copied.
//!
//! The dialect is carried in [`Dialect`] so that 9P2000.u and 9P2000.L can be added beside
//! 9P2000 without changing the message types callers already match on.

mod codec;
mod error;
mod frame;
mod message;
mod qid;
mod stat;
mod wire;

pub use codec::{decode_r, decode_t, encode_r, encode_t};
pub use error::DecodeError;
pub use frame::{HEADER_SIZE, frame_len};
pub use message::{Dialect, MsgType, Rmsg, Tmsg};
pub use qid::{Qid, QidType};
pub use stat::{Stat, read_dir_entries};

/// "No fid": the afid of an unauthenticated attach.
pub const NOFID: u32 = u32::MAX;
/// "No tag": the tag of Tversion.
pub const NOTAG: u16 = u16::MAX;
/// At most this many names in one Twalk, and qids in one Rwalk.
pub const MAXWELEM: usize = 16;
/// Bytes of a Tread/Twrite/Rread header beyond the payload: size[4] type[1] tag[2] fid[4] offset[8] count[4].
pub const IOHDRSZ: u32 = 24;
/// The version string of the base protocol.
pub const VERSION_9P2000: &str = "9P2000";
/// The smallest msize we agree to: room for a header and one reasonably sized stat entry.
pub const MIN_MSIZE: u32 = 256;
/// The msize a server offers unless configured otherwise.
pub const DEFAULT_MSIZE: u32 = 8 * 1024 * 1024;

/// Open modes (Topen/Tcreate `mode`).
pub mod om {
    pub const OREAD: u8 = 0;
    pub const OWRITE: u8 = 1;
    pub const ORDWR: u8 = 2;
    pub const OEXEC: u8 = 3;
    /// Mask of the access bits above.
    pub const OACCMODE: u8 = 3;
    pub const OTRUNC: u8 = 0x10;
    pub const OCEXEC: u8 = 0x20;
    pub const ORCLOSE: u8 = 0x40;
}

/// Permission and mode bits in stat `mode` and Tcreate `perm`.
pub mod dm {
    pub const DMDIR: u32 = 0x8000_0000;
    pub const DMAPPEND: u32 = 0x4000_0000;
    pub const DMEXCL: u32 = 0x2000_0000;
    pub const DMMOUNT: u32 = 0x1000_0000;
    pub const DMAUTH: u32 = 0x0800_0000;
    pub const DMTMP: u32 = 0x0400_0000;
    /// The bits that are ordinary rwx permissions.
    pub const PERM_MASK: u32 = 0o777;
}
