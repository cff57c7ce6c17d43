//! /net (ninefold_netfs::NetTree) mounted through FUSE and used with plain std calls, as a
//! shell script would: clone → ctl → connect → data. Each scenario runs on the tree
//! itself and on the tree reached through ninefold's 9P server and client (where an
//! interrupted read becomes a Tflush).
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ninefold_fuse::MountOptions;
use ninefold_netfs::NetTree;

macro_rules! both {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[test]
            fn direct() {
                scenarios::$name(Via::Direct)
            }
            #[test]
            fn served() {
                scenarios::$name(Via::Served)
            }
        }
    };
}

both!(seed_scenario);
both!(truncating_writes_to_ctl);
both!(blocked_read_does_not_stall_the_mount);
both!(interrupted_read_returns_and_loses_nothing);

/// A TCP echo server on loopback for one connection.
fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 || s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    port
}

/// One read(2): on a synthetic file, what one tree read returned.
fn read_once(f: &mut File) -> String {
    let mut buf = [0u8; 256];
    let n = f.read(&mut buf).unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

fn rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// A connected conversation: its number and ctl (held open: closing it would end the
/// conversation).
fn dial(mnt: &Path, port: u16) -> (PathBuf, File) {
    let mut ctl = rw(&mnt.join("tcp/clone"));
    let n: u32 = read_once(&mut ctl).trim().parse().unwrap();
    ctl.write_all(format!("connect 127.0.0.1!{port}").as_bytes())
        .unwrap();
    (mnt.join(format!("tcp/{n}")), ctl)
}

fn mount_net(via: Via) -> Option<Mounted> {
    mount_via(via, Arc::new(NetTree::new()), MountOptions::default())
}

mod scenarios {
    use super::*;

    pub fn seed_scenario(via: Via) {
        let Some(m) = mount_net(via) else { return };
        let port = echo_server();
        let mnt = m.path();
        bounded("seed scenario", move || {
            // Opening clone gives a new conversation's ctl; reading it gives its number.
            let mut ctl = rw(&mnt.join("tcp/clone"));
            let n: u32 = read_once(&mut ctl).trim().parse().unwrap();
            let conv = mnt.join(format!("tcp/{n}"));
            // The handle reads that conversation's ctl, not clone (fstat would still show
            // clone's inode: Linux stats the inode the path named, as with v9fs).
            assert_eq!(read_once(&mut ctl), "");
            assert_eq!(fs::read_to_string(conv.join("ctl")).unwrap(), n.to_string());
            ctl.write_all(format!("connect 127.0.0.1!{port}").as_bytes())
                .unwrap();
            let mut data = rw(&conv.join("data"));
            data.write_all(b"hello").unwrap();
            let mut buf = [0u8; 5];
            data.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"hello");
            assert_eq!(
                fs::read_to_string(conv.join("remote")).unwrap(),
                format!("127.0.0.1!{port}\n")
            );
            let status = fs::read_to_string(conv.join("status")).unwrap();
            assert!(status.starts_with("Established"), "{status}");
            // Every open is its own fid: a second clone is another conversation.
            let mut ctl2 = File::open(mnt.join("tcp/clone")).unwrap();
            let n2: u32 = read_once(&mut ctl2).trim().parse().unwrap();
            assert_ne!(n, n2);
            // And the directory lists both.
            let listed = names(&mnt.join("tcp"));
            assert!(listed.contains(&n.to_string()), "{listed:?}");
            assert!(listed.contains(&n2.to_string()), "{listed:?}");
            assert!(listed.contains(&"clone".to_owned()), "{listed:?}");
        });
    }

    pub fn truncating_writes_to_ctl(via: Via) {
        let Some(m) = mount_net(via) else { return };
        let port = echo_server();
        let mnt = m.path();
        bounded("echo > ctl", move || {
            let mut ctl = File::open(mnt.join("tcp/clone")).unwrap();
            let n: u32 = read_once(&mut ctl).trim().parse().unwrap();
            let conv = mnt.join(format!("tcp/{n}"));
            // What `echo connect … > ctl` does: open(O_WRONLY|O_TRUNC), write.
            let mut w = OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(conv.join("ctl"))
                .unwrap();
            w.write_all(format!("connect 127.0.0.1!{port}\n").as_bytes())
                .unwrap();
            // An explicit truncate of a synthetic file is tolerated too.
            w.set_len(0).unwrap();
            drop(w);
            let status = fs::read_to_string(conv.join("status")).unwrap();
            assert!(status.starts_with("Established"), "{status}");
            // Errors of the tree come back as errno: an unknown control message.
            let mut w = OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(conv.join("ctl"))
                .unwrap();
            assert!(w.write_all(b"frobnicate\n").is_err());
            drop(ctl);
        });
    }

    pub fn blocked_read_does_not_stall_the_mount(via: Via) {
        let Some(m) = mount_net(via) else { return };
        let port = echo_server();
        let mnt = m.path();
        let (conv, ctl) = bounded("dial", {
            let mnt = mnt.clone();
            move || dial(&mnt, port)
        });
        let mut reader = rw(&conv.join("data"));
        let waiting = std::thread::spawn(move || {
            let mut buf = [0u8; 4];
            reader.read_exact(&mut buf).map(|()| buf)
        });
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !waiting.is_finished(),
            "nothing was sent: the read must wait"
        );
        // Meanwhile everything else on the mount goes on.
        within(
            "other operations during a blocked read",
            Duration::from_secs(5),
            {
                let (mnt, conv) = (mnt.clone(), conv.clone());
                move || {
                    assert!(fs::metadata(mnt.join("tcp")).unwrap().is_dir());
                    assert!(names(&mnt.join("tcp")).contains(&"clone".to_owned()));
                    let status = fs::read_to_string(conv.join("status")).unwrap();
                    assert!(status.starts_with("Established"), "{status}");
                    assert!(fs::read_to_string(mnt.join("tcp/stats")).is_ok());
                    // Writing to the very file being read.
                    rw(&conv.join("data")).write_all(b"ping").unwrap();
                }
            },
        );
        let got = bounded("the blocked read", move || waiting.join().unwrap().unwrap());
        assert_eq!(&got, b"ping");
        drop(ctl);
    }

    pub fn interrupted_read_returns_and_loses_nothing(via: Via) {
        let Some(m) = mount_net(via) else { return };
        let port = echo_server();
        let mnt = m.path();
        let (conv, ctl) = bounded("dial", {
            let mnt = mnt.clone();
            move || dial(&mnt, port)
        });
        // A reader that waits for data that never comes, stopped by SIGINT after 1 s: the
        // kernel sends FUSE_INTERRUPT, the tree read is cancelled, read(2) ends.
        let started = Instant::now();
        let data = conv.join("data");
        let status = bounded("timeout -s INT 1 cat data", move || {
            Command::new("timeout")
                .args(["-s", "INT", "1", "cat"])
                .arg(&data)
                .status()
                .unwrap()
        });
        // 124: timeout had to signal cat, which was still blocked in read(2) after 1 s.
        assert_eq!(status.code(), Some(124), "{status:?}");
        assert!(started.elapsed() >= Duration::from_millis(900));
        assert!(started.elapsed() < Duration::from_secs(10));
        // The mount still works, and the cancelled read took nothing from the stream.
        bounded("after the interrupt", move || {
            assert!(names(&mnt.join("tcp")).contains(&"clone".to_owned()));
            let mut d = rw(&conv.join("data"));
            d.write_all(b"after").unwrap();
            let mut buf = [0u8; 5];
            d.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"after");
            drop(ctl);
        });
    }
}
