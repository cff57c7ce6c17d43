//! poll(2), select(2) and epoll on synthetic stream files through FUSE: a `#|` pipe and a
//! /net tcp data file, on the tree itself and on the tree served through ninefold's 9P
//! server and client. Readiness is learned by reading ahead: a file is readable once a
//! read of it has something to give, and that something is what read(2) returns next.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use ninefold_devs::PipeTree;
use ninefold_fuse::MountOptions;
use ninefold_netfs::NetTree;
use rustix::event::{PollFd, PollFlags, Timespec, epoll};

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

both!(pipe_poll_waits_for_data_and_loses_nothing);
both!(pipe_end_of_file_polls_readable);
both!(tcp_select_readable_only_after_the_server_sends);
both!(epoll_on_a_pipe);
both!(closed_handle_with_a_pending_read_leaves_nothing);

/// How long a poll that must come back empty waits.
const QUIET: Duration = Duration::from_millis(300);

fn ts(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// poll(2) for reading, at most `d`: how many were ready, and the revents.
fn poll_in(f: &File, d: Duration) -> (usize, PollFlags) {
    let mut fds = [PollFd::new(f, PollFlags::IN)];
    let n = rustix::event::poll(&mut fds, Some(&ts(d))).unwrap();
    (n, fds[0].revents())
}

/// A poll that must time out: nothing ready, and it waited (about) the whole time.
fn assert_quiet(f: &File, what: &str) {
    let t = Instant::now();
    let (n, ev) = poll_in(f, QUIET);
    assert_eq!(n, 0, "{what}: ready ({ev:?}) with nothing to read");
    assert!(t.elapsed() >= QUIET - Duration::from_millis(50), "{what}");
}

/// A poll that must see data (or an end) within `LIMIT`.
fn assert_readable(f: &File, what: &str) {
    let (n, ev) = poll_in(f, LIMIT);
    assert_eq!(n, 1, "{what}: not readable within {LIMIT:?}");
    assert!(ev.contains(PollFlags::IN), "{what}: {ev:?}");
}

/// One read(2).
fn read_once(f: &mut File) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = f.read(&mut buf).unwrap();
    buf[..n].to_vec()
}

fn rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

fn mount_pipe(via: Via) -> Option<Mounted> {
    mount_via(via, Arc::new(PipeTree::new()), MountOptions::default())
}

/// The pipe's reading end (`data1`) and writing end (`data`).
fn pipe_ends(m: &Mounted) -> (File, File) {
    let (r, w) = (m.at("data1"), m.at("data"));
    bounded("open the pipe's ends", move || {
        let reader = File::open(r).unwrap();
        let writer = OpenOptions::new().write(true).open(w).unwrap();
        (reader, writer)
    })
}

/// A TCP server on loopback for one connection that sends what it is given, throws
/// away what it receives, and ends its side (FIN) when the sender is dropped.
fn talk_server() -> (u16, mpsc::Sender<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        // Unread bytes at close would make it a reset, not an end of stream.
        let mut drain = s.try_clone().unwrap();
        std::thread::spawn(move || std::io::copy(&mut drain, &mut std::io::sink()));
        while let Ok(b) = rx.recv() {
            if s.write_all(&b).is_err() {
                return;
            }
        }
        let _ = s.shutdown(std::net::Shutdown::Write);
    });
    (port, tx)
}

/// A connected conversation's directory, and its ctl (held open: closing it would end
/// the conversation).
fn dial(mnt: &Path, port: u16) -> (PathBuf, File) {
    let mut ctl = rw(&mnt.join("tcp/clone"));
    let n: u32 = String::from_utf8(read_once(&mut ctl))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    ctl.write_all(format!("connect 127.0.0.1!{port}").as_bytes())
        .unwrap();
    (mnt.join(format!("tcp/{n}")), ctl)
}

/// Waits until the mount holds `want` (inodes, open files) again: releases are
/// asynchronous. Inodes may be fewer (the kernel may forget).
fn wait_held(m: &Mounted, want: (usize, usize)) {
    let h = m.handle.as_ref().unwrap();
    let start = Instant::now();
    loop {
        let (inodes, files) = h.held();
        if files == want.1 && inodes <= want.0 {
            return;
        }
        assert!(
            start.elapsed() < LIMIT,
            "held {:?}, want {want:?}",
            h.held()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

mod scenarios {
    use super::*;

    pub fn pipe_poll_waits_for_data_and_loses_nothing(via: Via) {
        let Some(m) = mount_pipe(via) else { return };
        let (mut reader, writer) = pipe_ends(&m);
        bounded("poll on a pipe", move || {
            assert_quiet(&reader, "empty pipe");
            // The other end writes while poll waits: poll wakes, readable.
            let w = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                let mut writer = writer;
                writer.write_all(b"hello").unwrap();
                writer
            });
            let t = Instant::now();
            assert_readable(&reader, "after a write");
            assert!(t.elapsed() >= Duration::from_millis(150), "ready too soon");
            let mut writer = w.join().unwrap();
            // Exactly what was written: the bytes read ahead, once.
            assert_eq!(read_once(&mut reader), b"hello");
            assert_quiet(&reader, "after reading it all");
            // Several writes, read in small pieces: in order, nothing twice.
            writer.write_all(b"abc").unwrap();
            writer.write_all(b"defg").unwrap();
            assert_readable(&reader, "after two writes");
            let mut got = Vec::new();
            let mut buf = [0u8; 2];
            while got.len() < 7 {
                let n = reader.read(&mut buf).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, b"abcdefg");
            assert_quiet(&reader, "after reading the pieces");
            // Writable at once, whatever there is to read.
            let mut fds = [PollFd::new(&writer, PollFlags::OUT)];
            let zero = ts(Duration::ZERO);
            assert_eq!(rustix::event::poll(&mut fds, Some(&zero)).unwrap(), 1);
            assert!(fds[0].revents().contains(PollFlags::OUT));
        });
    }

    pub fn pipe_end_of_file_polls_readable(via: Via) {
        let Some(m) = mount_pipe(via) else { return };
        let (mut reader, mut writer) = pipe_ends(&m);
        bounded("end of file", move || {
            writer.write_all(b"last words").unwrap();
            drop(writer);
            // What was queued first, then the end: readable, and read(2) gives 0.
            assert_readable(&reader, "queued bytes");
            assert_eq!(read_once(&mut reader), b"last words");
            assert_readable(&reader, "end of file");
            assert_eq!(read_once(&mut reader), b"");
            // And it stays so.
            assert_readable(&reader, "end of file again");
            assert_eq!(read_once(&mut reader), b"");
        });
    }

    pub fn tcp_select_readable_only_after_the_server_sends(via: Via) {
        use nix::sys::select::{FdSet, select};
        use nix::sys::time::{TimeVal, TimeValLike};

        let Some(m) = mount_via(via, Arc::new(NetTree::new()), MountOptions::default()) else {
            return;
        };
        let (port, send) = talk_server();
        let mnt = m.path();
        bounded("select on a tcp data file", move || {
            let (conv, ctl) = dial(&mnt, port);
            let mut data = rw(&conv.join("data"));
            let readable = |data: &File, ms: i64| {
                let mut set = FdSet::new();
                set.insert(data.as_fd());
                let mut tv = TimeVal::milliseconds(ms);
                let n = select(None, &mut set, None, None, &mut tv).unwrap();
                (n, set.contains(data.as_fd()))
            };
            // Nothing sent: select times out.
            let t = Instant::now();
            assert_eq!(readable(&data, QUIET.as_millis() as i64), (0, false));
            assert!(t.elapsed() >= QUIET - Duration::from_millis(50));
            // Writable at once.
            let mut set = FdSet::new();
            set.insert(data.as_fd());
            let mut tv = TimeVal::milliseconds(0);
            assert_eq!(select(None, None, &mut set, None, &mut tv).unwrap(), 1);
            // The server sends: readable, and read(2) gives exactly that.
            send.send(b"ping".to_vec()).unwrap();
            let limit = LIMIT.as_millis() as i64;
            assert_eq!(readable(&data, limit), (1, true));
            assert_eq!(read_once(&mut data), b"ping");
            assert_eq!(readable(&data, QUIET.as_millis() as i64), (0, false));
            // Our own write travels the other way and does not wake the reader.
            data.write_all(b"pong").unwrap();
            assert_eq!(readable(&data, QUIET.as_millis() as i64), (0, false));
            // The server ends its side: readable, end of file.
            drop(send);
            assert_eq!(readable(&data, limit), (1, true));
            assert_eq!(read_once(&mut data), b"");
            drop(ctl);
        });
    }

    pub fn epoll_on_a_pipe(via: Via) {
        use rustix::buffer::spare_capacity;
        use rustix::event::epoll::{CreateFlags, EventData, EventFlags};

        let Some(m) = mount_pipe(via) else { return };
        let (mut reader, mut writer) = pipe_ends(&m);
        bounded("epoll", move || {
            let ep = epoll::create(CreateFlags::CLOEXEC).unwrap();
            epoll::add(&ep, &reader, EventData::new_u64(7), EventFlags::IN).unwrap();
            let mut events = Vec::with_capacity(4);
            let t = Instant::now();
            epoll::wait(&ep, spare_capacity(&mut events), Some(&ts(QUIET))).unwrap();
            assert!(events.is_empty(), "ready with nothing to read");
            assert!(t.elapsed() >= QUIET - Duration::from_millis(50));
            // Woken by a write from another thread while waiting.
            let w = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                writer.write_all(b"epoll").unwrap();
                writer
            });
            epoll::wait(&ep, spare_capacity(&mut events), Some(&ts(LIMIT))).unwrap();
            assert_eq!(events.len(), 1);
            let ev = events[0];
            let (flags, data) = (ev.flags, ev.data);
            assert!(flags.contains(EventFlags::IN), "{flags:?}");
            assert_eq!(data.u64(), 7);
            let mut writer = w.join().unwrap();
            // Level-triggered: still ready until read.
            events.clear();
            epoll::wait(&ep, spare_capacity(&mut events), Some(&ts(Duration::ZERO))).unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(read_once(&mut reader), b"epoll");
            events.clear();
            epoll::wait(&ep, spare_capacity(&mut events), Some(&ts(QUIET))).unwrap();
            assert!(events.is_empty(), "ready after everything was read");
            // And again, the next write.
            writer.write_all(b"more").unwrap();
            events.clear();
            epoll::wait(&ep, spare_capacity(&mut events), Some(&ts(LIMIT))).unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(read_once(&mut reader), b"more");
        });
    }

    pub fn closed_handle_with_a_pending_read_leaves_nothing(via: Via) {
        let Some(m) = mount_pipe(via) else { return };
        let (mut other, writer) = pipe_ends(&m);
        let before = m.handle.as_ref().unwrap().held();
        // A second reader polls (its background read waits on the empty pipe) and closes.
        let r = m.at("data1");
        bounded("poll, then close", move || {
            let polled = File::open(r).unwrap();
            assert_eq!(poll_in(&polled, Duration::from_millis(100)).0, 0);
        });
        // Released, its read cancelled and its fid clunked: held as before.
        wait_held(&m, before);
        // The cancelled read took nothing: the other reader gets all that is written.
        let writer = bounded("the other reader", move || {
            let mut writer = writer;
            writer.write_all(b"for the other").unwrap();
            assert_eq!(read_once(&mut other), b"for the other");
            drop(other);
            writer
        });
        // Closing a handle whose background read has already brought something.
        let r = m.at("data1");
        let writer = bounded("read ahead, unread, then close", move || {
            let mut writer = writer;
            let polled = File::open(r).unwrap();
            writer.write_all(b"unread").unwrap();
            assert_readable(&polled, "written");
            drop(polled);
            writer
        });
        drop(writer);
        wait_held(&m, (before.0, before.1 - 2));
    }
}
