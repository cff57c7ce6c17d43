//! 9P frames over any async byte stream, shared by the server and the client.
//!
//! Reading splits whole frames off one growing buffer, so a Twrite or Rread payload is a
//! slice of the bytes the socket delivered. Writing happens in one task per connection that
//! gathers every queued frame into a single vectored write: small replies are batched, large
//! payloads are written from where they already are.

pub mod pool;
mod reader;
mod writer;

pub use reader::FrameReader;
pub use writer::{Frame, FrameSender, spawn_writer};
