//! The mount table of a name-space group: for each mount point, its union members in
//! search order. Plan 9's `Mhead` and `Mount` (port/chan.c `cmount`, `cunmount`).

use std::collections::HashMap;
use std::sync::Arc;

use ninefold_fs::{Error, Result};

use crate::chan::{Chan, ChanKey, TreeRef};
use crate::flags::{Flags, Order};
use crate::path::NsPath;

/// How a member got there, for the `ns` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `bind NEW …`: the name NEW had when it was bound.
    Bind(String),
    /// `mount SOURCE … SPEC`.
    Mount { source: String, spec: String },
}

impl Source {
    /// The word that names the member in `ns` text and in `unmount NEW OLD`.
    pub fn name(&self) -> &str {
        match self {
            Source::Bind(s) => s,
            Source::Mount { source, .. } => source,
        }
    }
}

/// One member of a union.
#[derive(Debug)]
pub struct Member {
    /// Mount ids grow with every bind and mount: `ns` prints members in this order.
    pub id: u64,
    pub to: Chan,
    pub flags: Flags,
    pub source: Source,
    /// A mounted tree stays alive while it is mounted.
    pub tree: Option<TreeRef>,
}

/// What is mounted on one file.
#[derive(Debug, Clone)]
pub struct Mhead {
    /// The name the mount point had when first used (printed by `ns`).
    pub path: NsPath,
    pub members: Vec<Arc<Member>>,
}

/// A candidate new member, before it has an id.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub to: Chan,
    pub create: bool,
    pub source: Source,
    pub tree: Option<TreeRef>,
}

#[derive(Debug, Clone, Default)]
pub struct Table {
    heads: HashMap<ChanKey, Mhead>,
    next_id: u64,
}

pub const E_MOUNT: Error = Error::from_static("inconsistent mount");
pub const E_UNION: Error = Error::from_static("not in union");
pub const E_UNMOUNT: Error = Error::from_static("not mounted");

impl Table {
    pub fn lookup(&self, key: &ChanKey) -> Option<&Mhead> {
        self.heads.get(key).filter(|h| !h.members.is_empty())
    }

    pub fn clear(&mut self) {
        self.heads.clear();
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Mount `new` (one or more members: a union is copied whole) on `old`.
    pub fn mount(
        &mut self,
        old: &Chan,
        old_path: &NsPath,
        new: Vec<NewMember>,
        flags: Flags,
    ) -> Result<()> {
        let Some(first) = new.first() else {
            return Err(E_MOUNT);
        };
        if old.is_dir() != first.to.is_dir() || (!old.is_dir() && flags.order != Order::Replace) {
            return Err(E_MOUNT);
        }
        let key = old.key();
        if !self.heads.contains_key(&key) {
            let mut head = Mhead {
                path: old_path.clone(),
                members: Vec::new(),
            };
            // The first -a or -b makes the original directory a member of the union.
            if flags.order != Order::Replace {
                head.members.push(Arc::new(Member {
                    id: self.id(),
                    to: old.clone(),
                    flags: Flags::REPLACE,
                    source: Source::Bind(old_path.to_string()),
                    tree: None,
                }));
            }
            self.heads.insert(key, head);
        }
        let mut added = Vec::with_capacity(new.len());
        for (i, m) in new.into_iter().enumerate() {
            // Members after the first come from a union being copied: they go after it.
            let f = if i == 0 {
                flags
            } else {
                Flags {
                    order: Order::After,
                    create: m.create,
                    cache: flags.cache,
                }
            };
            added.push(Arc::new(Member {
                id: self.id(),
                to: m.to,
                flags: f,
                source: m.source,
                tree: m.tree,
            }));
        }
        let Some(head) = self.heads.get_mut(&key) else {
            return Err(E_MOUNT);
        };
        match flags.order {
            Order::Replace => head.members = added,
            Order::Before => {
                added.append(&mut head.members);
                head.members = added;
            }
            Order::After => head.members.append(&mut added),
        }
        Ok(())
    }

    /// Remove every member on `old`, or the members `matches` picks.
    pub fn unmount(
        &mut self,
        old: &ChanKey,
        matches: Option<&dyn Fn(&Member) -> bool>,
    ) -> Result<()> {
        let Some(head) = self.heads.get_mut(old) else {
            return Err(E_UNMOUNT);
        };
        match matches {
            None => {
                self.heads.remove(old);
            }
            Some(f) => {
                let before = head.members.len();
                head.members.retain(|m| !f(m));
                if head.members.len() == before {
                    return Err(E_UNION);
                }
                if head.members.is_empty() {
                    self.heads.remove(old);
                }
            }
        }
        Ok(())
    }

    /// Every member with the mount point's name, in the order they were made.
    pub fn members_in_order(&self) -> Vec<(NsPath, Arc<Member>)> {
        let mut all: Vec<(NsPath, Arc<Member>)> = self
            .heads
            .values()
            .flat_map(|h| h.members.iter().map(|m| (h.path.clone(), m.clone())))
            .collect();
        all.sort_by_key(|(_, m)| m.id);
        all
    }
}
