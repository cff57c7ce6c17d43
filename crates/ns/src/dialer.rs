//! Mount sources by dial string: `unix!path`, `tcp!host!port` (loopback, until an
//! authenticated transport exists) and `{command args}`, a program speaking 9P on its
//! standard input and output (seed 001: `mount {ndb/registry} /mnt/registry`).

use std::sync::Arc;

use async_trait::async_trait;
use ninefold_client::Client;
use ninefold_fs::{Error, NodeRef, Result, Tree};
use ninefold_transport::Addr;

use crate::apply::Connector;

/// Dials with ninefold-transport and speaks 9P with ninefold-client.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dialer {
    pub msize: Option<u32>,
}

#[async_trait]
impl Connector for Dialer {
    async fn connect(&self, source: &str) -> Result<Arc<dyn Tree>> {
        let addr: Addr = source
            .parse()
            .map_err(|e: ninefold_transport::AddrError| Error::new(e.to_string()))?;
        let conn = ninefold_transport::dial(&addr)
            .await
            .map_err(|e| Error::new(e.to_string()))?;
        let msize = self.msize.unwrap_or(ninefold_proto::DEFAULT_MSIZE);
        let client = Client::connect(conn.reader, conn.writer, msize).await?;
        Ok(Arc::new(Connection {
            client,
            _child: conn.child,
        }))
    }
}

/// A 9P connection and, for `{command}`, the server process: it lives (and is killed
/// and reaped) with the connection. When the program exits, every request on the mount
/// fails with "i/o on hungup channel" instead of waiting.
struct Connection {
    client: Client,
    _child: Option<tokio::process::Child>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connection")
    }
}

#[async_trait]
impl Tree for Connection {
    async fn attach(&self, uname: &str, aname: &str) -> Result<NodeRef> {
        self.client.attach(uname, aname).await
    }
}
