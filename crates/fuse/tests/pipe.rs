//! `#|` (ninefold_devs::PipeTree) through FUSE: a pipe's two ends used from two threads,
//! EOF when the writer closes, and a blocked reader interrupted.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ninefold_devs::PipeTree;
use ninefold_fuse::MountOptions;

fn mount_pipe(via: Via) -> Option<Mounted> {
    mount_via(via, Arc::new(PipeTree::new()), MountOptions::default())
}

#[test]
fn pipe_across_threads_direct() {
    pipe_across_threads(Via::Direct)
}

#[test]
fn pipe_across_threads_served() {
    pipe_across_threads(Via::Served)
}

fn pipe_across_threads(via: Via) {
    let Some(m) = mount_pipe(via) else { return };
    assert_eq!(names(&m.path()), ["data", "data1"]);
    // More than the pipe holds, so the writer must wait for the reader.
    let total = ninefold_devs::PIPE_BUF * 3 + 12345;
    let payload: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let reader = {
        let p = m.at("data1");
        std::thread::spawn(move || {
            let mut f = File::open(p).unwrap();
            let mut got = Vec::new();
            f.read_to_end(&mut got).unwrap();
            got
        })
    };
    let w = m.at("data");
    let sent = payload.clone();
    bounded("writer", move || {
        let mut f = OpenOptions::new().write(true).open(w).unwrap();
        for chunk in sent.chunks(50_000) {
            f.write_all(chunk).unwrap();
        }
        // Closing the writing end: the reader sees EOF after the rest.
    });
    let got = bounded("reader to EOF", move || reader.join().unwrap());
    assert_eq!(got.len(), payload.len());
    assert!(got == payload);
}

#[test]
fn blocked_pipe_read_interrupted_direct() {
    blocked_pipe_read_interrupted(Via::Direct)
}

#[test]
fn blocked_pipe_read_interrupted_served() {
    blocked_pipe_read_interrupted(Via::Served)
}

fn blocked_pipe_read_interrupted(via: Via) {
    let Some(m) = mount_pipe(via) else { return };
    let started = Instant::now();
    let data1 = m.at("data1");
    let status = bounded("timeout -s INT 1 cat data1", move || {
        Command::new("timeout")
            .args(["-s", "INT", "1", "cat"])
            .arg(&data1)
            .status()
            .unwrap()
    });
    assert_eq!(status.code(), Some(124), "{status:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // The pipe still works and the cancelled read took nothing.
    let (r, w) = (m.at("data1"), m.at("data"));
    bounded("after the interrupt", move || {
        let mut reader = File::open(r).unwrap();
        let mut writer = OpenOptions::new().write(true).open(w).unwrap();
        writer.write_all(b"still here").unwrap();
        let mut buf = [0u8; 10];
        reader.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"still here");
    });
}

/// poll(2) on the ends of a pipe: the writing end is writable at once and never readable
/// (the kernel used to report every file both, when poll was answered ENOSYS); the
/// reading end is not readable while nothing is queued. tests/poll.rs has the rest.
#[test]
fn poll_reports_what_each_end_can_do() {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};

    let Some(m) = mount_pipe(Via::Direct) else {
        return;
    };
    let (r, w) = (m.at("data1"), m.at("data"));
    bounded("poll", move || {
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let writer = OpenOptions::new().write(true).open(w).unwrap();
        let mut fds = [PollFd::new(&writer, PollFlags::IN | PollFlags::OUT)];
        assert_eq!(poll(&mut fds, Some(&zero)).unwrap(), 1);
        assert_eq!(fds[0].revents(), PollFlags::OUT);
        let reader = File::open(r).unwrap();
        let mut fds = [PollFd::new(&reader, PollFlags::IN)];
        assert_eq!(poll(&mut fds, Some(&zero)).unwrap(), 0);
    });
}
