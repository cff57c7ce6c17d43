//! Who may connect and announce where through an exported `/net`: a per-principal
//! allow-list, in the spirit of OpenSSH's `PermitOpen`/`PermitListen` (see `security.md`
//! §1.10: whoever can mount a `/net` originates traffic from its host and reaches that
//! host's loopback services and its cloud's metadata service).
//!
//! # The file
//!
//! One rule per line; `#` starts a comment; blank lines are ignored.
//!
//! ```text
//! # PRINCIPAL  OP        PROTO  ADDRESS          PORTS
//! alice        connect   tcp    198.51.100.0/24  80,443,8000-8080
//! alice        announce  tcp    *                8080
//! *            connect   udp    2001:db8::53     53
//! bob          connect   tcp    127.0.0.1        22
//! ```
//!
//! - PRINCIPAL: a name (the principal the tree was given), or `*` for everyone.
//! - OP: `connect` (a TCP or UDP `connect`, and every datagram a UDP conversation in
//!   `headers` mode sends: the destination is checked) or `announce` (the local address and
//!   port; `*` or `::` for every address). They are separate: a right to connect gives no
//!   right to announce.
//! - PROTO: `tcp`, `udp` or `*`.
//! - ADDRESS: `*`, or a block: `198.51.100.0/24`, `2001:db8::/32`, or a bare address (a
//!   block of one). Bits past the prefix must be zero. An IPv4-mapped IPv6 address or block
//!   (`::ffff:127.0.0.1`) is the IPv4 one; any other IPv6 block holds no IPv4 address.
//! - PORTS: `*`, a port, a range `8000-8080`, or a comma list of those (`22,80,8000-8080`).
//!   `announce 0` (any free port) is port 0: only `*` or a list with 0 matches it.
//!
//! A request is allowed when some rule matches it; otherwise it is refused. A rule that
//! does not parse makes the whole file fail, naming the line.
//!
//! # Default-denied blocks
//!
//! Loopback (`127.0.0.0/8`, `::1`), link-local (`169.254.0.0/16`, `fe80::/10`, which hold
//! cloud metadata services), "this host" (`0.0.0.0/8`, `::`: connecting there reaches
//! loopback on Linux) and `fd00:ec2::254` (the IPv6 metadata service) are opened only by a
//! rule whose block lies wholly inside one of them. So `* connect tcp 0.0.0.0/0 *` or
//! `* connect * * *` does not reach loopback, but `bob connect tcp 127.0.0.1 22` does. The
//! mapped forms (`::ffff:127.0.0.1`) are the same addresses and are denied alike.
//!
//! Announcing on every address (`announce 8080`, `announce *!8080`, or the unspecified
//! address `0.0.0.0`/`::`) is not an address in those blocks: it is matched only by a rule
//! whose ADDRESS is `*`. Announcing on one address (`announce 127.0.0.1!8080`) is matched as
//! that address.

mod cidr;

use std::fmt;
use std::net::IpAddr;

use ninefold_fs::Error;

use crate::addr;
use cidr::Cidr;

/// What a rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Reaching out: a `connect`, or a datagram sent in UDP `headers` mode.
    Connect,
    /// Taking calls or datagrams on a local address and port.
    Announce,
}

/// The protocol a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Connect => "connect",
            Op::Announce => "announce",
        })
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// A line of a policy file that could not be read: its number (from 1) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("net policy line {line}: {problem}")]
pub struct PolicyError {
    line: usize,
    problem: Problem,
}

impl PolicyError {
    /// The line's number, counting from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

/// What is wrong with a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    #[error("expected 5 fields (PRINCIPAL OP PROTO ADDRESS PORTS), found {0}")]
    Fields(usize),
    #[error("unknown operation {0:?} (connect or announce)")]
    Op(String),
    #[error("unknown protocol {0:?} (tcp, udp or *)")]
    Proto(String),
    #[error("bad address {0:?} (*, an address, or address/prefix)")]
    Address(String),
    #[error("{0:?} has bits set past its prefix (the block is {1})")]
    HostBits(String, String),
    #[error("bad port {0:?} (*, a port, a range like 8000-8080, or a comma list)")]
    Port(String),
    #[error("port range {0:?} ends before it starts")]
    Range(String),
}

/// The ports a rule covers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ports {
    Any,
    /// Inclusive ranges; a single port is a range of one.
    Some(Vec<(u16, u16)>),
}

impl Ports {
    fn parse(text: &str) -> Result<Ports, Problem> {
        if text == "*" {
            return Ok(Ports::Any);
        }
        text.split(',')
            .map(|item| match item.split_once('-') {
                None => port(item, text).map(|p| (p, p)),
                Some((lo, hi)) => {
                    let (lo, hi) = (port(lo, text)?, port(hi, text)?);
                    if lo > hi {
                        return Err(Problem::Range(item.to_owned()));
                    }
                    Ok((lo, hi))
                }
            })
            .collect::<Result<_, _>>()
            .map(Ports::Some)
    }

    fn contains(&self, port: u16) -> bool {
        match self {
            Ports::Any => true,
            Ports::Some(ranges) => ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&port)),
        }
    }
}

/// One port of the PORTS field `whole`: digits only, as the ctl messages want them.
fn port(text: &str, whole: &str) -> Result<u16, Problem> {
    let bad = || Problem::Port(whole.to_owned());
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// One line of the file. `None` stands for `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    principal: Option<String>,
    op: Op,
    proto: Option<Proto>,
    addr: Option<Cidr>,
    ports: Ports,
}

impl Rule {
    fn parse(line: &str) -> Result<Option<Rule>, Problem> {
        let line = line.split_once('#').map_or(line, |(rule, _comment)| rule);
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [principal, op, proto, addr, ports] = fields[..] else {
            return match fields.len() {
                0 => Ok(None),
                n => Err(Problem::Fields(n)),
            };
        };
        let op = match op {
            "connect" => Op::Connect,
            "announce" => Op::Announce,
            _ => return Err(Problem::Op(op.to_owned())),
        };
        let proto = match proto {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "*" => None,
            _ => return Err(Problem::Proto(proto.to_owned())),
        };
        Ok(Some(Rule {
            principal: (principal != "*").then(|| principal.to_owned()),
            op,
            proto,
            addr: match addr {
                "*" => None,
                a => Some(Cidr::parse(a)?),
            },
            ports: Ports::parse(ports)?,
        }))
    }

    /// Whether this rule allows the request; `addr` is canonical (mapped → IPv4).
    fn allows(&self, principal: &str, op: Op, proto: Proto, addr: IpAddr, port: u16) -> bool {
        self.principal.as_deref().is_none_or(|p| p == principal)
            && self.op == op
            && self.proto.is_none_or(|p| p == proto)
            && self.ports.contains(port)
            && self.allows_addr(op, addr)
    }

    fn allows_addr(&self, op: Op, addr: IpAddr) -> bool {
        // Every address of the host: only `*` covers all of them.
        if op == Op::Announce && addr.is_unspecified() {
            return self.addr.is_none();
        }
        let denied = cidr::default_denied(addr);
        match &self.addr {
            None => !denied,
            Some(block) => block.contains(addr) && (!denied || block.inside_default_denied()),
        }
    }
}

/// A per-principal allow-list for `connect` and `announce` (see the module docs).
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
}

impl Policy {
    /// Reads a policy file's text. The first bad line fails the whole file.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            match Rule::parse(line) {
                Ok(Some(rule)) => rules.push(rule),
                Ok(None) => {}
                Err(problem) => {
                    return Err(PolicyError {
                        line: i + 1,
                        problem,
                    });
                }
            }
        }
        Ok(Policy { rules })
    }

    /// Everyone may connect to and announce on anything outside the default-denied
    /// blocks: `* connect * * *` and `* announce * * *`.
    pub fn allow_all() -> Policy {
        let any = |op| Rule {
            principal: None,
            op,
            proto: None,
            addr: None,
            ports: Ports::Any,
        };
        Policy {
            rules: vec![any(Op::Connect), any(Op::Announce)],
        }
    }

    /// Nobody may do anything: an empty file.
    pub fn deny_all() -> Policy {
        Policy { rules: Vec::new() }
    }

    /// Whether `principal` may `op` with `proto` at `addr`!`port`: for a connect the remote
    /// address, for an announce the local one (unspecified for every address). A refusal
    /// is `permission denied: …` (EACCES through the kernel's 9P client), saying who may
    /// not do what.
    pub fn check(
        &self,
        principal: &str,
        op: Op,
        proto: Proto,
        addr: IpAddr,
        port: u16,
    ) -> Result<(), Error> {
        let addr = addr.to_canonical();
        if self
            .rules
            .iter()
            .any(|r| r.allows(principal, op, proto, addr, port))
        {
            return Ok(());
        }
        let what = match op {
            Op::Connect => "connect to",
            Op::Announce => "announce",
        };
        Err(Error::new(format!(
            "permission denied: {principal} may not {what} {} (net policy)",
            dial_string(op, proto, addr, port)
        )))
    }
}

/// `tcp!198.51.100.2!80`; an announce on every address (the unspecified one) as Plan 9
/// writes it, `tcp!*!8080`.
pub(crate) fn dial_string(op: Op, proto: Proto, addr: IpAddr, port: u16) -> String {
    if op == Op::Announce && addr.is_unspecified() {
        format!("{proto}!*!{port}")
    } else {
        format!("{proto}!{}!{port}", addr::format_ip(addr))
    }
}

#[cfg(test)]
mod tests;
