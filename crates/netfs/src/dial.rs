//! Plan 9's dial(2) library — `dial`, `announce`, `listen`, `hangup` — on any `/net` tree.
//!
//! The functions take the root of a network directory as a [`NodeRef`], so they work the
//! same on a local [`crate::NetTree`] and on a remote `/net` reached through 9P (a client's
//! remote node is a `Node` too). They do what `libc/9sys/dial.c` and `announce.c` do with
//! file descriptors (`plan9-net.md` §8), with nodes:
//!
//! - **dial**: an address without `!` means `net!addr` (netmkaddr). Ask `cs` (open ORDWR,
//!   write the address at offset 0, then read one record per read from offset 0 on); for
//!   each record `/net/tcp/clone 127.0.0.1!80 [local]`, in order: replace the first path
//!   component (cs's mount point) with this root, open the clone file ORDWR (the node
//!   becomes the conversation's ctl), read the number N, write `connect addr [local]`,
//!   open `tcp/N/data` ORDWR. As in 9front's `csdial`, the next record is read only if
//!   the call failed; the first success wins; when all fail (an empty read, or a read
//!   that fails) the last call's error is returned, with the tree's own words
//!   (`connection refused`…). Records that do not parse are skipped. Addresses are tried
//!   in sequence, as 9front does, not in parallel as Plan 9 (2020) does.
//! - **Where this does less than Plan 9's dial**, to save round trips through a remote
//!   `/net` (each request waits for the last there; a dial through `exportfs` took 14):
//!   - `tcp!ADDR!PORT` and `udp!ADDR!PORT` with a literal IP address (v4 or v6,
//!     brackets allowed; not `::` or `0.0.0.0`) and a numeric port do not ask cs: cs
//!     would answer with the address itself, printed as `%I` does, which is what is
//!     used. Plan 9's dial always asks cs (whose `paranoia` or ndb could in principle
//!     refuse a literal); `net!…`, names, `*`, service names and `!suffixes` still go
//!     to cs.
//!   - Requests that follow one another go out together ([`ninefold_fs::Node::walk_open`];
//!     a ninefold server keeps them in order): the clone is walked, opened and read in
//!     one round trip, and the connect is written while `tcp/N/data` is walked and
//!     opened, in a second that overlaps the handshake. Plan 9 opens data after the
//!     connect succeeded; here the data fid may exist a moment earlier, and is clunked
//!     with ctl if the connect fails.
//!   - cs's fid is released by dropping it (a remote fid is clunked in the background),
//!     not by waiting for Rclunk; [`Conn::close`] sends both of its clunks at once and
//!     does not wait for their answers either.
//! - **No cs**: when walking to or opening `cs` fails with "does not exist" (or lib9p's
//!   "not found"), the address is used untranslated: `proto!rest` → `proto/clone`,
//!   `connect rest`. Any other failure (`permission denied`, a hung-up connection) is
//!   the dial's error. Plan 9's dial falls back on any failure to open cs, which hides
//!   why cs could not be reached.
//! - **announce**: the address must contain `!` (`bad dial string`). Only cs's first
//!   record is used (and numeric addresses skip cs as for dial); `announce addr` is
//!   written to the clone's ctl, where `addr` is what cs gave (`564` for `tcp!*!564`,
//!   `127.0.0.1!564` for a literal host).
//! - **listen**: opens `DIR/listen` ORDWR, which waits for a call; the node becomes the
//!   new conversation's ctl. Its number M gives `parent(DIR)/M`, whose `data` is opened.
//!
//! Nothing here bounds the time a call takes: a dial to a silent host, or a listen, waits
//! as long as the tree does; wrap the future in a timeout to give up. Dropping a [`Conn`]
//! releases its nodes as the tree or client does on drop; [`Conn::close`] clunks them now.

use bytes::Bytes;
use ninefold_fs::{Error, NodeRef, Result, WalkOpened};
use ninefold_proto::om;

use crate::addr;

/// Largest read of a cs record or a ctl file.
const RECORD_MAX: u32 = 8192;
/// Records read from cs before giving up on a tree that never returns an empty read.
const RECORDS_MAX: usize = 64;

const BAD_DIAL_STRING: Error = Error::from_static("bad dial string");
const NO_TRANSLATION: Error = Error::from_static("can't translate address");
const BAD_CONV: Error = Error::from_static("bad conversation number");

/// A connected (dialled or accepted) conversation.
#[derive(Debug, Clone)]
pub struct Conn {
    /// The conversation's directory relative to the net root, e.g. `tcp/3`.
    pub dir: String,
    /// The conversation's ctl, open ORDWR (the clone or listen node).
    pub ctl: NodeRef,
    /// The conversation's data, open ORDWR.
    pub data: NodeRef,
}

impl Conn {
    /// Reads up to `count` bytes of the stream (a datagram, on udp). Empty at EOF.
    pub async fn read(&self, count: u32) -> Result<Bytes> {
        self.data.read(0, count).await
    }

    /// Writes `data` to the stream, returning how much was written.
    pub async fn write(&self, data: Bytes) -> Result<u32> {
        self.data.write(0, data).await
    }

    /// Writes all of `data`, as many writes as it takes.
    pub async fn write_all(&self, mut data: Bytes) -> Result<()> {
        while !data.is_empty() {
            let n = self.write(data.clone()).await? as usize;
            if n == 0 {
                return Err(Error::IO);
            }
            data = data.slice(n.min(data.len())..);
        }
        Ok(())
    }

    /// hangup(2): writes `hangup` to ctl.
    pub async fn hangup(&self) -> Result<()> {
        write_str(&self.ctl, "hangup").await
    }

    /// Ends our half of a TCP stream: writes `close` to ctl, 9front's graceful close. The
    /// peer gets a FIN (it reads EOF) and may go on sending; reads go on until its own
    /// end. Writes after this fail. On UDP it does nothing; a network that does not know
    /// `close` (Plan 9's own devip) fails the write.
    pub async fn close_write(&self) -> Result<()> {
        write_str(&self.ctl, "close").await
    }

    /// Clunks data and ctl now rather than when the last reference is dropped, without
    /// waiting for the server's answers, as close(2) does not wait for the peer: both
    /// clunks go out at once, on a task of their own, and the conversation is released
    /// as soon as the tree has them. [`Conn::close_and_wait`] waits.
    pub async fn close(self) {
        tokio::spawn(self.close_and_wait());
    }

    /// [`Conn::close`], returning once both clunks are done.
    pub async fn close_and_wait(self) {
        tokio::join!(self.data.clunk(), self.ctl.clunk());
    }
}

/// An announced conversation, waiting for calls with [`Announced::listen`].
#[derive(Debug, Clone)]
pub struct Announced {
    /// The conversation's directory relative to the net root, e.g. `tcp/2`.
    pub dir: String,
    /// Its ctl, open ORDWR; the announcement lasts as long as this node is open.
    pub ctl: NodeRef,
    net: NodeRef,
}

impl Announced {
    /// listen(2) and the data open that follows: waits for a call on `DIR/listen`.
    pub async fn listen(&self) -> Result<Conn> {
        let listen = format!("{}/listen", self.dir);
        let (dir, ctl) = open_conv(&self.net, &self.dir, &listen).await?;
        match open_path(&self.net, &format!("{dir}/data")).await {
            Ok(data) => Ok(Conn { dir, ctl, data }),
            Err(e) => {
                ctl.clunk().await;
                Err(e)
            }
        }
    }

    /// Ends the announcement: writes `hangup` to ctl.
    pub async fn hangup(&self) -> Result<()> {
        write_str(&self.ctl, "hangup").await
    }
}

/// dial(2): connects to `addr` (`net!host!service`, `tcp!host!port`, `udp!…`) through the
/// network directory `net`.
pub async fn dial(net: &NodeRef, addr: &str) -> Result<Conn> {
    let addr = mkaddr(addr);
    let mut records = Records::of(net, &addr).await?;
    // The last call's error.
    let mut last = None;
    loop {
        let r = match records.next().await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(last.unwrap_or(NO_TRANSLATION)),
            Err(e) => {
                // A failed read of cs after a failed call: that call's error says more.
                if let Some(last) = last {
                    tracing::debug!(error = %e, "reading cs after a failed call");
                    return Err(last);
                }
                return Err(e);
            }
        };
        let msg = match r.local {
            Some(local) => format!("connect {} {local}", r.addr),
            None => format!("connect {}", r.addr),
        };
        match call(net, &r.clone_path, &msg).await {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
    }
}

/// The network directory of a tree: its root if that is one (it has `tcp`, as what
/// `exportfs -r '#I'` serves), else its `net` if that is one (a whole name space, as
/// `exportfs --stdio` serves). What is not returned is clunked.
pub async fn find_net(root: NodeRef) -> Option<NodeRef> {
    if has(&root, "tcp").await {
        return Some(root);
    }
    if let Ok(w) = root.walk(&["net".to_owned()]).await
        && let Some(net) = w.node
    {
        if has(&net, "tcp").await {
            root.clunk().await;
            return Some(net);
        }
        net.clunk().await;
    }
    root.clunk().await;
    None
}

/// Whether directory `n` has an entry `name`.
async fn has(n: &NodeRef, name: &str) -> bool {
    match n.walk(&[name.to_owned()]).await {
        Ok(ninefold_fs::Walked { node: Some(x), .. }) => {
            x.clunk().await;
            true
        }
        _ => false,
    }
}

/// announce(2): announces `addr` (`tcp!*!564`, `tcp!127.0.0.1!0` …) through `net`.
pub async fn announce(net: &NodeRef, addr: &str) -> Result<Announced> {
    if !addr.contains('!') {
        return Err(BAD_DIAL_STRING);
    }
    let r = Records::of(net, addr)
        .await?
        .next()
        .await?
        .ok_or(NO_TRANSLATION)?;
    let (dir, ctl) = open_conv(net, &r.clone_path, &r.clone_path).await?;
    if let Err(e) = write_str(&ctl, &format!("announce {}", r.addr)).await {
        ctl.clunk().await;
        return Err(e);
    }
    Ok(Announced {
        dir,
        ctl,
        net: net.clone(),
    })
}

/// One usable cs record.
#[derive(Debug, PartialEq, Eq)]
struct Record {
    /// Relative to the net root, e.g. `tcp/clone`.
    clone_path: String,
    addr: String,
    local: Option<String>,
}

/// netmkaddr(addr, nil, nil): a bare host means `net!host`.
fn mkaddr(addr: &str) -> String {
    if addr.contains('!') {
        addr.to_owned()
    } else {
        format!("net!{addr}")
    }
}

/// The records to try for an address, read from cs one at a time.
#[derive(Debug)]
enum Records {
    /// What cs would say, or the address untranslated: no cs to ask.
    One(Option<Record>),
    /// cs, open, with the query written.
    Cs {
        /// Dropped with this, which clunks a remote fid in the background.
        cs: NodeRef,
        offset: u64,
        /// Reads left before giving up on a cs that never returns an empty read.
        left: usize,
    },
}

impl Records {
    /// Asks cs about `addr`, unless the address is numeric or there is no cs.
    async fn of(net: &NodeRef, addr: &str) -> Result<Records> {
        if let Some(r) = numeric(addr) {
            return Ok(Records::One(Some(r)));
        }
        let cs = match open_path(net, "cs").await {
            Ok(cs) => cs,
            Err(e) if missing(&e) => return literal(addr).map(|r| Records::One(Some(r))),
            Err(e) => return Err(e),
        };
        // A failed lookup fails the write, with cs's reason.
        write_str(&cs, addr).await?;
        Ok(Records::Cs {
            cs,
            offset: 0,
            left: RECORDS_MAX,
        })
    }

    /// The next usable record; `None` after cs's empty read.
    async fn next(&mut self) -> Result<Option<Record>> {
        match self {
            Records::One(r) => Ok(r.take()),
            Records::Cs { cs, offset, left } => {
                while *left > 0 {
                    *left -= 1;
                    let b = cs.read(*offset, RECORD_MAX).await?;
                    if b.is_empty() {
                        break;
                    }
                    *offset += b.len() as u64;
                    if let Some(r) = std::str::from_utf8(&b).ok().and_then(parse_record) {
                        return Ok(Some(r));
                    }
                }
                *left = 0;
                Ok(None)
            }
        }
    }
}

/// A walk or open failed because the file is not there (a kernel's "'cs' file does not
/// exist", lib9p's "file not found"), not for any other reason.
fn missing(e: &Error) -> bool {
    let s = e.as_str();
    s.contains("does not exist") || s.contains("not found")
}

/// `tcp!ADDR!PORT` or `udp!ADDR!PORT` with a literal address and a numeric port: cs's
/// answer, made here. The address is printed as cs prints it (`%I`: a v4-mapped address
/// as v4, brackets gone); the port goes on as written, as cs passes numbers on. `::` and
/// `0.0.0.0` are left to cs (it answers `::` with the announce form).
fn numeric(addr: &str) -> Option<Record> {
    let mut f = addr.split('!');
    let (net, host, port) = (f.next()?, f.next()?, f.next()?);
    if f.next().is_some() || !matches!(net, "tcp" | "udp") {
        return None;
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip = addr::parse_ip(bare).ok()?;
    if ip.is_unspecified() {
        return None;
    }
    Some(Record {
        clone_path: format!("{net}/clone"),
        addr: format!("{}!{port}", addr::format_ip(ip)),
        local: None,
    })
}

/// `/net/tcp/clone 127.0.0.1!80 [local]` → `tcp/clone`, the address and the local part.
/// The first path component is cs's mount point, replaced by the root dial was given.
fn parse_record(line: &str) -> Option<Record> {
    let mut fields = line.split_whitespace();
    let path = fields.next()?;
    let addr = fields.next()?;
    let local = fields.next().map(str::to_owned);
    if fields.next().is_some() {
        return None;
    }
    let (_, rest) = path.strip_prefix('/')?.split_once('/')?;
    let clone_path = clean_path(rest)?;
    Some(Record {
        clone_path,
        addr: addr.to_owned(),
        local,
    })
}

/// `proto!rest` untranslated: `proto/clone`, `rest`.
fn literal(addr: &str) -> Result<Record> {
    let (proto, rest) = addr.split_once('!').ok_or(BAD_DIAL_STRING)?;
    if proto.is_empty() || proto.contains('/') || proto == "." || proto == ".." || rest.is_empty() {
        return Err(BAD_DIAL_STRING);
    }
    Ok(Record {
        clone_path: format!("{proto}/clone"),
        addr: rest.to_owned(),
        local: None,
    })
}

/// A relative path with no empty, `.` or `..` elements, or `None`.
fn clean_path(p: &str) -> Option<String> {
    let ok = !p.is_empty() && p.split('/').all(|e| !e.is_empty() && e != "." && e != "..");
    ok.then(|| p.to_owned())
}

/// Clone, connect, open data: two round trips through a remote `/net`. The clone is
/// walked, opened and read in one (see [`ninefold_fs::Node::walk_open`]); the connect is
/// written and `tcp/N/data` walked and opened in the other, which overlaps the handshake.
async fn call(net: &NodeRef, clone_path: &str, msg: &str) -> Result<Conn> {
    let (dir, ctl) = open_conv(net, clone_path, clone_path).await?;
    let data_path = format!("{dir}/data");
    let (connected, data) = tokio::join!(write_str(&ctl, msg), open_path(net, &data_path));
    match (connected, data) {
        (Ok(()), Ok(data)) => Ok(Conn { dir, ctl, data }),
        // dial(2) closes the ctl of a call that failed; the connect's error comes first.
        (Err(e), data) => {
            match data {
                Ok(data) => {
                    tokio::join!(data.clunk(), ctl.clunk());
                }
                Err(_) => ctl.clunk().await,
            }
            Err(e)
        }
        (Ok(()), Err(e)) => {
            ctl.clunk().await;
            Err(e)
        }
    }
}

/// `tcp/clone` and `4` → `tcp/4`.
fn conv_dir(clone_path: &str, n: String) -> String {
    match clone_path.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/{n}"),
        None => n,
    }
}

/// Opens a clone or listen file `path` (the node becomes a conversation's ctl) and reads
/// the conversation's number N from it: `dir_of`'s directory with N for its last element,
/// and the ctl.
async fn open_conv(net: &NodeRef, dir_of: &str, path: &str) -> Result<(String, NodeRef)> {
    let w = walk_open(net, path, Some(RECORD_MAX)).await?;
    match conv_number(w.data.as_deref().unwrap_or_default()) {
        Ok(n) => Ok((conv_dir(dir_of, n), w.node)),
        Err(e) => {
            w.node.clunk().await;
            Err(e)
        }
    }
}

/// The number a ctl reads as.
fn conv_number(b: &[u8]) -> Result<String> {
    let s = std::str::from_utf8(b).map_err(|_| BAD_CONV)?.trim();
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(BAD_CONV);
    }
    Ok(s.to_owned())
}

/// Walks `path` from `net` and opens it ORDWR.
async fn open_path(net: &NodeRef, path: &str) -> Result<NodeRef> {
    Ok(walk_open(net, path, None).await?.node)
}

/// Walks `path` from `net`, opens it ORDWR and reads `read` bytes, in one round trip
/// through a remote `/net`.
async fn walk_open(net: &NodeRef, path: &str, read: Option<u32>) -> Result<WalkOpened> {
    let names: Vec<String> = path
        .split('/')
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    net.walk_open(&names, om::ORDWR, read).await
}

async fn write_str(n: &NodeRef, s: &str) -> Result<()> {
    n.write(0, Bytes::from(s.to_owned())).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        assert_eq!(
            parse_record("/net/tcp/clone 127.0.0.1!80"),
            Some(Record {
                clone_path: "tcp/clone".into(),
                addr: "127.0.0.1!80".into(),
                local: None,
            })
        );
        assert_eq!(
            parse_record("/net.alt/udp/clone ::1!53 ::1!9")
                .and_then(|r| r.local.map(|l| (r.clone_path, l))),
            Some(("udp/clone".into(), "::1!9".into()))
        );
        for bad in [
            "",
            "/net/tcp/clone",
            "net/tcp/clone 1!2",
            "/net 1!2",
            "/net/ 1!2",
            "/net/../clone 1!2",
            "/net/tcp//clone 1!2",
            "/net/tcp/clone a b c",
        ] {
            assert_eq!(parse_record(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn literals() {
        assert_eq!(mkaddr("host"), "net!host");
        assert_eq!(mkaddr("tcp!h!1"), "tcp!h!1");
        let r = literal("tcp!1.2.3.4!80").ok();
        assert_eq!(
            r.map(|r| (r.clone_path, r.addr)),
            Some(("tcp/clone".into(), "1.2.3.4!80".into()))
        );
        assert!(literal("tcp").is_err());
        assert!(literal("../x!1").is_err());
        assert!(literal("!1").is_err());
    }

    #[test]
    fn numeric_addresses_are_what_cs_would_say() {
        let n = |a: &str| numeric(a).map(|r| format!("{} {}", r.clone_path, r.addr));
        assert_eq!(
            n("tcp!127.0.0.1!80").as_deref(),
            Some("tcp/clone 127.0.0.1!80")
        );
        assert_eq!(n("udp!::1!53").as_deref(), Some("udp/clone ::1!53"));
        assert_eq!(
            n("tcp![2001:DB8:0:0:0:0:0:1]!564").as_deref(),
            Some("tcp/clone 2001:db8::1!564")
        );
        assert_eq!(
            n("tcp!::ffff:10.0.0.1!080").as_deref(),
            Some("tcp/clone 10.0.0.1!080")
        );
        for cs_job in [
            "net!127.0.0.1!80",
            "il!127.0.0.1!80",
            "tcp!localhost!80",
            "tcp!127.0.0.1!http",
            "tcp!127.0.0.1!*",
            "tcp!127.0.0.1!80!r",
            "tcp!*!80",
            "tcp!::!80",
            "tcp![::]!80",
            "tcp!0.0.0.0!80",
            "tcp!127.0.0.1!",
            "tcp!127.0.0.1",
            "tcp!!80",
            "tcp!1.2.3!80",
            "tcp!$auth!80",
            "",
            "!!",
        ] {
            assert_eq!(n(cs_job), None, "{cs_job:?}");
        }
    }
}
