//! Four small Plan 9 kernel devices as ninefold trees, to be bound into a namespace:
//!
//! | device | tree | what it is |
//! |---|---|---|
//! | `#c` cons | [`ConsTree`] | `null`, `zero`, `random`, `time`, `bintime`, `user`, `sysname`, `hostowner`, `pid`, `ppid`, `osversion` |
//! | `#e` env | [`EnvTree`] | an environment group: one file per variable, shared by every attach |
//! | `#\|` pipe | [`PipeTree`] | every attach a new pipe: a directory with `data` and `data1` |
//! | `#s` srv | [`SrvTree`] | a registry of posted 9P connections, by name |
//!
//! Each tree serves directories through [`ninefold_fs::DirCursor`], gives every file of
//! its device its own qid path, keeps `..` of its root at the root, refuses walks in files
//! ("walk in non-directory") and opens for writing of read-only files ("permission
//! denied"). None checks users: the owner named at construction (or "none") owns every
//! file, and the permission bits say what *anyone* may do. A wstat that changes nothing
//! (a sync) always succeeds.
//!
//! # Where these differ from Plan 9, and why
//!
//! - **cons** has no `cons` and `consctl`: the terminal stays Linux's. Every file is
//!   read-only except `null`: the time, the user, the host's name belong to Linux, not to
//!   a namespace. `user` is the user the tree was made for, not the reader's (a 9P server
//!   has no "current process"). `hostowner` is the Linux user ninefold runs as;
//!   `osversion` is the Linux release rather than `2000`; ticks are CLOCK_MONOTONIC
//!   nanoseconds (so ticks per second is 10⁹). Not here: `drivers`, `kprint`, `reboot`,
//!   `swap`, `sysstat`, `config`, `cputime`.
//! - **env** variables hold bytes (Linux values; Plan 9's rc lists with NUL separators
//!   pass through unchanged), at most 1 MiB each and 16 MiB per group.
//!   [`EnvTree::copy_group`] is RFENVG (copy the group); a clone of the tree shares it.
//!   Variables may be renamed by wstat, which Plan 9's devenv does not allow.
//! - **pipe** is a byte stream: Plan 9 keeps write boundaries (one read never returns
//!   parts of two writes, and a zero-length write reads as 0 bytes); here a read takes
//!   whatever is queued. An end closed by every fid that opened it can be opened again
//!   (a Unix FIFO's rule). Writing to a closed pipe fails with "write on closed pipe";
//!   there is no note to post.
//! - **srv** holds trees, not file descriptors: one posts with [`SrvTree::post`], or by
//!   creating a file and writing a *dial string* (which a [`Poster`] connects) where Plan
//!   9 writes an fd number. Opening an entry gives its source text, not the channel; a
//!   namespace gets the channel with [`SrvTree::get`].
//!
//! Attach names are ignored by all four (Plan 9's `#e` and `#s` take specs for other
//! groups; here a different group is a different tree).

mod common;
mod cons;
mod env;
mod pipe;
mod srv;

pub use cons::{ConsTree, MAX_READ, TICKS_PER_SEC};
pub use env::{EnvTree, MAX_GROUP, MAX_VAR, MAX_VARS};
pub use pipe::{CLOSED_PIPE, PIPE_BUF, PipeTree};
pub use srv::{MAX_DIAL, MAX_ENTRIES, PostFuture, Poster, SrvTree};
