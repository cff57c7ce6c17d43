//! UDP on host sockets: one datagram per read or write of `data`, with Plan 9's 52-byte
//! header in `headers` mode.
//!
//! A conversation gets its socket from `connect` (bound, then connected to the peer: no
//! handshake, so the write returns at once) or `announce` (bound only). In `headers` mode
//! every datagram read starts with `raddr[16] laddr[16] ifcaddr[16] rport[2] lport[2]`
//! (v4 addresses v4-mapped, ports big-endian), and every write is sent to the header's
//! raddr!rport.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use ninefold_fs::{Error, Result};
use rustix::io::Errno;
use socket2::{Domain, SockRef, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::tcp::{self, Opts, host_error};

/// The size of a `headers` header (Plan 9 `Udphdrsize` with `UDP_USEAD7`).
pub(crate) const HEADER: usize = 52;
/// Room for the largest datagram.
const MAX_DGRAM: usize = 65536;

/// Counters for `/net/udp/stats`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub in_datagrams: AtomicU64,
    pub in_errors: AtomicU64,
    pub out_datagrams: AtomicU64,
}

impl Stats {
    /// Plan 9's four lines; `NoPorts` is the host's business and reads 0.
    pub(crate) fn text(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "InDatagrams: {}\nNoPorts: 0\nInErrors: {}\nOutDatagrams: {}\n",
            get(&self.in_datagrams),
            get(&self.in_errors),
            get(&self.out_datagrams),
        )
    }
}

/// A conversation's UDP socket.
#[derive(Debug)]
pub(crate) struct Dgram {
    sock: UdpSocket,
    pub local: SocketAddr,
    /// The peer fixed by `connect`; `None` on an announced port.
    pub remote: Option<SocketAddr>,
    headers: AtomicBool,
    /// Set once, with the reason, when the conversation is hung up.
    hung: watch::Sender<Option<Error>>,
    stats: Arc<Stats>,
}

/// A socket bound to `addr`; `dual_stack` for `[::]` that also takes IPv4.
fn bound(addr: SocketAddr, dual_stack: bool) -> io::Result<UdpSocket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, None)?;
    if dual_stack {
        sock.set_only_v6(false)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    UdpSocket::from_std(sock.into())
}

impl Dgram {
    fn new(
        sock: UdpSocket,
        remote: Option<SocketAddr>,
        opts: Opts,
        headers: bool,
        stats: Arc<Stats>,
    ) -> Result<Arc<Dgram>> {
        let local = sock.local_addr().map_err(host_error)?;
        opts.apply(SockRef::from(&sock), local)?;
        Ok(Arc::new(Dgram {
            sock,
            local,
            remote,
            headers: AtomicBool::new(headers),
            hung: watch::Sender::new(None),
            stats,
        }))
    }

    /// `connect`: a socket bound to `from` (or any address of `remote`'s family) whose
    /// datagrams go to and come from `remote` only.
    pub(crate) async fn connect(
        remote: SocketAddr,
        from: Option<SocketAddr>,
        opts: Opts,
        headers: bool,
        stats: Arc<Stats>,
    ) -> Result<Arc<Dgram>> {
        let any: IpAddr = if remote.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        let from = from.unwrap_or(SocketAddr::new(any, 0));
        let sock = bound(from, false).map_err(host_error)?;
        sock.connect(remote).await.map_err(host_error)?;
        Dgram::new(sock, Some(remote), opts, headers, stats)
    }

    /// `announce`: a socket bound to `ip` (every address if `None`) and `port`.
    pub(crate) fn announce(
        ip: Option<IpAddr>,
        port: u16,
        opts: Opts,
        headers: bool,
        stats: Arc<Stats>,
    ) -> Result<Arc<Dgram>> {
        let sock = match ip {
            Some(ip) => bound(SocketAddr::new(ip, port), false),
            None => bound(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port), true).or_else(|e| {
                match Errno::from_io_error(&e) {
                    Some(Errno::AFNOSUPPORT | Errno::ADDRNOTAVAIL) => {
                        bound(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port), false)
                    }
                    _ => Err(e),
                }
            }),
        }
        .map_err(host_error)?;
        Dgram::new(sock, None, opts, headers, stats)
    }

    pub(crate) fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.sock)
    }

    pub(crate) fn set_headers(&self) {
        self.headers.store(true, Ordering::Relaxed);
    }

    /// Blocked and later reads and writes fail with `reason`.
    pub(crate) fn hang(&self, reason: Error) {
        self.hung.send_if_modified(|r| {
            if r.is_some() {
                return false;
            }
            *r = Some(reason);
            true
        });
    }

    fn hung_reason(&self) -> Option<Error> {
        self.hung.borrow().clone()
    }

    /// The size of the next datagram waiting, for the stat of `data`.
    pub(crate) fn queued(&self) -> u64 {
        rustix::io::ioctl_fionread(&self.sock).unwrap_or(0)
    }

    /// The next datagram (with its header in `headers` mode), cut to `count` bytes: the
    /// rest is lost, as Plan 9 does.
    pub(crate) async fn read(&self, count: u32) -> Result<Bytes> {
        let mut hung = self.hung.subscribe();
        let (buf, from) = loop {
            if let Some(e) = self.hung_reason() {
                return Err(e);
            }
            tokio::select! {
                r = self.sock.readable() => r.map_err(host_error)?,
                r = hung.wait_for(Option::is_some) => {
                    return Err(r.ok().and_then(|r| r.clone()).unwrap_or(Error::HUNGUP));
                }
            }
            // Only now: a read waiting for a datagram holds no buffer.
            let mut buf = vec![0u8; MAX_DGRAM];
            match self.sock.try_recv_from(&mut buf) {
                Ok((n, from)) => {
                    buf.truncate(n);
                    break (buf, from);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    self.stats.in_errors.fetch_add(1, Ordering::Relaxed);
                    return Err(host_error(e));
                }
            }
        };
        self.stats.in_datagrams.fetch_add(1, Ordering::Relaxed);
        let mut out = if self.headers.load(Ordering::Relaxed) {
            let mut h = header(from, self.local);
            h.extend_from_slice(&buf);
            h
        } else {
            buf
        };
        out.truncate(count as usize);
        Ok(Bytes::from(out))
    }

    /// Sends one datagram: to the connected peer, or in `headers` mode to the header's
    /// raddr!rport if `allow` lets it go there. A write shorter than a header is dropped,
    /// as Plan 9 drops it.
    pub(crate) async fn write(
        &self,
        data: &[u8],
        allow: impl FnOnce(SocketAddr) -> Result<()>,
    ) -> Result<u32> {
        if let Some(e) = self.hung_reason() {
            return Err(e);
        }
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        if self.headers.load(Ordering::Relaxed) {
            let (Some(h), Some(body)) = (data.get(..HEADER), data.get(HEADER..)) else {
                return Ok(len);
            };
            let to = self.destination(h)?;
            allow(to)?;
            self.sock.send_to(body, to).await.map_err(host_error)?;
        } else if self.remote.is_some() {
            self.sock.send(data).await.map_err(host_error)?;
        } else {
            return Err(tcp::NOT_CONNECTED);
        }
        self.stats.out_datagrams.fetch_add(1, Ordering::Relaxed);
        Ok(len)
    }

    /// Where a header sends its datagram, in the address family of our socket.
    fn destination(&self, h: &[u8]) -> Result<SocketAddr> {
        let raddr: [u8; 16] = h
            .get(..16)
            .and_then(|b| b.try_into().ok())
            .ok_or(Error::BAD_ARG)?;
        let rport: [u8; 2] = h
            .get(48..50)
            .and_then(|b| b.try_into().ok())
            .ok_or(Error::BAD_ARG)?;
        let ip = Ipv6Addr::from(raddr);
        let ip: IpAddr = if self.local.is_ipv4() {
            match ip.to_ipv4_mapped() {
                Some(v4) => v4.into(),
                None => return Err(Error::from_static("address family not supported")),
            }
        } else {
            ip.into()
        };
        Ok(SocketAddr::new(ip, u16::from_be_bytes(rport)))
    }
}

/// An address as the header has it: 16 bytes, v4 addresses v4-mapped, an unspecified
/// address as `::` (Plan 9's IPnoaddr).
fn v6_bytes(ip: IpAddr) -> [u8; 16] {
    if ip.is_unspecified() {
        return [0; 16];
    }
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The header of a datagram from `from` to our socket bound at `local`. Without
/// IP_PKTINFO the host does not say which of its addresses the datagram was sent to:
/// laddr and ifcaddr are the bound address (`::` for every address).
fn header(from: SocketAddr, local: SocketAddr) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER + 1500);
    h.extend_from_slice(&v6_bytes(from.ip()));
    h.extend_from_slice(&v6_bytes(local.ip()));
    h.extend_from_slice(&v6_bytes(local.ip()));
    h.extend_from_slice(&from.port().to_be_bytes());
    h.extend_from_slice(&local.port().to_be_bytes());
    h
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn headers_are_52_bytes() {
        let h = header("10.0.0.1:53".parse().unwrap(), "[::]:5353".parse().unwrap());
        assert_eq!(h.len(), HEADER);
        assert_eq!(
            &h[..16],
            &Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().octets()
        );
        assert_eq!(&h[16..48], &[0; 32]);
        assert_eq!(&h[48..], &[0, 53, 0x14, 0xe9]);
    }
}
