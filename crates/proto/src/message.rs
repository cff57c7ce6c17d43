//! The messages of 9P2000 as plain values.

use bytes::Bytes;

use crate::{Qid, Stat};

/// The protocol dialect agreed by Tversion. Only 9P2000 is spoken today; the codec takes the
/// dialect so 9P2000.u and 9P2000.L can be added without changing existing callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Dialect {
    #[default]
    P2000,
}

/// Message type numbers on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MsgType {
    Tversion = 100,
    Rversion = 101,
    Tauth = 102,
    Rauth = 103,
    Tattach = 104,
    Rattach = 105,
    /// Terror (106) is illegal and never sent.
    Rerror = 107,
    Tflush = 108,
    Rflush = 109,
    Twalk = 110,
    Rwalk = 111,
    Topen = 112,
    Ropen = 113,
    Tcreate = 114,
    Rcreate = 115,
    Tread = 116,
    Rread = 117,
    Twrite = 118,
    Rwrite = 119,
    Tclunk = 120,
    Rclunk = 121,
    Tremove = 122,
    Rremove = 123,
    Tstat = 124,
    Rstat = 125,
    Twstat = 126,
    Rwstat = 127,
}

/// A request, client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tmsg {
    Version {
        msize: u32,
        version: String,
    },
    Auth {
        afid: u32,
        uname: String,
        aname: String,
    },
    Attach {
        fid: u32,
        afid: u32,
        uname: String,
        aname: String,
    },
    Flush {
        oldtag: u16,
    },
    Walk {
        fid: u32,
        newfid: u32,
        wnames: Vec<String>,
    },
    Open {
        fid: u32,
        mode: u8,
    },
    Create {
        fid: u32,
        name: String,
        perm: u32,
        mode: u8,
    },
    Read {
        fid: u32,
        offset: u64,
        count: u32,
    },
    Write {
        fid: u32,
        offset: u64,
        data: Bytes,
    },
    Clunk {
        fid: u32,
    },
    Remove {
        fid: u32,
    },
    Stat {
        fid: u32,
    },
    Wstat {
        fid: u32,
        stat: Stat,
    },
}

/// A reply, server to client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rmsg {
    Version { msize: u32, version: String },
    Auth { aqid: Qid },
    Attach { qid: Qid },
    Error { ename: String },
    Flush,
    Walk { wqids: Vec<Qid> },
    Open { qid: Qid, iounit: u32 },
    Create { qid: Qid, iounit: u32 },
    Read { data: Bytes },
    Write { count: u32 },
    Clunk,
    Remove,
    Stat { stat: Stat },
    Wstat,
}

impl Tmsg {
    pub fn msg_type(&self) -> MsgType {
        match self {
            Tmsg::Version { .. } => MsgType::Tversion,
            Tmsg::Auth { .. } => MsgType::Tauth,
            Tmsg::Attach { .. } => MsgType::Tattach,
            Tmsg::Flush { .. } => MsgType::Tflush,
            Tmsg::Walk { .. } => MsgType::Twalk,
            Tmsg::Open { .. } => MsgType::Topen,
            Tmsg::Create { .. } => MsgType::Tcreate,
            Tmsg::Read { .. } => MsgType::Tread,
            Tmsg::Write { .. } => MsgType::Twrite,
            Tmsg::Clunk { .. } => MsgType::Tclunk,
            Tmsg::Remove { .. } => MsgType::Tremove,
            Tmsg::Stat { .. } => MsgType::Tstat,
            Tmsg::Wstat { .. } => MsgType::Twstat,
        }
    }
}

impl Rmsg {
    pub fn msg_type(&self) -> MsgType {
        match self {
            Rmsg::Version { .. } => MsgType::Rversion,
            Rmsg::Auth { .. } => MsgType::Rauth,
            Rmsg::Attach { .. } => MsgType::Rattach,
            Rmsg::Error { .. } => MsgType::Rerror,
            Rmsg::Flush => MsgType::Rflush,
            Rmsg::Walk { .. } => MsgType::Rwalk,
            Rmsg::Open { .. } => MsgType::Ropen,
            Rmsg::Create { .. } => MsgType::Rcreate,
            Rmsg::Read { .. } => MsgType::Rread,
            Rmsg::Write { .. } => MsgType::Rwrite,
            Rmsg::Clunk => MsgType::Rclunk,
            Rmsg::Remove => MsgType::Rremove,
            Rmsg::Stat { .. } => MsgType::Rstat,
            Rmsg::Wstat => MsgType::Rwstat,
        }
    }
}
