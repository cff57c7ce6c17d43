//! Conversations: the numbered directories of a protocol, their lifetime and their states.
//!
//! A conversation is in use while any open `ctl`, `data` or `err` (or a `listen` waiting for
//! a call) refers to it. The last close hangs it up and makes it free; it stays listed and
//! the lowest free one is handed out by the next `clone`, as devip does. The free numbers
//! are kept in a set, so a `clone` does not look at every conversation as devip's does.
//! A protocol holds at most `max` conversations (65,536 unless the tree was made with
//! another number); a `clone` with all of them in use fails with "no free devices".
//!
//! Locks: a protocol's table lock may be taken before a conversation's lock, never after.
//! The free set's lock is held only to take or put a number. All are plain mutexes held
//! for a few instructions; nothing awaits under them.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use ninefold_fs::{Error, Result};
use tokio::sync::watch;

use crate::addr::{self, Local, LocalPort};
use crate::ctl;
use crate::ctl::Ctl;
use crate::gate::Caller;
use crate::tcp::{self, Listener, Opts, Stats, Stream};
use crate::tree::ProtoId;
use crate::udp::{self, Dgram};

/// Conversations per protocol unless the tree is told otherwise
/// ([`crate::NetTree::with_max_conversations`]).
pub(crate) const DEFAULT_MAX_CONVS: usize = 1 << 16;
/// The most any tree allows: conversation numbers are `u32`, and every one has its qids
/// (see `tree`).
pub(crate) const CONV_LIMIT: usize = 1 << 32;

pub(crate) const IN_USE: Error = Error::from_static("connection in use");
pub(crate) const NOT_ANNOUNCED: Error = Error::from_static("not announced");
pub(crate) const NO_FREE: Error = Error::from_static("no free devices");
pub(crate) const NO_LISTEN: Error = Error::from_static("listen not supported");

/// The owner of everything nobody has opened.
pub(crate) const NETWORK: &str = "network";

/// The numbers of conversations that became free, lowest first. A number may linger
/// after its conversation was taken again by an open of its `ctl` (`alloc` skips it then),
/// and a conversation is free only if it was released after it was last taken, so the set
/// always holds every free one.
type FreeSet = Arc<Mutex<BTreeSet<u32>>>;

/// One protocol's conversations.
#[derive(Debug)]
pub(crate) struct Proto {
    pub id: ProtoId,
    convs: Mutex<Vec<Arc<Conv>>>,
    /// Held only to take or put a number, never while another lock is taken.
    free: FreeSet,
    /// The most conversations the table may hold.
    max: usize,
    pub stats: Arc<Stats>,
    pub udp_stats: Arc<udp::Stats>,
}

impl Proto {
    pub(crate) fn new(id: ProtoId, max: usize) -> Proto {
        Proto {
            id,
            convs: Mutex::new(Vec::new()),
            free: FreeSet::default(),
            max: max.min(CONV_LIMIT),
            stats: Arc::default(),
            udp_stats: Arc::default(),
        }
    }

    /// The contents of `stats`.
    pub(crate) fn stats_text(&self) -> String {
        match self.id {
            ProtoId::Tcp => self.stats.text(self.max),
            ProtoId::Udp => self.udp_stats.text(),
        }
    }

    fn table(&self) -> MutexGuard<'_, Vec<Arc<Conv>>> {
        self.convs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every conversation ever allocated, in number order.
    pub(crate) fn all(&self) -> Vec<Arc<Conv>> {
        self.table().clone()
    }

    pub(crate) fn get(&self, n: u32) -> Option<Arc<Conv>> {
        self.table().get(n as usize).cloned()
    }

    /// Takes the lowest free conversation (or makes a new one) for `user`, already open
    /// once and in `phase`. With `max` conversations in use: "no free devices".
    pub(crate) fn alloc(&self, user: &Arc<str>, phase: Phase) -> Result<Arc<Conv>> {
        let mut phase = Some(phase);
        let mut table = self.table();
        // Not a scan of the table: with tens of thousands of conversations in use, every
        // clone would lock each of them.
        loop {
            let next = self
                .free
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_first();
            let Some(n) = next else { break };
            if let Some(c) = table.get(n as usize)
                && c.claim_if_free(user, &mut phase)
            {
                return Ok(c.clone());
            }
        }
        if table.len() >= self.max {
            tracing::debug!(
                proto = self.id.name(),
                max = self.max,
                "conversation table full"
            );
            return Err(NO_FREE);
        }
        let num = u32::try_from(table.len()).map_err(|_| NO_FREE)?;
        let c = Arc::new(Conv::new(
            self.id,
            num,
            self.stats.clone(),
            self.udp_stats.clone(),
            self.free.clone(),
        ));
        c.claim_if_free(user, &mut phase);
        table.push(c.clone());
        Ok(c)
    }

    /// Opening `listen` on `conv`: waits for a call and returns the new conversation that
    /// holds it, open once for `user`. While it waits, the listen counts as a use of `conv`.
    pub(crate) async fn listen(&self, conv: &Arc<Conv>, user: &Arc<str>) -> Result<Arc<Conv>> {
        // Permission first, then state, as devip checks them.
        conv.acquire(user)?;
        // Released however this ends, including a Tflush dropping the future.
        let _use = Use(conv.clone());
        // Per-peer UDP conversations are not made yet: only `headers` mode serves a port.
        if self.id == ProtoId::Udp {
            return Err(NO_LISTEN);
        }
        let listener = conv.listener()?;
        let sock = listener.accept().await?;
        let opts = conv.lock().opts;
        let stream = Stream::new(sock, opts, self.stats.clone())?;
        let new = self.alloc(user, Phase::Connected(stream))?;
        self.stats.passive_opens.fetch_add(1, Ordering::Relaxed);
        Ok(new)
    }
}

/// Where a conversation is in its life (devip's Idle, Connecting, Announced, Connected).
#[derive(Debug)]
pub(crate) enum Phase {
    Idle,
    /// A `connect` is on its way; `hangup` or the last close abandons it.
    Connecting,
    Announced(Arc<Listener>),
    Connected(Arc<Stream>),
    /// A UDP socket, connected or announced.
    Datagram(Arc<Dgram>),
    /// Hung up with this reason: reads and writes fail with it until the last close.
    Hungup(Error),
}

#[derive(Debug)]
struct Inner {
    inuse: u32,
    owner: Option<Arc<str>>,
    phase: Phase,
    /// Bumped whenever the conversation is hung up or freed: a `connect` that finds it
    /// changed when its handshake ends lost the race and must let go.
    generation: u64,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    opts: Opts,
    /// UDP `headers` was asked for (before or after the socket exists).
    headers: bool,
}

/// One conversation, `/net/<proto>/<num>`.
#[derive(Debug)]
pub(crate) struct Conv {
    pub proto: ProtoId,
    pub num: u32,
    stats: Arc<Stats>,
    udp_stats: Arc<udp::Stats>,
    /// The protocol's free numbers, where the last release puts this one.
    free: FreeSet,
    inner: Mutex<Inner>,
    /// Ticks when the conversation is hung up or freed: what `err` waits for.
    ended: watch::Sender<u64>,
}

impl Conv {
    fn new(
        proto: ProtoId,
        num: u32,
        stats: Arc<Stats>,
        udp_stats: Arc<udp::Stats>,
        free: FreeSet,
    ) -> Conv {
        Conv {
            proto,
            num,
            stats,
            udp_stats,
            free,
            inner: Mutex::new(Inner {
                inuse: 0,
                owner: None,
                phase: Phase::Idle,
                generation: 0,
                local: None,
                remote: None,
                opts: Opts::default(),
                headers: false,
            }),
            ended: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn claim_if_free(&self, user: &Arc<str>, phase: &mut Option<Phase>) -> bool {
        let mut g = self.lock();
        if g.inuse != 0 || !matches!(g.phase, Phase::Idle) {
            return false;
        }
        let Some(p) = phase.take() else {
            return false;
        };
        if let Phase::Connected(s) = &p {
            g.local = Some(s.local);
            g.remote = Some(s.remote);
        }
        g.inuse = 1;
        g.owner = Some(user.clone());
        g.phase = p;
        true
    }

    /// One more open by `user`. While the conversation is in use, only its owner may open
    /// it (9front's rule with the fixed permission 0660); a free one becomes `user`'s.
    pub(crate) fn acquire(&self, user: &Arc<str>) -> Result<()> {
        let mut g = self.lock();
        if g.inuse > 0 && g.owner.as_deref() != Some(&**user) {
            return Err(Error::PERM);
        }
        g.inuse += 1;
        if g.inuse == 1 {
            g.owner = Some(user.clone());
        }
        Ok(())
    }

    /// One open fewer. The last one hangs the conversation up and frees it.
    pub(crate) fn release(&self) {
        let old = {
            let mut g = self.lock();
            g.inuse = g.inuse.saturating_sub(1);
            if g.inuse > 0 {
                return;
            }
            g.owner = None;
            g.generation += 1;
            g.local = None;
            g.remote = None;
            g.opts = Opts::default();
            g.headers = false;
            std::mem::replace(&mut g.phase, Phase::Idle)
        };
        // Only now that it is free, so that `alloc` finds it claimable.
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.num);
        self.ended.send_modify(|n| *n += 1);
        // Outside the lock: waking waiters and closing sockets is not the table's business.
        match old {
            // A graceful close (FIN); operations still running see the channel hung up.
            Phase::Connected(s) => s.hang(Error::HUNGUP, false),
            Phase::Announced(l) => l.hang(),
            Phase::Datagram(d) => d.hang(Error::HUNGUP),
            _ => {}
        }
    }

    pub(crate) fn owner(&self) -> Arc<str> {
        self.lock().owner.clone().unwrap_or_else(|| NETWORK.into())
    }

    /// The connection behind `data`, or why there is none.
    pub(crate) fn stream(&self) -> Result<Arc<Stream>> {
        match &self.lock().phase {
            Phase::Connected(s) => Ok(s.clone()),
            Phase::Hungup(e) => Err(e.clone()),
            _ => Err(tcp::NOT_CONNECTED),
        }
    }

    /// The UDP socket behind `data`, or why there is none.
    fn dgram(&self) -> Result<Arc<Dgram>> {
        match &self.lock().phase {
            Phase::Datagram(d) => Ok(d.clone()),
            Phase::Hungup(e) => Err(e.clone()),
            _ => Err(tcp::NOT_CONNECTED),
        }
    }

    /// A read of `data`: bytes of the stream, or one datagram.
    pub(crate) async fn read_data(&self, count: u32) -> Result<bytes::Bytes> {
        match self.proto {
            ProtoId::Tcp => self.stream()?.read(count).await,
            ProtoId::Udp => self.dgram()?.read(count).await,
        }
    }

    /// A write of `data`: bytes of the stream, or one datagram (whose destination, in
    /// `headers` mode, `caller` must be allowed to reach).
    pub(crate) async fn write_data(&self, data: &[u8], caller: &Caller) -> Result<u32> {
        match self.proto {
            ProtoId::Tcp => self.stream()?.write(data).await,
            ProtoId::Udp => self.dgram()?.write(data, |to| caller.send_to(to)).await,
        }
    }

    fn listener(&self) -> Result<Arc<Listener>> {
        match &self.lock().phase {
            Phase::Announced(l) => Ok(l.clone()),
            _ => Err(NOT_ANNOUNCED),
        }
    }

    /// Bytes waiting to be read from `data`.
    pub(crate) fn queued(&self) -> u64 {
        match self.proto {
            ProtoId::Tcp => self.stream().map_or(0, |s| s.queued()),
            ProtoId::Udp => self.dgram().map_or(0, |d| d.queued()),
        }
    }

    pub(crate) fn local_text(&self) -> String {
        addr::format_addr_file(self.lock().local)
    }

    pub(crate) fn remote_text(&self) -> String {
        addr::format_addr_file(self.lock().remote)
    }

    pub(crate) fn status_text(&self) -> String {
        match &self.lock().phase {
            Phase::Idle | Phase::Hungup(_) => "Closed\n".to_owned(),
            Phase::Connecting => "Syn_sent\n".to_owned(),
            Phase::Announced(_) => "Listen\n".to_owned(),
            Phase::Connected(s) => format!("{} qin {}\n", s.state(), s.queued()),
            Phase::Datagram(d) => format!("Open qin {} qout 0\n", d.queued()),
        }
    }

    /// Why I/O fails after a hang-up.
    fn hangup_reason(&self) -> Error {
        match &self.lock().phase {
            Phase::Hungup(e) => e.clone(),
            _ => tcp::HANGUP,
        }
    }

    /// Waits until the conversation is hung up or freed: `err` has nothing else to say.
    pub(crate) async fn wait_ended(&self) {
        let mut rx = self.ended.subscribe();
        if matches!(self.lock().phase, Phase::Hungup(_)) {
            return;
        }
        let _ = rx.changed().await;
    }

    /// Carries out one control message for `caller`, who must be allowed each connect
    /// and announce before any socket is made. A refusal changes nothing.
    pub(crate) async fn ctl(self: &Arc<Self>, msg: Ctl, caller: &Caller) -> Result<()> {
        if self.proto == ProtoId::Udp {
            return self.udp_ctl(msg, caller).await;
        }
        match msg {
            Ctl::Connect { remote, local } => {
                caller.connect(self.proto, remote)?;
                self.connect(remote, local).await
            }
            Ctl::Announce(local) => {
                if let LocalPort::Num(port) = local.port {
                    caller.announce(self.proto, local.ip, port)?;
                }
                self.announce(local)
            }
            Ctl::Bind(local) => self.bind(local),
            Ctl::Hangup | Ctl::Reject => {
                self.hangup(tcp::HANGUP);
                Ok(())
            }
            Ctl::Close => match self.stream() {
                Ok(s) => s.close_write(),
                Err(_) => Ok(()),
            },
            Ctl::Keepalive(ms) => match self.stream() {
                Ok(s) => s.keepalive(ms),
                Err(_) => Err(tcp::NOT_ESTABLISHED),
            },
            Ctl::Ttl(n) => self.set_opts(|o| o.ttl = Some(n)),
            Ctl::Tos(n) => self.set_opts(|o| o.tos = Some(n)),
            Ctl::Ignored => Ok(()),
            Ctl::Headers => Err(ctl::UNKNOWN),
        }
    }

    /// Carries out one control message of a UDP conversation.
    async fn udp_ctl(&self, msg: Ctl, caller: &Caller) -> Result<()> {
        match msg {
            Ctl::Connect { remote, local } => {
                caller.connect(self.proto, remote)?;
                self.udp_connect(remote, local).await
            }
            Ctl::Announce(local) => {
                if let LocalPort::Num(port) = local.port {
                    caller.announce(self.proto, local.ip, port)?;
                }
                self.udp_announce(local)
            }
            Ctl::Bind(local) => self.bind(local),
            Ctl::Headers => {
                let mut g = self.lock();
                g.headers = true;
                if let Phase::Datagram(d) = &g.phase {
                    d.set_headers();
                }
                Ok(())
            }
            Ctl::Hangup | Ctl::Reject => {
                self.hangup(tcp::HANGUP);
                Ok(())
            }
            Ctl::Ttl(n) => self.set_opts(|o| o.ttl = Some(n)),
            Ctl::Tos(n) => self.set_opts(|o| o.tos = Some(n)),
            // `close` ends a TCP byte stream; a datagram socket has nothing to end.
            Ctl::Close | Ctl::Ignored => Ok(()),
            Ctl::Keepalive(_) => Err(ctl::UNKNOWN),
        }
    }

    /// UDP `connect`: binds and fixes the peer; no packet is sent, so it returns at once.
    async fn udp_connect(&self, remote: SocketAddr, local: Option<Local>) -> Result<()> {
        let (from, opts, headers) = {
            let g = self.lock();
            if !matches!(g.phase, Phase::Idle) {
                return Err(IN_USE);
            }
            (dial_from(remote, local)?, g.opts, g.headers)
        };
        let d = Dgram::connect(remote, from, opts, headers, self.udp_stats.clone()).await?;
        let mut g = self.lock();
        // Another write may have set the conversation up meanwhile.
        if !matches!(g.phase, Phase::Idle) {
            return Err(IN_USE);
        }
        if g.headers {
            d.set_headers();
        }
        g.local = Some(d.local);
        g.remote = d.remote;
        g.phase = Phase::Datagram(d);
        Ok(())
    }

    fn udp_announce(&self, local: Local) -> Result<()> {
        let mut g = self.lock();
        if !matches!(g.phase, Phase::Idle) {
            return Err(IN_USE);
        }
        let LocalPort::Num(port) = local.port else {
            return Err(Error::PERM);
        };
        let d = Dgram::announce(local.ip, port, g.opts, g.headers, self.udp_stats.clone())?;
        g.local = Some(d.local);
        g.remote = None;
        g.phase = Phase::Datagram(d);
        Ok(())
    }

    /// Records an option and applies it to the socket the conversation has now, if any.
    fn set_opts(&self, change: impl FnOnce(&mut Opts)) -> Result<()> {
        let mut g = self.lock();
        let mut opts = g.opts;
        change(&mut opts);
        match &g.phase {
            Phase::Connected(s) => opts.apply(s.sock(), s.local)?,
            Phase::Announced(l) => opts.apply(l.sock(), l.local)?,
            Phase::Datagram(d) => opts.apply(d.sock(), d.local)?,
            _ => {}
        }
        g.opts = opts;
        Ok(())
    }

    async fn connect(self: &Arc<Self>, remote: SocketAddr, local: Option<Local>) -> Result<()> {
        let (generation, opts, from, mut ended) = {
            let mut g = self.lock();
            if !matches!(g.phase, Phase::Idle) {
                return Err(IN_USE);
            }
            let from = dial_from(remote, local)?;
            g.phase = Phase::Connecting;
            g.remote = Some(remote);
            // Subscribed under the lock: any hang-up after this point wakes the dial.
            (g.generation, g.opts, from, self.ended.subscribe())
        };
        // Puts the conversation back to Idle if the dial fails or is flushed.
        let mut pending = Dialling {
            conv: self,
            generation,
        };
        let dialled = tokio::select! {
            r = tcp::connect(remote, from) => r,
            // A `hangup` (or the last close) abandons the dial at once.
            _ = ended.changed() => Err(self.hangup_reason()),
        };
        let sock = match dialled {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(conv = self.num, %remote, error = %e, "connect failed");
                self.stats.attempt_fails.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let stream = Stream::new(sock, opts, self.stats.clone())?;
        let mut g = self.lock();
        if g.generation != generation || !matches!(g.phase, Phase::Connecting) {
            // Hung up just as the handshake ended: the new connection is dropped at once.
            drop(g);
            return Err(self.hangup_reason());
        }
        g.local = Some(stream.local);
        g.remote = Some(stream.remote);
        g.phase = Phase::Connected(stream);
        pending.generation = u64::MAX;
        self.stats.active_opens.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn announce(&self, local: Local) -> Result<()> {
        let mut g = self.lock();
        if !matches!(g.phase, Phase::Idle) {
            return Err(IN_USE);
        }
        let LocalPort::Num(port) = local.port else {
            // Port `*` (every port nobody announced) is for the host owner alone, and host
            // sockets cannot do it anyway.
            return Err(Error::PERM);
        };
        let l = Listener::new(tcp::announce(local.ip, port)?)?;
        g.opts.apply(l.sock(), l.local)?;
        g.local = Some(l.local);
        g.remote = None;
        g.phase = Phase::Announced(l);
        Ok(())
    }

    fn bind(&self, local: Local) -> Result<()> {
        let LocalPort::Num(port) = local.port else {
            return Err(Error::PERM);
        };
        let ip = local.ip.unwrap_or(Ipv6Addr::UNSPECIFIED.into());
        let mut g = self.lock();
        // Only recorded (9front: "reserves nothing"); connect and announce replace it.
        if matches!(g.phase, Phase::Idle) {
            g.local = Some(SocketAddr::new(ip, port));
        }
        Ok(())
    }

    /// Drops the connection or announcement now; later I/O fails with `reason`.
    pub(crate) fn hangup(&self, reason: Error) {
        let old = {
            let mut g = self.lock();
            if matches!(g.phase, Phase::Idle | Phase::Hungup(_)) {
                return;
            }
            g.generation += 1;
            std::mem::replace(&mut g.phase, Phase::Hungup(reason.clone()))
        };
        self.ended.send_modify(|n| *n += 1);
        match old {
            Phase::Connected(s) => s.hang(reason, true),
            Phase::Announced(l) => l.hang(),
            Phase::Datagram(d) => d.hang(reason),
            _ => {}
        }
    }
}

/// The local address a `connect` binds to before dialling, if it was given one.
fn dial_from(remote: SocketAddr, local: Option<Local>) -> Result<Option<SocketAddr>> {
    let Some(local) = local else {
        return Ok(None);
    };
    let LocalPort::Num(port) = local.port else {
        return Err(Error::PERM);
    };
    let any: IpAddr = if remote.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    Ok(Some(SocketAddr::new(local.ip.unwrap_or(any), port)))
}

/// A `connect` in progress. If it ends without connecting (failure, or a Tflush dropping
/// the write), the conversation goes back to Idle so it can be used again — unless someone
/// hung it up meanwhile, which already changed its state.
struct Dialling<'a> {
    conv: &'a Conv,
    /// `u64::MAX` once connected.
    generation: u64,
}

impl Drop for Dialling<'_> {
    fn drop(&mut self) {
        let mut g = self.conv.lock();
        if g.generation == self.generation && matches!(g.phase, Phase::Connecting) {
            g.phase = Phase::Idle;
            g.remote = None;
        }
    }
}

/// A use of a conversation that ends when this is dropped.
#[derive(Debug)]
pub(crate) struct Use(pub Arc<Conv>);

impl Drop for Use {
    fn drop(&mut self) {
        self.0.release();
    }
}
