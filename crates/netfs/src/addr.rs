//! Plan 9 network addresses: parsing the `addr!port` forms of ctl messages and printing
//! addresses as `%I` does (libip `eipfmt.c`).
//!
//! Only literal addresses are understood here; names are `cs`'s business, as in Plan 9,
//! where the kernel never resolves a host name.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use ninefold_fs::{Error, Result};

pub(crate) const BAD_IP: Error = Error::from_static("bad ip address syntax");
pub(crate) const MALFORMED: Error = Error::from_static("malformed address");
pub(crate) const BAD_PORT: Error = Error::from_static("bad numeric port");

/// A local address as `announce`, `bind` and the second argument of `connect` give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Local {
    /// `None`: every address of the host (no address given, or `*`).
    pub ip: Option<IpAddr>,
    pub port: LocalPort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LocalPort {
    /// 0 asks the host for a free port.
    Num(u16),
    /// `*`: every port nobody else announced. Only the host owner may ask.
    Star,
}

/// An IP address literal: v4 dotted or v6 text. A v4-mapped v6 address comes back as v4,
/// so host sockets see the address family they need.
pub(crate) fn parse_ip(s: &str) -> Result<IpAddr> {
    let ip: IpAddr = s.parse().map_err(|_| BAD_IP)?;
    Ok(ip.to_canonical())
}

/// A decimal port: digits only (9front's rule; `atoi` in Plan 9 accepted junk).
pub(crate) fn parse_port(s: &str) -> Result<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BAD_PORT);
    }
    s.parse().map_err(|_| BAD_PORT)
}

/// A remote address, `addr!port[!suffix…]`. Suffixes (`!r`, cs's `!fasttimeout`) are
/// ignored, as the spec requires.
pub(crate) fn parse_remote(s: &str) -> Result<SocketAddr> {
    let mut parts = s.split('!');
    let host = parts.next().unwrap_or_default();
    let port = parts.next().ok_or(MALFORMED)?;
    let ip = parse_ip(host)?;
    Ok(SocketAddr::new(ip, parse_port(port)?))
}

/// A local address, `[addr!]port[!r]`, with `*` for "all addresses" (devip `setladdrport`).
/// A lone `*` is the port `*`, not the address.
pub(crate) fn parse_local(s: &str) -> Result<Local> {
    let (addr, port) = match s.split_once('!') {
        None => (None, s),
        // A trailing `!r` asks for a restricted port, meaningless for a local one.
        Some((port, "r")) => (None, port),
        Some(("*", rest)) => (None, rest),
        Some((a, rest)) => (Some(parse_ip(a)?), rest),
    };
    // Anything after the port (`!r`) is ignored, as strtoul stops at the `!`.
    let port = port.split('!').next().unwrap_or_default();
    let port = match port {
        "*" => LocalPort::Star,
        p => LocalPort::Num(parse_port(p)?),
    };
    Ok(Local { ip: addr, port })
}

/// An address as Plan 9's `%I` prints it: v4 (and v4-mapped) as a dotted quad, other v6
/// addresses in lowercase hex with the longest run of zero groups — even a single one —
/// written `::`.
pub(crate) fn format_ip(ip: IpAddr) -> String {
    let v6 = match ip {
        IpAddr::V4(v4) => return v4.to_string(),
        IpAddr::V6(v6) => v6,
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return v4.to_string();
    }
    format_v6(v6)
}

fn format_v6(v6: Ipv6Addr) -> String {
    let g = v6.segments();
    // The longest run of zero groups; the first one wins a tie.
    let (mut best_at, mut best_len) = (usize::MAX, 0);
    let mut i = 0;
    while i < g.len() {
        let run = g[i..].iter().take_while(|&&x| x == 0).count();
        if run > best_len {
            (best_at, best_len) = (i, run);
        }
        i += run.max(1);
    }
    let mut out = String::with_capacity(40);
    let mut i = 0;
    while i < g.len() {
        if i == best_at {
            out.push_str("::");
            i += best_len;
            if i >= g.len() {
                break;
            }
        } else if i != 0 {
            out.push(':');
        }
        out.push_str(&format!("{:x}", g[i]));
        i += 1;
    }
    out
}

/// The contents of a `local` or `remote` file: `addr!port\n`, `::!0\n` when unset. An
/// unspecified address (a socket bound to every address) prints as `::`, Plan 9's
/// `IPnoaddr`, whichever family the host socket has.
pub(crate) fn format_addr_file(a: Option<SocketAddr>) -> String {
    match a {
        None => "::!0\n".to_owned(),
        Some(a) if a.ip().is_unspecified() => format!("::!{}\n", a.port()),
        Some(a) => format!("{}!{}\n", format_ip(a.ip()), a.port()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::{Ipv4Addr, SocketAddrV6};

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prints_like_eipfmt() {
        assert_eq!(format_ip(ip("135.104.9.52")), "135.104.9.52");
        assert_eq!(format_ip(ip("::ffff:1.2.3.4")), "1.2.3.4");
        assert_eq!(format_ip(ip("::")), "::");
        assert_eq!(format_ip(ip("::1")), "::1");
        assert_eq!(format_ip(ip("1::")), "1::");
        assert_eq!(format_ip(ip("2001:db8::1")), "2001:db8::1");
        assert_eq!(format_ip(ip("2001:DB8:0:0:1:0:0:1")), "2001:db8::1:0:0:1");
        // A lone zero group is elided too, unlike RFC 5952.
        assert_eq!(format_ip(ip("2001:db8:0:1:1:1:1:1")), "2001:db8::1:1:1:1:1");
        assert_eq!(format_ip(ip("1:2:3:4:5:6:7:8")), "1:2:3:4:5:6:7:8");
        assert_eq!(format_ip(ip("fe80::1:0:0:0")), "fe80::1:0:0:0");
    }

    #[test]
    fn addr_files() {
        assert_eq!(format_addr_file(None), "::!0\n");
        let a = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 564);
        assert_eq!(format_addr_file(Some(a)), "::!564\n");
        let a = SocketAddr::V6(SocketAddrV6::new(ip_v6("::ffff:10.0.0.1"), 23, 0, 0));
        assert_eq!(format_addr_file(Some(a)), "10.0.0.1!23\n");
        let a = SocketAddr::new(ip("2001:db8::5"), 564);
        assert_eq!(format_addr_file(Some(a)), "2001:db8::5!564\n");
    }

    fn ip_v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn remote_addresses() {
        assert_eq!(
            parse_remote("127.0.0.1!80").unwrap(),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(
            parse_remote("::1!564!r!fasttimeout").unwrap(),
            "[::1]:564".parse().unwrap()
        );
        // v4-mapped becomes v4.
        assert_eq!(
            parse_remote("::ffff:1.2.3.4!7").unwrap(),
            "1.2.3.4:7".parse().unwrap()
        );
        assert_eq!(parse_remote("127.0.0.1"), Err(MALFORMED));
        assert_eq!(parse_remote(""), Err(MALFORMED));
        assert_eq!(parse_remote("example.com!80"), Err(BAD_IP));
        assert_eq!(parse_remote("1.2.3!80"), Err(BAD_IP));
        assert_eq!(parse_remote("[::1]!80"), Err(BAD_IP));
        assert_eq!(parse_remote("1.2.3.4!http"), Err(BAD_PORT));
        assert_eq!(parse_remote("1.2.3.4!+80"), Err(BAD_PORT));
        assert_eq!(parse_remote("1.2.3.4!65536"), Err(BAD_PORT));
        assert_eq!(parse_remote("1.2.3.4!"), Err(BAD_PORT));
    }

    #[test]
    fn local_addresses() {
        let any = |port| Local {
            ip: None,
            port: LocalPort::Num(port),
        };
        assert_eq!(parse_local("564").unwrap(), any(564));
        assert_eq!(parse_local("564!r").unwrap(), any(564));
        assert_eq!(parse_local("*!564").unwrap(), any(564));
        assert_eq!(parse_local("0").unwrap(), any(0));
        assert_eq!(
            parse_local("*").unwrap(),
            Local {
                ip: None,
                port: LocalPort::Star
            }
        );
        assert_eq!(
            parse_local("127.0.0.1!0!r").unwrap(),
            Local {
                ip: Some(ip("127.0.0.1")),
                port: LocalPort::Num(0)
            }
        );
        assert_eq!(
            parse_local("::1!17").unwrap(),
            Local {
                ip: Some(ip("::1")),
                port: LocalPort::Num(17)
            }
        );
        assert_eq!(parse_local("nohost!1"), Err(BAD_IP));
        assert_eq!(parse_local("x"), Err(BAD_PORT));
        assert_eq!(parse_local(""), Err(BAD_PORT));
        assert_eq!(parse_local("1.2.3.4!"), Err(BAD_PORT));
    }

    #[test]
    fn hostile_input_never_panics() {
        for s in [
            "!",
            "!!",
            "!!!",
            "*!",
            "*!*",
            "::!",
            "\u{0}!\u{0}",
            "é!é",
            "1!2!3!4",
        ] {
            let _ = parse_remote(s);
            let _ = parse_local(s);
        }
    }
}
