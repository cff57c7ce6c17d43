//! Where a fid's connects, announces and addressed datagrams meet the tree's policy, and
//! the log line each leaves: who (the tree's principal, or the attach name when the tree
//! has no policy), which protocol, which address. Connects and announces are logged at
//! info, refusals at warn; a datagram that passes is logged only at trace, as there is one
//! per write.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ninefold_fs::Result;

use crate::policy::{self, Op, Policy, Proto};
use crate::tree::ProtoId;

/// A tree's policy and the principal it judges. Shared by clones of the tree.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    pub policy: Arc<Policy>,
    pub principal: Arc<str>,
}

/// Who is asking, as one attach sees it.
#[derive(Debug)]
pub(crate) struct Caller {
    /// The name the log and the policy use.
    principal: Arc<str>,
    /// `None`: every request passes (a tree made without a policy).
    policy: Option<Arc<Policy>>,
}

impl From<ProtoId> for Proto {
    fn from(p: ProtoId) -> Proto {
        match p {
            ProtoId::Tcp => Proto::Tcp,
            ProtoId::Udp => Proto::Udp,
        }
    }
}

impl Caller {
    /// The caller of an attach by `uname` to a tree with `gate`.
    pub(crate) fn new(gate: Option<&Gate>, uname: &str) -> Caller {
        match gate {
            Some(g) => Caller {
                principal: g.principal.clone(),
                policy: Some(g.policy.clone()),
            },
            None => Caller {
                principal: uname.into(),
                policy: None,
            },
        }
    }

    /// Who the policy judges and the log names: the tree's principal, or the attach name.
    pub(crate) fn principal(&self) -> &Arc<str> {
        &self.principal
    }

    fn check(&self, op: Op, proto: Proto, addr: IpAddr, port: u16) -> Result<()> {
        let Some(policy) = &self.policy else {
            return Ok(());
        };
        policy
            .check(&self.principal, op, proto, addr, port)
            .inspect_err(|e| tracing::warn!(principal = %self.principal, "refused: {e}"))
    }

    /// A `connect` to `remote`: checked and logged before any socket is made.
    pub(crate) fn connect(&self, proto: ProtoId, remote: SocketAddr) -> Result<()> {
        let proto = proto.into();
        self.check(Op::Connect, proto, remote.ip(), remote.port())?;
        let to = policy::dial_string(Op::Connect, proto, remote.ip(), remote.port());
        tracing::info!(principal = %self.principal, "connect {to}");
        Ok(())
    }

    /// An `announce` on `ip` (every address if `None`) and `port`.
    pub(crate) fn announce(&self, proto: ProtoId, ip: Option<IpAddr>, port: u16) -> Result<()> {
        let proto = proto.into();
        let ip = ip.unwrap_or(Ipv6Addr::UNSPECIFIED.into());
        self.check(Op::Announce, proto, ip, port)?;
        let at = policy::dial_string(Op::Announce, proto, ip, port);
        tracing::info!(principal = %self.principal, "announce {at}");
        Ok(())
    }

    /// One datagram of a UDP conversation in `headers` mode, addressed to `to`: a
    /// `connect` as far as the policy is concerned.
    pub(crate) fn send_to(&self, to: SocketAddr) -> Result<()> {
        self.check(Op::Connect, Proto::Udp, to.ip(), to.port())?;
        tracing::trace!(principal = %self.principal, %to, "datagram");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
