//! Plan 9 name spaces over ninefold trees: bind, mount, unmount, union directories,
//! `#` device names, namespace files and `ns` text — in process, independent of FUSE, so
//! it runs and is tested anywhere and can itself be served over 9P ([`NsTree`]).
//!
//! The model is Plan 9's kernel (port/chan.c), with trees for devices and nodes for
//! channels:
//!
//! - A [`Namespace`] is a handle on a group: a root tree, a device table ([`Devices`]) and a
//!   mount table. Clones share the group (a bind through one is seen by all, as after a
//!   plain fork); [`Namespace::copy`] is RFNAMEG and [`Namespace::fresh`] RFCNAMEG.
//! - The mount table is keyed by *file*, not by name: a [`Chan`] is an unopened node plus
//!   the tree instance it came from, and (instance, qid path, dir bit) is the key — so a
//!   mount point reached by another name is the same mount point (`eqchan`).
//! - Walking a name (`resolve`) steps element by element; after each step the mount table
//!   is consulted (`domount`), and inside a union the first member that has the element
//!   wins. The `old` of bind and mount skips that check on its last element, so a second
//!   bind joins the union already there. `..` is lexical ([`NsPath`]).
//! - Unions follow §1.3 of plan9-namespaces.md exactly: the first `-a`/`-b` adds the
//!   original directory; binding a union copies its members; only the top level is
//!   unioned; reads list every member in order with duplicates (or, with `compact`, the
//!   first of each name); create goes to the first `-c` member only and a name any member
//!   has is taken; remove takes the first match; `-c` on a union source follows the
//!   kernel's rule. Error strings are the kernel's: `inconsistent mount`, `not in union`,
//!   `not mounted`, `mounted directory forbids creation`, `unknown device in # filename`.
//! - Namespace files ([`parse`], [`Namespace::apply`]) take bind, mount, import, unmount,
//!   cd, clear and `. file`, `$var` and `-q`; `ns` text ([`Namespace::ns_text`]) prints one
//!   line per member in the order they were made (mount ids), which reads back as the same
//!   name space. Words may be quoted rc-style (`'a b'`) since Linux names hold blanks;
//!   Plan 9 text needs no quotes and reads as is.
//! - `mount` reaches 9P servers through a [`Connector`] (the program says how to dial);
//!   `mount /srv/NAME` finds a connection posted in the srv device ([`Posted`]).
//!
//! Where this differs from Plan 9, and why:
//! - A `create` of a name that exists fails with `file already exists` (9P's Tcreate)
//!   instead of opening it with truncation as create(2) does: the open-or-create choice
//!   belongs to whoever turns a system call into 9P (the FUSE bridge).
//! - A union member that cannot be opened is skipped when the union is read, as in Plan 9,
//!   but a read error from an open member is passed on: it may be "count too small".
//! - Served over 9P, qid paths are mixed with the tree instance (`dev`) so files of
//!   different trees do not share one; the root tree keeps its own (host inode numbers).
//! - Copied union members print under their own names in `ns` and are marked `-a`
//!   after the first, so the text replays to the same order (Plan 9 prints the copies
//!   with their original flags, which does not).
mod chan;
mod devices;
mod flags;
mod namespace;
mod path;
mod table;
mod text;

pub use chan::{Chan, ChanKey};
pub use devices::Devices;
pub use flags::{Flags, Order};
pub use namespace::{Namespace, Place};
pub use path::NsPath;
pub use table::{Member, Source};
pub use text::{quote, words};
mod node;
mod union;
pub use node::{NsNode, NsTree};
mod apply;
mod nsfile;
pub use apply::{ApplyError, Connector, Context, NoConnector, names_a_file};
pub use devices::Posted;
pub use nsfile::{Line, Op, ParseError, parse};
mod dialer;
mod standard;
pub use dialer::Dialer;
pub use standard::{
    DEFAULT_NS, PLAN9_DIRS, Standard, devices as standard_devices, standard, standard_over,
    standard_with_net,
};
