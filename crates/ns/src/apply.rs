//! Running namespace-file operations on a name space: bind, mount (9P servers named by dial
//! strings, `/srv` entries, `{command}`), import, unmount, cd, clear, and `. file`.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::BytesMut;
use ninefold_fs::{Error, Result, Tree};
use ninefold_proto::om;

use crate::flags::Flags;
use crate::namespace::Namespace;
use crate::nsfile::{Line, Op, parse};

/// Whether a mount's source is a file of the name space (`/srv/NAME`, `#s/NAME`, a
/// relative name), not a dial string.
pub fn names_a_file(source: &str) -> bool {
    source.starts_with(['/', '#', '.'])
}

/// Reaches 9P servers for `mount` and `import`. The name space itself knows nothing of
/// sockets; the program that builds one says how to dial.
#[async_trait]
pub trait Connector: Send + Sync {
    /// A connection to the 9P server `source` names (`unix!path`, `tcp!host!port`,
    /// `{command args}`): its tree, not yet attached.
    async fn connect(&self, source: &str) -> Result<Arc<dyn Tree>>;

    /// A connection to `host`'s exported name space (`import`).
    async fn import(&self, host: &str) -> Result<Arc<dyn Tree>> {
        let _ = host;
        Err(Error::new("import: no remote transport in this program"))
    }
}

/// A connector that dials nothing (tests, and name spaces made only of local trees).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConnector;

#[async_trait]
impl Connector for NoConnector {
    async fn connect(&self, source: &str) -> Result<Arc<dyn Tree>> {
        Err(Error::new(format!("cannot dial {source} here")))
    }
}

/// Largest namespace file `. file` reads, and how deep includes nest.
const MAX_FILE: usize = 1 << 20;
const MAX_DEPTH: usize = 8;

/// An operation that failed, with the line it was on.
#[derive(Debug, Clone)]
pub struct ApplyError {
    pub line: usize,
    pub op: String,
    pub error: Error,
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.op, self.error)
    }
}

impl std::error::Error for ApplyError {}

/// What applying needs besides the name space.
pub struct Context<'a> {
    pub connector: &'a dyn Connector,
    pub vars: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Context")
    }
}

impl Namespace {
    /// `mount [flags] source old spec`: `source` is a dial string or a name in this name
    /// space of a posted connection (`/srv/NAME`).
    pub async fn mount_source(
        &self,
        connector: &dyn Connector,
        source: &str,
        old: &str,
        flags: Flags,
        spec: &str,
    ) -> Result<()> {
        let tree = if names_a_file(source) {
            self.posted(source).await?
        } else {
            connector.connect(source).await?
        };
        self.mount(tree, source, old, flags, spec).await
    }

    /// Apply parsed lines in order, stopping at the first failure (`-q` lines fail quietly).
    pub async fn apply(
        &mut self,
        lines: &[Line],
        cx: &Context<'_>,
    ) -> std::result::Result<(), ApplyError> {
        self.apply_depth(lines, cx, 0).await
    }

    async fn apply_depth(
        &mut self,
        lines: &[Line],
        cx: &Context<'_>,
        depth: usize,
    ) -> std::result::Result<(), ApplyError> {
        for l in lines {
            let fail = |error: Error| ApplyError {
                line: l.number,
                op: describe(&l.op),
                error,
            };
            let (r, quiet) = match &l.op {
                Op::Bind {
                    flags,
                    quiet,
                    new,
                    old,
                } => (self.bind(new, old, *flags).await, *quiet),
                Op::Mount {
                    flags,
                    quiet,
                    source,
                    old,
                    spec,
                } => (
                    self.mount_source(cx.connector, source, old, *flags, spec)
                        .await,
                    *quiet,
                ),
                Op::Import {
                    flags,
                    host,
                    remote,
                    mountpoint,
                } => {
                    let r = match cx.connector.import(host).await {
                        // Printed as a mount of the host's address with the remote path as
                        // its spec, which reads back (ns has no import lines).
                        Ok(t) => self.mount(t, host, mountpoint, *flags, remote).await,
                        Err(e) => Err(e),
                    };
                    (r, false)
                }
                Op::Unmount { new, old } => (self.unmount(new.as_deref(), old).await, false),
                Op::Cd(d) => (self.chdir(d).await, false),
                Op::Clear => {
                    self.clear();
                    (Ok(()), false)
                }
                Op::Include(file) => {
                    if depth >= MAX_DEPTH {
                        return Err(fail(Error::new("namespace files nested too deeply")));
                    }
                    let text = self.read_file(file).await.map_err(fail)?;
                    let inner = parse(&text, cx.vars)
                        .map_err(|e| fail(Error::new(format!("{file}: {e}"))))?;
                    Box::pin(self.apply_depth(&inner, cx, depth + 1))
                        .await
                        .map_err(|e| fail(Error::new(format!("{file}: {e}"))))?;
                    (Ok(()), false)
                }
            };
            match r {
                Err(e) if !quiet => return Err(fail(e)),
                Err(e) => tracing::debug!(line = l.number, error = %e, "quiet operation failed"),
                Ok(()) => {}
            }
        }
        Ok(())
    }

    /// A whole (small) file, read through this name space.
    pub async fn read_file(&self, name: &str) -> Result<String> {
        let path = self.path(name)?;
        let place = self.resolve(&path, true).await?;
        if place.chan.is_dir() {
            return Err(Error::IS_DIR);
        }
        let node = place.chan.node.clone_node().await?;
        node.open(om::OREAD).await?;
        let mut buf = BytesMut::new();
        let result = loop {
            match node.read(buf.len() as u64, 64 * 1024).await {
                Ok(b) if b.is_empty() => break Ok(()),
                Ok(b) if buf.len() + b.len() > MAX_FILE => break Err(Error::TOO_BIG),
                Ok(b) => buf.extend_from_slice(&b),
                Err(e) => break Err(e),
            }
        };
        node.clunk().await;
        result?;
        String::from_utf8(buf.to_vec()).map_err(|_| Error::new("namespace file is not UTF-8"))
    }
}

/// The operation as a short text for error messages.
fn describe(op: &Op) -> String {
    match op {
        Op::Bind { new, old, .. } => format!("bind {new} {old}"),
        Op::Mount { source, old, .. } => format!("mount {source} {old}"),
        Op::Import {
            host, mountpoint, ..
        } => format!("import {host} {mountpoint}"),
        Op::Unmount { new: Some(n), old } => format!("unmount {n} {old}"),
        Op::Unmount { new: None, old } => format!("unmount {old}"),
        Op::Cd(d) => format!("cd {d}"),
        Op::Clear => "clear".into(),
        Op::Include(f) => format!(". {f}"),
    }
}
