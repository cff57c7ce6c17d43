//! A host directory (ninefold_hostfs::HostTree) mounted through FUSE, checked with std::fs
//! against the real directory.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use ninefold_fuse::MountOptions;

/// A temp host directory with a few files, mounted.
fn host() -> Option<(Mounted, tempfile::TempDir)> {
    let real = tempfile::tempdir().unwrap();
    fs::write(real.path().join("hello"), b"hello, world\n").unwrap();
    fs::create_dir(real.path().join("sub")).unwrap();
    fs::write(real.path().join("sub/inner"), vec![7u8; 300_000]).unwrap();
    let tree = ninefold_hostfs::HostTree::new(real.path(), false).unwrap();
    let m = mount_tree(Arc::new(tree), MountOptions::default())?;
    Some((m, real))
}

fn real(r: &tempfile::TempDir, rel: &str) -> PathBuf {
    r.path().join(rel)
}

#[test]
fn reads_lists_and_stats_like_the_real_directory() {
    let Some((m, r)) = host() else { return };
    let mnt = m.path();
    bounded("read and list", move || {
        assert_eq!(fs::read(mnt.join("hello")).unwrap(), b"hello, world\n");
        assert_eq!(fs::read(mnt.join("sub/inner")).unwrap(), vec![7u8; 300_000]);
        assert_eq!(names(&mnt), ["hello", "sub"]);
        assert_eq!(names(&mnt.join("sub")), ["inner"]);
        let md = fs::metadata(mnt.join("sub/inner")).unwrap();
        assert_eq!(md.len(), 300_000);
        assert!(md.is_file());
        assert!(fs::metadata(mnt.join("sub")).unwrap().is_dir());
        assert_eq!(
            fs::metadata(mnt.join("nothing")).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
    });
    let want = fs::metadata(real(&r, "hello")).unwrap();
    let got = fs::metadata(m.at("hello")).unwrap();
    assert_eq!(got.len(), want.len());
    assert_eq!(got.mode() & 0o777, want.mode() & 0o777);
    assert_eq!(got.mtime(), want.mtime());
    assert_eq!(got.ino(), want.ino(), "st_ino is qid.path, the host inode");
    // Every file belongs to the mounting user.
    assert_eq!(got.uid(), rustix::process::geteuid().as_raw());
    assert_eq!(got.gid(), rustix::process::getegid().as_raw());
}

#[test]
fn writes_creates_and_removes() {
    let Some((m, r)) = host() else { return };
    let mnt = m.path();
    bounded("changes", move || {
        // create + write
        fs::write(mnt.join("new"), b"abc").unwrap();
        // append through an open file, then overwrite in place
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(mnt.join("new"))
            .unwrap();
        f.write_all(b"def").unwrap();
        drop(f);
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(mnt.join("new"))
            .unwrap();
        f.seek(SeekFrom::Start(1)).unwrap();
        f.write_all(b"X").unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "aXcdef");
        drop(f);
        // truncate by open
        fs::write(mnt.join("hello"), b"short").unwrap();
        // mkdir, file in it, rmdir refuses while not empty
        fs::create_dir(mnt.join("d")).unwrap();
        fs::write(mnt.join("d/f"), b"1").unwrap();
        assert!(fs::remove_dir(mnt.join("d")).is_err());
        fs::remove_file(mnt.join("d/f")).unwrap();
        fs::remove_dir(mnt.join("d")).unwrap();
        // create_new on an existing file
        assert_eq!(
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(mnt.join("new"))
                .unwrap_err()
                .kind(),
            std::io::ErrorKind::AlreadyExists
        );
        // unlink of a directory, rmdir of a file
        assert!(fs::remove_file(mnt.join("sub")).is_err());
        assert!(fs::remove_dir(mnt.join("hello")).is_err());
        // set_len, chmod, mtime
        let f = fs::OpenOptions::new()
            .write(true)
            .open(mnt.join("new"))
            .unwrap();
        f.set_len(2).unwrap();
        drop(f);
        fs::set_permissions(mnt.join("new"), fs::Permissions::from_mode(0o640)).unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        fs::File::options()
            .write(true)
            .open(mnt.join("new"))
            .unwrap()
            .set_modified(t)
            .unwrap();
    });
    assert_eq!(fs::read(real(&r, "new")).unwrap(), b"aX");
    assert_eq!(fs::read(real(&r, "hello")).unwrap(), b"short");
    assert!(!real(&r, "d").exists());
    let md = fs::metadata(real(&r, "new")).unwrap();
    assert_eq!(md.mode() & 0o777, 0o640);
    assert_eq!(md.mtime(), 1_000_000_000);
    let got = fs::metadata(m.at("new")).unwrap();
    assert_eq!(got.mode() & 0o777, 0o640);
    assert_eq!(got.mtime(), 1_000_000_000);
    assert_eq!(got.len(), 2);
}

#[test]
fn renames_in_place_and_refuses_across_directories() {
    let Some((m, r)) = host() else { return };
    let mnt = m.path();
    bounded("renames", move || {
        fs::rename(mnt.join("hello"), mnt.join("greeting")).unwrap();
        assert_eq!(fs::read(mnt.join("greeting")).unwrap(), b"hello, world\n");
        assert!(!mnt.join("hello").exists());
        // Over an existing file, as editors and git do.
        fs::write(mnt.join("tmp"), b"new contents").unwrap();
        fs::rename(mnt.join("tmp"), mnt.join("greeting")).unwrap();
        assert_eq!(fs::read(mnt.join("greeting")).unwrap(), b"new contents");
        // Directories keep working after a rename.
        fs::rename(mnt.join("sub"), mnt.join("sub2")).unwrap();
        assert_eq!(names(&mnt.join("sub2")), ["inner"]);
        // Across directories: EXDEV (mv would copy).
        let e = fs::rename(mnt.join("greeting"), mnt.join("sub2/greeting")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(18), "{e}");
        // Links: none in 9P2000.
        assert!(fs::hard_link(mnt.join("greeting"), mnt.join("link")).is_err());
        assert!(std::os::unix::fs::symlink("greeting", mnt.join("sym")).is_err());
    });
    let mut want = names(r.path());
    want.sort();
    assert_eq!(want, ["greeting", "sub2"]);
    assert_eq!(fs::read(real(&r, "greeting")).unwrap(), b"new contents");
}

#[test]
fn big_directories_list_whole() {
    let Some((m, r)) = host() else { return };
    for i in 0..2000 {
        fs::write(
            r.path().join(format!("file-with-a-longish-name-{i:05}")),
            b"",
        )
        .unwrap();
    }
    let mnt = m.path();
    let got = bounded("readdir", move || names(&mnt));
    assert_eq!(got, names(r.path()));
    assert_eq!(got.len(), 2002);
}

#[test]
fn unmount_leaves_no_mount_behind() {
    let Some((mut m, r)) = host() else { return };
    let mnt = fs::canonicalize(m.path()).unwrap();
    assert!(is_mounted(&mnt));
    // A file held open across the unmount does not keep the mount.
    let held = fs::File::open(m.at("hello")).unwrap();
    m.unmount();
    assert!(!is_mounted(&mnt));
    assert!(
        names(&mnt).is_empty(),
        "the mount point shows its own (empty) directory"
    );
    drop(held);
    // The host directory is untouched.
    assert_eq!(fs::read(real(&r, "hello")).unwrap(), b"hello, world\n");
}

#[test]
fn dropping_the_handle_unmounts() {
    let Some(m) = host() else { return };
    let (m, _r) = m;
    let mnt = fs::canonicalize(m.path()).unwrap();
    assert!(is_mounted(&mnt));
    drop(m);
    assert!(!is_mounted(&mnt));
}

#[test]
fn read_only_mounts_refuse_changes() {
    let real = tempfile::tempdir().unwrap();
    fs::write(real.path().join("f"), b"x").unwrap();
    let tree = ninefold_hostfs::HostTree::new(real.path(), false).unwrap();
    let opts = MountOptions {
        read_only: true,
        ..MountOptions::default()
    };
    let Some(m) = mount_tree(Arc::new(tree), opts) else {
        return;
    };
    let mnt = m.path();
    bounded("read-only", move || {
        assert_eq!(fs::read(mnt.join("f")).unwrap(), b"x");
        let e = fs::write(mnt.join("f"), b"y").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(30), "{e}"); // EROFS
        assert!(fs::create_dir(mnt.join("d")).is_err());
    });
    assert_eq!(fs::read(real.path().join("f")).unwrap(), b"x");
}

/// A real file never waits to be read: poll says readable and writable at once, through
/// the page cache or with direct_io everywhere (only synthetic files read ahead to learn
/// it; tests/poll.rs), and positioned reads after a poll read where they say.
#[test]
fn regular_files_poll_ready_at_once() {
    use std::os::unix::fs::FileExt;

    use rustix::event::{PollFd, PollFlags, Timespec, poll};

    let Some((m, r)) = host() else { return };
    let tree = ninefold_hostfs::HostTree::new(r.path(), false).unwrap();
    let opts = MountOptions {
        direct_io: ninefold_fuse::DirectIo::Always,
        ..MountOptions::default()
    };
    let Some(direct) = mount_tree(Arc::new(tree), opts) else {
        return;
    };
    let (cached, direct_path) = (m.at("hello"), direct.at("hello"));
    bounded("poll regular files", move || {
        for p in [cached, direct_path] {
            let f = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p)
                .unwrap();
            let mut fds = [PollFd::new(&f, PollFlags::IN | PollFlags::OUT)];
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            assert_eq!(poll(&mut fds, Some(&zero)).unwrap(), 1);
            let ev = fds[0].revents();
            assert!(ev.contains(PollFlags::IN | PollFlags::OUT), "{p:?}: {ev:?}");
            let mut buf = [0u8; 5];
            f.read_exact_at(&mut buf, 7).unwrap();
            assert_eq!(&buf, b"world");
        }
    });
}

#[test]
fn forgotten_inodes_are_dropped() {
    let Some((m, r)) = host() else { return };
    for i in 0..500 {
        fs::write(r.path().join(format!("f{i}")), b"x").unwrap();
    }
    let mnt = m.path();
    bounded("stat every file", move || {
        for i in 0..500 {
            fs::metadata(mnt.join(format!("f{i}"))).unwrap();
        }
    });
    let (inodes, files) = m.handle.as_ref().unwrap().held();
    assert!(inodes > 500, "{inodes}");
    assert_eq!(files, 0);
    // Make the kernel let go of its dentries and inodes: it then sends FORGETs.
    if fs::write("/proc/sys/vm/drop_caches", b"2").is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "skipped the forget check: drop_caches not writable"
        );
        return;
    }
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let (inodes, _) = m.handle.as_ref().unwrap().held();
        if inodes < 10 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{inodes} inodes still held"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // And the files are found again.
    assert_eq!(fs::read(m.at("f499")).unwrap(), b"x");
}

#[test]
fn programs_run_from_the_mount() {
    let Some((m, r)) = host() else { return };
    // A host binary, copied in: exec maps it through the page cache.
    let bin = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap();
    fs::copy(bin, r.path().join("true")).unwrap();
    let exe = m.at("true");
    let status = bounded("exec from the mount", move || {
        std::process::Command::new(exe).status().unwrap()
    });
    assert!(status.success());
}

#[test]
fn files_beneath_a_renamed_directory_stay_reachable() {
    let Some((m, _r)) = host() else { return };
    let mnt = m.path();
    bounded("rename a directory, then use what it holds", move || {
        fs::create_dir_all(mnt.join("a/b")).unwrap();
        fs::write(mnt.join("a/b/f"), b"deep").unwrap();
        // The kernel now caches a, a/b and a/b/f (and their nodes name those paths).
        assert_eq!(fs::read(mnt.join("a/b/f")).unwrap(), b"deep");
        fs::rename(mnt.join("a"), mnt.join("z")).unwrap();
        // Within the entry timeout the kernel reuses its cached inodes for z/b/f.
        assert_eq!(fs::read(mnt.join("z/b/f")).unwrap(), b"deep");
        assert_eq!(fs::metadata(mnt.join("z/b/f")).unwrap().len(), 4);
        assert_eq!(names(&mnt.join("z/b")), ["f"]);
        fs::write(mnt.join("z/b/g"), b"new").unwrap();
        fs::remove_file(mnt.join("z/b/f")).unwrap();
        assert_eq!(names(&mnt.join("z/b")), ["g"]);
    });
}

/// Bytes that differ at every offset, so a piece read from the wrong place shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn reads_fetched_ahead_are_the_file_and_see_writes() {
    let Some((m, r)) = host() else { return };
    let len = 21 << 20; // ten and a half chunks of read-ahead
    let data = pattern(len);
    fs::write(real(&r, "big"), &data).unwrap();
    // Read only once, below: none of it is in the page cache before.
    fs::write(real(&r, "cold"), &data).unwrap();
    let mnt = m.path();
    bounded("sequential, scattered and rewritten reads", move || {
        // Sequential, in reads of several sizes that do not line up with the chunks.
        for step in [1 << 20, 100_000, 4 << 20] {
            let mut f = fs::File::open(mnt.join("big")).unwrap();
            let mut got = Vec::with_capacity(len);
            let mut buf = vec![0u8; step];
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert!(got == data, "a sequential read in steps of {step} differs");
        }
        // Scattered reads, through a handle whose reads first ran in order.
        let mut f = fs::File::open(mnt.join("big")).unwrap();
        let mut head = vec![0u8; 3 << 20];
        f.read_exact(&mut head).unwrap();
        for at in [20 << 20, 5, 7 << 20, (3 << 20) + 1, len - 10] {
            let mut b = vec![0u8; 10];
            f.seek(SeekFrom::Start(at as u64)).unwrap();
            f.read_exact(&mut b).unwrap();
            assert_eq!(b, data[at..at + 10], "at {at}");
        }
        // A write through the mount while a reader is part way: the reader sees it (the
        // page cache never held that part; what was fetched ahead did).
        let mut r = fs::File::open(mnt.join("cold")).unwrap();
        let mut first = vec![0u8; 2 << 20];
        r.read_exact(&mut first).unwrap();
        r.read_exact(&mut first).unwrap();
        // (time for what is fetched ahead to arrive)
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut w = fs::OpenOptions::new()
            .write(true)
            .open(mnt.join("cold"))
            .unwrap();
        w.seek(SeekFrom::Start(9 << 20)).unwrap();
        w.write_all(b"written meanwhile").unwrap();
        drop(w);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        let at = (9 << 20) - (4 << 20);
        assert_eq!(&rest[at..at + 17], b"written meanwhile");
        assert_eq!(rest.len(), len - (4 << 20));
    });
}

/// Linux's /proc files stat with size 0 and are not empty: read through the mount (a
/// host tree keeps a qid.version for them) they read whole, as directly, while an empty
/// file still reads as empty.
#[test]
fn files_that_stat_empty_but_are_not_read_whole() {
    let tree = ninefold_hostfs::HostTree::new(std::path::Path::new("/proc"), true).unwrap();
    let Some(m) = mount_tree(Arc::new(tree), MountOptions::default()) else {
        return;
    };
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = child.id();
    let mnt = m.path();
    let (version, cmdline, stat) = bounded("read /proc through the mount", move || {
        assert_eq!(fs::metadata(mnt.join("version")).unwrap().len(), 0);
        let p = mnt.join(pid.to_string());
        let version = fs::read_to_string(mnt.join("version")).unwrap();
        // Twice: the second open finds nothing cached either.
        assert_eq!(fs::read_to_string(mnt.join("version")).unwrap(), version);
        (
            version,
            fs::read(p.join("cmdline")).unwrap(),
            fs::read_to_string(p.join("stat")).unwrap(),
        )
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(version, fs::read_to_string("/proc/version").unwrap());
    assert_eq!(cmdline, b"sleep\x0030\x00");
    assert!(stat.starts_with(&format!("{pid} (sleep) ")), "{stat}");
    // A file that is empty reads as empty, read-only or not.
    let Some((m, r)) = host() else { return };
    fs::write(real(&r, "empty"), b"").unwrap();
    let mnt = m.path();
    bounded("an empty file", move || {
        assert_eq!(fs::read(mnt.join("empty")).unwrap(), b"");
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(mnt.join("empty"))
            .unwrap();
        f.write_all(b"now").unwrap();
        drop(f);
        assert_eq!(fs::read(mnt.join("empty")).unwrap(), b"now");
    });
}

/// With `refuse_own_process` the mounting process's own requests fail at once (EDEADLK)
/// and other processes' are served.
#[test]
fn own_requests_can_be_refused() {
    let real = tempfile::tempdir().unwrap();
    fs::write(real.path().join("hello"), b"hello, world\n").unwrap();
    let tree = ninefold_hostfs::HostTree::new(real.path(), false).unwrap();
    let opts = MountOptions {
        refuse_own_process: true,
        ..MountOptions::default()
    };
    let Some(m) = mount_tree(Arc::new(tree), opts) else {
        return;
    };
    let file = m.at("hello");
    let err = bounded("our own read", {
        let file = file.clone();
        move || fs::read(file).unwrap_err()
    });
    assert_eq!(err.raw_os_error(), Some(35), "{err}");
    let out = bounded("another process's read", move || {
        std::process::Command::new("cat")
            .arg(file)
            .output()
            .unwrap()
    });
    assert!(out.status.success());
    assert_eq!(out.stdout, b"hello, world\n");
}
