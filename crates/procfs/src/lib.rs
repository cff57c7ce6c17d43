//! `#p`, Plan 9's process device, over the host's processes as Linux's /proc shows them:
//! a directory per process with `status`, `args`, `fd`, `ns`, `note`, `notepg`, `ctl`,
//! `noteid` and `ppid`, bound at `/prog` in ninefold's default name space (Linux's own
//! /proc stays as it is). See [`ProcTree`] for the files and rules.
//!
//! Also here, for Linux's own /proc: [`ReaderView`], another machine's /proc (served by
//! `exportfs -r /proc`) in which each process reading it finds its own directory, as
//! procps's `ps` needs when that /proc is mounted over /proc in a session.
//!
//! # Where this differs from Plan 9, and why
//!
//! - **Notes are signals.** A Linux process has no notes: writing `note` sends the signal
//!   [`note_signal`] maps the note to (interrupt → SIGINT, hangup → SIGHUP, alarm →
//!   SIGALRM, kill → SIGTERM, any other → SIGTERM; `sys:` notes are refused); the text does
//!   not arrive. Reading `note` never finds one pending (EOF).
//! - **Signals go through pidfds** opened when the process directory is walked and checked
//!   against the process's start time, so a pid reused by a new process is never hit:
//!   the old fid gets "process exited".
//! - **Linux's /proc is opened once**, when the first tree is made, and read through that
//!   directory only: another machine's /proc mounted over /proc later (in a ninefold
//!   session) is never taken for this machine's processes, whose pids the pidfds are for.
//! - **`status`** keeps Plan 9's 176-byte layout. Linux states become Plan 9 words
//!   ([`state_word`]); names with blanks get `_` for them; the children's real time
//!   is 0 (Linux keeps no such total); priorities are 10 − nice/2 (19 for real-time).
//! - **`fd`** has Plan 9's layout with Linux's facts: the qid is the inode, the device
//!   character is made up from the file's kind (`|` pipes, `I` sockets, `c` character devices, `S` block devices, `-` anonymous inodes, `M` the rest), the iounit is 0.
//! - **`ctl`** honours `kill`, `stop`, `start`, `waitstop`, `startstop` and Inferno's
//!   `killgrp`; `hang`, `close`, `pri`, `private`, `profile` and the rest have no Linux
//!   equivalent for another process: "not supported: MSG". `waitstop` polls every 10 ms.
//! - **`notepg`** is the Linux process group (Plan 9's note group).
//! - **`ns`** is known only for processes in a ninefold session (their environment has
//!   `NINEFOLD_NS`), and only through an [`NsSource`] the program supplies.
//! - Not here: `mem`, `regs`, `fpregs`, `kregs`, `proc`, `profile`, `segment`, `text`,
//!   `wait`, `/proc/trace`.

mod linux;
mod process;
mod text;
mod tree;
mod view;

/// Linux's /proc as `#p` reads it: through the directory opened when the first
/// [`ProcTree`] was made, so that what is mounted over /proc afterwards is not read. Paths
/// are relative (`"42/stat"`); a missing file is "process exited".
pub mod host {
    pub use crate::linux::{list, read_file, read_link};
}

pub use process::{MAX_NOTE, note_signal};
pub use text::{STATUS_SIZE, state_word};
pub use tree::{NsSource, PROC_READ_LIMIT, ProcTree, SESSION_VAR};
pub use view::{Reader, ReaderView};
