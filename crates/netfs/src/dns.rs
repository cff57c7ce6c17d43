//! `/net/dns`: `name type` queries answered by the host's resolver.
//!
//! Only the types getaddrinfo can answer are served: `ip` (A), `ipv6` (AAAA) and `ptr`
//! (reverse, from `/etc/hosts`: the standard library has no getnameinfo). Records read as
//! Plan 9's dns prints them, `owner type\tvalue`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ninefold_fs::{Error, Result};

use crate::addr;
use crate::cs::{self, MAX_QUERY, TOO_LONG};

pub(crate) const NOT_AT_ZERO: Error = Error::from_static("writing at non-zero offset");
pub(crate) const NO_NAME: Error = Error::from_static("name does not exist");
pub(crate) const FAILURE: Error = Error::from_static("dns failure");

/// The RR types Plan 9's dns knows by name: the ones answered here, and the rest, which
/// need a resolver library and fail with `dns failure`.
const OTHER_TYPES: &[&str] = &[
    "a", "ns", "cname", "soa", "mb", "mg", "mr", "null", "wks", "hinfo", "minfo", "mx", "txt",
    "rp", "afsdb", "x25", "isdn", "rt", "nsap", "nsap-ptr", "sig", "key", "px", "gpos", "aaaa",
    "loc", "nxt", "eid", "nimloc", "srv", "atma", "naptr", "kx", "cert", "a6", "dname", "sink",
    "opt", "apl", "ds", "sshfp", "ipseckey", "rrsig", "nsec", "dnskey", "spf", "uinfo", "uid",
    "gid", "unspec", "tkey", "tsig", "ixfr", "axfr", "mailb", "maila", "all", "any", "caa",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ip,
    Ipv6,
    Ptr,
}

/// Answers one query written to `/net/dns`.
pub(crate) async fn query(offset: u64, q: &[u8]) -> Result<Vec<String>> {
    if offset != 0 {
        return Err(NOT_AT_ZERO);
    }
    if q.len() > MAX_QUERY {
        return Err(TOO_LONG);
    }
    let text = String::from_utf8_lossy(q);
    let text = text.trim_end_matches(['\n', '\r', '\0']).trim();
    let Some((name, ty)) = text.split_once(' ') else {
        return Err(Error::new(format!("illegal request {text}")));
    };
    let ty = ty.trim();
    let kind = match ty {
        "ip" => Kind::Ip,
        "ipv6" => Kind::Ipv6,
        "ptr" => Kind::Ptr,
        t if OTHER_TYPES.contains(&t)
            || (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())) =>
        {
            return Err(FAILURE);
        }
        t => return Err(Error::new(format!("unknown type {t}"))),
    };
    // A trailing dot roots the name; the resolver does not want it.
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || !cs::plausible_name(name) {
        return Err(NO_NAME);
    }
    match kind {
        Kind::Ip | Kind::Ipv6 => {
            let ips = cs::lookup(name).await.map_err(|_| NO_NAME)?;
            let out: Vec<String> = ips
                .into_iter()
                .filter(|ip| ip.is_ipv6() == (kind == Kind::Ipv6))
                .map(|ip| format!("{name} {ty}\t{}", addr::format_ip(ip)))
                .collect();
            if out.is_empty() {
                return Err(NO_NAME);
            }
            Ok(out)
        }
        Kind::Ptr => {
            let ip = reverse_name(name).ok_or(NO_NAME)?;
            // A small local file: read in place rather than on a blocking thread.
            let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
            let out: Vec<String> = hosts_names(&hosts, ip)
                .into_iter()
                .map(|h| format!("{name} ptr\t{h}"))
                .collect();
            if out.is_empty() {
                return Err(NO_NAME);
            }
            Ok(out)
        }
    }
}

/// The address a `ptr` query is about: `4.3.2.1.in-addr.arpa`, the nibbles of
/// `….ip6.arpa`, or (a convenience) the address itself.
fn reverse_name(name: &str) -> Option<IpAddr> {
    let lower = name.to_ascii_lowercase();
    if let Some(rev) = lower.strip_suffix(".in-addr.arpa") {
        let mut b = [0u8; 4];
        let parts: Vec<&str> = rev.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        for (i, p) in parts.iter().rev().enumerate() {
            *b.get_mut(i)? = p.parse().ok()?;
        }
        return Some(Ipv4Addr::from(b).into());
    }
    if let Some(rev) = lower.strip_suffix(".ip6.arpa") {
        let nibbles: Vec<&str> = rev.split('.').collect();
        if nibbles.len() != 32 {
            return None;
        }
        let mut v: u128 = 0;
        for n in nibbles.iter().rev() {
            if n.len() != 1 {
                return None;
            }
            v = (v << 4) | u128::from(u8::from_str_radix(n, 16).ok()?);
        }
        return Some(IpAddr::from(Ipv6Addr::from(v)).to_canonical());
    }
    addr::parse_ip(name).ok()
}

/// The names `/etc/hosts` gives `ip`, in the file's order.
fn hosts_names(text: &str, ip: IpAddr) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut f = line.split_ascii_whitespace();
        let Some(a) = f.next() else { continue };
        if addr::parse_ip(a).ok() != Some(ip) {
            continue;
        }
        for n in f {
            if !out.iter().any(|o| o == n) {
                out.push(n.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reverse_names() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            reverse_name("1.0.0.127.in-addr.arpa"),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(
            reverse_name("1.0.0.127.IN-ADDR.ARPA"),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(reverse_name("0.0.127.in-addr.arpa"), None);
        assert_eq!(reverse_name("1.0.0.300.in-addr.arpa"), None);
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
        assert_eq!(reverse_name(v6), Some(ip("2001:db8::1")));
        assert_eq!(reverse_name("x.ip6.arpa"), None);
        assert_eq!(reverse_name("::1"), Some(ip("::1")));
        assert_eq!(reverse_name("host"), None);
    }

    #[test]
    fn hosts_file() {
        let text = "127.0.0.1 localhost lh # x\n::1 localhost6\n#127.0.0.1 no\n127.0.0.1 vm lh\n";
        let ip = "127.0.0.1".parse().unwrap();
        assert_eq!(hosts_names(text, ip), ["localhost", "lh", "vm"]);
    }

    #[tokio::test]
    async fn errors() {
        let q = |s: &'static str| query(0, s.as_bytes());
        assert_eq!(query(1, b"localhost ip").await, Err(NOT_AT_ZERO));
        assert_eq!(
            q("localhost").await.unwrap_err().as_str(),
            "illegal request localhost"
        );
        assert_eq!(
            q("localhost bogus").await.unwrap_err().as_str(),
            "unknown type bogus"
        );
        assert_eq!(q("localhost mx").await, Err(FAILURE));
        assert_eq!(q("9.9.9.9.in-addr.arpa ptr").await, Err(NO_NAME));
        assert_eq!(q("bad\u{1}name ip").await, Err(NO_NAME));
        for junk in ["", " ", "  ", " ip", "\u{0} \u{0}", ". ip"] {
            let _ = q(junk).await;
        }
    }
}
