//! `/net/cs`, the connection server: translates `net!host!service` into the clone files
//! and addresses to dial, as Plan 9's `ndb/cs` does, from the host's resolver and
//! `/etc/services` instead of ndb.
//!
//! A query is one write; its answer is a list of records that [`crate::node`] hands out one
//! per read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

use ninefold_fs::{Error, Result};

use crate::addr;

pub(crate) const TOO_LONG: Error = Error::from_static("request too long");
pub(crate) const NO_SERVICE: Error = Error::from_static("can't translate service");
pub(crate) const NO_ADDRESS: Error = Error::from_static("can't translate address");

/// The longest query cs takes (Plan 9's 128-byte buffer with its NUL).
pub(crate) const MAX_QUERY: usize = 127;
/// The most records one query answers.
const MAX_REPLIES: usize = 20;

/// The IP networks cs knows, in the order `net` tries them.
const IP_NETS: [&str; 2] = ["tcp", "udp"];

/// Services Plan 9 names in `/lib/ndb/common` that a Linux `/etc/services` lacks. They
/// win over the host's file.
const PLAN9_SERVICES: &[(&str, &str, u16)] = &[
    ("tcp", "9fs", 564),
    ("tcp", "whoami", 565),
    ("tcp", "guard", 566),
    ("tcp", "ticket", 567),
    ("tcp", "secstore", 5356),
    ("tcp", "styx", 6666),
    ("tcp", "mpeg", 6667),
    ("tcp", "rstyx", 6668),
    ("tcp", "exportfs", 17007),
    ("tcp", "rexexec", 17009),
    ("tcp", "ncpu", 17010),
    ("tcp", "cpu", 17013),
    ("tcp", "rcpu", 17019),
    ("tcp", "venti", 17034),
    ("tcp", "wiki", 17035),
    ("tcp", "vica", 17020),
    ("udp", "dns", 53),
    ("tcp", "dns", 53),
];

/// What cs uses when the host has no `/etc/services`: a few common services, on both TCP
/// and UDP.
const FALLBACK_SERVICES: &[(&str, u16)] = &[
    ("echo", 7),
    ("discard", 9),
    ("daytime", 13),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("time", 37),
    ("domain", 53),
    ("tftp", 69),
    ("gopher", 70),
    ("finger", 79),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("sunrpc", 111),
    ("nntp", 119),
    ("ntp", 123),
    ("imap", 143),
    ("imap2", 143),
    ("snmp", 161),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("imaps", 993),
    ("pop3s", 995),
];

/// (network, service name) → port.
type Services = HashMap<(String, String), u16>;

fn services() -> &'static Services {
    static TABLE: OnceLock<Services> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = match std::fs::read_to_string("/etc/services") {
            Ok(text) => parse_services(&text),
            Err(_) => FALLBACK_SERVICES
                .iter()
                .flat_map(|&(name, port)| {
                    IP_NETS.map(|net| ((net.to_owned(), name.to_owned()), port))
                })
                .collect(),
        };
        for &(net, name, port) in PLAN9_SERVICES {
            t.insert((net.to_owned(), name.to_owned()), port);
        }
        t
    })
}

/// `/etc/services`: `name port/proto [aliases…] [# comment]`; the first entry of a name
/// wins, as getservbyname's does.
fn parse_services(text: &str) -> Services {
    let mut t = Services::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut f = line.split_ascii_whitespace();
        let (Some(name), Some(pp)) = (f.next(), f.next()) else {
            continue;
        };
        let Some((port, proto)) = pp.split_once('/') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        for n in std::iter::once(name).chain(f) {
            t.entry((proto.to_owned(), n.to_owned())).or_insert(port);
        }
    }
    t
}

/// The port of `service` on `net`: a number as it is, `*` as it is, a name from the table.
fn service_port(net: &str, service: &str) -> Option<String> {
    if service == "*" || (!service.is_empty() && service.bytes().all(|b| b.is_ascii_digit())) {
        return Some(service.to_owned());
    }
    services()
        .get(&(net.to_owned(), service.to_owned()))
        .map(u16::to_string)
}

/// What the host part of a query stands for.
#[derive(Debug, PartialEq, Eq)]
enum Host {
    /// `*` or `::`: the announce form, no address in the answer.
    Any,
    Addrs(Vec<IpAddr>),
}

/// A parsed query: `net!host!service[!rest]`.
#[derive(Debug, PartialEq, Eq)]
struct Query<'a> {
    net: &'a str,
    host: &'a str,
    service: Option<&'a str>,
    /// Everything after the service, passed on (`!r`, `!fasttimeout`, …).
    rest: Option<&'a str>,
}

fn parse_query(q: &str) -> Result<Query<'_>> {
    let mut parts = q.splitn(4, '!');
    let first = parts.next().unwrap_or_default();
    let Some(host) = parts.next() else {
        // `host` alone: net is `net`, and without a service no IP net can answer.
        return Ok(Query {
            net: "net",
            host: first,
            service: None,
            rest: None,
        });
    };
    Ok(Query {
        net: first,
        host,
        service: parts.next(),
        rest: parts.next(),
    })
}

/// The addresses `host` names: a literal (brackets removed), `*`/`::`, or a name for the
/// host's resolver. IPv4 addresses come before IPv6 ones; duplicates are dropped.
async fn resolve(host: &str) -> Result<Host> {
    if host == "*" || host == "::" {
        return Ok(Host::Any);
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = addr::parse_ip(bare) {
        return Ok(Host::Addrs(vec![ip]));
    }
    // `$attr` needs ndb, which the host does not have.
    if bare.is_empty() || bare.starts_with('$') || !plausible_name(bare) {
        return Err(NO_ADDRESS);
    }
    let ips = lookup(bare).await.map_err(|_| NO_ADDRESS)?;
    if ips.is_empty() {
        return Err(NO_ADDRESS);
    }
    Ok(Host::Addrs(ips))
}

/// A host name the resolver may be asked about: no blanks, controls or NULs.
pub(crate) fn plausible_name(name: &str) -> bool {
    name.len() < 256 && name.bytes().all(|b| b.is_ascii_graphic())
}

/// The host resolver's addresses for `name` (getaddrinfo), v4 first, without duplicates.
pub(crate) async fn lookup(name: &str) -> std::io::Result<Vec<IpAddr>> {
    let found = tokio::net::lookup_host((name, 0u16)).await?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in found {
        let ip = a.ip().to_canonical();
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    // Stable: the resolver's order within each family.
    ips.sort_by_key(IpAddr::is_ipv6);
    Ok(ips)
}

/// Answers one query written to `/net/cs`: the records, in the order reads return them.
pub(crate) async fn translate(query: &[u8]) -> Result<Vec<String>> {
    if query.len() > MAX_QUERY {
        return Err(TOO_LONG);
    }
    let text = std::str::from_utf8(query).map_err(|_| NO_ADDRESS)?;
    let text = text.trim_end_matches(['\n', '\r', '\0']).trim();
    // cs's control writes: accepted, and without effect here (there is no ndb to refresh,
    // no debug log, and the networks are fixed).
    let verb = text.split_ascii_whitespace().next().unwrap_or_default();
    if matches!(
        verb,
        "debug" | "ipv6" | "ipv4" | "paranoia" | "refresh" | "add"
    ) {
        return Ok(Vec::new());
    }
    let q = parse_query(text)?;
    let nets: Vec<&str> = match q.net {
        "net" => IP_NETS.to_vec(),
        n if IP_NETS.contains(&n) => vec![n],
        "" => return Err(NO_ADDRESS),
        // A network cs does not know is passed on untranslated.
        other => {
            if other.contains('/') || other == "." || other == ".." {
                return Err(NO_ADDRESS);
            }
            let mut line = format!("/net/{other}/clone {}", q.host);
            for p in [q.service, q.rest].into_iter().flatten() {
                line.push('!');
                line.push_str(p);
            }
            return Ok(vec![line]);
        }
    };
    let Some(service) = q.service else {
        return Err(NO_SERVICE);
    };
    // The service first: an unknown one fails without troubling the resolver.
    let ports: Vec<(&str, String)> = nets
        .iter()
        .filter_map(|&n| service_port(n, service).map(|p| (n, p)))
        .collect();
    if ports.is_empty() {
        return Err(NO_SERVICE);
    }
    let host = resolve(q.host).await?;
    let mut out = Vec::new();
    for (net, port) in &ports {
        let mut suffix = String::new();
        if let Some(rest) = q.rest {
            suffix.push('!');
            suffix.push_str(rest);
        }
        match &host {
            Host::Any => out.push(format!("/net/{net}/clone {port}{suffix}")),
            Host::Addrs(ips) => {
                for ip in ips {
                    out.push(format!(
                        "/net/{net}/clone {}!{port}{suffix}",
                        addr::format_ip(*ip)
                    ));
                }
            }
        }
    }
    out.truncate(MAX_REPLIES);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn services_file() {
        let t = parse_services(
            "# comment\nhttp\t80/tcp\twww # web\nhttp 80/udp\ndomain 53/udp\nbad\nx y/tcp\n\
             z 99999/tcp\nhttp 8080/tcp\n",
        );
        assert_eq!(t.get(&("tcp".into(), "http".into())), Some(&80));
        assert_eq!(t.get(&("tcp".into(), "www".into())), Some(&80));
        assert_eq!(t.get(&("udp".into(), "domain".into())), Some(&53));
        assert_eq!(t.get(&("tcp".into(), "domain".into())), None);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn service_names() {
        assert_eq!(service_port("tcp", "9fs").as_deref(), Some("564"));
        assert_eq!(service_port("tcp", "exportfs").as_deref(), Some("17007"));
        assert_eq!(service_port("udp", "9fs"), None);
        assert_eq!(service_port("tcp", "80").as_deref(), Some("80"));
        assert_eq!(service_port("tcp", "*").as_deref(), Some("*"));
        assert_eq!(service_port("tcp", "no-such-service"), None);
        assert_eq!(service_port("tcp", ""), None);
    }

    #[test]
    fn query_forms() {
        assert_eq!(
            parse_query("tcp!h!80!r").unwrap(),
            Query {
                net: "tcp",
                host: "h",
                service: Some("80"),
                rest: Some("r")
            }
        );
        assert_eq!(
            parse_query("h").unwrap(),
            Query {
                net: "net",
                host: "h",
                service: None,
                rest: None
            }
        );
    }

    #[tokio::test]
    async fn literal_translations() {
        let t = |q: &'static str| translate(q.as_bytes());
        assert_eq!(
            t("tcp!1.2.3.4!80").await.unwrap(),
            ["/net/tcp/clone 1.2.3.4!80"]
        );
        assert_eq!(
            t("net![2001:db8::1]!9fs").await.unwrap(),
            ["/net/tcp/clone 2001:db8::1!564"]
        );
        assert_eq!(
            t("net!1.2.3.4!53").await.unwrap(),
            ["/net/tcp/clone 1.2.3.4!53", "/net/udp/clone 1.2.3.4!53"]
        );
        assert_eq!(t("tcp!*!9fs").await.unwrap(), ["/net/tcp/clone 564"]);
        assert_eq!(t("tcp!::!*").await.unwrap(), ["/net/tcp/clone *"]);
        assert_eq!(t("il!h!9fs!x").await.unwrap(), ["/net/il/clone h!9fs!x"]);
        assert_eq!(t("tcp!1.2.3.4!nonesuch").await, Err(NO_SERVICE));
        assert_eq!(t("refresh").await.unwrap(), Vec::<String>::new());
        assert_eq!(t("add il").await.unwrap(), Vec::<String>::new());
        assert_eq!(t("1.2.3.4").await, Err(NO_SERVICE));
        assert_eq!(t("tcp!$auth!9fs").await, Err(NO_ADDRESS));
        assert_eq!(t("tcp!bad name!9fs").await, Err(NO_ADDRESS));
        assert_eq!(t("tcp!!9fs").await, Err(NO_ADDRESS));
        assert_eq!(t("../x!h!1").await, Err(NO_ADDRESS));
        let long = format!("tcp!{}!80", "a".repeat(130));
        assert_eq!(translate(long.as_bytes()).await, Err(TOO_LONG));
        for junk in ["", "!", "!!", "!!!!!", "\u{0}", "net!\u{0}!1", "é!é!é"] {
            let _ = t(junk).await;
        }
    }
}
