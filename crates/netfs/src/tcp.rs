//! TCP on host sockets: dialling, announcing, accepting, and the byte stream behind `data`.
//!
//! A connection is one tokio `TcpStream` used through `&self` readiness (`readable` +
//! `try_read`, `writable` + `try_write`), so a read and a write never wait for each other and
//! socket options stay reachable while either blocks. A hang-up is a value in a `watch`
//! channel that wakes every blocked operation; the socket itself closes when the last
//! operation lets go of it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use ninefold_fs::{Error, Result};
use rustix::io::Errno;
use socket2::{Domain, SockRef, Socket, TcpKeepalive, Type};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub(crate) const REFUSED: Error = Error::from_static("connection refused");
pub(crate) const TIMED_OUT: Error = Error::from_static("connection timed out");
pub(crate) const ADDR_IN_USE: Error = Error::from_static("address in use");
pub(crate) const NOT_LOCAL: Error = Error::from_static("not a local IP address");
pub(crate) const LISTEN_HUNGUP: Error = Error::from_static("listen hungup");
/// The reason a local `hangup` leaves on the queues (Plan 9 `Ehungup`).
pub(crate) const HANGUP: Error = Error::from_static("Hangup");
pub(crate) const NOT_CONNECTED: Error = Error::from_static("not connected");
/// Sic: Plan 9's spelling, which clients may match.
pub(crate) const NOT_ESTABLISHED: Error =
    Error::from_static("connection must be in Establised state");

/// How long a `connect` may take before it fails with "connection timed out".
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Calls the host may queue on an announcement before anyone listens.
const BACKLOG: i32 = 128;
/// The most one read of `data` takes from the socket, whatever the count.
const MAX_READ: usize = 256 * 1024;
/// What a read of `data` takes onto the stack first (see [`Stream::read`]).
const PROBE: usize = 4096;
/// Zero-length reads after the peer's FIN before reads fail (Plan 9 qio).
const EOF_READS: u32 = 3;

/// Host errors as Plan 9 says them, where clients look at the words (dial(2) checks for
/// "refused").
pub(crate) fn host_error(e: io::Error) -> Error {
    let Some(errno) = Errno::from_io_error(&e) else {
        return match e.kind() {
            io::ErrorKind::TimedOut => TIMED_OUT,
            _ => Error::from(e),
        };
    };
    match errno {
        Errno::CONNREFUSED => REFUSED,
        Errno::TIMEDOUT => TIMED_OUT,
        Errno::ADDRINUSE => ADDR_IN_USE,
        Errno::ADDRNOTAVAIL => NOT_LOCAL,
        // The wording of Plan 9's ICMP unreachable codes (icmp.c).
        Errno::HOSTUNREACH => Error::from_static("host unreachable"),
        Errno::NETUNREACH => Error::from_static("net unreachable"),
        Errno::CONNRESET | Errno::PIPE | Errno::CONNABORTED => Error::HUNGUP,
        Errno::NOTCONN => NOT_CONNECTED,
        Errno::AFNOSUPPORT => Error::from_static("address family not supported"),
        Errno::MFILE => out_of_fds(),
        Errno::NFILE => Error::from_static("too many open files in system"),
        _ => Error::from(e),
    }
}

/// A socket could not be made because the process has as many descriptors open as
/// `RLIMIT_NOFILE` allows: the real bound on connected conversations. Says so, with the
/// limit, so whoever runs the server knows what to raise.
pub(crate) fn out_of_fds() -> Error {
    let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    tracing::debug!(limit = ?lim.current, "out of file descriptors (RLIMIT_NOFILE)");
    match lim.current {
        Some(n) => Error::new(format!("too many open files (RLIMIT_NOFILE {n})")),
        None => Error::from_static("too many open files"),
    }
}

/// Socket options a conversation remembers and applies to every socket it gets.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Opts {
    pub ttl: Option<u32>,
    pub tos: Option<u32>,
}

impl Opts {
    /// Applies the options to a socket whose local address is `local`.
    pub(crate) fn apply(&self, sock: SockRef<'_>, local: SocketAddr) -> Result<()> {
        let v4 = local.is_ipv4();
        if let Some(ttl) = self.ttl {
            if v4 {
                sock.set_ttl_v4(ttl)
            } else {
                sock.set_unicast_hops_v6(ttl)
            }
            .map_err(host_error)?;
        }
        if let Some(tos) = self.tos {
            if v4 {
                sock.set_tos_v4(tos)
            } else {
                sock.set_tclass_v6(tos)
            }
            .map_err(host_error)?;
        }
        Ok(())
    }
}

/// Dials `remote`, from `local` if given; fails with the Plan 9 reason.
///
/// The socket is connected without blocking and then asked at once whether the handshake
/// is over: on loopback the kernel has usually finished it (or refused it) inside
/// connect(2), so the dial completes without waiting for the reactor — through a served
/// `/net` the connect is then answered inline instead of by a task of its own.
pub(crate) async fn connect(remote: SocketAddr, local: Option<SocketAddr>) -> Result<TcpStream> {
    let sock = Socket::new(Domain::for_address(remote), Type::STREAM, None).map_err(host_error)?;
    sock.set_nonblocking(true).map_err(host_error)?;
    if let Some(local) = local {
        sock.set_reuse_address(true).map_err(host_error)?;
        sock.bind(&local.into()).map_err(host_error)?;
    }
    match sock.connect(&remote.into()) {
        Ok(()) => {}
        Err(e) if Errno::from_io_error(&e) == Some(Errno::INPROGRESS) => {}
        Err(e) => return Err(host_error(e)),
    }
    let stream = TcpStream::from_std(sock.into()).map_err(host_error)?;
    if connected(&stream)? {
        return Ok(stream);
    }
    let handshake = async {
        loop {
            stream.writable().await.map_err(host_error)?;
            // Through try_io, so that a readiness that was not the end of the handshake
            // is forgotten rather than waking this loop again at once.
            let ended = stream.try_io(Interest::WRITABLE, || match stream.take_error()? {
                Some(e) => Ok(Some(e)),
                None if stream.peer_addr().is_ok() => Ok(None),
                None => Err(io::ErrorKind::WouldBlock.into()),
            });
            match ended {
                Ok(None) => return Ok(()),
                Ok(Some(e)) => return Err(host_error(e)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(host_error(e)),
            }
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
        Ok(r) => r.map(|()| stream),
        Err(_) => Err(TIMED_OUT),
    }
}

/// Whether a connect(2) in progress has ended: its error if it failed, `true` once the
/// socket has a peer.
fn connected(s: &TcpStream) -> Result<bool> {
    if let Some(e) = s.take_error().map_err(host_error)? {
        return Err(host_error(e));
    }
    Ok(s.peer_addr().is_ok())
}

/// Binds and listens on `ip` (every address if `None`) and `port` (0: any free one).
pub(crate) fn announce(ip: Option<IpAddr>, port: u16) -> Result<TcpListener> {
    let sock = match ip {
        Some(ip) => bound(SocketAddr::new(ip, port), false),
        // Every address: one dual-stack socket, or v4 alone where the host lacks v6.
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
    sock.listen(BACKLOG).map_err(host_error)?;
    TcpListener::from_std(sock.into()).map_err(host_error)
}

fn bound(addr: SocketAddr, dual_stack: bool) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if dual_stack {
        sock.set_only_v6(false)?;
    }
    sock.set_reuse_address(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    Ok(sock)
}

/// Counters for the `stats` file. Only what this server can see: bytes, not segments.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub active_opens: AtomicU64,
    pub passive_opens: AtomicU64,
    pub attempt_fails: AtomicU64,
    pub estab_resets: AtomicU64,
    pub curr_estab: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_bytes: AtomicU64,
}

impl Stats {
    pub(crate) fn text(&self, max_conn: usize) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "MaxConn: {max_conn}\nActiveOpens: {}\nPassiveOpens: {}\nAttemptFails: {}\n\
             EstabResets: {}\nCurrEstab: {}\nInBytes: {}\nOutBytes: {}\n",
            get(&self.active_opens),
            get(&self.passive_opens),
            get(&self.attempt_fails),
            get(&self.estab_resets),
            get(&self.curr_estab),
            get(&self.in_bytes),
            get(&self.out_bytes),
        )
    }
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Which ends have sent their FIN, for the state word in `status`.
#[derive(Debug, Clone, Copy, Default)]
struct Fin {
    peer: bool,
    local: bool,
    /// The peer's FIN came first.
    peer_first: bool,
}

/// An established connection.
#[derive(Debug)]
pub(crate) struct Stream {
    sock: TcpStream,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Serialises readers, and counts the zero-length reads after the peer's FIN.
    reader: tokio::sync::Mutex<u32>,
    /// Serialises writers, so that one write's bytes are not interleaved with another's.
    writer: tokio::sync::Mutex<()>,
    /// Set once, with the reason, when the connection is hung up.
    hung: watch::Sender<Option<Error>>,
    fin: Mutex<Fin>,
    stats: Arc<Stats>,
    /// Read buffers allocated so far, for the tests.
    #[cfg(test)]
    buffers: std::sync::atomic::AtomicUsize,
}

impl Stream {
    pub(crate) fn new(sock: TcpStream, opts: Opts, stats: Arc<Stats>) -> Result<Arc<Stream>> {
        let local = sock.local_addr().map_err(host_error)?;
        let remote = sock.peer_addr().map_err(host_error)?;
        // Small writes go out at once, as from Plan 9's stack (Inferno does the same).
        let _ = sock.set_nodelay(true);
        opts.apply(SockRef::from(&sock), local)?;
        bump(&stats.curr_estab, 1);
        Ok(Arc::new(Stream {
            sock,
            local,
            remote,
            reader: tokio::sync::Mutex::new(0),
            writer: tokio::sync::Mutex::new(()),
            hung: watch::Sender::new(None),
            fin: Mutex::new(Fin::default()),
            stats,
            #[cfg(test)]
            buffers: Default::default(),
        }))
    }

    fn fin(&self) -> MutexGuard<'_, Fin> {
        self.fin.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.sock)
    }

    /// Hangs the connection up: blocked and later reads and writes fail with `reason`. An
    /// `abort` resets the connection (RST) when the socket closes, as Plan 9's `hangup`.
    pub(crate) fn hang(&self, reason: Error, abort: bool) {
        if abort {
            // Linger 0 makes close() send RST; it never blocks, so tokio's warning about
            // SO_LINGER does not apply.
            let _ = self.sock().set_linger(Some(Duration::ZERO));
        }
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

    /// Waits for a hang-up and returns its reason.
    async fn until_hung(rx: &mut watch::Receiver<Option<Error>>) -> Error {
        match rx.wait_for(Option::is_some).await {
            Ok(r) => r.clone().unwrap_or(Error::HUNGUP),
            Err(_) => Error::HUNGUP,
        }
    }

    /// What is there, up to `count` bytes; waits while nothing is. Zero bytes at the peer's
    /// end of stream, three times; after that "i/o on hungup channel".
    ///
    /// Nothing is allocated until bytes have come: a read waiting on an idle connection
    /// (one per conversation, in a proxy) holds no buffer. Once the socket is readable, the
    /// first [`PROBE`] bytes are read onto the stack, so a readiness that proved stale costs
    /// no allocation and a short message gets a buffer of its own size; only when the probe
    /// comes back full is a buffer of the whole count (up to 256 KiB) made for the rest.
    pub(crate) async fn read(&self, count: u32) -> Result<Bytes> {
        let mut hung = self.hung.subscribe();
        let mut eofs = tokio::select! {
            g = self.reader.lock() => g,
            e = Self::until_hung(&mut hung) => return Err(e),
        };
        let cap = (count as usize).min(MAX_READ);
        loop {
            if let Some(e) = self.hung_reason() {
                return Err(e);
            }
            if cap == 0 {
                return Ok(Bytes::new());
            }
            // Returns at once while the socket is marked readable.
            tokio::select! {
                r = self.sock.readable() => r.map_err(host_error)?,
                e = Self::until_hung(&mut hung) => return Err(e),
            }
            let mut probe = [0u8; PROBE];
            let want = cap.min(PROBE);
            let n = match self.sock.try_read(&mut probe[..want]) {
                Ok(0) => {
                    self.peer_finished();
                    *eofs += 1;
                    if *eofs > EOF_READS {
                        return Err(Error::HUNGUP);
                    }
                    return Ok(Bytes::new());
                }
                Ok(n) => n,
                // The readiness was stale (tokio forgets it now): wait again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(self.failed(e)),
            };
            bump(&self.stats.in_bytes, n as u64);
            #[cfg(test)]
            self.buffers.fetch_add(1, Ordering::Relaxed);
            if n < want || want == cap {
                return Ok(Bytes::copy_from_slice(&probe[..n]));
            }
            // More may be waiting: take it into a buffer of the whole count.
            let mut buf = BytesMut::with_capacity(cap);
            buf.extend_from_slice(&probe[..n]);
            match self.sock.try_read_buf(&mut (&mut buf).limit(cap - n)) {
                Ok(m) => bump(&self.stats.in_bytes, m as u64),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // What came is returned; a reset hangs the stream up for the next read.
                Err(e) => {
                    let e = self.failed(e);
                    tracing::debug!(error = %e, "read after a full probe");
                }
            }
            return Ok(buf.freeze());
        }
    }

    /// Writes all of `data`, waiting while the socket's buffer is full.
    pub(crate) async fn write(&self, data: &[u8]) -> Result<u32> {
        let mut hung = self.hung.subscribe();
        let _turn = tokio::select! {
            g = self.writer.lock() => g,
            e = Self::until_hung(&mut hung) => return Err(e),
        };
        let mut done = 0;
        while done < data.len() {
            if let Some(e) = self.hung_reason() {
                return Err(e);
            }
            match self.sock.try_write(&data[done..]) {
                Ok(n) => {
                    done += n;
                    bump(&self.stats.out_bytes, n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tokio::select! {
                        r = self.sock.writable() => r.map_err(host_error)?,
                        e = Self::until_hung(&mut hung) => return Err(e),
                    }
                }
                // After our own `close` the write side is shut: an error, not a hang-up.
                Err(e) if Errno::from_io_error(&e) == Some(Errno::PIPE) => {
                    return Err(Error::HUNGUP);
                }
                Err(e) => return Err(self.failed(e)),
            }
        }
        Ok(u32::try_from(data.len()).unwrap_or(u32::MAX))
    }

    /// A read or write failed: a reset hangs the connection up for everyone.
    fn failed(&self, e: io::Error) -> Error {
        let err = host_error(e);
        if err == Error::HUNGUP {
            bump(&self.stats.estab_resets, 1);
            self.hang(Error::HUNGUP, false);
        }
        err
    }

    fn peer_finished(&self) {
        let mut f = self.fin();
        if !f.peer {
            f.peer = true;
            f.peer_first = !f.local;
        }
    }

    /// `close`: our FIN; the peer may go on sending.
    pub(crate) fn close_write(&self) -> Result<()> {
        self.sock()
            .shutdown(std::net::Shutdown::Write)
            .map_err(host_error)?;
        self.fin().local = true;
        Ok(())
    }

    pub(crate) fn keepalive(&self, ms: Option<u32>) -> Result<()> {
        let sock = self.sock();
        match ms {
            // Plan 9's timer has 50 ms ticks; the host counts keepalive time in seconds.
            Some(ms) if ms > 0 => {
                let secs = u64::from(ms).div_ceil(1000);
                sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(Duration::from_secs(secs)))
            }
            _ => sock.set_keepalive(true),
        }
        .map_err(host_error)
    }

    /// Bytes received and not yet read.
    pub(crate) fn queued(&self) -> u64 {
        rustix::io::ioctl_fionread(&self.sock).unwrap_or(0)
    }

    /// The first word of `status`: the Plan 9 TCP state, as far as the host socket tells.
    pub(crate) fn state(&self) -> &'static str {
        if self.hung.borrow().is_some() {
            return "Closed";
        }
        let f = *self.fin();
        match (f.peer, f.local) {
            (false, false) => "Established",
            (true, false) => "Close_wait",
            // Finwait1 or Finwait2: the host does not say which.
            (false, true) => "Finwait1",
            (true, true) if f.peer_first => "Last_ack",
            (true, true) => "Time_wait",
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stats.curr_estab.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An announced port.
#[derive(Debug)]
pub(crate) struct Listener {
    sock: TcpListener,
    pub local: SocketAddr,
    hung: watch::Sender<bool>,
}

impl Listener {
    pub(crate) fn new(sock: TcpListener) -> Result<Arc<Listener>> {
        let local = sock.local_addr().map_err(host_error)?;
        Ok(Arc::new(Listener {
            sock,
            local,
            hung: watch::Sender::new(false),
        }))
    }

    pub(crate) fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.sock)
    }

    /// Wakes every listener with "listen hungup".
    pub(crate) fn hang(&self) {
        self.hung.send_replace(true);
    }

    /// The next call. Cancelling this future loses no call: a connection is taken from the
    /// host's queue only in the poll that returns it.
    pub(crate) async fn accept(&self) -> Result<TcpStream> {
        let mut hung = self.hung.subscribe();
        loop {
            tokio::select! {
                r = self.sock.accept() => match r {
                    Ok((s, _)) => return Ok(s),
                    // The caller gave up before we took the call: wait for the next.
                    Err(e) if Errno::from_io_error(&e) == Some(Errno::CONNABORTED) => continue,
                    Err(e) => return Err(host_error(e)),
                },
                _ = hung.wait_for(|h| *h) => return Err(LISTEN_HUNGUP),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use tokio::io::AsyncWriteExt;

    use super::*;

    /// A connected pair: our `Stream` and the peer's socket.
    async fn pair() -> (Arc<Stream>, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (ours, theirs) = tokio::join!(TcpStream::connect(l.local_addr().unwrap()), l.accept());
        let s = Stream::new(ours.unwrap(), Opts::default(), Arc::default()).unwrap();
        (s, theirs.unwrap().0)
    }

    #[tokio::test]
    async fn a_waiting_read_holds_no_buffer() {
        let (s, mut peer) = pair().await;
        let reader = tokio::spawn({
            let s = s.clone();
            async move { s.read(1 << 20).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!reader.is_finished());
        assert_eq!(s.buffers.load(Ordering::Relaxed), 0);

        peer.write_all(b"hello").await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(&got[..], b"hello");
        assert_eq!(s.buffers.load(Ordering::Relaxed), 1);

        // The socket still looks readable to tokio: the next read finds nothing on the
        // stack and waits, still without a buffer; a hang-up ends it.
        let reader = tokio::spawn({
            let s = s.clone();
            async move { s.read(1 << 20).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.hang(HANGUP, false);
        let e = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(e, HANGUP);
        assert_eq!(s.buffers.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_read_keeps_its_probe_off_the_heap_and_out_of_the_future() {
        let (s, _peer) = pair().await;
        // The probe is not held across an await, so a waiting read's task stays small.
        let size = std::mem::size_of_val(&s.read(1 << 20));
        assert!(size < 1024, "the read future is {size} bytes");
    }

    #[tokio::test]
    async fn large_and_small_reads() {
        let (s, mut peer) = pair().await;
        // More than the probe: one read returns all that is there (up to the count).
        let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        peer.write_all(&big).await.unwrap();
        let mut got = Vec::new();
        while got.len() < big.len() {
            let b = s.read(1 << 20).await.unwrap();
            assert!(!b.is_empty());
            got.extend_from_slice(&b);
        }
        assert_eq!(got, big);
        // Exactly the probe's size, then less.
        peer.write_all(&[1u8; PROBE]).await.unwrap();
        let mut got = 0;
        while got < PROBE {
            got += s.read(PROBE as u32).await.unwrap().len();
        }
        assert_eq!(got, PROBE);
        peer.write_all(b"x").await.unwrap();
        assert_eq!(&s.read(1 << 20).await.unwrap()[..], b"x");
    }

    #[tokio::test]
    async fn reads_take_what_is_there_up_to_the_count() {
        let (s, mut peer) = pair().await;
        peer.write_all(&[7u8; 1000]).await.unwrap();
        peer.shutdown().await.unwrap();
        let mut got = 0;
        while got < 1000 {
            let b = s.read(300).await.unwrap();
            assert!(!b.is_empty() && b.len() <= 300, "{}", b.len());
            got += b.len();
        }
        assert_eq!(got, 1000);
        // EOF three times, then hung up.
        for _ in 0..EOF_READS {
            assert_eq!(s.read(300).await.unwrap().len(), 0);
        }
        assert_eq!(s.read(300).await, Err(Error::HUNGUP));
        assert_eq!(s.read(0).await, Ok(Bytes::new()));
    }

    #[tokio::test]
    async fn a_loopback_connect_needs_no_second_poll() {
        use std::pin::pin;
        use std::task::{Context, Poll, Waker};
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = l.local_addr().unwrap();
        // The kernel finishes a loopback handshake inside connect(2), so the first poll
        // already has the answer: through a served /net the write is answered inline.
        let mut cx = Context::from_waker(Waker::noop());
        let mut dialled = pin!(connect(to, None));
        match dialled.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(s)) => assert_eq!(s.peer_addr().unwrap(), to),
            other => panic!("{other:?}"),
        }
        drop(l);
        let mut refused = pin!(connect(to, None));
        match refused.as_mut().poll(&mut cx) {
            Poll::Ready(Err(e)) => assert_eq!(e, REFUSED),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn out_of_descriptors_names_the_limit() {
        let e = host_error(io::Error::from_raw_os_error(Errno::MFILE.raw_os_error()));
        assert!(e.as_str().starts_with("too many open files"), "{e}");
        if rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .is_some()
        {
            assert!(e.as_str().contains("RLIMIT_NOFILE"), "{e}");
        }
    }
}
