//! `#e`: an environment group — one file per variable, shared by everyone who attaches.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use ninefold_fs::{DirCursor, Error, Node, NodeRef, Opened, Qid, QidType, Result, Stat, Tree};
use ninefold_proto::{dm, om};

use crate::common::{
    check_name, check_open, check_open_dir, lock, now_secs, plan_wstat, read_dir, stat, written,
    wstat_nothing,
};

/// The most one variable may hold: a write or wstat past it fails with "read or write too
/// large" (Plan 9's Etoobig; EFBIG through Linux).
pub const MAX_VAR: usize = 1 << 20;

/// The most a whole group may hold, names and values together: beyond it, writes and
/// creates fail with "file system full".
pub const MAX_GROUP: usize = 16 << 20;

/// The most variables a group may hold (then "file system full").
pub const MAX_VARS: usize = 16384;

/// Permission of every variable (as Plan 9's devenv: anyone may read and write).
const VAR_PERM: u32 = 0o666;

/// The environment device `#e`: one file per variable, read and written at offsets.
///
/// Every attach to the same `EnvTree` (and every fid walked from them) sees one
/// environment group: a variable written through one is read through the others. A
/// clone is another handle on the same group, as with the other devices' trees;
/// [`EnvTree::copy_group`] makes a new, independent group (Plan 9's RFENVG).
///
/// Files: a write past the end extends the variable (with zeros in any gap); opening with
/// OTRUNC empties it; create makes a variable (directories are refused with "permission
/// denied"); remove deletes it; a wstat may rename it (to a name not taken), change its
/// length or mtime. Names that are empty, `.`, `..`, contain `/` or NUL, or are longer than
/// 255 bytes are refused. A variable holds at most [`MAX_VAR`] bytes, a group
/// [`MAX_GROUP`] and [`MAX_VARS`] variables. I/O on a fid whose variable was removed fails
/// with "file does not exist", as in Plan 9.
#[derive(Debug, Clone)]
pub struct EnvTree {
    group: Arc<Group>,
    owner: Arc<str>,
}

struct Group {
    vars: Mutex<Vars>,
}

impl std::fmt::Debug for Group {
    // The values are nobody's debug output; try_lock: formatting never waits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Group");
        if let Ok(v) = self.vars.try_lock() {
            d.field("vars", &v.by_name.len()).field("bytes", &v.total);
        }
        d.finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct Vars {
    by_name: BTreeMap<String, u64>,
    by_path: HashMap<u64, Var>,
    /// The qid path of the next variable made (the root is 0).
    next_path: u64,
    /// Bytes of names and values together.
    total: usize,
}

#[derive(Debug, Clone)]
struct Var {
    name: String,
    data: Vec<u8>,
    version: u32,
    mtime: u32,
}

impl Vars {
    fn new() -> Vars {
        Vars {
            by_name: BTreeMap::new(),
            by_path: HashMap::new(),
            next_path: 1,
            total: 0,
        }
    }

    fn get(&self, path: u64) -> Result<&Var> {
        self.by_path.get(&path).ok_or(Error::NOT_FOUND)
    }

    /// Checks that the group may grow from `old` to `new` bytes.
    fn check_growth(&self, old: usize, new: usize) -> Result<()> {
        if new > old && self.total.saturating_sub(old).saturating_add(new) > MAX_GROUP {
            return Err(Error::NO_SPACE);
        }
        Ok(())
    }

    /// Makes the variable `name`, which must be a good name not yet taken.
    fn create(&mut self, name: &str, data: Vec<u8>) -> Result<u64> {
        check_name(name)?;
        if self.by_name.contains_key(name) {
            return Err(Error::EXISTS);
        }
        if data.len() > MAX_VAR {
            return Err(Error::TOO_BIG);
        }
        let size = name.len().saturating_add(data.len());
        if self.by_path.len() >= MAX_VARS {
            return Err(Error::NO_SPACE);
        }
        self.check_growth(0, size)?;
        let path = self.next_path;
        self.next_path += 1;
        self.total += size;
        self.by_name.insert(name.to_owned(), path);
        self.by_path.insert(
            path,
            Var {
                name: name.to_owned(),
                data,
                version: 0,
                mtime: now_secs(),
            },
        );
        Ok(path)
    }

    /// Makes `path` `len` bytes long (cutting, or padding with zeros), within the limits.
    fn resize(&mut self, path: u64, len: usize) -> Result<&mut Var> {
        if len > MAX_VAR {
            return Err(Error::TOO_BIG);
        }
        let old = self.get(path)?.data.len();
        self.check_growth(old, len)?;
        self.total = self.total - old + len;
        let var = self.by_path.get_mut(&path).ok_or(Error::NOT_FOUND)?;
        var.data.resize(len, 0);
        var.version = var.version.wrapping_add(1);
        var.mtime = now_secs();
        Ok(var)
    }

    fn write(&mut self, path: u64, offset: u64, data: &[u8]) -> Result<()> {
        let start = usize::try_from(offset).map_err(|_| Error::TOO_BIG)?;
        let end = start.checked_add(data.len()).ok_or(Error::TOO_BIG)?;
        let len = self.get(path)?.data.len().max(end);
        let var = self.resize(path, len)?;
        var.data[start..end].copy_from_slice(data);
        Ok(())
    }

    fn remove(&mut self, path: u64) -> Result<()> {
        let var = self.by_path.remove(&path).ok_or(Error::NOT_FOUND)?;
        self.by_name.remove(&var.name);
        self.total -= var.name.len() + var.data.len();
        Ok(())
    }

    /// A wstat's changes, all checked before any is made.
    fn change(
        &mut self,
        path: u64,
        rename: Option<&str>,
        len: Option<usize>,
        mtime: Option<u32>,
    ) -> Result<()> {
        let var = self.get(path)?;
        let (old_name, old_len) = (var.name.len(), var.data.len());
        if let Some(to) = rename {
            check_name(to)?;
            if self.by_name.contains_key(to) {
                return Err(Error::EXISTS);
            }
        }
        let new_len = len.unwrap_or(old_len);
        if new_len > MAX_VAR {
            return Err(Error::TOO_BIG);
        }
        let new_name = rename.map_or(old_name, str::len);
        self.check_growth(old_name + old_len, new_name + new_len)?;
        self.total = self.total - old_name - old_len + new_name + new_len;
        let var = self.by_path.get_mut(&path).ok_or(Error::NOT_FOUND)?;
        if len.is_some() {
            var.data.resize(new_len, 0);
            var.version = var.version.wrapping_add(1);
            var.mtime = now_secs();
        }
        if let Some(t) = mtime {
            var.mtime = t;
        }
        if let Some(to) = rename {
            let from = std::mem::replace(&mut var.name, to.to_owned());
            self.by_name.remove(&from);
            self.by_name.insert(to.to_owned(), path);
        }
        Ok(())
    }

    /// Sets `name` to `value`, making it if need be.
    fn set(&mut self, name: &str, value: Vec<u8>) -> Result<()> {
        match self.by_name.get(name).copied() {
            None => self.create(name, value).map(drop),
            Some(path) => {
                let var = self.resize(path, value.len())?;
                var.data = value;
                Ok(())
            }
        }
    }
}

impl EnvTree {
    /// A new group holding `vars` (owned by "none"; see [`EnvTree::with_owner`]). A later
    /// duplicate replaces an earlier one; variables with names a file cannot have (see the
    /// type's documentation), or beyond the limits, are left out.
    pub fn new(vars: impl IntoIterator<Item = (String, Vec<u8>)>) -> EnvTree {
        let mut v = Vars::new();
        for (name, value) in vars {
            if let Err(e) = v.set(&name, value) {
                tracing::debug!(name, error = %e, "variable left out of the environment");
            }
        }
        EnvTree {
            group: Arc::new(Group {
                vars: Mutex::new(v),
            }),
            owner: "none".into(),
        }
    }

    /// A new group holding this process's environment. Variables whose names are not UTF-8
    /// or cannot be file names are left out.
    pub fn from_process() -> EnvTree {
        use std::os::unix::ffi::OsStringExt;
        EnvTree::new(
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_vec()))),
        )
    }

    /// The same group, its files owned by `owner`.
    pub fn with_owner(mut self, owner: impl Into<String>) -> EnvTree {
        self.owner = owner.into().into();
        self
    }

    /// A copy of the group (Plan 9's RFENVG): a new tree with the same variables (and
    /// qids) and owner; from then on changes to either are not seen by the other.
    pub fn copy_group(&self) -> EnvTree {
        let vars = lock(&self.group.vars).clone();
        EnvTree {
            group: Arc::new(Group {
                vars: Mutex::new(vars),
            }),
            owner: self.owner.clone(),
        }
    }

    /// The variables now, sorted by name: what a program started from this group gets.
    pub fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let vars = lock(&self.group.vars);
        vars.by_name
            .iter()
            .filter_map(|(name, path)| Some((name.clone(), vars.by_path.get(path)?.data.clone())))
            .collect()
    }

    /// The value of `name`, if it is set.
    pub fn get(&self, name: &str) -> Option<Vec<u8>> {
        let vars = lock(&self.group.vars);
        let path = vars.by_name.get(name)?;
        Some(vars.by_path.get(path)?.data.clone())
    }

    /// Sets `name` to `value`, making the variable if need be; the limits and name rules of
    /// the files apply.
    pub fn set(&self, name: &str, value: impl Into<Vec<u8>>) -> Result<()> {
        lock(&self.group.vars).set(name, value.into())
    }

    /// Removes `name`; false if it was not set.
    pub fn unset(&self, name: &str) -> bool {
        let mut vars = lock(&self.group.vars);
        match vars.by_name.get(name).copied() {
            Some(path) => vars.remove(path).is_ok(),
            None => false,
        }
    }
}

#[async_trait]
impl Tree for EnvTree {
    /// Every attach sees this group; `uname` and `aname` are ignored.
    async fn attach(&self, _uname: &str, _aname: &str) -> Result<NodeRef> {
        Ok(Arc::new(EnvNode::new(
            self.group.clone(),
            self.owner.clone(),
            Target::Root,
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Root,
    /// A variable, by qid path (which a rename keeps).
    Var(u64),
}

#[derive(Debug)]
enum Open {
    No,
    Dir(DirCursor),
    File,
}

#[derive(Debug)]
struct State {
    at: Target,
    open: Open,
}

#[derive(Debug)]
struct EnvNode {
    group: Arc<Group>,
    owner: Arc<str>,
    state: Mutex<State>,
}

const ROOT_QID: Qid = Qid {
    ty: QidType::DIR,
    version: 0,
    path: 0,
};

impl EnvNode {
    fn new(group: Arc<Group>, owner: Arc<str>, at: Target) -> EnvNode {
        EnvNode {
            group,
            owner,
            state: Mutex::new(State { at, open: Open::No }),
        }
    }

    fn at(&self) -> Target {
        lock(&self.state).at
    }

    fn var_stat(&self, path: u64, v: &Var) -> Stat {
        let qid = Qid {
            ty: QidType::FILE,
            version: v.version,
            path,
        };
        let mut st = stat(qid, VAR_PERM, v.data.len() as u64, &v.name, &self.owner);
        st.atime = v.mtime;
        st.mtime = v.mtime;
        st
    }

    fn root_stat(&self) -> Stat {
        stat(ROOT_QID, dm::DMDIR | 0o775, 0, "/", &self.owner)
    }

    fn opened(&self, at: Target, open: Open, qid: Qid) -> Opened {
        let mut s = lock(&self.state);
        s.at = at;
        s.open = open;
        Opened { qid, iounit: 0 }
    }
}

#[async_trait]
impl Node for EnvNode {
    fn qid(&self) -> Qid {
        match self.at() {
            Target::Root => ROOT_QID,
            Target::Var(path) => {
                let version = lock(&self.group.vars).get(path).map_or(0, |v| v.version);
                Qid {
                    ty: QidType::FILE,
                    version,
                    path,
                }
            }
        }
    }

    async fn clone_node(&self) -> Result<NodeRef> {
        Ok(Arc::new(EnvNode::new(
            self.group.clone(),
            self.owner.clone(),
            self.at(),
        )))
    }

    async fn walk1(&self, name: &str) -> Result<NodeRef> {
        if self.at() != Target::Root {
            return Err(Error::WALK_NO_DIR);
        }
        let next = match name {
            ".." => Target::Root,
            n => Target::Var(
                *lock(&self.group.vars)
                    .by_name
                    .get(n)
                    .ok_or(Error::NOT_FOUND)?,
            ),
        };
        Ok(Arc::new(EnvNode::new(
            self.group.clone(),
            self.owner.clone(),
            next,
        )))
    }

    async fn open(&self, mode: u8) -> Result<Opened> {
        match self.at() {
            Target::Root => {
                check_open_dir(mode)?;
                Ok(self.opened(Target::Root, Open::Dir(DirCursor::new()), ROOT_QID))
            }
            at @ Target::Var(path) => {
                check_open(VAR_PERM, mode)?;
                if mode & om::OTRUNC != 0 {
                    lock(&self.group.vars).resize(path, 0)?;
                }
                // Exists (checked by the truncation, or now).
                let qid = {
                    let vars = lock(&self.group.vars);
                    let v = vars.get(path)?;
                    self.var_stat(path, v).qid
                };
                Ok(self.opened(at, Open::File, qid))
            }
        }
    }

    async fn create(&self, name: &str, perm: u32, mode: u8) -> Result<Opened> {
        if self.at() != Target::Root {
            return Err(Error::NOT_DIR);
        }
        if perm & dm::DMDIR != 0 {
            return Err(Error::PERM);
        }
        check_open(VAR_PERM, mode)?;
        let path = lock(&self.group.vars).create(name, Vec::new())?;
        let qid = Qid {
            ty: QidType::FILE,
            version: 0,
            path,
        };
        Ok(self.opened(Target::Var(path), Open::File, qid))
    }

    async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        let mut s = lock(&self.state);
        match (s.at, &mut s.open) {
            (Target::Root, Open::Dir(cursor)) => read_dir(cursor, offset, count, || {
                let vars = lock(&self.group.vars);
                vars.by_name
                    .values()
                    .filter_map(|&p| Some(self.var_stat(p, vars.by_path.get(&p)?)))
                    .collect()
            }),
            (Target::Var(path), _) => {
                drop(s);
                let vars = lock(&self.group.vars);
                let data = &vars.get(path)?.data;
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let end = start.saturating_add(count as usize).min(data.len());
                Ok(Bytes::copy_from_slice(&data[start..end]))
            }
            (Target::Root, _) => Err(Error::BAD_USE),
        }
    }

    async fn write(&self, offset: u64, data: Bytes) -> Result<u32> {
        match self.at() {
            Target::Root => Err(Error::IS_DIR),
            Target::Var(path) => {
                lock(&self.group.vars).write(path, offset, &data)?;
                Ok(written(data.len()))
            }
        }
    }

    async fn clunk(&self) {
        lock(&self.state).open = Open::No;
    }

    async fn remove(&self) -> Result<()> {
        self.clunk().await;
        match self.at() {
            Target::Root => Err(Error::PERM),
            Target::Var(path) => lock(&self.group.vars).remove(path),
        }
    }

    async fn stat(&self) -> Result<Stat> {
        match self.at() {
            Target::Root => Ok(self.root_stat()),
            Target::Var(path) => {
                let vars = lock(&self.group.vars);
                Ok(self.var_stat(path, vars.get(path)?))
            }
        }
    }

    async fn wstat(&self, req: &Stat) -> Result<()> {
        let Target::Var(path) = self.at() else {
            return wstat_nothing(&self.root_stat(), req);
        };
        let mut vars = lock(&self.group.vars);
        let cur = self.var_stat(path, vars.get(path)?);
        let plan = plan_wstat(&cur, req, false, true)?;
        let len = match plan.length {
            Some(l) => Some(usize::try_from(l).map_err(|_| Error::TOO_BIG)?),
            None => None,
        };
        vars.change(path, plan.rename.as_deref(), len, plan.mtime)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accounting_follows_every_change() {
        let mut v = Vars::new();
        let p = v.create("a", b"xyz".to_vec()).unwrap();
        assert_eq!(v.total, 4);
        v.write(p, 5, b"!").unwrap();
        assert_eq!(v.total, 7);
        assert_eq!(v.get(p).unwrap().data, b"xyz\0\0!");
        v.change(p, Some("abc"), Some(2), None).unwrap();
        assert_eq!(v.total, 5);
        assert_eq!(v.get(p).unwrap().data, b"xy");
        v.remove(p).unwrap();
        assert_eq!(v.total, 0);
        assert!(v.by_name.is_empty());
    }

    #[test]
    fn limits() {
        let mut v = Vars::new();
        assert_eq!(v.create("big", vec![0; MAX_VAR + 1]), Err(Error::TOO_BIG));
        let p = v.create("a", Vec::new()).unwrap();
        assert_eq!(v.write(p, MAX_VAR as u64, b"x"), Err(Error::TOO_BIG));
        assert_eq!(v.write(p, u64::MAX, b"x"), Err(Error::TOO_BIG));
        for i in 0..15 {
            v.create(&format!("v{i}"), vec![0; MAX_VAR]).unwrap();
        }
        assert_eq!(v.create("last", vec![0; MAX_VAR]), Err(Error::NO_SPACE));
    }
}
