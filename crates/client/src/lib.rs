//! A 9P2000 client: one connection, many requests in flight.
//!
//! [`Client::rpc`] sends a request under a free tag and waits for its reply; a caller that
//! gives up (drops the future) makes the client send Tflush and keep the tag reserved until
//! the server has finished with it. [`Client`] is also a [`ninefold_fs::Tree`], and its nodes
//! ([`RemoteNode`]) are remote fids, so a remote tree can be served or mounted like a local one.

mod alloc;
mod conn;
mod path;
mod remote;
mod write;

pub use conn::Client;
pub use path::{split_path, walk_path};
pub use remote::RemoteNode;
