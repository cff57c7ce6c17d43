//! The one interface every ninefold file tree implements — Plan 9's `Dev`.
//!
//! A [`Tree`] hands out a [`Node`] on attach. A node is what a 9P fid points at: walking
//! makes a new node, opening and creating change the node itself, clunking ends it. Because
//! a node *is* a fid's state, a connected 9P client can be a tree too: its nodes are remote
//! fids, so a remote tree can be served, composed and mounted exactly like a local one.
//!
//! Every method has a default that fails with the error Plan 9 would give, so a small
//! synthetic tree implements only what it has.

mod dirread;
mod error;
mod node;
pub mod synth;

pub use dirread::DirCursor;
pub use error::{Error, Result};
pub use ninefold_proto::{Qid, QidType, Stat};
pub use node::{Node, NodeRef, Opened, Tree, WalkOpened, Walked};
