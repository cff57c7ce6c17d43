//! A name space: a root, a device table and a mount table, and the walk that combines
//! them (Plan 9's `namec` and `domount`).

use std::sync::{Arc, RwLock};

use ninefold_fs::{Error, Result, Tree};

use crate::chan::{Chan, TreeRef};
use crate::devices::{Devices, new_dev};
use crate::flags::Flags;
use crate::path::NsPath;
use crate::table::{E_MOUNT, Member, NewMember, Source, Table};
use crate::text;

/// Where a name led. At a mount point `union` holds the members (in search order) and
/// `chan` is the first of them, as Plan 9's `domount` leaves it.
#[derive(Debug, Clone)]
pub struct Place {
    pub path: NsPath,
    pub chan: Chan,
    pub union: Option<Arc<[Arc<Member>]>>,
}

impl Place {
    fn plain(path: NsPath, chan: Chan) -> Place {
        Place {
            path,
            chan,
            union: None,
        }
    }

    /// The members to search, in order: the union's, or the one chan.
    pub fn members(&self) -> Vec<Chan> {
        match &self.union {
            Some(u) => u.iter().map(|m| m.to.clone()).collect(),
            None => vec![self.chan.clone()],
        }
    }
}

/// A handle on a name-space group. Clones share the group (Plan 9's plain fork): a bind
/// through one is seen through all. [`Namespace::copy`] starts a separate group (RFNAMEG).
/// The current directory belongs to the handle, not the group.
#[derive(Debug, Clone)]
pub struct Namespace {
    table: Arc<RwLock<Table>>,
    root: Chan,
    devices: Arc<Devices>,
    user: Arc<str>,
    cwd: NsPath,
}

impl Namespace {
    /// A name space whose `/` is the root of `root` (before any bind), with `devices`
    /// reachable by `#` names. `user` is the name trees are attached as.
    pub async fn new(root: Arc<dyn Tree>, devices: Devices, user: &str) -> Result<Namespace> {
        let node = root.attach(user, "").await?;
        Ok(Namespace {
            table: Arc::new(RwLock::new(Table::default())),
            root: Chan::new(0, node),
            devices: Arc::new(devices),
            user: user.into(),
            cwd: NsPath::root(),
        })
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn devices(&self) -> &Devices {
        &self.devices
    }

    /// A new group holding a copy of this one's mount table (RFNAMEG): later changes to
    /// either stay in it.
    pub fn copy(&self) -> Namespace {
        let table = self.read_table().clone();
        Namespace {
            table: Arc::new(RwLock::new(table)),
            ..self.clone()
        }
    }

    /// A new group with nothing mounted (RFCNAMEG): only the root and `#` names.
    pub fn fresh(&self) -> Namespace {
        Namespace {
            table: Arc::new(RwLock::new(Table::default())),
            cwd: NsPath::root(),
            ..self.clone()
        }
    }

    /// Forget every bind and mount of this group (namespace files' `clear`).
    pub fn clear(&self) {
        self.write_table().clear();
    }

    pub fn cwd(&self) -> &NsPath {
        &self.cwd
    }

    /// Parse a name as seen from the current directory.
    pub fn path(&self, name: &str) -> Result<NsPath> {
        NsPath::parse(name, &self.cwd)
    }

    /// `cd`: the directory must exist.
    pub async fn chdir(&mut self, name: &str) -> Result<()> {
        let path = self.path(name)?;
        let place = self.resolve(&path, true).await?;
        if !place.chan.is_dir() {
            return Err(Error::NOT_DIR);
        }
        self.cwd = path;
        Ok(())
    }

    fn read_table(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        // A panic while the lock was held cannot leave the table half-changed (every
        // change is one assignment), so a poisoned lock is still a sound table.
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_table(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }

    /// What is mounted on `chan`, if anything.
    pub fn domount(&self, path: NsPath, chan: Chan) -> Place {
        let members: Option<Arc<[Arc<Member>]>> = self
            .read_table()
            .lookup(&chan.key())
            .map(|h| h.members.clone().into());
        match members {
            Some(m) if !m.is_empty() => Place {
                path,
                chan: m[0].to.clone(),
                union: Some(m),
            },
            _ => Place::plain(path, chan),
        }
    }

    /// The root of a walk: `/` or a device.
    async fn start(&self, path: &NsPath) -> Result<Chan> {
        match &path.device {
            None => Ok(self.root.clone()),
            Some(d) => self.devices.attach(d, &self.user).await,
        }
    }

    /// Walk `path`. With `mount_last` false the last element is not looked up in the mount
    /// table (the `old` of bind and mount, so a new bind joins the union already there).
    pub async fn resolve(&self, path: &NsPath, mount_last: bool) -> Result<Place> {
        let start = self.start(path).await?;
        let top = NsPath {
            device: path.device.clone(),
            elems: Vec::new(),
        };
        if path.elems.is_empty() && !mount_last {
            return Ok(Place::plain(top, start));
        }
        let mut place = self.domount(top, start);
        let n = path.elems.len();
        for (i, name) in path.elems.iter().enumerate() {
            let chan = self.step(&place, name).await?;
            let p = place.path.join(name);
            place = if i + 1 == n && !mount_last {
                Place::plain(p, chan)
            } else {
                self.domount(p, chan)
            };
        }
        Ok(place)
    }

    /// One element down from `place`: in a union, the first member that has it.
    pub async fn step(&self, place: &Place, name: &str) -> Result<Chan> {
        let Some(union) = &place.union else {
            return place.chan.walk1(name).await;
        };
        let mut first_err = None;
        for m in union.iter() {
            match m.to.walk1(name).await {
                Ok(c) => return Ok(c),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(Error::NOT_FOUND))
    }

    /// `bind [flags] new old`: `new` is evaluated now, once.
    pub async fn bind(&self, new: &str, old: &str, flags: Flags) -> Result<()> {
        let new_path = self.path(new)?;
        let new_place = self.resolve(&new_path, true).await?;
        let members = match &new_place.union {
            // Binding a union copies its members.
            Some(u) => {
                if flags.create && (u.len() > 1 || !u[0].flags.create) {
                    return Err(E_MOUNT);
                }
                u.iter()
                    .map(|m| NewMember {
                        to: m.to.clone(),
                        create: m.flags.create,
                        source: m.source.clone(),
                        tree: m.tree.clone(),
                    })
                    .collect()
            }
            None => vec![NewMember {
                to: new_place.chan.clone(),
                create: flags.create,
                source: Source::Bind(new_path.to_string()),
                tree: None,
            }],
        };
        self.mount_members(old, members, flags).await
    }

    /// `mount [flags] source old spec` of an attached tree (a 9P connection, usually).
    /// `source` is how `ns` will name it.
    pub async fn mount(
        &self,
        tree: Arc<dyn Tree>,
        source: &str,
        old: &str,
        flags: Flags,
        spec: &str,
    ) -> Result<()> {
        let node = tree.attach(&self.user, spec).await?;
        let member = NewMember {
            to: Chan::new(new_dev(), node),
            create: flags.create,
            source: Source::Mount {
                source: source.to_string(),
                spec: spec.to_string(),
            },
            tree: Some(TreeRef(tree)),
        };
        self.mount_members(old, vec![member], flags).await
    }

    async fn mount_members(&self, old: &str, members: Vec<NewMember>, flags: Flags) -> Result<()> {
        let old_path = self.path(old)?;
        let old_place = self.resolve(&old_path, false).await?;
        self.write_table()
            .mount(&old_place.chan, &old_path, members, flags)
    }

    /// `unmount old` (everything on it) or `unmount new old` (that member).
    pub async fn unmount(&self, new: Option<&str>, old: &str) -> Result<()> {
        let old_path = self.path(old)?;
        let old_place = self.resolve(&old_path, false).await?;
        let key = old_place.chan.key();
        let Some(new) = new else {
            return self.write_table().unmount(&key, None);
        };
        // A member matches by the name it was bound or mounted with, or by being the same
        // file as what `new` names now.
        let new_path = self.path(new).ok();
        let named = new_path.as_ref().map(ToString::to_string);
        let target = match &new_path {
            Some(p) => self.resolve(p, true).await.ok().map(|pl| pl.chan.key()),
            None => None,
        };
        let matches = |m: &Member| {
            m.source.name() == new
                || named.as_deref() == Some(m.source.name())
                || target == Some(m.to.key())
        };
        self.write_table().unmount(&key, Some(&matches))
    }

    /// What is mounted on `old` (as bind and unmount name it), in search order.
    pub async fn members_at(&self, old: &str) -> Result<Option<Arc<[Arc<Member>]>>> {
        let path = self.path(old)?;
        let place = self.resolve(&path, false).await?;
        Ok(self
            .read_table()
            .lookup(&place.chan.key())
            .map(|h| h.members.clone().into()))
    }

    /// Every mount point, by the name it was first used with, in the order they were made.
    pub fn mount_points(&self) -> Vec<NsPath> {
        let mut out: Vec<NsPath> = Vec::new();
        for (old, _) in self.read_table().members_in_order() {
            if !out.contains(&old) {
                out.push(old);
            }
        }
        out
    }

    /// The connection posted in the srv device under the name `name` leads to.
    pub async fn posted(&self, name: &str) -> Result<Arc<dyn Tree>> {
        let path = self.path(name)?;
        let place = self.resolve(&path, true).await?;
        path.last()
            .and_then(|n| self.devices.posted(&place.chan, n))
            .ok_or_else(|| Error::new(format!("{name}: not a posted 9P connection")))
    }

    /// The name space as `ns` prints it (and namespace files read): one line per member
    /// in the order they were made, then `cd`.
    pub fn ns_text(&self) -> String {
        let mut out = String::new();
        for (old, m) in self.read_table().members_in_order() {
            out.push_str(&text::member_line(&old, &m));
            out.push('\n');
        }
        out.push_str(&format!("cd {}\n", text::quote(&self.cwd.to_string())));
        out
    }
}
