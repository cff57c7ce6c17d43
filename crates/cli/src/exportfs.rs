//! `ninefold exportfs`: serve a host directory, or this machine's network (`#I`), over 9P
//! (exportfs(4), u9fs).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use ninefold_fs::Tree;
use ninefold_hostfs::HostTree;
use ninefold_netfs::NetTree;
use ninefold_server::{Config, serve};
use ninefold_transport::{Addr, listen, stdio};

use crate::UsageError;
use crate::net::LOCAL;

/// Serve a directory, or this machine's network, over 9P, on stdin/stdout or on a
/// listening socket.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("how").required(true).args(["stdio", "listen"])))]
#[command(
    after_help = "With -r '#I' the tree served is this machine's network as Plan 9's /net \
(tcp, udp, cs, dns), so another process — `ninefold dial -n ADDR`, `ninefold listen1 -n \
ADDR`, or any 9P client — dials and listens from here. Whoever can connect can then open \
connections from this machine and listen on its ports as you: serve it only to yourself (a \
unix socket, which other users cannot open by default) or to trusted clients. -R is an \
error with '#I': a network cannot be made read-only. (A directory named #I is ./#I.)\n\n\
Examples:\n  ninefold exportfs -r ~/src --listen 'unix!/tmp/src.sock'\n  \
ninefold exportfs -r /srv/data -R --listen 'tcp!127.0.0.1!5640' --no-auth\n  \
ninefold 9p -a '{ninefold exportfs -r /tmp --stdio}' ls /\n  \
ninefold exportfs -r '#I' --listen 'unix!/tmp/net.sock'"
)]
pub struct Args {
    /// The directory to serve, clients never reaching outside it; or '#I' for the network.
    #[arg(short = 'r', long = "root", value_name = "DIR")]
    root: PathBuf,
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

pub async fn run(a: Args) -> Result<()> {
    let tree: Arc<dyn Tree> = if a.root.as_os_str() == LOCAL {
        if a.read_only {
            return Err(UsageError::new(
                "-R does not apply to '#I': a network cannot be read-only",
            )
            .into());
        }
        Arc::new(NetTree::new())
    } else {
        Arc::new(
            HostTree::new(&a.root, a.read_only)
                .with_context(|| format!("cannot serve {}", a.root.display()))?,
        )
    };
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
        "ninefold exportfs: serving {} on {}",
        a.root.display(),
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
