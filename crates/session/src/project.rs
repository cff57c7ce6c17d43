//! Showing the name space to Linux programs: every mount point of the in-process name space
//! becomes a Linux mount in the session's mount namespace. A plain replace-bind of a host
//! file or directory is a Linux bind mount (native speed); anything else — a union, a
//! device, a 9P mount — is a FUSE mount serving that subtree of the name space, which
//! reads the live mount table, so later changes under it need no Linux mount of their own.

use std::any::Any;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ninefold_fs::{Error, Result, Tree};
use ninefold_ns::{Connector, Namespace, NsPath, NsTree, Op, Order, Source};
use nix::mount::{MntFlags, umount2};

/// What a FUSE mount gives back: a value that unmounts when dropped.
pub type FuseMount = std::io::Result<Box<dyn Any + Send>>;

/// Mounts a tree at a Linux directory with FUSE.
pub type FuseMounter = Arc<
    dyn Fn(Arc<dyn Tree>, PathBuf) -> std::pin::Pin<Box<dyn Future<Output = FuseMount> + Send>>
        + Send
        + Sync,
>;

/// A Linux mount this session made.
enum Made {
    Bind,
    /// A FUSE mount serving the name space's subtree there.
    Fuse(Handle),
    /// A bind from the FUSE connection the session's first mount points share, which
    /// serves the whole name space; the connection ends with the last of them.
    Shared(Handle),
}

/// A FUSE mount's handle (`ninefold_fuse::MountHandle`, from the mounter): dropping the
/// last reference unmounts.
type Handle = Arc<std::sync::Mutex<Box<dyn Any + Send>>>;

fn handle(h: Box<dyn Any + Send>) -> Handle {
    Arc::new(std::sync::Mutex::new(h))
}

/// The session's name space and the Linux mounts that show it.
pub struct Projector {
    pub ns: Namespace,
    connector: Arc<dyn Connector>,
    fuse: FuseMounter,
    made: HashMap<PathBuf, Made>,
}

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("mounts", &self.made.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn linux(path: &NsPath) -> Option<PathBuf> {
    if path.device.is_some() {
        return None;
    }
    Some(PathBuf::from(path.to_string()))
}

impl Projector {
    pub fn new(ns: Namespace, connector: Arc<dyn Connector>, fuse: FuseMounter) -> Projector {
        Projector {
            ns,
            connector,
            fuse,
            made: HashMap::new(),
        }
    }

    /// Show every mount point the name space has now (at session start). `/` is the
    /// session's root, built from the host's entries and the Plan 9 directories.
    ///
    /// A session starts with several FUSE mount points (/mnt, /net, /srv, /prog). Given
    /// `scratch`, an empty directory private to the session, they share one FUSE
    /// connection: the whole name space is mounted once at `scratch`, each mount point is
    /// bound from there, and `scratch` is let go (the binds keep the connection). One
    /// mount, one handshake and one server thread instead of one each were a third of a
    /// session's start (B7). Otherwise the FUSE mounts start together.
    pub async fn project_all(&mut self, scratch: Option<&Path>) -> Result<()> {
        let mut fuse: Vec<(PathBuf, NsPath)> = Vec::new();
        for p in self.ns.mount_points() {
            if p.elems.is_empty() {
                continue;
            }
            // Beneath a FUSE mount being made the name space shows it already (nothing
            // has been looked up there yet), and a mount of its own could land under it.
            if let Some(at) = linux(&p)
                && fuse.iter().any(|(f, _)| at.starts_with(f) && at != *f)
            {
                continue;
            }
            if let Some(at) = self.prepare(&p).await? {
                fuse.push((at, p));
            }
        }
        // The mounter shows a /proc with each reader's own process directory, which needs
        // a mount of its own.
        let (alone, shareable): (Vec<_>, Vec<_>) = fuse
            .into_iter()
            .partition(|(at, _)| at == Path::new("/proc"));
        let fuse = match scratch {
            Some(scratch) if shareable.len() > 1 => {
                self.share_one_connection(scratch, shareable).await?;
                alone
            }
            _ => shareable.into_iter().chain(alone).collect(),
        };
        let mounting = fuse.into_iter().map(|(at, p)| {
            let m = (self.fuse)(self.subtree(&p), at.clone());
            async move { (at, m.await) }
        });
        let done = futures_util::future::join_all(mounting).await;
        let mut first_error = None;
        for (at, r) in done {
            match r {
                Ok(handle) => {
                    self.made.insert(at, Made::Fuse(self::handle(handle)));
                }
                Err(e) => {
                    first_error.get_or_insert_with(|| {
                        Error::new(format!("FUSE mount on {}: {e}", at.display()))
                    });
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// See [`Projector::project_all`].
    async fn share_one_connection(
        &mut self,
        scratch: &Path,
        points: Vec<(PathBuf, NsPath)>,
    ) -> Result<()> {
        let root: Arc<dyn Tree> = Arc::new(NsTree::new(self.ns.clone()).compact(true));
        let handle = (self.fuse)(root, scratch.to_path_buf())
            .await
            .map_err(|e| Error::new(format!("FUSE mount on {}: {e}", scratch.display())))?;
        let shared = self::handle(handle);
        // Binding looks the names up through the new mount (see `served`).
        let scratch = scratch.to_path_buf();
        let targets: Vec<PathBuf> = points.into_iter().map(|(at, _)| at).collect();
        let bound = served(move || {
            let bound: Vec<_> = targets
                .into_iter()
                .map(|at| {
                    let from = scratch.join(at.strip_prefix("/").unwrap_or(&at));
                    let r = crate::root::bind(&from, &at).map_err(|e| {
                        Error::new(format!("bind {} {}: {e}", from.display(), at.display()))
                    });
                    (at, r)
                })
                .collect();
            if let Err(e) = umount2(&scratch, MntFlags::MNT_DETACH) {
                tracing::warn!(at = %scratch.display(), error = %e, "unmount");
            }
            bound
        })
        .await?;
        let mut first_error = None;
        for (at, r) in bound {
            match r {
                Ok(()) => {
                    self.made.insert(at, Made::Shared(shared.clone()));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The connection an operation needs, made without the projector (callers lock it
    /// only afterwards, so a slow ssh login holds up no other request): an `import`'s,
    /// or a `mount`'s whose source is a dial string. None for everything else.
    pub async fn dial_first(connector: &dyn Connector, op: &Op) -> Result<Option<Arc<dyn Tree>>> {
        match op {
            Op::Import { host, .. } => Ok(Some(connector.import(host).await?)),
            Op::Mount { source, .. } if !ninefold_ns::names_a_file(source) => {
                Ok(Some(connector.connect(source).await?))
            }
            _ => Ok(None),
        }
    }

    /// Apply one operation to the name space, then to Linux.
    pub async fn apply(&mut self, op: &Op) -> Result<()> {
        self.apply_dialed(op, None).await
    }

    /// As [`Projector::apply`], with the connection [`Projector::dial_first`] made.
    pub async fn apply_dialed(&mut self, op: &Op, dialed: Option<Arc<dyn Tree>>) -> Result<()> {
        match op {
            Op::Bind {
                flags, new, old, ..
            } => {
                self.ns.bind(new, old, *flags).await?;
                self.project(&self.ns.path(old)?).await
            }
            Op::Mount {
                flags,
                source,
                old,
                spec,
                ..
            } => {
                match dialed {
                    Some(tree) => self.ns.mount(tree, source, old, *flags, spec).await?,
                    None => {
                        self.ns
                            .mount_source(self.connector.as_ref(), source, old, *flags, spec)
                            .await?
                    }
                }
                self.project(&self.ns.path(old)?).await
            }
            Op::Unmount { new, old } => {
                self.ns.unmount(new.as_deref(), old).await?;
                self.project(&self.ns.path(old)?).await
            }
            // The remote exportfs serves its standard name space; the attach name (the
            // remote path) picks the subtree. The mount is recorded with `host` as its
            // source, a dial string (`ninefold import` sends `ssh!user@host!port!options`),
            // so `ns` prints `mount -a ssh!gw /net /net`, which reads back as the same
            // import.
            Op::Import {
                flags,
                host,
                remote,
                mountpoint,
            } => {
                let tree = match dialed {
                    Some(t) => t,
                    None => self.connector.import(host).await?,
                };
                self.ns
                    .mount(tree, host, mountpoint, *flags, remote)
                    .await?;
                self.project(&self.ns.path(mountpoint)?).await
            }
            Op::Cd(_) => Err(Error::new("cd: change directory in your shell")),
            Op::Clear => Err(Error::new("clear: start a new session instead")),
            Op::Include(_) => Err(Error::new(". file: give the file to newns -n")),
        }
    }

    /// Make the Linux mount at `old` show what the name space has there.
    async fn project(&mut self, old: &NsPath) -> Result<()> {
        let Some(at) = self.prepare(old).await? else {
            return Ok(());
        };
        let handle = (self.fuse)(self.subtree(old), at.clone())
            .await
            .map_err(|e| Error::new(format!("FUSE mount on {}: {e}", at.display())))?;
        self.made.insert(at, Made::Fuse(self::handle(handle)));
        Ok(())
    }

    /// After the Linux mount at `at` went away: the FUSE mount it lay beneath forgets what
    /// it looked up there. The mount had hidden that entry, and the kernel would go on
    /// showing it — what the name space had there before the mount, or what the
    /// mount's own bind looked up — for its entry timeout.
    async fn uncover(&self, at: &Path) {
        let beneath = self
            .made
            .iter()
            .filter(|(p, _)| at.starts_with(p) && at != p.as_path())
            .filter_map(|(p, m)| match m {
                // A FUSE mount's root is the name space's there; a shared one's is `/`.
                Made::Fuse(h) => Some((p.as_os_str().len(), h.clone(), at.strip_prefix(p))),
                Made::Shared(h) => Some((p.as_os_str().len(), h.clone(), at.strip_prefix("/"))),
                Made::Bind => None,
            })
            .max_by_key(|(len, ..)| *len);
        let Some((_, h, Ok(rel))) = beneath else {
            return;
        };
        let rel = rel.to_path_buf();
        // The kernel takes the directory's lock, which a request we serve may hold.
        let r = served(move || {
            let h = h.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(m) = h.downcast_ref::<ninefold_fuse::MountHandle>() {
                m.forget(&rel);
            }
        })
        .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "forgetting a FUSE entry");
        }
    }

    /// The name space's subtree at `old`, as a FUSE mount there serves it.
    fn subtree(&self, old: &NsPath) -> Arc<dyn Tree> {
        Arc::new(
            NsTree::new(self.ns.clone())
                .compact(true)
                .rooted_at(old.clone()),
        )
    }

    /// Everything [`Projector::project`] does but the FUSE mount: where that must go, if
    /// one is needed.
    async fn prepare(&mut self, old: &NsPath) -> Result<Option<PathBuf>> {
        let Some(at) = linux(old) else {
            // A device's own files (`bind x '#c/null'`) are seen through the mounts that
            // show that device.
            return Ok(None);
        };
        // Under a FUSE mount too the change gets a Linux mount of its own: the FUSE view
        // would show it for new lookups, but the kernel keeps what it looked up before
        // (for its entry timeout), so `[ -d /mnt/term ]` then a bind on it would go on
        // showing the old directory.
        if let Some(m) = self.made.remove(&at) {
            drop_mount(at.clone(), m).await;
            self.uncover(&at).await;
        }
        let members = self.ns.members_at(&old.to_string()).await?;
        let Some(members) = members else {
            return Ok(None);
        };
        let host_bind = match &members[..] {
            [m] if m.flags.order == Order::Replace && m.to.dev == 0 => match &m.source {
                Source::Bind(src) if !src.starts_with('#') => Some(PathBuf::from(src)),
                _ => None,
            },
            _ => None,
        };
        if let Some(src) = host_bind {
            let to = at.clone();
            served(move || {
                crate::root::bind(&src, &to).map_err(|e| {
                    Error::new(format!("bind {} {}: {e}", src.display(), to.display()))
                })
            })
            .await??;
            self.made.insert(at, Made::Bind);
            return Ok(None);
        }
        Ok(Some(at))
    }
}

/// Takes a Linux mount of the session's away (a FUSE mount's server with it).
async fn drop_mount(at: PathBuf, m: Made) {
    let r = served(move || {
        let detach = || {
            if let Err(e) = umount2(&at, MntFlags::MNT_DETACH) {
                tracing::warn!(at = %at.display(), error = %e, "unmount");
            }
        };
        match m {
            Made::Bind => detach(),
            Made::Fuse(h) => drop(h),
            Made::Shared(connection) => {
                detach();
                drop(connection);
            }
        }
    })
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "unmount");
    }
}

/// [`ninefold_fuse::served_blocking`]: the session's mount calls may look paths up
/// through its own FUSE mounts.
async fn served<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    ninefold_fuse::served_blocking(f)
        .await
        .map_err(|e| Error::new(format!("mount thread: {e}")))
}
