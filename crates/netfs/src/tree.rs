//! The shape of the tree: which files exist, their qids, modes and owners.
//!
//! ```text
//! /cs  /dns
//! /tcp/clone  /tcp/stats  /tcp/N/{ctl,data,err,listen,local,remote,status}
//! /udp/…       the same
//! /ipifc/…     see `ipifc`
//! ```
//!
//! qid.path is devip's `proto<<17 | conv<<5 | type`, with devip's numbers for the types,
//! so a qid never changes while the server runs and two files never share one. devip has
//! 12 bits for the conversation number; here its low 12 bits go there and the rest above
//! the protocol, `(conv>>12)<<19 | proto<<17 | (conv & 0xfff)<<5 | type`, so conversations
//! 0–4095 have devip's qids and every `u32` number has distinct ones, all below 2³⁹. ipifc
//! is protocol 2; its interface files sit above every such path (see `ipifc`).

use std::sync::Arc;

use ninefold_fs::{Error, Qid, QidType, Result, Stat};
use ninefold_proto::dm;

use crate::conv::{Conv, NETWORK, Proto};
use crate::ipifc::IfcTarget;

/// The protocols with a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProtoId {
    Tcp,
    Udp,
}

impl ProtoId {
    pub(crate) const ALL: [ProtoId; 2] = [ProtoId::Tcp, ProtoId::Udp];

    pub(crate) fn name(self) -> &'static str {
        match self {
            ProtoId::Tcp => "tcp",
            ProtoId::Udp => "udp",
        }
    }

    /// The protocol's number in qid paths. 2 is ipifc's (`ipifc::IPIFC_PROTO`).
    fn index(self) -> u64 {
        match self {
            ProtoId::Tcp => 0,
            ProtoId::Udp => 1,
        }
    }

    fn by_name(name: &str) -> Option<ProtoId> {
        ProtoId::ALL.into_iter().find(|p| p.name() == name)
    }
}

// devip's file types (Qtopdir …), kept so the numbers read the same in a qid.
const Q_TOPDIR: u64 = 1;
// Not devip's: cs and dns are separate servers in Plan 9. Unused by any protocol's files.
const Q_CS: u64 = 2;
const Q_DNS: u64 = 3;
pub(crate) const Q_PROTODIR: u64 = 8;
pub(crate) const Q_CLONE: u64 = 9;
pub(crate) const Q_STATS: u64 = 10;
pub(crate) const Q_CONVDIR: u64 = 11;
const Q_CTL: u64 = 12;

/// The files of a conversation directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConvFile {
    Ctl,
    Data,
    Err,
    Listen,
    Local,
    Remote,
    Status,
}

impl ConvFile {
    const ALL: [ConvFile; 7] = [
        ConvFile::Ctl,
        ConvFile::Data,
        ConvFile::Err,
        ConvFile::Listen,
        ConvFile::Local,
        ConvFile::Remote,
        ConvFile::Status,
    ];

    fn name(self) -> &'static str {
        match self {
            ConvFile::Ctl => "ctl",
            ConvFile::Data => "data",
            ConvFile::Err => "err",
            ConvFile::Listen => "listen",
            ConvFile::Local => "local",
            ConvFile::Remote => "remote",
            ConvFile::Status => "status",
        }
    }

    pub(crate) fn qtype(self) -> u64 {
        Q_CTL + self as u64
    }

    /// ctl, data, err and listen have the conversation's permission (fixed at 0660 here:
    /// no wstat yet); the address and status files are read-only.
    fn perm(self) -> u32 {
        match self {
            ConvFile::Ctl | ConvFile::Data | ConvFile::Err | ConvFile::Listen => 0o660,
            ConvFile::Local | ConvFile::Remote | ConvFile::Status => 0o444,
        }
    }
}

/// Bits of the conversation number in devip's place (its `Maskconv`).
const CONV_LOW_BITS: u32 = 12;
/// Where the rest of the number goes: above the protocol's two bits.
const CONV_HIGH_SHIFT: u32 = 19;

fn qid_path(proto: ProtoId, conv: u32, ty: u64) -> u64 {
    let conv = u64::from(conv);
    let low = conv & ((1 << CONV_LOW_BITS) - 1);
    ((conv >> CONV_LOW_BITS) << CONV_HIGH_SHIFT) | (proto.index() << 17) | (low << 5) | ty
}

/// The whole device: every protocol's conversations.
#[derive(Debug)]
pub(crate) struct Net {
    protos: Vec<Proto>,
    /// atime and mtime of every file: when the tree was made.
    pub time: u32,
}

impl Net {
    /// A device whose protocols hold at most `max_convs` conversations each.
    pub(crate) fn new(max_convs: usize) -> Net {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
        Net {
            protos: ProtoId::ALL
                .into_iter()
                .map(|p| Proto::new(p, max_convs))
                .collect(),
            time,
        }
    }

    pub(crate) fn proto(&self, id: ProtoId) -> Result<&Proto> {
        self.protos
            .iter()
            .find(|p| p.id == id)
            .ok_or(Error::NOT_FOUND)
    }
}

/// The file a node refers to.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Root,
    /// `/cs`, the connection server's file.
    Cs,
    /// `/dns`, the resolver's file.
    Dns,
    ProtoDir(ProtoId),
    Clone(ProtoId),
    Stats(ProtoId),
    ConvDir(Arc<Conv>),
    File(Arc<Conv>, ConvFile),
    /// `/ipifc` and everything in it: the host's interfaces, read-only.
    Ipifc(IfcTarget),
}

impl Target {
    pub(crate) fn is_dir(&self) -> bool {
        match self {
            Target::Root | Target::ProtoDir(_) | Target::ConvDir(_) => true,
            Target::Ipifc(t) => t.is_dir(),
            _ => false,
        }
    }

    pub(crate) fn qid(&self) -> Qid {
        let path = match self {
            Target::Root => Q_TOPDIR,
            Target::Cs => Q_CS,
            Target::Dns => Q_DNS,
            Target::ProtoDir(p) => qid_path(*p, 0, Q_PROTODIR),
            Target::Clone(p) => qid_path(*p, 0, Q_CLONE),
            Target::Stats(p) => qid_path(*p, 0, Q_STATS),
            Target::ConvDir(c) => qid_path(c.proto, c.num, Q_CONVDIR),
            Target::File(c, f) => qid_path(c.proto, c.num, f.qtype()),
            Target::Ipifc(t) => t.qid_path(),
        };
        let ty = if self.is_dir() {
            QidType::DIR
        } else {
            QidType::FILE
        };
        Qid {
            ty,
            version: 0,
            path,
        }
    }

    fn name(&self) -> String {
        match self {
            Target::Root => "/".to_owned(),
            Target::Cs => "cs".to_owned(),
            Target::Dns => "dns".to_owned(),
            Target::ProtoDir(p) => p.name().to_owned(),
            Target::Clone(_) => "clone".to_owned(),
            Target::Stats(_) => "stats".to_owned(),
            Target::ConvDir(c) => c.num.to_string(),
            Target::File(_, f) => f.name().to_owned(),
            Target::Ipifc(t) => t.name(),
        }
    }

    pub(crate) fn stat(&self, net: &Net) -> Stat {
        let (mode, owner, length) = match self {
            Target::Root | Target::ProtoDir(_) => (dm::DMDIR | 0o555, NETWORK.into(), 0),
            Target::Clone(_) | Target::Cs | Target::Dns => (0o666, NETWORK.into(), 0),
            Target::Stats(_) => (0o444, NETWORK.into(), 0),
            Target::ConvDir(c) => (dm::DMDIR | 0o555, c.owner(), 0),
            Target::File(c, ConvFile::Data) => (0o660, c.owner(), c.queued()),
            Target::File(c, f) => (f.perm(), c.owner(), 0),
            Target::Ipifc(t) => (t.mode(), NETWORK.into(), 0),
        };
        Stat {
            qid: self.qid(),
            mode,
            atime: net.time,
            mtime: net.time,
            length,
            name: self.name(),
            uid: owner.to_string(),
            gid: NETWORK.to_owned(),
            muid: owner.to_string(),
            ..Stat::default()
        }
    }

    /// The entry `name` of this directory.
    pub(crate) fn walk1(&self, net: &Net, name: &str) -> Result<Target> {
        match (self, name) {
            (Target::Root | Target::ProtoDir(_), "..") => Ok(Target::Root),
            (Target::Ipifc(IfcTarget::Dir), "..") => Ok(Target::Root),
            (Target::Ipifc(t), n) => t.walk1(n).map(Target::Ipifc),
            (Target::Root, "ipifc") => Ok(Target::Ipifc(IfcTarget::Dir)),
            (Target::Root, "cs") => Ok(Target::Cs),
            (Target::Root, "dns") => Ok(Target::Dns),
            (Target::Root, n) => ProtoId::by_name(n)
                .map(Target::ProtoDir)
                .ok_or(Error::NOT_FOUND),
            (Target::ProtoDir(p), "clone") => Ok(Target::Clone(*p)),
            (Target::ProtoDir(p), "stats") => Ok(Target::Stats(*p)),
            (Target::ProtoDir(p), n) => {
                let num = conv_number(n).ok_or(Error::NOT_FOUND)?;
                let conv = net.proto(*p)?.get(num).ok_or(Error::NOT_FOUND)?;
                Ok(Target::ConvDir(conv))
            }
            (Target::ConvDir(c), "..") => Ok(Target::ProtoDir(c.proto)),
            (Target::ConvDir(c), n) => ConvFile::ALL
                .into_iter()
                .find(|f| f.name() == n)
                .map(|f| Target::File(c.clone(), f))
                .ok_or(Error::NOT_FOUND),
            _ => Err(Error::WALK_NO_DIR),
        }
    }

    /// The entries of this directory, in devip's order.
    pub(crate) fn children(&self, net: &Net) -> Vec<Target> {
        match self {
            Target::Root => ProtoId::ALL
                .into_iter()
                .map(Target::ProtoDir)
                .chain([Target::Ipifc(IfcTarget::Dir), Target::Cs, Target::Dns])
                .collect(),
            Target::ProtoDir(p) => {
                let convs = net.proto(*p).map(Proto::all).unwrap_or_default();
                let mut v: Vec<Target> = convs.into_iter().map(Target::ConvDir).collect();
                v.push(Target::Clone(*p));
                v.push(Target::Stats(*p));
                v
            }
            Target::ConvDir(c) => ConvFile::ALL
                .into_iter()
                .map(|f| Target::File(c.clone(), f))
                .collect(),
            Target::Ipifc(t) => t.children().into_iter().map(Target::Ipifc).collect(),
            _ => Vec::new(),
        }
    }
}

/// A conversation number as its directory is named: decimal, no sign, no leading zero.
pub(crate) fn conv_number(name: &str) -> Option<u32> {
    let canonical = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_digit())
        && (name == "0" || !name.starts_with('0'));
    if canonical { name.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_names() {
        assert_eq!(conv_number("0"), Some(0));
        assert_eq!(conv_number("17"), Some(17));
        for bad in ["", "01", "+1", "-1", "1a", " 1", "99999999999"] {
            assert_eq!(conv_number(bad), None, "{bad:?}");
        }
    }

    /// Every qid path of conversation `conv` of `p`: its directory and files.
    fn conv_paths(p: ProtoId, conv: u32) -> impl Iterator<Item = u64> {
        ConvFile::ALL
            .into_iter()
            .map(ConvFile::qtype)
            .chain([Q_CONVDIR])
            .map(move |t| qid_path(p, conv, t))
    }

    /// Conversation numbers worth checking beyond the first ones: around the 12-bit border,
    /// the default limit, and the largest.
    fn far_convs() -> impl Iterator<Item = u32> {
        [1u32 << 12, 1 << 16, 1 << 20, 1 << 24, 1 << 31]
            .into_iter()
            .flat_map(|b| [b - 2, b - 1, b, b + 1])
            .chain([u32::MAX - 1, u32::MAX])
    }

    #[test]
    fn qid_paths_follow_devip() {
        assert_eq!(qid_path(ProtoId::Tcp, 3, Q_CTL), (3 << 5) | 12);
        assert_eq!(
            qid_path(ProtoId::Udp, 4095, Q_CTL),
            (1 << 17) | (4095 << 5) | 12
        );
        assert_eq!(qid_path(ProtoId::Tcp, 0, Q_CLONE), 9);
        // Beyond devip's 4096 the number's high bits go above the protocol.
        assert_eq!(qid_path(ProtoId::Tcp, 4096, Q_CTL), (1 << 19) | 12);
        assert_eq!(
            qid_path(ProtoId::Udp, 65_535, Q_CONVDIR),
            (15 << 19) | (1 << 17) | (4095 << 5) | 11
        );
        assert!(qid_path(ProtoId::Udp, u32::MAX, Q_CTL + 6) < 1 << 39);
    }

    #[test]
    fn qid_paths_never_collide() {
        // Every file of the first 70,000 conversations of both protocols (past the default
        // limit of 65,536), the far ones, and the top-level files.
        let convs: std::collections::BTreeSet<u32> = (0..70_000).chain(far_convs()).collect();
        let mut seen = std::collections::HashSet::new();
        for p in ProtoId::ALL {
            for &conv in &convs {
                for path in conv_paths(p, conv) {
                    assert!(seen.insert(path), "{p:?} {conv} {path:#x}");
                }
            }
            for t in [Q_PROTODIR, Q_CLONE, Q_STATS] {
                assert!(seen.insert(qid_path(p, 0, t)), "{p:?} {t}");
            }
        }
        for t in [Q_TOPDIR, Q_CS, Q_DNS] {
            assert!(seen.insert(t), "{t}");
        }
    }

    #[test]
    fn ipifc_qids_meet_no_protocols() {
        use crate::ipifc::{IPIFC_PROTO, IfcFile};
        assert!(ProtoId::ALL.iter().all(|p| p.index() != IPIFC_PROTO));
        // The tcp/udp paths of the conversations a tree can have by default, the far ones,
        // and the top-level ones.
        let mut seen = std::collections::HashSet::new();
        for p in ProtoId::ALL {
            for conv in (0..crate::conv::DEFAULT_MAX_CONVS as u32).chain(far_convs()) {
                seen.extend(conv_paths(p, conv));
            }
            for t in [Q_PROTODIR, Q_CLONE, Q_STATS] {
                seen.insert(qid_path(p, 0, t));
            }
        }
        seen.extend([Q_TOPDIR, Q_CS, Q_DNS]);
        let mut ifc = vec![IfcTarget::Dir, IfcTarget::Clone, IfcTarget::Stats];
        for n in [0, 1, 2, 100, 4095, 4096, 65_535, 65_536, 1 << 17, u32::MAX] {
            ifc.push(IfcTarget::Ifc(n));
            ifc.extend([IfcFile::Local, IfcFile::Status].map(|f| IfcTarget::File(n, f)));
        }
        for t in ifc {
            assert!(seen.insert(Target::Ipifc(t).qid().path), "{t:?}");
        }
    }
}
