//! A host directory served as a ninefold [`Tree`](ninefold_fs::Tree): what Plan 9's u9fs does.
//!
//! Confinement is the point of this crate. Every path a client names is resolved by the
//! kernel with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` from an `O_PATH` fd of the
//! root, so neither `..`, nor a symlink pointing outside, nor a rename racing a lookup can
//! reach a file outside the root.
//!
//! How it fits together:
//! - A node keeps its *lexical* path (components relative to the root; `..` pops one, and
//!   `..` at the root stays there, as in Plan 9) and an `O_PATH` fd taken at walk time, so
//!   stat is one `fstat` and keeps working if the file moves.
//! - Anything that opens or changes a file first re-resolves the lexical path beneath the
//!   root and checks it still names the node's file (same device and inode); if not, the
//!   answer is "file does not exist".
//! - A symlink that leaves the root cannot be walked: the walk answers "permission denied"
//!   (the kernel's EXDEV). A directory listing still shows such a link, with the link's own
//!   metadata. Absolute symlinks never resolve beneath a root (that is RESOLVE_BENEATH's
//!   rule), even when they name a file inside it.
//! - Malformed names (empty, `.`, containing `/` or NUL; `..` where it cannot be a walk)
//!   are "bad arg in system call" everywhere.
//! - The attach name selects a starting directory beneath the root; `..` from there may
//!   climb back to the root but never above it.
//! - New files get exactly the permissions Plan 9's rule gives (the client has applied its
//!   umask already; the server's umask does not apply a second time).
//! - chmod of a file that is not open goes through `/proc/self/fd/N` of the node's own
//!   `O_PATH` fd: Linux has no fchmod on `O_PATH` fds, and rustix does not wrap fchmodat2.
//! - Paths are lexical, as in u9fs: after another fid renames a directory, fids beneath it
//!   find their files gone.
//! - A read-only tree also refuses ORCLOSE opens, since the remove at clunk would fail.
//! - Blocking filesystem work (walks, opens, reads, writes, listings, changes) runs in
//!   `spawn_blocking`; an `fstat` on a held fd runs inline.

mod create;
mod io;
mod node;
mod resolve;
mod stat;
mod tree;
mod wstat;

pub use tree::HostTree;
