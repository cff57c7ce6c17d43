//! The host network stack as a Plan 9 `/net` tree (`#I`).
//!
//! [`NetTree`] serves the IP device's files on host sockets, so anything that speaks
//! Plan 9's network interface (dial(2), aux/listen, netstat, or a shell script with `echo`
//! and `cat`) can use the host's TCP through 9P:
//!
//! ```text
//! /tcp/clone                 open: allocates a conversation; the fid becomes its ctl
//! /tcp/stats                 Name: value counters
//! /tcp/N/ctl                 read: N; write: connect, announce, hangup, close, keepalive …
//! /tcp/N/data                the byte stream
//! /tcp/N/listen              open on an announced N: waits for a call; becomes the new ctl
//! /tcp/N/{local,remote}      addr!port\n
//! /tcp/N/status              Established qin 0\n …
//! /tcp/N/err                 reads wait until N is hung up, then EOF
//! ```
//!
//! The behaviour follows the specification in `plan9-net.md` (§1–6). Modules: `addr`
//! (Plan 9 addresses), `ctl` (parsing control messages), `tree` (layout, qids, stat),
//! `conv` (conversations: lifetime and states), `tcp` (host sockets), `node` (the
//! fid).
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
//! - At most 4096 conversations per protocol (12 bits of qid), then `no free devices`.
//! - The root directory lists only `tcp`.
//!
//! # Not here yet
//!
//! - `udp` (with `headers`), `cs` and `dns`, `ipifc`, `arp`, `ndb`, `iproute`, `log`.
//! - Host names: only literal addresses are accepted (`bad ip address syntax` otherwise);
//!   translating names is `cs`'s job.
//! - wstat of `ctl`/`data` (owner and permission changes).
//! - An export policy (which principals may connect or announce where): see `security.md`
//!   §1.10 — serve this tree only to trusted clients until it exists.

mod addr;
mod conv;
mod ctl;
mod node;
mod tcp;
mod tree;

use std::sync::Arc;

use async_trait::async_trait;
use ninefold_fs::{NodeRef, Result, Tree};

/// The IP device: `/tcp` on the host's sockets.
#[derive(Debug, Clone)]
pub struct NetTree {
    net: Arc<tree::Net>,
}

impl NetTree {
    pub fn new() -> NetTree {
        NetTree {
            net: Arc::new(tree::Net::new()),
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
    /// Every attach sees the same device; `aname` is ignored. `uname` owns the
    /// conversations the new fid's descendants open.
    async fn attach(&self, uname: &str, _aname: &str) -> Result<NodeRef> {
        Ok(Arc::new(node::NetNode::new(
            self.net.clone(),
            uname.into(),
            tree::Target::Root,
        )))
    }
}
