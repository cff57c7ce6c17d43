//! What `dial` and `listen1` share: the network directory they use (`-n NET`), and moving a
//! byte stream in and out of a conversation.

use anyhow::{Context, Result};
use ninefold_client::Client;
use ninefold_fs::{NodeRef, Tree};
use ninefold_hostfs::HostTree;
use ninefold_netfs::NetTree;
use ninefold_netfs::dial::Conn;
use ninefold_transport::Addr;

/// The name of the local network stack, as Plan 9 binds it (`bind -a '#I' /net`).
pub const LOCAL: &str = "#I";

/// The most one read of a conversation's data asks for. The local stack returns at most
/// 256 KiB per read whatever is asked; a remote one at most a message's worth.
pub const READ_COUNT: u32 = 1 << 20;

/// The most one write to a conversation's data carries, when that much is at hand. Writes
/// of a stream go one at a time (two in flight could land out of order), so each costs a
/// round trip through a remote /net: large ones keep the socket busy meanwhile.
pub const WRITE_CHUNK: usize = 4 << 20;

/// Help text for `-n`, shared by both commands.
pub const NET_HELP: &str = "NET is '#I' (the default: this machine's network, in process), \
a directory that is a /net (such as /net.alt in a session, after `ninefold import gw /net \
/net.alt`), or the 9P address of a server whose root is a /net or has one at /net (`ninefold \
exportfs -r '#I'`, or a whole name space): unix!/path, tls!host!port, tcp!127.0.0.1!port, \
an ssh host, or {command}.";

/// The root of a `/net` tree and whatever keeps it reachable.
#[derive(Debug)]
pub struct Net {
    pub root: NodeRef,
    /// The server process of a `{command}` NET, killed when this goes.
    _child: Option<tokio::process::Child>,
}

/// Attaches to NET: the local stack for `None` or `#I`, else a 9P server's root.
pub async fn open(net: Option<&str>) -> Result<Net> {
    let user = std::env::var("USER").unwrap_or_else(|_| "none".into());
    let net = match net {
        None | Some(LOCAL) => {
            let root = NetTree::new()
                .attach(&user, "")
                .await
                .context("attach to #I")?;
            return Ok(Net { root, _child: None });
        }
        Some(n) if n.starts_with('/') => {
            // A /net mounted in this (Linux) name space: its files, through the kernel.
            let tree = HostTree::new(std::path::Path::new(n), false)
                .with_context(|| format!("cannot use {n} as a network"))?;
            let root = tree.attach(&user, "").await?;
            let root = net_dir(root, n).await?;
            return Ok(Net { root, _child: None });
        }
        Some(n) => n,
    };
    let addr: Addr = net.parse()?;
    let conn = ninefold_transport::dial(&addr).await?;
    let client = Client::connect(conn.reader, conn.writer, ninefold_proto::DEFAULT_MSIZE)
        .await
        .with_context(|| format!("9P session with {addr}"))?;
    client.set_write_window(addr.write_window());
    let root = client
        .attach(&user, "")
        .await
        .with_context(|| format!("attach to {addr}"))?;
    let root = net_dir(root, net).await?;
    Ok(Net {
        root,
        _child: conn.child,
    })
}

/// `root` if it is a /net, else its `net` directory if that is one.
async fn net_dir(root: NodeRef, name: &str) -> Result<NodeRef> {
    ninefold_netfs::dial::find_net(root).await.ok_or_else(|| {
        anyhow::anyhow!("{name} is not a network: it has no tcp, and no /net that has")
    })
}

/// Sends our FIN with [`Conn::close_write`] (`close` on ctl, 9front's graceful close; the
/// peer may go on sending). A network that does not know `close` (Plan 9's own, or UDP,
/// where it does nothing) is left as it is: the call then ends when the peer ends it.
pub async fn close_write(c: &Conn) {
    if let Err(e) = c.close_write().await {
        tracing::debug!(dir = %c.dir, error = %e, "close not taken");
    }
}

/// The text of a small file of a conversation directory (`tcp/4/remote`), without the
/// newline.
pub async fn dir_file(net: &NodeRef, dir: &str, name: &str) -> Result<String> {
    let names: Vec<String> = dir
        .split('/')
        .chain([name])
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    let node = net
        .walk(&names)
        .await?
        .node
        .ok_or(ninefold_fs::Error::NOT_FOUND)?;
    node.open(ninefold_proto::om::OREAD).await?;
    let r = node.read(0, 1024).await;
    node.clunk().await;
    Ok(String::from_utf8_lossy(&r?).trim_end().to_owned())
}
