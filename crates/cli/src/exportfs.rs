//! `ninefold exportfs`: serve a name space, a host directory, or this machine's network
//! (`#I`) over 9P (exportfs(4), u9fs).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use ninefold_fs::Tree;
use ninefold_hostfs::HostTree;
use ninefold_netfs::NetTree;
use ninefold_ns::{Dialer, NsPath, NsTree};
use ninefold_server::{Config, serve};
use ninefold_transport::{Addr, listen, stdio};

use crate::UsageError;
use crate::net::LOCAL;

/// Serve a name space, a directory, or this machine's network over 9P, on stdin/stdout or
/// on a listening socket.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("how").required(true).args(["stdio", "listen"])))]
#[command(after_help = "What is served:\n  \
(no -r)          the standard name space: the host's / with #I at /net and #s at /srv, plus \
--ns FILE; a client's attach name picks the subtree (aname /net gets this machine's /net)\n  \
-r DIR           the host directory DIR alone, clients never reaching outside it\n  \
-r '#I'          this machine's network as Plan 9's /net (tcp, udp, cs, dns)\n  \
-r PATH --ns F   the subtree PATH of the name space built from the default and F\n\n\
Whoever can connect to an exported network can open connections from this machine and \
listen on its ports as you, and through the name space's /prog signal your processes: serve \
it only to yourself (a unix socket, which other users \
cannot open by default) or to trusted clients. -R is an error with '#I': a network cannot \
be made read-only. (A directory named #I is ./#I.)\n\n\
Examples:\n  ninefold exportfs -r ~/src --listen 'unix!/tmp/src.sock'\n  \
ninefold exportfs -r /srv/data -R --listen 'tcp!127.0.0.1!5640' --no-auth\n  \
ninefold 9p -a '{ninefold exportfs -r /tmp --stdio}' ls /\n  \
ninefold exportfs -r '#I' --listen 'unix!/tmp/net.sock'\n  \
ninefold exportfs --ns my.ns --listen 'unix!/tmp/ns.sock'")]
pub struct Args {
    /// What to serve: a host directory, '#I', or (with --ns) a path in the name space.
    #[arg(short = 'r', long = "root", value_name = "PATH")]
    root: Option<PathBuf>,
    /// A namespace file (bind, mount, unmount, cd …) applied after the default name space.
    #[arg(long = "ns", value_name = "FILE")]
    ns: Option<PathBuf>,
    /// List each name of a union directory once (the first), as Linux programs expect;
    /// Plan 9 lists every member's entries.
    #[arg(long)]
    compact: bool,
    /// Read-only: refuse every create, remove, write and wstat (not with '#I').
    #[arg(short = 'R', long = "read-only")]
    read_only: bool,
    /// Speak 9P on standard input and output (for `{command}` mounts, ssh, inetd).
    #[arg(long)]
    stdio: bool,
    /// Listen on unix!/path or tcp!127.0.0.1!port and serve every connection.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Allow plain, unauthenticated TCP. Required for tcp! addresses, which must then be
    /// loopback.
    #[arg(long)]
    no_auth: bool,
    /// Largest 9P message size to offer, in bytes.
    #[arg(long, default_value_t = ninefold_proto::DEFAULT_MSIZE, value_parser = clap::value_parser!(u32).range(ninefold_proto::MIN_MSIZE as i64..))]
    msize: u32,
}

/// The tree to serve, and how to name it in messages.
async fn tree(a: &Args) -> Result<(Arc<dyn Tree>, String)> {
    match (&a.root, &a.ns) {
        (Some(r), None) if r.as_os_str() == LOCAL => {
            if a.read_only {
                return Err(UsageError::new(
                    "-R does not apply to '#I': a network cannot be read-only",
                )
                .into());
            }
            Ok((Arc::new(NetTree::new()), LOCAL.into()))
        }
        (Some(r), None) if !r.as_os_str().as_encoded_bytes().starts_with(b"#") => {
            let t = HostTree::new(r, a.read_only)
                .with_context(|| format!("cannot serve {}", r.display()))?;
            Ok((Arc::new(t), r.display().to_string()))
        }
        _ => namespace(a).await,
    }
}

/// The standard name space plus --ns, served from -r (default /).
async fn namespace(a: &Args) -> Result<(Arc<dyn Tree>, String)> {
    let extra = match &a.ns {
        Some(f) => Some(
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        ),
        None => None,
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "none".into());
    let dialer = Dialer {
        msize: Some(a.msize),
    };
    let (ns, _) = ninefold_ns::standard(&user, Arc::new(dialer), extra.as_deref())
        .await
        .map_err(|e| match &a.ns {
            Some(f) => anyhow!("{}: {e}", f.display()),
            None => anyhow!("{e}"),
        })?;
    let root = match &a.root {
        Some(r) => {
            let r = r
                .to_str()
                .ok_or_else(|| anyhow!("-r {}: not UTF-8", r.display()))?;
            NsPath::parse(r, ns.cwd())?
        }
        None => NsPath::root(),
    };
    let tree = NsTree::new(ns)
        .compact(a.compact)
        .read_only(a.read_only)
        .rooted_at(root.clone());
    // Fail now, not at the first client, when -r names nothing.
    tree.attach(&user, "")
        .await
        .with_context(|| format!("cannot serve {root}"))?;
    Ok((Arc::new(tree), format!("the name space at {root}")))
}

pub async fn run(a: Args) -> Result<()> {
    let (tree, what) = tree(&a).await?;
    raise_fd_limit();
    let config = Config {
        max_msize: a.msize,
        principal: None,
    };
    if a.stdio {
        let c = stdio();
        return serve(tree, c.reader, c.writer, config)
            .await
            .context("9P on stdio");
    }
    let Some(addr) = a.listen else {
        bail!("give --stdio or --listen ADDR");
    };
    let addr: Addr = addr.parse()?;
    if matches!(addr, Addr::Tcp { .. }) && !a.no_auth {
        bail!(
            "{addr}: plain TCP has no authentication; add --no-auth to serve on a loopback address"
        );
    }
    let listener = listen(&addr, false).await?;
    eprintln!(
        "ninefold exportfs: serving {what} on {}",
        listener.local_addr()?
    );
    let accept = async {
        loop {
            let (conn, peer) = listener.accept().await.context("accept")?;
            tracing::info!(%peer, "connection");
            let tree = tree.clone();
            let config = config.clone();
            tokio::spawn(async move {
                if let Err(e) = serve(tree, conn.reader, conn.writer, config).await {
                    tracing::info!(%peer, error = %e, "connection ended");
                }
            });
        }
    };
    tokio::select! {
        r = accept => r,
        _ = shutdown_signal() => Ok(()),
    }
}

/// Ctrl-C or SIGTERM: stop listening (the unix socket file is removed on the way out).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Every walked fid holds a file descriptor; the default soft limit of 1024 is too low for
/// a busy client, and the hard limit is ours to take.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        lim.current = lim.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            tracing::debug!(error = %e, "could not raise the open file limit");
        }
    }
}
