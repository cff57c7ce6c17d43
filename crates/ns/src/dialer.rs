//! Mount sources by dial string: `unix!path`, `tcp!host!port` (loopback, until an
//! authenticated transport exists), `{command args}`, a program speaking 9P on its
//! standard input and output (seed 001: `mount {ndb/registry} /mnt/registry`), and
//! `host`, `user@host` or `ssh!user@host!port`: the system ssh running
//! `ninefold exportfs --stdio` there (ninefold_transport's `ssh` module).
//!
//! `import host` is `mount` of what `host` names: a bare host is reached by ssh, whose far
//! side serves its standard name space, so the attach name (import's remote path) picks
//! the subtree. Any other dial string works too (`import unix!/tmp/ns.sock /net /n/net`).

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
        let mut child = conn.child;
        let msize = self.msize.unwrap_or(ninefold_proto::DEFAULT_MSIZE);
        let client = match Client::connect(conn.reader, conn.writer, msize).await {
            Ok(c) => c,
            // ssh that could not log in, or a far side without ninefold: say that, not
            // only that the pipe closed (ssh's own message is already on stderr).
            Err(e) => {
                let why = match child.as_mut() {
                    Some(c) => ninefold_transport::gone(&addr, c, GONE_WAIT).await,
                    None => None,
                };
                return Err(match why {
                    Some(why) => Error::new(format!("{addr}: {why}: {e}")),
                    None => e,
                });
            }
        };
        client.set_write_window(addr.write_window());
        Ok(Arc::new(Connection {
            client,
            _child: child,
        }))
    }

    /// `import host`: the same as mounting what `host` names; a bare `host` or `user@host`
    /// is reached by ssh.
    async fn import(&self, host: &str) -> Result<Arc<dyn Tree>> {
        self.connect(host).await
    }
}

/// How long a failed connection's program is given to exit, to report its status.
const GONE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A 9P connection and, for `{command}` and ssh, the server process: it lives (and is killed
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
