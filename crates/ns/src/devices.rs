//! `#` names: the built-in trees a name space can reach without mounting anything
//! (`#I` net, `#s` srv, `#c` cons, `#|` pipe …). Plan 9's device table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ninefold_fs::{Error, Result, Tree};

use crate::chan::{Chan, TreeRef};

/// Tree instances are told apart by `dev`; 0 is the root tree of a name space.
static NEXT_DEV: AtomicU64 = AtomicU64::new(1);

pub fn new_dev() -> u64 {
    NEXT_DEV.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug)]
struct Device {
    tree: TreeRef,
    /// `#|`: every attach is a new pipe. Others: one instance per spec, so `#c/null`
    /// named twice is the same file (and the same mount point).
    fresh: bool,
    attached: Mutex<HashMap<String, Chan>>,
}

/// Posted 9P connections by name (what `#s` holds), for `mount /srv/NAME`.
pub trait Posted: Send + Sync + std::fmt::Debug {
    fn lookup(&self, name: &str) -> Option<Arc<dyn Tree>>;
}

/// The device table: letter → tree.
#[derive(Debug, Default)]
pub struct Devices {
    map: HashMap<char, Device>,
    srv: Option<(char, Arc<dyn Posted>)>,
}

pub const E_NO_DEVICE: Error = Error::from_static("unknown device in # filename");

impl Devices {
    pub fn new() -> Devices {
        Devices::default()
    }

    /// Add a device that keeps one instance per spec.
    pub fn add(&mut self, letter: char, tree: Arc<dyn Tree>) {
        self.insert(letter, tree, false);
    }

    /// Add a device whose every attach is a new instance (`#|`).
    pub fn add_fresh(&mut self, letter: char, tree: Arc<dyn Tree>) {
        self.insert(letter, tree, true);
    }

    /// Add the srv device: a tree whose files are posted connections.
    pub fn add_srv(&mut self, letter: char, tree: Arc<dyn Tree>, posted: Arc<dyn Posted>) {
        self.insert(letter, tree, false);
        self.srv = Some((letter, posted));
    }

    /// The connection posted as `name`, if `chan` is in the srv device.
    pub fn posted(&self, chan: &Chan, name: &str) -> Option<Arc<dyn Tree>> {
        let (letter, posted) = self.srv.as_ref()?;
        let dev = self.map.get(letter)?;
        let same = dev
            .attached
            .lock()
            .ok()?
            .values()
            .any(|c| c.dev == chan.dev);
        if same { posted.lookup(name) } else { None }
    }

    fn insert(&mut self, letter: char, tree: Arc<dyn Tree>, fresh: bool) {
        self.map.insert(
            letter,
            Device {
                tree: TreeRef(tree),
                fresh,
                attached: Mutex::new(HashMap::new()),
            },
        );
    }

    pub fn letters(&self) -> Vec<char> {
        let mut v: Vec<char> = self.map.keys().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn get(&self, letter: char) -> Option<Arc<dyn Tree>> {
        self.map.get(&letter).map(|d| d.tree.0.clone())
    }

    /// The root of `#xSPEC` (the name includes the `#`).
    pub async fn attach(&self, name: &str, user: &str) -> Result<Chan> {
        let mut chars = name.strip_prefix('#').unwrap_or(name).chars();
        let letter = chars.next().ok_or(E_NO_DEVICE)?;
        let spec = chars.as_str();
        let dev = self.map.get(&letter).ok_or(E_NO_DEVICE)?;
        if !dev.fresh {
            let known = dev.attached.lock().ok().and_then(|m| m.get(spec).cloned());
            if let Some(c) = known {
                return Ok(c);
            }
        }
        let node = dev.tree.0.attach(user, spec).await?;
        let chan = Chan::new(new_dev(), node);
        if !dev.fresh
            && let Ok(mut m) = dev.attached.lock()
        {
            // A racing attach may have won: use its instance, so there is only one.
            return Ok(m.entry(spec.to_string()).or_insert(chan).clone());
        }
        Ok(chan)
    }
}
