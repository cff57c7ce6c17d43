//! `ninefold exportfs`: serve a name space, a host directory, or this machine's network
//! (`#I`) over 9P (exportfs(4), u9fs).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use ninefold_fs::Tree;
use ninefold_hostfs::HostTree;
use ninefold_netfs::{NetTree, Policy};
use ninefold_ns::{Dialer, NsPath, NsTree};
use ninefold_server::{Config, serve};
use ninefold_transport::{Addr, listen, listen_tls, stdio, tls};

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
Who gets what:\n  \
--stdio, unix!   you (or whoever can open the socket, named by its uid): everything above\n  \
tls!             each client as the principal its key is authorized as; /net only with \
--net or --net-policy (and then never to this machine's loopback or link-local addresses \
unless the policy says so), /prog only with --prog. Logs name the principal on every \
connection, attach, connect and announce.\n  \
tcp!             loopback only, with --no-auth: no authentication at all\n\n\
Whoever reaches an exported network opens connections from this machine and listens on its \
ports; through /prog they signal your processes. -R is an error with '#I': a network cannot \
be made read-only. (A directory named #I is ./#I.)\n\nExamples:\n  ninefold exportfs -r ~/src --listen 'unix!/tmp/src.sock'\n  \
ninefold exportfs -r /srv/data -R --listen 'tcp!127.0.0.1!5640' --no-auth\n  \
ninefold 9p -a '{ninefold exportfs -r /tmp --stdio}' ls /\n  \
ninefold exportfs -r '#I' --listen 'unix!/tmp/net.sock'\n  \
ninefold exportfs -r /proc -R --listen 'unix!/tmp/proc.sock'   (then, in a session: \
ninefold mount 'unix!/tmp/proc.sock' /proc; ps -e)\n  \
ninefold exportfs --ns my.ns --listen 'unix!/tmp/ns.sock'\n  \
ninefold exportfs --net-policy net.rules --listen 'tls!*!17007'")]
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
    /// Listen on tls!*!17007, unix!/path or tcp!127.0.0.1!port and serve every connection.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Export this machine's /net to TLS clients: every authorized principal may connect and
    /// announce, except to loopback and link-local addresses.
    #[arg(long)]
    net: bool,
    /// Rules saying which principal may connect or announce where (implies --net; see
    /// the netfs policy format: PRINCIPAL connect|announce tcp|udp|* ADDR/BITS|* PORTS).
    #[arg(long, value_name = "FILE")]
    net_policy: Option<PathBuf>,
    /// Export /prog (your processes, which its clients may signal) to TLS clients.
    #[arg(long)]
    prog: bool,
    /// Our key for tls! (default: key in ~/.config/ninefold, made by `ninefold key`).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The clients admitted over tls!, one `ed25519 KEY PRINCIPAL` per line (default:
    /// authorized_keys in ~/.config/ninefold).
    #[arg(long, value_name = "FILE")]
    authorized_keys: Option<PathBuf>,
    /// Allow plain, unauthenticated TCP. Required for tcp! addresses, which must then be
    /// loopback.
    #[arg(long)]
    no_auth: bool,
    /// Largest 9P message size to offer, in bytes.
    #[arg(long, default_value_t = ninefold_proto::DEFAULT_MSIZE, value_parser = clap::value_parser!(u32).range(ninefold_proto::MIN_MSIZE as i64..))]
    msize: u32,
}

/// What this exportfs serves, and to whom: a tree shared by every connection, or one
/// built per connection for its principal (when a /net policy applies, or the client
/// came over the network).
struct Export {
    root: Option<PathBuf>,
    /// The --ns file and its text.
    ns_path: Option<PathBuf>,
    extra: Option<String>,
    compact: bool,
    read_only: bool,
    msize: u32,
    /// The /net policy; None: /net is not exported to remote principals.
    policy: Option<Arc<Policy>>,
    /// /prog is exported to remote principals.
    prog: bool,
    /// Built once, for clients that are this user (stdio, unix) when no policy applies.
    shared: Option<Arc<dyn Tree>>,
    what: String,
}

impl Export {
    async fn new(a: &Args) -> Result<Export> {
        let extra = match &a.ns {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read {}", f.display()))?,
            ),
            None => None,
        };
        let policy = match (&a.net_policy, a.net) {
            (Some(f), _) => {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read {}", f.display()))?;
                Some(Arc::new(
                    Policy::parse(&text).map_err(|e| anyhow!("{}: {e}", f.display()))?,
                ))
            }
            (None, true) => Some(Arc::new(Policy::allow_all())),
            (None, false) => None,
        };
        let mut e = Export {
            root: a.root.clone(),
            ns_path: a.ns.clone(),
            extra,
            compact: a.compact,
            read_only: a.read_only,
            msize: a.msize,
            policy,
            prog: a.prog,
            shared: None,
            what: String::new(),
        };
        if e.is_net() && a.read_only {
            return Err(UsageError::new(
                "-R does not apply to '#I': a network cannot be read-only",
            )
            .into());
        }
        // Built now, also when each connection gets its own, so that a bad -r or --ns
        // fails at start and not at the first client.
        let (tree, what) = e.build(&user(), false).await?;
        e.what = what;
        if e.policy.is_none() {
            e.shared = Some(tree);
        }
        Ok(e)
    }

    fn is_net(&self) -> bool {
        self.extra.is_none() && self.root.as_ref().is_some_and(|r| r.as_os_str() == LOCAL)
    }

    /// The tree for one client: `principal` as the transport proved it (or this user), and
    /// whether it came over the network.
    async fn tree_for(&self, principal: &str, remote: bool) -> Result<Arc<dyn Tree>> {
        match &self.shared {
            Some(t) if !remote => Ok(t.clone()),
            _ => Ok(self.build(principal, remote).await?.0),
        }
    }

    /// This machine's network for `principal`, kept to the policy if there is one. A
    /// remote principal without one gets a network that refuses everything, wherever a
    /// namespace file may have bound it.
    fn net(&self, principal: &str, remote: bool) -> NetTree {
        match &self.policy {
            Some(p) => NetTree::new().with_policy(p.clone(), principal),
            None if remote => NetTree::new().with_policy(Arc::new(Policy::deny_all()), principal),
            None => NetTree::new(),
        }
    }

    async fn build(&self, principal: &str, remote: bool) -> Result<(Arc<dyn Tree>, String)> {
        // With --ns, -r names a path in the name space, whatever it looks like.
        match &self.root {
            _ if self.extra.is_some() => self.namespace(principal, remote).await,
            Some(r) if r.as_os_str() == LOCAL => {
                if remote && self.policy.is_none() {
                    bail!("/net is exported only when asked: add --net or --net-policy FILE");
                }
                Ok((Arc::new(self.net(principal, remote)), LOCAL.into()))
            }
            Some(r) if !r.as_os_str().as_encoded_bytes().starts_with(b"#") => {
                let t = HostTree::new(r, self.read_only)
                    .with_context(|| format!("cannot serve {}", r.display()))?;
                Ok((Arc::new(t), r.display().to_string()))
            }
            _ => self.namespace(principal, remote).await,
        }
    }

    /// The standard name space plus --ns, served from -r (default /). A remote principal
    /// gets /net only if a policy was given, and /prog only with --prog.
    async fn namespace(&self, principal: &str, remote: bool) -> Result<(Arc<dyn Tree>, String)> {
        // The user's file first, so that its errors give its own line numbers.
        let mut extra = self.extra.clone().unwrap_or_default();
        if !extra.is_empty() && !extra.ends_with('\n') {
            extra.push('\n');
        }
        if remote && self.policy.is_none() {
            extra.push_str("unmount /net\n");
        }
        if remote && !self.prog {
            extra.push_str("unmount /prog\n");
        }
        let dialer = Arc::new(Dialer {
            msize: Some(self.msize),
        });
        let (ns, _) = ninefold_ns::standard_with_net(
            principal,
            dialer,
            Arc::new(self.net(principal, remote)),
            Some(&extra),
        )
        .await
        .map_err(|e| match &self.ns_path {
            Some(f) => anyhow!("{}: {e}", f.display()),
            None => anyhow!("{e}"),
        })?;
        let root = match &self.root {
            Some(r) => {
                let r = r
                    .to_str()
                    .ok_or_else(|| anyhow!("-r {}: not UTF-8", r.display()))?;
                NsPath::parse(r, ns.cwd())?
            }
            None => NsPath::root(),
        };
        let tree = NsTree::new(ns)
            .compact(self.compact)
            .read_only(self.read_only)
            .rooted_at(root.clone());
        tree.attach(principal, "")
            .await
            .with_context(|| format!("cannot serve {root}"))?;
        Ok((Arc::new(tree), format!("the name space at {root}")))
    }
}

/// The user running this exportfs.
fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "none".into())
}

impl Args {
    /// A daemon, not a helper on stdio.
    pub fn listens(&self) -> bool {
        self.listen.is_some()
    }
}

pub async fn run(a: Args) -> Result<()> {
    let export = Arc::new(Export::new(&a).await?);
    raise_fd_limit();
    let config = Config {
        max_msize: a.msize,
        principal: None,
    };
    if a.stdio {
        let c = stdio();
        let tree = export.tree_for(&user(), false).await?;
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
            "{addr}: plain TCP has no authentication; add --no-auth to serve on a loopback \
             address, or use tls!host!port"
        );
    }
    let listener = match &addr {
        Addr::Tls { .. } => {
            if export.is_net() && export.policy.is_none() {
                return Err(UsageError::new(
                    "/net is exported over the network only when asked: add --net or \
                     --net-policy FILE",
                )
                .into());
            }
            let home = tls::home()?;
            let server = tls::Server::from_files(
                &a.key.clone().unwrap_or_else(|| home.join(tls::KEY_FILE)),
                &a.authorized_keys
                    .clone()
                    .unwrap_or_else(|| home.join(tls::AUTHORIZED_KEYS)),
            )?;
            eprintln!(
                "ninefold exportfs: key {} ({})",
                server.public(),
                server.public().fingerprint()
            );
            listen_tls(&addr, server).await?
        }
        _ => listen(&addr, false).await?,
    };
    let remote = matches!(addr, Addr::Tls { .. });
    eprintln!(
        "ninefold exportfs: serving {} on {}",
        export.what,
        listener.local_addr()?
    );
    let accept = async {
        loop {
            let incoming = listener.accept().await.context("accept")?;
            let export = export.clone();
            let mut config = config.clone();
            tokio::spawn(async move {
                let from = incoming.addr();
                let (conn, peer) = match incoming.establish().await {
                    Ok(c) => c,
                    // Not one line per connection of a flood.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        tracing::debug!(peer = %from, error = %e, "refused");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(peer = %from, error = %e, "refused");
                        return;
                    }
                };
                let principal = peer.principal.clone().unwrap_or_else(user);
                tracing::info!(peer = %peer.addr, %principal, "connection");
                config.principal = peer.principal;
                let tree = match export.tree_for(&principal, remote).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::warn!(peer = %peer.addr, %principal, error = %e, "cannot serve");
                        return;
                    }
                };
                match serve(tree, conn.reader, conn.writer, config).await {
                    Ok(()) => tracing::info!(peer = %peer.addr, %principal, "hung up"),
                    Err(e) => {
                        tracing::info!(peer = %peer.addr, %principal, error = %e, "connection ended")
                    }
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
