//! LOOKUP answered from the stats of a directory read: `ls -l` of a directory costs no
//! walk or stat per file, and what the mount changes is never answered from old stats.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::future::Future;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use ninefold_fs::{NodeRef, Opened, Qid, Result, Stat, Tree, Walked};
use ninefold_fuse::MountOptions;

/// Walks and stats the tree has answered. (The trait methods are written as
/// `async_trait` expands them, so this crate needs no dependency for one test.)
#[derive(Debug, Default)]
struct Calls {
    walks: AtomicUsize,
    stats: AtomicUsize,
    /// Reads of directories.
    listings: AtomicUsize,
}

impl Calls {
    fn total(&self) -> usize {
        self.walks.load(Ordering::SeqCst) + self.stats.load(Ordering::SeqCst)
    }
}

struct Counted {
    inner: Arc<dyn Tree>,
    calls: Arc<Calls>,
}

/// What the `async_trait` methods of [`Tree`] and [`Node`] return.
type Fut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Tree for Counted {
    fn attach<'l0, 'l1, 'l2, 'at>(
        &'l0 self,
        uname: &'l1 str,
        aname: &'l2 str,
    ) -> Fut<'at, Result<NodeRef>>
    where
        'l0: 'at,
        'l1: 'at,
        'l2: 'at,
        Self: 'at,
    {
        Box::pin(async move {
            let n = self.inner.attach(uname, aname).await?;
            Ok(wrap(n, &self.calls))
        })
    }
}

#[derive(Debug)]
struct CNode {
    inner: NodeRef,
    calls: Arc<Calls>,
}

fn wrap(inner: NodeRef, calls: &Arc<Calls>) -> NodeRef {
    Arc::new(CNode {
        inner,
        calls: calls.clone(),
    })
}

impl ninefold_fs::Node for CNode {
    fn qid(&self) -> Qid {
        self.inner.qid()
    }
    fn clone_node<'l0, 'at>(&'l0 self) -> Fut<'at, Result<NodeRef>>
    where
        'l0: 'at,
        Self: 'at,
    {
        Box::pin(async move { Ok(wrap(self.inner.clone_node().await?, &self.calls)) })
    }
    fn walk1<'l0, 'l1, 'at>(&'l0 self, name: &'l1 str) -> Fut<'at, Result<NodeRef>>
    where
        'l0: 'at,
        'l1: 'at,
        Self: 'at,
    {
        Box::pin(async move {
            self.calls.walks.fetch_add(1, Ordering::SeqCst);
            Ok(wrap(self.inner.walk1(name).await?, &self.calls))
        })
    }
    fn walk<'l0, 'l1, 'at>(&'l0 self, names: &'l1 [String]) -> Fut<'at, Result<Walked>>
    where
        'l0: 'at,
        'l1: 'at,
        Self: 'at,
    {
        Box::pin(async move {
            self.calls.walks.fetch_add(1, Ordering::SeqCst);
            let w = self.inner.walk(names).await?;
            Ok(Walked {
                qids: w.qids,
                node: w.node.map(|n| wrap(n, &self.calls)),
            })
        })
    }
    fn open<'l0, 'at>(&'l0 self, mode: u8) -> Fut<'at, Result<Opened>>
    where
        'l0: 'at,
        Self: 'at,
    {
        self.inner.open(mode)
    }
    fn create<'l0, 'l1, 'at>(
        &'l0 self,
        name: &'l1 str,
        perm: u32,
        mode: u8,
    ) -> Fut<'at, Result<Opened>>
    where
        'l0: 'at,
        'l1: 'at,
        Self: 'at,
    {
        self.inner.create(name, perm, mode)
    }
    fn read<'l0, 'at>(&'l0 self, offset: u64, count: u32) -> Fut<'at, Result<Bytes>>
    where
        'l0: 'at,
        Self: 'at,
    {
        if self.inner.qid().is_dir() {
            self.calls.listings.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.read(offset, count)
    }
    fn write<'l0, 'at>(&'l0 self, offset: u64, data: Bytes) -> Fut<'at, Result<u32>>
    where
        'l0: 'at,
        Self: 'at,
    {
        self.inner.write(offset, data)
    }
    fn clunk<'l0, 'at>(&'l0 self) -> Fut<'at, ()>
    where
        'l0: 'at,
        Self: 'at,
    {
        self.inner.clunk()
    }
    fn remove<'l0, 'at>(&'l0 self) -> Fut<'at, Result<()>>
    where
        'l0: 'at,
        Self: 'at,
    {
        self.inner.remove()
    }
    fn stat<'l0, 'at>(&'l0 self) -> Fut<'at, Result<Stat>>
    where
        'l0: 'at,
        Self: 'at,
    {
        self.calls.stats.fetch_add(1, Ordering::SeqCst);
        self.inner.stat()
    }
    fn wstat<'l0, 'l1, 'at>(&'l0 self, stat: &'l1 Stat) -> Fut<'at, Result<()>>
    where
        'l0: 'at,
        'l1: 'at,
        Self: 'at,
    {
        self.inner.wstat(stat)
    }
}

const N: usize = 300;

/// A host directory `d` of N files (file `fI` holds I bytes), mounted through a counting
/// tree, with timeouts long enough that a slow machine stays within them.
fn counted() -> Option<(Mounted, tempfile::TempDir, Arc<Calls>)> {
    let real = tempfile::tempdir().unwrap();
    fs::create_dir(real.path().join("d")).unwrap();
    for i in 0..N {
        fs::write(real.path().join(format!("d/f{i}")), vec![b'x'; i]).unwrap();
    }
    let calls = Arc::new(Calls::default());
    let tree = Counted {
        inner: Arc::new(ninefold_hostfs::HostTree::new(real.path(), false).unwrap()),
        calls: calls.clone(),
    };
    let opts = MountOptions {
        entry_timeout: Duration::from_secs(30),
        attr_timeout: Duration::from_secs(30),
        ..MountOptions::default()
    };
    let m = mount_tree(Arc::new(tree), opts)?;
    Some((m, real, calls))
}

#[test]
fn stat_after_listing_needs_no_walk_or_stat() {
    let Some((m, r, calls)) = counted() else {
        return;
    };
    let d = m.at("d");
    let calls2 = calls.clone();
    let (before, after) = bounded("ls -l", move || {
        assert_eq!(names(&d).len(), N);
        let before = calls2.total();
        for i in 0..N {
            let md = fs::symlink_metadata(d.join(format!("f{i}"))).unwrap();
            assert_eq!(md.len(), i as u64);
            assert!(md.is_file());
        }
        (before, calls2.total())
    });
    let per_file = after - before;
    assert!(
        per_file < N / 10,
        "{per_file} walks and stats for {N} lstats after a listing"
    );
    // The attributes are the host's.
    let got = fs::metadata(m.at("d/f7")).unwrap();
    let want = fs::metadata(r.path().join("d/f7")).unwrap();
    assert_eq!(got.ino(), want.ino());
    assert_eq!(got.mtime(), want.mtime());
    assert_eq!(got.mode() & 0o777, want.mode() & 0o777);
}

#[test]
fn lazily_walked_files_open_read_write_and_vanish() {
    let Some((m, r, _calls)) = counted() else {
        return;
    };
    let d = m.at("d");
    let host = r.path().join("d");
    bounded("use after listing", move || {
        assert_eq!(names(&d).len(), N);
        // Looked up from the listing, walked on open: reads and writes reach the file.
        assert_eq!(fs::read(d.join("f5")).unwrap(), b"xxxxx");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(d.join("f3"))
            .unwrap();
        f.write_all(b"yz").unwrap();
        drop(f);
        assert_eq!(fs::read(host.join("f3")).unwrap(), b"xxxyz");
        // A change through the mount is never answered from the listing's stats.
        assert_eq!(fs::metadata(d.join("f3")).unwrap().len(), 5);
        assert_eq!(names(&d).len(), N);
        fs::write(d.join("f4"), b"1").unwrap();
        assert_eq!(fs::metadata(d.join("f4")).unwrap().len(), 1);
        fs::remove_file(d.join("f6")).unwrap();
        assert_eq!(
            fs::metadata(d.join("f6")).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        // Gone behind the mount's back after the listing: looked up from the listing,
        // its first use fails as the file is gone.
        assert_eq!(names(&d).len(), N - 1);
        fs::remove_file(host.join("f9")).unwrap();
        assert_eq!(
            fs::read(d.join("f9")).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        // A lookup below a directory looked up from a listing walks it first.
        fs::create_dir(host.join("sub")).unwrap();
        fs::write(host.join("sub/inner"), b"in").unwrap();
        assert_eq!(names(&d).len(), N - 1);
        assert!(fs::metadata(d.join("sub")).unwrap().is_dir());
        assert_eq!(fs::read(d.join("sub/inner")).unwrap(), b"in");
        assert_eq!(names(&d.join("sub")), ["inner"]);
    });
}

#[test]
fn a_listing_is_listed_again_from_memory_until_something_changes() {
    let Some((m, _r, calls)) = counted() else {
        return;
    };
    let d = m.at("d");
    let listings = move || calls.listings.load(Ordering::SeqCst);
    bounded("list, list, change, list", move || {
        assert_eq!(names(&d).len(), N);
        let after_first = listings();
        assert!(after_first > 0);
        assert_eq!(names(&d).len(), N);
        assert_eq!(
            listings(),
            after_first,
            "the second listing read the directory"
        );
        fs::write(d.join("new"), b"x").unwrap();
        assert_eq!(names(&d).len(), N + 1);
        assert!(
            listings() > after_first,
            "a change through the mount was not seen"
        );
    });
}
