//! The standard name space: the host's root at `/`, the built-in devices by `#` name, and
//! the default namespace file (our `/lib/namespace`, in `default.ns`).
//!
//! Linux's own /proc, /dev and /sys stay as they are; Plan 9 directories that Linux lacks
//! come from the root device `#/` unioned after the host's `/`, so host names win.

use std::sync::Arc;

use ninefold_devs::{ConsTree, EnvTree, PipeTree, SrvTree};
use ninefold_fs::synth::{Entry, SynthTree};
use ninefold_fs::{Error, Tree};
use ninefold_hostfs::HostTree;
use ninefold_netfs::NetTree;
use ninefold_procfs::{NsSource, ProcTree};

use crate::apply::{Connector, Context};
use crate::devices::{Devices, Posted};
use crate::namespace::Namespace;
use crate::nsfile::parse;

/// The default namespace file.
pub const DEFAULT_NS: &str = include_str!("default.ns");

/// Mount points Plan 9 has and Linux does not (`mnt/term` inside `mnt`).
pub const PLAN9_DIRS: &[&str] = &["n", "net", "net.alt", "prog", "srv", "mnt", "mnt/term"];

/// The shared state of a standard name space's devices.
#[derive(Debug, Clone)]
pub struct Standard {
    pub env: EnvTree,
    pub srv: SrvTree,
}

#[derive(Debug)]
struct SrvPosts(SrvTree);

impl Posted for SrvPosts {
    fn lookup(&self, name: &str) -> Option<Arc<dyn Tree>> {
        self.0.get(name).map(|(t, _)| t)
    }
}

/// The root device: empty directories to mount on.
pub fn root_device() -> Arc<dyn Tree> {
    let top = PLAN9_DIRS.iter().filter(|d| !d.contains('/'));
    Arc::new(SynthTree::new(Entry::dir(top.map(|d| {
        let prefix = format!("{d}/");
        let inner = PLAN9_DIRS
            .iter()
            .filter_map(|sub| sub.strip_prefix(&prefix))
            .map(|name| (name, Entry::Dir(Default::default())));
        (*d, Entry::dir(inner))
    }))))
}

/// `#/` (`root`, or [`root_device`]), `#I` (`net`, or this machine's whole network), `#s`,
/// `#c`, `#e`, `#|`. Dial strings written into new `/srv` files are connected with
/// `connector`.
pub fn devices(
    user: &str,
    connector: Arc<dyn Connector>,
    root: Option<Arc<dyn Tree>>,
    proc_ns: Option<Arc<dyn NsSource>>,
    net: Option<Arc<dyn Tree>>,
) -> (Devices, Standard) {
    let root = root.unwrap_or_else(root_device);
    let poster: ninefold_devs::Poster = Arc::new(move |source: String| {
        let connector = connector.clone();
        Box::pin(async move { connector.connect(&source).await })
    });
    let srv = SrvTree::new(Some(poster)).with_owner(user);
    let env = EnvTree::from_process().with_owner(user);
    let mut d = Devices::new();
    d.add('/', root);
    d.add('I', net.unwrap_or_else(|| Arc::new(NetTree::new())));
    d.add_srv('s', Arc::new(srv.clone()), Arc::new(SrvPosts(srv.clone())));
    d.add('c', Arc::new(ConsTree::new(user)));
    d.add('e', Arc::new(env.clone()));
    d.add_fresh('|', Arc::new(PipeTree::new().with_owner(user)));
    let procs = match proc_ns {
        Some(source) => ProcTree::for_this_user().with_ns(source),
        None => ProcTree::for_this_user(),
    };
    d.add('p', Arc::new(procs));
    (d, Standard { env, srv })
}

/// The standard name space for `user`, with `extra` (a namespace file's text) applied
/// after the default one.
pub async fn standard(
    user: &str,
    connector: Arc<dyn Connector>,
    extra: Option<&str>,
) -> std::result::Result<(Namespace, Standard), String> {
    let host: Arc<dyn Tree> = Arc::new(
        HostTree::new(std::path::Path::new("/"), false)
            .map_err(|e| format!("cannot open /: {}", Error::from(e)))?,
    );
    standard_over(host, None, user, connector, None, None, extra).await
}

/// As [`standard`], with `net` as `#I` (bound at /net): an exporter gives each remote
/// principal a network that keeps to its policy.
pub async fn standard_with_net(
    user: &str,
    connector: Arc<dyn Connector>,
    net: Arc<dyn Tree>,
    extra: Option<&str>,
) -> std::result::Result<(Namespace, Standard), String> {
    let host: Arc<dyn Tree> = Arc::new(
        HostTree::new(std::path::Path::new("/"), false)
            .map_err(|e| format!("cannot open /: {}", Error::from(e)))?,
    );
    let (devs, standard) = devices(user, connector.clone(), None, None, Some(net));
    build(host, devs, standard, user, connector, None, extra).await
}

/// As [`standard`], over a host root opened earlier (a session opens it before it moves
/// into its own root) and, if given, a tree of its own for `#/` (a session's is a private
/// host directory, so that `mkdir /n/x` is seen by Linux and the name space alike), built
/// from `base` instead of the default namespace file if given. `proc_ns` tells `/prog/N/ns`
/// of processes in ninefold sessions.
#[allow(clippy::too_many_arguments)]
pub async fn standard_over(
    host: Arc<dyn Tree>,
    root: Option<Arc<dyn Tree>>,
    user: &str,
    connector: Arc<dyn Connector>,
    proc_ns: Option<Arc<dyn NsSource>>,
    base: Option<&str>,
    extra: Option<&str>,
) -> std::result::Result<(Namespace, Standard), String> {
    let (devs, standard) = devices(user, connector.clone(), root, proc_ns, None);
    build(host, devs, standard, user, connector, base, extra).await
}

/// The name space over `host` with `devs`: the default namespace file (or `base`), then
/// `extra`.
async fn build(
    host: Arc<dyn Tree>,
    devs: Devices,
    standard: Standard,
    user: &str,
    connector: Arc<dyn Connector>,
    base: Option<&str>,
    extra: Option<&str>,
) -> std::result::Result<(Namespace, Standard), String> {
    let mut ns = Namespace::new(host, devs, user)
        .await
        .map_err(|e| format!("attach /: {e}"))?;
    let env = standard.env.clone();
    let vars = move |name: &str| env.get(name).and_then(|v| String::from_utf8(v).ok());
    let cx = Context {
        connector: connector.as_ref(),
        vars: &vars,
    };
    let lines =
        parse(base.unwrap_or(DEFAULT_NS), &vars).map_err(|e| format!("default namespace: {e}"))?;
    ns.apply(&lines, &cx)
        .await
        .map_err(|e| format!("default namespace: {e}"))?;
    if let Some(text) = extra {
        let lines = parse(text, &vars).map_err(|e| e.to_string())?;
        ns.apply(&lines, &cx).await.map_err(|e| e.to_string())?;
    }
    Ok((ns, standard))
}
