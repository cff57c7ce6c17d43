//! Address blocks of a policy rule, and the blocks no broad rule opens.
//!
//! IPv4 and IPv6 are kept apart, with one exception that matters for safety: an
//! IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) *is* the IPv4 address, both as an address
//! checked (the host connects a v6 socket to it over IPv4) and as a block written in a rule
//! (`::ffff:127.0.0.0/104` is `127.0.0.0/8`). Any other IPv6 block contains no IPv4
//! address, not even `::/0`, so "all of IPv6" never lets IPv4 through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Problem;

/// An address block: the network and its prefix length. Bits past the prefix are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cidr {
    V4 { net: u32, len: u8 },
    V6 { net: u128, len: u8 },
}

/// Where a host's own services and its cloud's metadata service answer. An address in one
/// of these is reached only through a rule whose block lies inside one of them, so a broad
/// rule (`*`, `0.0.0.0/0`, `::/0`) never opens them by accident.
///
/// `0.0.0.0/8` and `::` are here because connecting to them reaches the local host on
/// Linux. `fd00:ec2::254` is the IPv6 form of the metadata service at `169.254.169.254`.
const DEFAULT_DENIED: [Cidr; 7] = [
    Cidr::V4 {
        net: 0x7f00_0000,
        len: 8,
    },
    Cidr::V4 { net: 0, len: 8 },
    Cidr::V4 {
        net: 0xa9fe_0000,
        len: 16,
    },
    Cidr::V6 { net: 1, len: 128 },
    Cidr::V6 { net: 0, len: 128 },
    Cidr::V6 {
        net: 0xfe80 << 112,
        len: 10,
    },
    Cidr::V6 {
        net: (0xfd00_0ec2_u128 << 96) | 0x254,
        len: 128,
    },
];

fn mask4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

impl Cidr {
    /// `addr/len`, or a bare address (a block of one). The network must have no bits set
    /// past its prefix: `198.51.100.7/24` is refused as a likely typing error.
    pub(crate) fn parse(text: &str) -> Result<Cidr, Problem> {
        let bad = || Problem::Address(text.to_owned());
        let (addr, len) = match text.split_once('/') {
            None => (text, None),
            Some((a, l)) => {
                // Digits only: `u8::from_str` would take `+8`.
                if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                (a, Some(l.parse::<u8>().map_err(|_| bad())?))
            }
        };
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        let cidr = match ip {
            IpAddr::V4(v4) => {
                let len = len.unwrap_or(32);
                if len > 32 {
                    return Err(bad());
                }
                Cidr::V4 {
                    net: u32::from(v4),
                    len,
                }
            }
            IpAddr::V6(v6) => {
                let len = len.unwrap_or(128);
                if len > 128 {
                    return Err(bad());
                }
                match v6.to_ipv4_mapped() {
                    // The mapped block is the IPv4 block: the same addresses on the wire.
                    Some(v4) if len >= 96 => Cidr::V4 {
                        net: u32::from(v4),
                        len: len - 96,
                    },
                    _ => Cidr::V6 {
                        net: u128::from(v6),
                        len,
                    },
                }
            }
        };
        if cidr.network() != cidr {
            return Err(Problem::HostBits(
                text.to_owned(),
                cidr.network().to_string(),
            ));
        }
        Ok(cidr)
    }

    /// The block with every bit past the prefix cleared.
    fn network(self) -> Cidr {
        match self {
            Cidr::V4 { net, len } => Cidr::V4 {
                net: net & mask4(len),
                len,
            },
            Cidr::V6 { net, len } => Cidr::V6 {
                net: net & mask6(len),
                len,
            },
        }
    }

    /// Whether `ip` is in the block. A mapped address counts as its IPv4 address.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip.to_canonical()) {
            (Cidr::V4 { net, len }, IpAddr::V4(a)) => u32::from(a) & mask4(len) == net,
            (Cidr::V6 { net, len }, IpAddr::V6(a)) => u128::from(a) & mask6(len) == net,
            _ => false,
        }
    }

    /// Whether every address of this block is in `outer`.
    fn within(&self, outer: &Cidr) -> bool {
        match (*self, *outer) {
            (Cidr::V4 { net, len }, Cidr::V4 { net: o, len: ol }) => {
                len >= ol && net & mask4(ol) == o
            }
            (Cidr::V6 { net, len }, Cidr::V6 { net: o, len: ol }) => {
                len >= ol && net & mask6(ol) == o
            }
            _ => false,
        }
    }

    /// Whether the block lies wholly inside one default-denied block: only such a rule
    /// opens addresses there.
    pub(crate) fn inside_default_denied(&self) -> bool {
        DEFAULT_DENIED.iter().any(|d| self.within(d))
    }
}

/// Whether `ip` (a mapped address as its IPv4 address) is in a default-denied block.
pub(crate) fn default_denied(ip: IpAddr) -> bool {
    DEFAULT_DENIED.iter().any(|d| d.contains(ip))
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Cidr::V4 { net, len } => write!(f, "{}/{len}", Ipv4Addr::from(net)),
            Cidr::V6 { net, len } => write!(f, "{}/{len}", Ipv6Addr::from(net)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_blocks_and_bare_addresses() {
        assert_eq!(
            c("198.51.100.0/24"),
            Cidr::V4 {
                net: 0xc633_6400,
                len: 24
            }
        );
        assert_eq!(
            c("198.51.100.7"),
            Cidr::V4 {
                net: 0xc633_6407,
                len: 32
            }
        );
        assert_eq!(c("0.0.0.0/0"), Cidr::V4 { net: 0, len: 0 });
        assert_eq!(c("::/0"), Cidr::V6 { net: 0, len: 0 });
        assert_eq!(c("::1"), Cidr::V6 { net: 1, len: 128 });
        assert_eq!(c("2001:db8::/32").to_string(), "2001:db8::/32");
        // Mapped blocks are IPv4 blocks.
        assert_eq!(c("::ffff:127.0.0.1"), c("127.0.0.1"));
        assert_eq!(c("::ffff:127.0.0.0/104"), c("127.0.0.0/8"));
        assert_eq!(c("::ffff:0.0.0.0/96"), c("0.0.0.0/0"));
        // A wider block holding the mapped ones stays IPv6.
        assert!(matches!(c("::fffe:0:0/95"), Cidr::V6 { .. }));
        assert!(!c("::fffe:0:0/95").contains(ip("1.2.3.4")));
    }

    #[test]
    fn refuses_bad_blocks() {
        for bad in [
            "",
            "/",
            "/8",
            "1.2.3.4/",
            "1.2.3.4/33",
            "1.2.3.4/+8",
            "1.2.3.4/-1",
            "1.2.3.4/0008",
            "1.2.3.4/8/8",
            "::/129",
            "1.2.3",
            "host.example",
            "[::1]",
            "fe80::1%eth0",
            "1.2.3.4/ 8",
        ] {
            assert!(
                matches!(Cidr::parse(bad), Err(Problem::Address(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            Cidr::parse("198.51.100.7/24"),
            Err(Problem::HostBits(
                "198.51.100.7/24".into(),
                "198.51.100.0/24".into()
            ))
        );
        assert!(matches!(
            Cidr::parse("2001:db8::1/32"),
            Err(Problem::HostBits(..))
        ));
        assert!(matches!(
            Cidr::parse("::ffff:1.2.3.4/64"),
            Err(Problem::HostBits(..))
        ));
    }

    #[test]
    fn block_edges() {
        let b = c("198.51.100.0/24");
        assert!(b.contains(ip("198.51.100.0")));
        assert!(b.contains(ip("198.51.100.255")));
        assert!(!b.contains(ip("198.51.99.255")));
        assert!(!b.contains(ip("198.51.101.0")));
        assert!(b.contains(ip("::ffff:198.51.100.9")));
        let all4 = c("0.0.0.0/0");
        assert!(all4.contains(ip("255.255.255.255")));
        assert!(!all4.contains(ip("2001:db8::1")));
        let v6 = c("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!v6.contains(ip("2001:db9::")));
        // IPv6 blocks hold no IPv4 address, mapped or not.
        assert!(!c("::/0").contains(ip("1.2.3.4")));
        assert!(!c("::/0").contains(ip("::ffff:1.2.3.4")));
        let one = c("10.0.0.1");
        assert!(one.contains(ip("10.0.0.1")) && !one.contains(ip("10.0.0.2")));
    }

    #[test]
    fn default_denied_blocks() {
        for a in [
            "127.0.0.1",
            "127.255.255.255",
            "::ffff:127.0.0.1",
            "::1",
            "::",
            "0.0.0.0",
            "0.1.2.3",
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "fe80::1",
            "febf:ffff::1",
            "fd00:ec2::254",
        ] {
            assert!(default_denied(ip(a)), "{a}");
        }
        for a in [
            "126.255.255.255",
            "128.0.0.0",
            "1.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "::2",
            "fec0::1",
            "fe7f:ffff::1",
            "198.51.100.1",
            "2001:db8::1",
            "fd00:ec2::253",
        ] {
            assert!(!default_denied(ip(a)), "{a}");
        }
    }

    #[test]
    fn only_blocks_inside_a_denied_one_open_it() {
        for inside in [
            "127.0.0.1",
            "127.0.0.0/8",
            "127.1.0.0/16",
            "::ffff:127.0.0.1",
            "::1",
            "::",
            "169.254.169.254",
            "fe80::/10",
            "fe80::/64",
            "0.0.0.0/8",
        ] {
            assert!(c(inside).inside_default_denied(), "{inside}");
        }
        for outside in [
            "0.0.0.0/0",
            "126.0.0.0/7",
            "::/0",
            "::/127",
            "fe80::/9",
            "198.51.100.0/24",
            "::ffff:0.0.0.0/96",
        ] {
            assert!(!c(outside).inside_default_denied(), "{outside}");
        }
    }
}
