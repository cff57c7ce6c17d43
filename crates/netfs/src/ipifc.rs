//! `/ipifc`: the host's network interfaces and their addresses, read-only, in the layout
//! 9front's libip `readipifc` parses (see the `# ipifc` section of the crate docs).
//!
//! ```text
//! /ipifc/N/          N: the host's interface index, as `ip link` shows it
//! /ipifc/N/status    device <name> maxtu <mtu> … errout <n> speed 0 delay 0
//!                    \t<local> <mask> <remote/net> <validlt> <preflt>   (per address)
//! /ipifc/N/local     <local> -> <local>                                  (per address)
//! /ipifc/stats       Forwarding: 2 …  (the Ip: row of /proc/net/snmp, Plan 9's names)
//! /ipifc/clone       every open fails: permission denied
//! ```
//!
//! The text of a file is taken from the host when the file is opened (getifaddrs,
//! if_nameindex, /sys/class/net and /proc), so every read of one open sees the same text.
//!
//! qids: `/ipifc`, `clone` and `stats` are devip's `proto<<17 | type` with the protocol
//! number [`IPIFC_PROTO`]; an interface's directory and files are
//! `IFC_BASE | index<<5 | type`, since a host index (up to 2³¹) does not fit devip's layout.
//! Every such path is above every tcp/udp path (those are below 2³⁹, see `tree`).

use std::net::{IpAddr, Ipv6Addr};

use ninefold_fs::{Error, Result};
use ninefold_proto::dm;

use crate::addr::format_ip;
use crate::tree::{ConvFile, Q_CLONE, Q_CONVDIR, Q_PROTODIR, Q_STATS, conv_number};

/// ipifc's protocol number in qid paths: after tcp (0) and udp (1).
pub(crate) const IPIFC_PROTO: u64 = 2;

/// Bit 40: set in the qid path of every interface directory and file. A tcp/udp path is
/// below 2³⁹ (even for conversation numbers past devip's 4096) and `index<<5 | type` below
/// 2³⁷, so nothing else can have it.
const IFC_BASE: u64 = 1 << 40;

/// Plan 9's `~0UL` lifetime: an address that never expires. getifaddrs does not tell how
/// long a host address is valid or preferred, so every address says "forever".
const FOREVER: u32 = u32::MAX;

/// The files of an interface directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfcFile {
    Local,
    Status,
}

impl IfcFile {
    /// In devip's order.
    const ALL: [IfcFile; 2] = [IfcFile::Local, IfcFile::Status];

    fn name(self) -> &'static str {
        match self {
            IfcFile::Local => "local",
            IfcFile::Status => "status",
        }
    }

    /// devip's numbers for Qlocal and Qstatus, as a conversation's files have them.
    fn qtype(self) -> u64 {
        match self {
            IfcFile::Local => ConvFile::Local.qtype(),
            IfcFile::Status => ConvFile::Status.qtype(),
        }
    }
}

/// A file or directory under `/ipifc`. An interface is named by its host index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfcTarget {
    Dir,
    Clone,
    Stats,
    Ifc(u32),
    File(u32, IfcFile),
}

impl IfcTarget {
    pub(crate) fn is_dir(self) -> bool {
        matches!(self, IfcTarget::Dir | IfcTarget::Ifc(_))
    }

    pub(crate) fn qid_path(self) -> u64 {
        let top = IPIFC_PROTO << 17;
        match self {
            IfcTarget::Dir => top | Q_PROTODIR,
            IfcTarget::Clone => top | Q_CLONE,
            IfcTarget::Stats => top | Q_STATS,
            IfcTarget::Ifc(n) => IFC_BASE | (u64::from(n) << 5) | Q_CONVDIR,
            IfcTarget::File(n, f) => IFC_BASE | (u64::from(n) << 5) | f.qtype(),
        }
    }

    pub(crate) fn name(self) -> String {
        match self {
            IfcTarget::Dir => "ipifc".to_owned(),
            IfcTarget::Clone => "clone".to_owned(),
            IfcTarget::Stats => "stats".to_owned(),
            IfcTarget::Ifc(n) => n.to_string(),
            IfcTarget::File(_, f) => f.name().to_owned(),
        }
    }

    /// Read-only, all of it: directories 0555, files 0444 (`clone` too: it cannot be opened).
    pub(crate) fn mode(self) -> u32 {
        if self.is_dir() {
            dm::DMDIR | 0o555
        } else {
            0o444
        }
    }

    /// The entry `name` of this directory; `..` of `/ipifc` itself is the tree's business.
    /// An interface number must name a host interface now.
    pub(crate) fn walk1(self, name: &str) -> Result<IfcTarget> {
        match (self, name) {
            (IfcTarget::Dir, "clone") => Ok(IfcTarget::Clone),
            (IfcTarget::Dir, "stats") => Ok(IfcTarget::Stats),
            (IfcTarget::Dir, n) => {
                let index = conv_number(n).ok_or(Error::NOT_FOUND)?;
                if host_indices()?.contains(&index) {
                    Ok(IfcTarget::Ifc(index))
                } else {
                    Err(Error::NOT_FOUND)
                }
            }
            (IfcTarget::Ifc(_), "..") => Ok(IfcTarget::Dir),
            (IfcTarget::Ifc(i), n) => IfcFile::ALL
                .into_iter()
                .find(|f| f.name() == n)
                .map(|f| IfcTarget::File(i, f))
                .ok_or(Error::NOT_FOUND),
            _ => Err(Error::WALK_NO_DIR),
        }
    }

    /// The entries of this directory, as devip orders a protocol's: the numbered
    /// directories (by index), then `clone` and `stats`.
    pub(crate) fn children(self) -> Vec<IfcTarget> {
        match self {
            IfcTarget::Dir => {
                let mut v: Vec<IfcTarget> = host_indices()
                    .unwrap_or_default()
                    .into_iter()
                    .map(IfcTarget::Ifc)
                    .collect();
                v.push(IfcTarget::Clone);
                v.push(IfcTarget::Stats);
                v
            }
            IfcTarget::Ifc(i) => IfcFile::ALL
                .into_iter()
                .map(|f| IfcTarget::File(i, f))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The contents of a file, from the host as it is now. `clone` cannot be opened: the
    /// host's interfaces are not this server's to configure.
    pub(crate) fn text(self) -> Result<String> {
        match self {
            IfcTarget::Stats => Ok(stats_text(
                &std::fs::read_to_string("/proc/net/snmp").unwrap_or_default(),
            )),
            IfcTarget::File(i, f) => {
                let ifc = host_interfaces()?
                    .into_iter()
                    .find(|c| c.index == i)
                    .ok_or(Error::NOT_FOUND)?;
                Ok(match f {
                    IfcFile::Status => status_text(&ifc, &Link::of(&ifc.name)),
                    IfcFile::Local => local_text(&ifc),
                })
            }
            IfcTarget::Clone => Err(Error::PERM),
            IfcTarget::Dir | IfcTarget::Ifc(_) => Err(Error::IS_DIR),
        }
    }
}

/// One host interface and its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ifc {
    index: u32,
    name: String,
    addrs: Vec<Lifc>,
}

/// One address of an interface (Plan 9's `Iplifc`), every field in Plan 9's 16-byte form:
/// v4 addresses v4-mapped, v4 masks with the first 96 bits set.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lifc {
    local: [u8; 16],
    mask: [u8; 16],
    /// The peer of a point-to-point link, else the network (`local & mask`).
    remote: [u8; 16],
}

impl Lifc {
    fn new(local: IpAddr, mask: Option<IpAddr>, peer: Option<IpAddr>) -> Lifc {
        let local = bytes16(local);
        // Without a netmask the address stands alone: /128 (a v4 /32).
        let mask = mask.map_or([0xff; 16], |m| match m {
            IpAddr::V4(m) => {
                let mut b = [0xff; 16];
                b[12..].copy_from_slice(&m.octets());
                b
            }
            IpAddr::V6(m) => m.octets(),
        });
        let remote = peer.map(bytes16).unwrap_or_else(|| {
            let mut net = [0; 16];
            for (n, (l, m)) in net.iter_mut().zip(local.iter().zip(mask.iter())) {
                *n = l & m;
            }
            net
        });
        Lifc {
            local,
            mask,
            remote,
        }
    }
}

fn bytes16(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// `%I` of a 16-byte address: v4-mapped ones as a dotted quad.
fn fmt_i(b: [u8; 16]) -> String {
    format_ip(IpAddr::V6(Ipv6Addr::from(b)))
}

/// `%M`: a prefix mask as `/n` over all 128 bits (a v4 /24 is `/120`); any other mask
/// as `%I` prints it.
fn fmt_m(mask: [u8; 16]) -> String {
    let bits = u128::from_be_bytes(mask);
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) == 0 {
        format!("/{ones}")
    } else {
        fmt_i(mask)
    }
}

/// The link-level numbers of `status` that the host keeps per interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Link {
    mtu: u64,
    recvra: u8,
    pktin: u64,
    pktout: u64,
    errin: u64,
    errout: u64,
}

impl Link {
    /// From /sys/class/net/NAME and /proc/sys/net/ipv6/conf/NAME; what cannot be read is 0.
    fn of(name: &str) -> Link {
        // Kernel names never hold a '/', but a path is built from this one.
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Link::default();
        }
        let num = |path: String| -> u64 {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        let sys = format!("/sys/class/net/{name}");
        Link {
            mtu: num(format!("{sys}/mtu")),
            recvra: u8::from(num(format!("/proc/sys/net/ipv6/conf/{name}/accept_ra")) != 0),
            pktin: num(format!("{sys}/statistics/rx_packets")),
            pktout: num(format!("{sys}/statistics/tx_packets")),
            errin: num(format!("{sys}/statistics/rx_errors")),
            errout: num(format!("{sys}/statistics/tx_errors")),
        }
    }
}

/// 9front's `ipifcstate`: the `device … maxtu …` line with every key Plan 9 prints, then
/// one tab-led line per address; an interface without addresses gets an empty line. The
/// router-advertisement parameters, speed and delay are 0: the host sends no RAs through
/// this tree and shapes nothing.
fn status_text(ifc: &Ifc, link: &Link) -> String {
    let mut s = format!(
        "device {} maxtu {} sendra 0 recvra {} mflag 0 oflag 0 maxraint 0 minraint 0 \
         linkmtu 0 reachtime 0 rxmitra 0 ttl 0 routerlt 0 pktin {} pktout {} errin {} \
         errout {} speed 0 delay 0\n",
        ifc.name, link.mtu, link.recvra, link.pktin, link.pktout, link.errin, link.errout
    );
    for a in &ifc.addrs {
        s.push_str(&format!(
            "\t{:<40} {:<10} {:<40} {:<12} {:<12}\n",
            fmt_i(a.local),
            fmt_m(a.mask),
            fmt_i(a.remote),
            FOREVER,
            FOREVER
        ));
    }
    if ifc.addrs.is_empty() {
        s.push('\n');
    }
    s
}

/// 9front's `ipifclocal`: each address, then the addresses it answers to. Only the address
/// itself is listed there: the host's broadcast and multicast memberships are not known.
fn local_text(ifc: &Ifc) -> String {
    ifc.addrs
        .iter()
        .map(|a| {
            let l = fmt_i(a.local);
            format!("{l:<40} -> {l:<40}\n")
        })
        .collect()
}

/// devip's `ipstats` names, in its order. They are the SNMP MIB's, as Linux's are.
const IP_STATS: [&str; 19] = [
    "Forwarding",
    "DefaultTTL",
    "InReceives",
    "InHdrErrors",
    "InAddrErrors",
    "ForwDatagrams",
    "InUnknownProtos",
    "InDiscards",
    "InDelivers",
    "OutRequests",
    "OutDiscards",
    "OutNoRoutes",
    "ReasmTimeout",
    "ReasmReqds",
    "ReasmOKs",
    "ReasmFails",
    "FragOKs",
    "FragFails",
    "FragCreates",
];

/// `Name: value` lines for the counters /proc/net/snmp's `Ip:` rows (names, then values)
/// have; none if it has no such rows.
fn stats_text(snmp: &str) -> String {
    let mut rows = snmp.lines().filter_map(|l| l.strip_prefix("Ip:"));
    let (Some(names), Some(values)) = (rows.next(), rows.next()) else {
        return String::new();
    };
    let pairs: Vec<(&str, u64)> = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .filter_map(|(n, v)| Some((n, v.parse().ok()?)))
        .collect();
    IP_STATS
        .iter()
        .filter_map(|name| {
            let (_, v) = pairs.iter().find(|(n, _)| n == name)?;
            Some(format!("{name}: {v}\n"))
        })
        .collect()
}

fn errno(e: nix::errno::Errno) -> Error {
    Error::from_errno(e as i32)
}

/// The host's interface indices, ascending.
fn host_indices() -> Result<Vec<u32>> {
    let mut v: Vec<u32> = nix::net::if_::if_nameindex()
        .map_err(errno)?
        .iter()
        .map(|i| i.index())
        .collect();
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// Every host interface with its IPv4 and IPv6 addresses, in getifaddrs' order.
fn host_interfaces() -> Result<Vec<Ifc>> {
    let mut ifcs: Vec<Ifc> = nix::net::if_::if_nameindex()
        .map_err(errno)?
        .iter()
        .map(|i| Ifc {
            index: i.index(),
            name: i.name().to_string_lossy().into_owned(),
            addrs: Vec::new(),
        })
        .collect();
    ifcs.sort_by_key(|i| i.index);
    for a in nix::ifaddrs::getifaddrs().map_err(errno)? {
        let Some(local) = a.address.as_ref().and_then(ip_of) else {
            continue; // a link-layer (AF_PACKET) entry, or no address
        };
        let mask = a.netmask.as_ref().and_then(ip_of);
        let ptp = a
            .flags
            .contains(nix::net::if_::InterfaceFlags::IFF_POINTOPOINT);
        let peer = if ptp {
            a.destination.as_ref().and_then(ip_of)
        } else {
            None
        };
        // An IPv4 alias is labelled `eth0:1`; kernel interface names never hold a ':'.
        let dev = a.interface_name.split(':').next().unwrap_or_default();
        if let Some(ifc) = ifcs.iter_mut().find(|i| i.name == dev) {
            ifc.addrs.push(Lifc::new(local, mask, peer));
        }
    }
    Ok(ifcs)
}

fn ip_of(s: &nix::sys::socket::SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn lo() -> Ifc {
        Ifc {
            index: 1,
            name: "lo".into(),
            addrs: vec![
                Lifc::new(ip("127.0.0.1"), Some(ip("255.0.0.0")), None),
                Lifc::new(
                    ip("::1"),
                    Some(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
                    None,
                ),
            ],
        }
    }

    #[test]
    fn masks_print_as_prefixes_over_128_bits() {
        let l = Lifc::new(ip("10.1.2.3"), Some(ip("255.255.255.0")), None);
        assert_eq!(fmt_m(l.mask), "/120");
        assert_eq!(fmt_i(l.remote), "10.1.2.0");
        let l = Lifc::new(ip("fe80::1:2"), Some(ip("ffff:ffff:ffff:ffff::")), None);
        assert_eq!(
            (fmt_m(l.mask), fmt_i(l.remote)),
            ("/64".into(), "fe80::".into())
        );
        assert_eq!(fmt_m([0; 16]), "/0");
        assert_eq!(fmt_m([0xff; 16]), "/128");
        // No netmask: the address alone.
        let l = Lifc::new(ip("192.0.2.7"), None, None);
        assert_eq!(
            (fmt_m(l.mask), fmt_i(l.remote)),
            ("/128".into(), "192.0.2.7".into())
        );
        // Not a prefix: printed as an address, as %M does.
        let l = Lifc::new(ip("10.0.0.1"), Some(ip("255.0.255.0")), None);
        assert_eq!(fmt_m(l.mask), "ffff:ffff:ffff:ffff:ffff:ffff:ff00:ff00");
        // Point-to-point: the peer, not the network.
        let l = Lifc::new(
            ip("10.0.0.1"),
            Some(ip("255.255.255.255")),
            Some(ip("10.0.0.2")),
        );
        assert_eq!(
            (fmt_m(l.mask), fmt_i(l.remote)),
            ("/128".into(), "10.0.0.2".into())
        );
    }

    #[test]
    fn status_is_9fronts_layout() {
        let link = Link {
            mtu: 65536,
            recvra: 1,
            pktin: 5,
            pktout: 6,
            errin: 7,
            errout: 8,
        };
        let s = status_text(&lo(), &link);
        let lines: Vec<&str> = s.split_inclusive('\n').collect();
        assert_eq!(
            lines[0],
            "device lo maxtu 65536 sendra 0 recvra 1 mflag 0 oflag 0 maxraint 0 minraint 0 \
             linkmtu 0 reachtime 0 rxmitra 0 ttl 0 routerlt 0 pktin 5 pktout 6 errin 7 \
             errout 8 speed 0 delay 0\n"
        );
        assert_eq!(
            lines[1],
            format!(
                "\t{:<40} {:<10} {:<40} {:<12} {:<12}\n",
                "127.0.0.1", "/104", "127.0.0.0", "4294967295", "4294967295"
            )
        );
        let f: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(f, ["::1", "/128", "::1", "4294967295", "4294967295"]);
        assert_eq!(lines.len(), 3);
        // readipifc's rules: "device" first, key/value pairs, an address line has 5 fields.
        let first: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(first.len() % 2, 0);
        let none = Ifc {
            addrs: Vec::new(),
            ..lo()
        };
        assert!(status_text(&none, &link).ends_with("delay 0\n\n"));
    }

    #[test]
    fn local_lists_each_address() {
        assert_eq!(
            local_text(&lo()),
            format!(
                "{:<40} -> {:<40}\n{:<40} -> {:<40}\n",
                "127.0.0.1", "127.0.0.1", "::1", "::1"
            )
        );
    }

    #[test]
    fn stats_take_plan9_names_from_snmp() {
        let snmp = "Ip: Forwarding DefaultTTL InReceives OutTransmits\n\
                    Ip: 2 64 100 7\n\
                    Icmp: InMsgs\nIcmp: 3\n";
        assert_eq!(
            stats_text(snmp),
            "Forwarding: 2\nDefaultTTL: 64\nInReceives: 100\n"
        );
        for junk in ["", "Ip: a b\n", "Ip: Forwarding\nIp: x\n", "Ip:\nIp:\n"] {
            assert_eq!(stats_text(junk), "", "{junk:?}");
        }
    }

    #[test]
    fn qids_never_meet_and_stay_above_devip() {
        let mut seen = std::collections::HashSet::new();
        for n in [
            1,
            2,
            31,
            4095,
            4096,
            8192,
            1 << 20,
            i32::MAX as u32,
            u32::MAX,
        ] {
            assert!(seen.insert(IfcTarget::Ifc(n).qid_path()));
            for f in IfcFile::ALL {
                assert!(seen.insert(IfcTarget::File(n, f).qid_path()));
            }
        }
        for t in [IfcTarget::Dir, IfcTarget::Clone, IfcTarget::Stats] {
            assert!(seen.insert(t.qid_path()));
        }
        assert!(seen.iter().all(|&p| p >= IPIFC_PROTO << 17));
    }

    #[test]
    fn hostile_names_never_panic() {
        assert_eq!(Link::of("../../etc"), Link::default());
        assert_eq!(Link::of(""), Link::default());
        for n in ["", "01", "-1", "99999999999", "x", "0"] {
            assert!(IfcTarget::Dir.walk1(n).is_err(), "{n:?}");
        }
        assert_eq!(IfcTarget::Stats.walk1("x"), Err(Error::WALK_NO_DIR));
    }
}
