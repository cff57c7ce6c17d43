//! Serve any [`Tree`] over any byte stream.
//!
//! Each request runs in its own task, so a read that blocks (a `listen`, a pipe) never holds
//! up the others. Requests are started in the order they came, and one that depends on an
//! earlier one still waiting — a Topen of the fid a slow Twalk makes — waits for it, so a
//! client may send them without waiting for replies (`order.rs`). Tflush cancels the flushed request's task and answers only once that task
//! is finished: whatever the flushed request was going to send has been sent, and nothing is
//! sent for it afterwards. When the connection ends, every request is cancelled and every
//! fid clunked.

mod fids;
mod handlers;
mod order;
mod session;

use std::sync::Arc;

use ninefold_fs::Tree;
use tokio::io::{AsyncRead, AsyncWrite};

pub use session::serve;

/// Per-server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The largest msize offered to clients.
    pub max_msize: u32,
    /// If set, attach uses this principal (established by the transport) instead of the
    /// uname the client claims.
    pub principal: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_msize: ninefold_proto::DEFAULT_MSIZE,
            principal: None,
        }
    }
}

/// Serves `tree` on a bidirectional stream until the peer hangs up.
pub async fn serve_stream<S>(tree: Arc<dyn Tree>, stream: S, config: Config) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    serve(tree, r, w, config).await
}
