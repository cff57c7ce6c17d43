//! Standard output for bulk data: whole payloads written from a blocking thread without
//! copying (tokio's `Stdout` copies every write into its own buffer), one write in flight
//! while the next message is fetched.

use anyhow::{Context, Result};
use bytes::Bytes;
use tokio::task::JoinHandle;

#[derive(Debug, Default)]
pub struct BulkStdout {
    pending: Option<JoinHandle<std::io::Result<()>>>,
}

impl BulkStdout {
    pub async fn write(&mut self, data: Bytes) -> Result<()> {
        self.wait().await?;
        self.pending = Some(tokio::task::spawn_blocking(move || {
            use std::io::Write;
            std::io::stdout().lock().write_all(&data)
        }));
        Ok(())
    }

    async fn wait(&mut self) -> Result<()> {
        if let Some(p) = self.pending.take() {
            p.await.context("stdout writer")?.context("stdout")?;
        }
        Ok(())
    }

    /// Waits for the last write and flushes.
    pub async fn finish(mut self) -> Result<()> {
        self.wait().await?;
        tokio::task::spawn_blocking(|| {
            use std::io::Write;
            std::io::stdout().lock().flush()
        })
        .await
        .context("stdout writer")?
        .context("stdout")
    }
}
