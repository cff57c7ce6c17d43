//! The session's control socket: how `ninefold bind`, `mount`, `unmount`, `ns` and `srv`,
//! run by any program in the session, reach the process that owns its name space (the one
//! with the privilege to mount). Its path is in `$NINEFOLD_NS`, as plan9port keeps
//! `$NAMESPACE`; it lives in a directory only the user can open.
//!
//! One request per connection, one line: a namespace-file operation (`bind -a /x /bin`,
//! with absolute names), `ns`, `srv SOURCE NAME`, or `root` (the directory of the
//! session's own mount points, which a nested session shares). The answer is `ok` or `error TEXT`
//! on the first line, then any text (the `ns` listing).

use std::path::Path;
use std::sync::Arc;

use ninefold_devs::SrvTree;
use ninefold_fs::{Error, Result};
use ninefold_ns::{Connector, parse, words};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Mutex;

use crate::project::Projector;

/// The environment variable naming the control socket.
pub const ENV: &str = "NINEFOLD_NS";

/// Longest request line.
const MAX_LINE: u64 = 64 * 1024;

/// What answers requests: the projector, and the srv device for `srv`.
pub struct Control {
    pub projector: Mutex<Projector>,
    pub srv: SrvTree,
    pub connector: Arc<dyn Connector>,
    /// The session's own mount points (`#/`), for a nested session to share.
    pub root: std::path::PathBuf,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Control")
    }
}

impl Control {
    /// Answer one request line.
    pub async fn answer(&self, line: &str) -> Result<String> {
        let w = words(line)?;
        match w.first().map(String::as_str) {
            Some("ns") => Ok(self.projector.lock().await.ns.ns_text()),
            Some("root") => Ok(format!("{}\n", self.root.display())),
            Some("srv") => {
                let [_, source, name] = &w[..] else {
                    return Err(Error::new("usage: srv source name"));
                };
                let tree = self.connector.connect(source).await?;
                self.srv.post(name, tree, source.clone())?;
                Ok(String::new())
            }
            _ => {
                let lines = parse(line, &|_| None).map_err(|e| Error::new(e.message))?;
                for l in &lines {
                    // As a namespace file's errors do, say which operation failed: "file
                    // does not exist" alone does not tell the mount point from the source.
                    let failed = |e: Error| Error::new(format!("{}: {e}", w.join(" ")));
                    // Dial before taking the lock: an ssh login may take seconds.
                    let dialed = Projector::dial_first(self.connector.as_ref(), &l.op)
                        .await
                        .map_err(failed)?;
                    self.projector
                        .lock()
                        .await
                        .apply_dialed(&l.op, dialed)
                        .await
                        .map_err(failed)?;
                }
                Ok(String::new())
            }
        }
    }

    /// Serve requests on `listener` until the process ends.
    pub async fn serve(self: Arc<Self>, listener: UnixListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let me = self.clone();
            tokio::spawn(async move {
                if let Err(e) = me.connection(stream).await {
                    tracing::debug!(error = %e, "control connection");
                }
            });
        }
    }

    async fn connection(&self, stream: UnixStream) -> std::io::Result<()> {
        let (r, mut w) = stream.into_split();
        let mut line = String::new();
        BufReader::new(r.take(MAX_LINE))
            .read_line(&mut line)
            .await?;
        let reply = match self.answer(line.trim_end_matches('\n')).await {
            Ok(text) => format!("ok\n{text}"),
            Err(e) => format!("error {}\n", e.as_str().replace('\n', " ")),
        };
        w.write_all(reply.as_bytes()).await?;
        w.shutdown().await
    }
}

/// As [`request`], without a runtime (for a nested session, before its runtime starts).
pub fn request_blocking(sock: &Path, line: &str) -> std::result::Result<String, String> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock)
        .map_err(|e| format!("cannot reach the session at {}: {e}", sock.display()))?;
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    s.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    answer_text(&out)
}

fn answer_text(out: &str) -> std::result::Result<String, String> {
    match out.split_once('\n') {
        Some(("ok", rest)) => Ok(rest.to_string()),
        Some((err, _)) => Err(err.strip_prefix("error ").unwrap_or(err).to_string()),
        None => Err("the session closed the connection".into()),
    }
}

/// Send one request to the session at `sock`; the answer's text, or its error.
pub async fn request(sock: &Path, line: &str) -> std::result::Result<String, String> {
    let mut s = UnixStream::connect(sock)
        .await
        .map_err(|e| format!("cannot reach the session at {}: {e}", sock.display()))?;
    s.write_all(format!("{line}\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .await
        .map_err(|e| e.to_string())?;
    match out.split_once('\n') {
        Some(("ok", rest)) => Ok(rest.to_string()),
        Some((err, _)) => Err(err.strip_prefix("error ").unwrap_or(err).to_string()),
        None => Err("the session closed the connection".into()),
    }
}

/// `/prog/N/ns` of a process in a session: asks that session (the socket named in the
/// process's environment) for its name space.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionNs;

#[async_trait::async_trait]
impl ninefold_procfs::NsSource for SessionNs {
    async fn ns(&self, _pid: u32, session: &str) -> Result<String> {
        request(Path::new(session), "ns").await.map_err(Error::new)
    }
}
