//! The host network stack as a Plan 9 `/net` tree (`#I`).
//!
//! [`NetTree`] serves the IP device's files on host sockets, so anything that speaks
//! Plan 9's network interface (dial(2), aux/listen, netstat, or a shell script with `echo`
//! and `cat`) can use the host's TCP and UDP, and its resolver, through 9P, and see its
//! interfaces:
//!
//! ```text
//! /cs                        write net!host!service; each read: one `/net/tcp/clone a!p`
//! /dns                       write `name ip|ipv6|ptr`; each read: one `name ip\ta.b.c.d`
//! /udp/…                     as /tcp, one datagram per read or write of data
//! /tcp/clone                 open: allocates a conversation; the fid becomes its ctl
//! /tcp/stats                 Name: value counters
//! /tcp/N/ctl                 read: N; write: connect, announce, hangup, close, keepalive …
//! /tcp/N/data                the byte stream
//! /tcp/N/listen              open on an announced N: waits for a call; becomes the new ctl
//! /tcp/N/{local,remote}      addr!port\n
//! /tcp/N/status              Established qin 0\n …
//! /tcp/N/err                 reads wait until N is hung up, then EOF
//! /ipifc/N/{status,local}    host interface N (its index): device, MTU, addresses
//! /ipifc/stats               the host's IP counters (Forwarding: 2 …)
//! ```
//!
//! The behaviour follows the specification in `plan9-net.md` (§1–7). Modules: `addr`
//! (Plan 9 addresses), `ctl` (parsing control messages), `tree` (layout, qids, stat),
//! `conv` (conversations: lifetime and states), `tcp` and `udp` (host sockets), `cs` and
//! `dns` (translation with the host's resolver), `ipifc` (the host's interfaces), `node`
//! (the fid), [`policy`] (who may connect and announce where) and `gate` (where a fid's
//! requests meet the policy, and the log). [`dial`] is Plan 9's
//! dial(2) library (`dial`, `announce`, `listen`, `hangup`, and 9front's half-close as
//! `Conn::close_write`) on any `/net` root `NodeRef`: this tree, or a remote `/net` through
//! ninefold-client. To save round trips through a remote `/net` it does not ask cs about a
//! numeric `tcp!`/`udp!` address, and it overlaps the connect with the data open; it falls
//! back to untranslated addresses only when there is no cs, not when cs cannot be opened
//! (see its docs).
//!
//! # cs and dns
//!
//! Both files work as Plan 9's: open ORDWR, write one query (a failed lookup fails the
//! write with the reason), then read from offset 0 on; each read returns the rest of one
//! record (no newline), as cs's `rread` does with offsets, until an empty read. A query
//! longer than 127 bytes fails with `request too long`. Each fid has its own answer.
//!
//! - **cs**: `net!host!service[!rest]`, `tcp!…`, `udp!…`. `net` gives every tcp line,
//!   then every udp line (not P9's "first network that answers, the rest on later
//!   reads"), and no `!fasttimeout` on the udp lines. At most 20 lines. Services: numbers
//!   and `*` pass through; names come from `/etc/services` (a small built-in table if the
//!   file is missing) per protocol, overridden by Plan 9's own (`9fs` 564, `styx` 6666,
//!   `exportfs` 17007, `rexexec` 17009, `cpu` 17013, `venti` 17034, …, TCP only); unknown →
//!   `can't translate service`, as is a query without a service. Hosts: `*` or `::` give
//!   the announce form (`/net/tcp/clone 564`); literals (brackets removed) are printed as
//!   `%I` does; names go to the host resolver (getaddrinfo on a blocking thread, inside the
//!   write: a Tflush abandons the wait, not the thread), IPv4 before IPv6, duplicates
//!   dropped. `$attr` (ndb) and names with blanks or controls fail with `can't translate
//!   address`, as does a failed lookup. An unknown network is passed on untranslated
//!   (`/net/il/clone host!svc`). `!rest` is appended. The control writes `debug`, `ipv6`,
//!   `ipv4`, `paranoia`, `refresh`, `add …` are accepted and do nothing; there is no
//!   `!attr=val` ndb query, no `!r` for restricted services and no reordering by subnet.
//! - **dns**: `name ip` (A), `name ipv6` (AAAA) from getaddrinfo; `name ptr` from
//!   `/etc/hosts` only (std has no getnameinfo, and no crate was added), with the name as
//!   `4.3.2.1.in-addr.arpa`, the `ip6.arpa` nibbles, or the address itself. Records read as
//!   Plan 9's dns prints them: `owner type\tvalue`. Errors are the spec's words: no answer
//!   → `name does not exist`; no blank → `illegal request X`; a type nobody knows →
//!   `unknown type X`; a real RR type other than those three (`mx`, `txt`, `all`, a
//!   number …) → `dns failure`; a write at a non-zero offset → `writing at non-zero
//!   offset`. The `!name type` (ndb attribute) form and the control writes are not there.
//!
//! # ipifc
//!
//! Read-only (0444 files, 0555 directories, owner `network`). `N` is the host's interface
//! index (`ip link`'s number), so it keeps naming one interface; `lo` is usually 1. Text
//! is taken from the host at open (getifaddrs; MTU and counters from `/sys/class/net`).
//!
//! - **status** uses the layout 9front's (and current Plan 9's) `ipifc.c` prints, not the
//!   old `dev mtu` + 7-fields-per-address line of the Plan 9 man page (§12.4); libip's
//!   `readipifc` parses both, finding the first line's values by key. Line one is every
//!   key 9front prints: `device NAME maxtu MTU sendra 0 recvra R … pktin N pktout N errin
//!   N errout N speed 0 delay 0`; then per address `\t%-40I %-10M %-40I %-12lud %-12lud`:
//!   local, prefix over 128 bits (a v4 /24 is `/120`), network (the peer on a
//!   point-to-point link), lifetimes. Unknown to the host, hence Plan 9's "off" values:
//!   router-advertisement parameters 0, `speed 0 delay 0`, lifetimes `4294967295`
//!   (forever). `maxtu` is the IP MTU (Plan 9's ether medium adds its 14-byte header).
//! - **local**: `%-40I -> %-40I` per address; the "answers to" list holds only the
//!   address itself (broadcast and multicast memberships are not read).
//! - **stats**: devip's `ipstats` names, values from `/proc/net/snmp`'s `Ip:` rows.
//! - **clone** is listed, but opening it fails with `permission denied`, as does opening
//!   anything here for writing, create, remove and wstat. No `ctl`, `data`, `remote`,
//!   `snoop`. A number that is no host interface: `file does not exist`.
//! - qids: `/ipifc`, `clone`, `stats` are devip's with protocol 2; an interface's are
//!   `1<<40 | index<<5 | type` (an index needs more than 12 bits), above all tcp/udp ones.
//!
//! # UDP
//!
//! `connect addr!port [local]` binds and connects a socket at once (no packet is sent).
//! `announce [addr!]port` binds (`announce port` or `*!port`: dual-stack `[::]`). `headers`
//! (before or after the announce) puts Plan 9's 52-byte header — raddr, laddr, ifcaddr (16
//! bytes each, v4-mapped), rport, lport (big-endian) — before every datagram read, and
//! takes the destination from it on every write (lport and laddr ignored: the datagram
//! leaves from the conversation's socket). Without IP_PKTINFO the host does not say which
//! local address a datagram came to, so laddr and ifcaddr read as the bound address (`::`
//! when bound to every address). Each read is one datagram, cut to the read count (the rest
//! is lost); a write shorter than a header is dropped and reported written, as in Plan 9.
//! `data` I/O before connect/announce, and writes on an announced conversation without
//! `headers`, fail with `not connected`. An ICMP error seen by a connected socket fails the
//! next read (`connection refused`) instead of hanging the conversation up. `status` is
//! `Open qin N qout 0` (N: the size of the next datagram); `stats` has InDatagrams, NoPorts
//! (always 0), InErrors, OutDatagrams. `hangup` wakes blocked reads with `Hangup`; `ttl` and
//! `tos` apply as on TCP; `close`, `accept`, `ignoreadvice` and the like are ignored;
//! `keepalive` is `unknown control request`, as `headers` is on TCP.
//!
//! # Export policy
//!
//! Whoever can mount this tree originates traffic from the host and reaches its loopback
//! services (`security.md` §1.10). [`NetTree::with_policy`] gives a tree a [`Policy`] and
//! the principal it judges (the authenticated peer, not the attach name): every `connect`
//! (TCP and UDP, the remote address) and `announce` (the local address; every address is
//! `*`) is checked before any socket is made, and so is the destination of every datagram
//! written in UDP `headers` mode. A refusal fails that write with `permission denied: alice
//! may not connect to tcp!127.0.0.1!22 (net policy)` (EACCES through Linux's 9P client)
//! and leaves the conversation as it was, so it can dial again. The principal owns the
//! conversations it opens (the attach name does without a policy), so one principal cannot
//! open another's connection through a shared tree. A tree without a policy checks nothing.
//!
//! The policy is an allow-list, one rule per line, `#` comments:
//!
//! ```text
//! # PRINCIPAL  OP        PROTO  ADDRESS          PORTS
//! alice        connect   tcp    198.51.100.0/24  80,443,8000-8080
//! alice        announce  tcp    *                8080
//! bob          connect   tcp    127.0.0.1        22
//! ```
//!
//! PRINCIPAL is a name or `*`; OP `connect` or `announce` (one never implies the other);
//! PROTO `tcp`, `udp` or `*`; ADDRESS `*` or a block (`2001:db8::/32`, a bare address);
//! PORTS `*`, a port, a range or a comma list. Loopback, link-local, `0.0.0.0/8`, `::` and
//! the IPv6 metadata address are opened only by a rule whose block lies inside them, so
//! `* connect * * *` does not reach `127.0.0.1`; IPv4-mapped addresses count as IPv4. The
//! details are in [`policy`]. Not checked: the local address a `connect` binds to
//! (`connect addr!port local`), and calls taken by `listen` on an allowed announcement.
//!
//! Every connect and announce is logged (tracing, info) with the principal — the attach
//! name when there is no policy — and the address, `connect tcp!198.51.100.2!80`; every
//! refusal at warn.
//!
//! # Where Plan 9, 9front and Inferno differ, and what this tree does
//!
//! - **Permissions**: 9front checks a conversation's owner against the owner bits and
//!   everyone else against the other bits; Plan 9 4th edition effectively lets anyone in.
//!   Here, with the permission fixed at 0660, only the owner (the attach name of the fid
//!   that first opened it) may open `ctl`/`data`/`err`/`listen` of a conversation in use;
//!   a free one may be opened by anyone, who then owns it. wstat is refused.
//! - **Ports**: digits only, else `bad numeric port` (9front; Plan 9's `atoi` took junk).
//! - **`close`** (graceful FIN of the write side) is 9front's; Plan 9 lacks it.
//! - **Reuse**: a freed conversation is reusable at once, as in Inferno's emu; Plan 9 waits
//!   for its TCP to reach Closed. The host kernel keeps TIME_WAIT itself.
//! - **Owner of a call taken by `listen`**: the listening user (Inferno's choice; 9front
//!   gives the announcer's owner, Plan 9 leaves `network`).
//! - **Failed `connect`**: the conversation goes back to Idle and can dial again; Plan 9
//!   leaves it hung up (so dial(2) closes it anyway). A `connect` flushed by Tflush likewise.
//! - **`keepalive [ms]`**: SO_KEEPALIVE, with the idle time rounded up to seconds; without
//!   an established connection it fails as Plan 9 does (`connection must be in Establised
//!   state`, sic). Inferno enforces at least 120 s; here the host's minimum (1 s) applies.
//! - **`status`** gives the state word and `qin` (bytes waiting, from FIONREAD); the rest of
//!   Plan 9's line (qout, rtt, windows, timers) is not known to a host socket and is left
//!   out rather than invented. States: Closed, Syn_sent, Listen, Established, Close_wait
//!   (after the peer's FIN), Finwait1 (after our `close`), Last_ack/Time_wait (both).
//! - **`stats`**: counters this server keeps itself: MaxConn, ActiveOpens, PassiveOpens,
//!   AttemptFails, EstabResets, CurrEstab, InBytes, OutBytes (bytes, not segments).
//!
//! # Choices where the spec leaves room
//!
//! - I/O on `data` of a conversation that never connected fails with `not connected`
//!   (sshnet's wording; Plan 9 would block forever). After a local `hangup` it fails with
//!   `Hangup`; after a reset by the peer, or the fourth read after the peer's FIN, with
//!   `i/o on hungup channel`. Writes after our own `close` fail with the latter too.
//! - `connect` times out after 30 s (`connection timed out`). Errno texts: ECONNREFUSED →
//!   `connection refused`, EADDRINUSE → `address in use`, EADDRNOTAVAIL → `not a local IP
//!   address`, EHOSTUNREACH → `host unreachable`, ENETUNREACH → `net unreachable` (Plan 9's
//!   ICMP wording).
//! - `announce *` is the port `*` ("every port nobody announced"), which only the host owner
//!   may ask for: `permission denied`. `announce *!564` or `announce 564` listen on every
//!   address: one dual-stack `[::]` socket, or `0.0.0.0` where the host has no IPv6.
//! - `accept N`, `ignoreadvice`, `checksum`, `maxfragsize`, `tcpporthogdefense` are accepted
//!   and do nothing; `reject N cause` hangs up; `ttl`/`tos` set IP_TTL/IP_TOS (or the v6
//!   equivalents) now and on later sockets of the conversation; `bind` only records the
//!   local address shown by `local` until a connect or announce.
//! - The `!r` suffix (a privileged local port) is ignored: ordinary users cannot bind one.
//! - Read-only files and directories may be opened OREAD or OEXEC (Plan 9's `openmode` turns
//!   OEXEC into OREAD); OTRUNC is ignored, as devip ignores it.
//! - A `connect` or `announce` whose arguments do not parse fails with the parse error even
//!   on a conversation in use; devip checks the state first (`connection in use`).
//! - `hangup` during a `connect` ends the dial at once (the write fails with `Hangup`); a
//!   Tflush of the write puts the conversation back to Idle.
//! - At most 65,536 conversations per protocol by default
//!   ([`NetTree::with_max_conversations`] sets another bound), then `no free devices`;
//!   devip has 4096. qids stay devip's for conversations 0–4095; above that the number's
//!   high bits go above the protocol (`tree`), so every file's qid stays unique and fixed.
//!   A `clone` takes the lowest free number from a set rather than scanning the table.
//! - Each connected or announced conversation holds one host socket, so the process's
//!   `RLIMIT_NOFILE` is the real bound on those: a `connect`, `announce` or `listen` that
//!   needs a socket beyond it fails with `too many open files (RLIMIT_NOFILE N)` (the
//!   soft limit; raise it for many connections), and the conversation stays usable.
//! - A read of `data` that waits holds no buffer. On TCP the first 4 KiB that come are
//!   read onto the stack, and a buffer of the read's count (at most 256 KiB) is made only
//!   when more is there; on UDP the 64 KiB datagram buffer is made once one has come.
//! - The root directory lists `tcp`, `udp`, `ipifc`, `cs` and `dns` (the last two 0666,
//!   owner `network`). In
//!   Plan 9 cs and dns are separate servers mounted on `/net`; here they share the tree.
//!
//! # Not here yet
//!
//! - `listen` on UDP (per-peer conversations of an announced port without `headers`): the
//!   open fails with `listen not supported`. Also `oldheaders`/`headers4` (Inferno only).
//! - `arp`, `ndb`, `iproute`, `ipselftab`, `log`, `icmp`; configuring interfaces through
//!   `ipifc` (`clone`, `ctl`).
//! - Host names in ctl messages: only literal addresses are accepted (`bad ip address
//!   syntax` otherwise); translating names is `cs`'s job.
//! - dns RR types beyond A, AAAA and PTR (needs a resolver library), and reverse lookups
//!   through DNS rather than `/etc/hosts`.
//! - wstat of `ctl`/`data` (owner and permission changes).

mod addr;
mod conv;
mod cs;
mod ctl;
pub mod dial;
mod dns;
mod gate;
mod ipifc;
mod node;
pub mod policy;
mod tcp;
mod tree;
mod udp;

use std::sync::Arc;

use async_trait::async_trait;
use ninefold_fs::{NodeRef, Result, Tree};

pub use policy::{Policy, PolicyError};

/// The IP device: `/tcp` and `/udp` on the host's sockets, `/ipifc` on its interfaces,
/// with `/cs` and `/dns`.
#[derive(Debug, Clone)]
pub struct NetTree {
    net: Arc<tree::Net>,
    /// `None`: no checks (connects and announces are still logged).
    gate: Option<gate::Gate>,
}

impl NetTree {
    /// The number of conversations a protocol may have unless told otherwise: 65,536.
    pub const DEFAULT_MAX_CONVERSATIONS: usize = conv::DEFAULT_MAX_CONVS;

    /// A tree allowing [`NetTree::DEFAULT_MAX_CONVERSATIONS`] conversations per protocol.
    pub fn new() -> NetTree {
        NetTree::with_max_conversations(Self::DEFAULT_MAX_CONVERSATIONS)
    }

    /// A tree allowing at most `max` conversations per protocol (at most 2³², at least 1):
    /// with `max` in use, opening `clone` fails with `no free devices`. This bounds the
    /// memory clients can make the tree hold; the sockets behind the conversations are
    /// bounded by the process's `RLIMIT_NOFILE` (see the crate docs).
    pub fn with_max_conversations(max: usize) -> NetTree {
        NetTree {
            net: Arc::new(tree::Net::new(max.max(1))),
            gate: None,
        }
    }

    /// The same tree, judging every `connect`, `announce` and `headers`-mode datagram of
    /// every attach by `policy` as `principal` (see [`policy`]); refusals fail the write
    /// with `permission denied: …`. The principal, not the attach name, owns the
    /// conversations it opens. Clones of a tree share its conversations: a clone per
    /// authenticated connection, each with its principal, shows every client one `/net`
    /// in which no principal can use another's connections.
    pub fn with_policy(self, policy: Arc<Policy>, principal: impl Into<String>) -> NetTree {
        NetTree {
            gate: Some(gate::Gate {
                policy,
                principal: principal.into().into(),
            }),
            ..self
        }
    }
}

impl Default for NetTree {
    fn default() -> Self {
        NetTree::new()
    }
}

#[async_trait]
impl Tree for NetTree {
    /// Every attach sees the same device; `aname` is ignored. The conversations the new
    /// fid's descendants open are owned by the policy's principal, or by `uname` when the
    /// tree has no policy (and it is then the principal logged).
    async fn attach(&self, uname: &str, _aname: &str) -> Result<NodeRef> {
        let caller = gate::Caller::new(self.gate.as_ref(), uname);
        // Owned by whom the policy judged: a principal cannot take over a connection
        // another one was allowed to make by attaching with the same name.
        let owner = caller.principal().clone();
        Ok(Arc::new(node::NetNode::new(
            self.net.clone(),
            owner,
            Arc::new(caller),
            tree::Target::Root,
        )))
    }
}
