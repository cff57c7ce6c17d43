use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::{Addr, Conn, tls};

/// A listening socket. A unix socket's file is removed when the listener is dropped.
#[derive(Debug)]
pub enum Listener {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
    Tls(TcpListener, Arc<tls::Server>),
}

/// Who is at the other end of an established connection.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Where from: `unix!/path`, `tcp!addr!port`, `tls!addr!port`.
    pub addr: String,
    /// Who, as the transport proved it: a unix peer's user (the kernel says), a TLS
    /// client's principal (its key says). None for plain TCP, which proves nothing.
    pub principal: Option<String>,
}

/// An accepted connection not yet ready for 9P: a TLS handshake is still to come. It is
/// finished by [`Incoming::establish`], in the connection's own task, so that a slow or
/// hostile client never holds up the accept loop.
#[derive(Debug)]
pub enum Incoming {
    Ready(Conn, Peer),
    Tls(TcpStream, SocketAddr, Arc<tls::Server>),
}

impl Incoming {
    /// The peer's address, for logs before the connection is established.
    pub fn addr(&self) -> String {
        match self {
            Incoming::Ready(_, p) => p.addr.clone(),
            Incoming::Tls(_, a, _) => format!("tls!{}!{}", a.ip(), a.port()),
        }
    }

    pub async fn establish(self) -> io::Result<(Conn, Peer)> {
        match self {
            Incoming::Ready(c, p) => Ok((c, p)),
            Incoming::Tls(s, a, server) => {
                let (conn, principal) = server.accept(s).await?;
                Ok((
                    conn,
                    Peer {
                        addr: format!("tls!{}!{}", a.ip(), a.port()),
                        principal: Some(principal),
                    },
                ))
            }
        }
    }
}

/// Listens for TLS connections on `addr` (a `tls!` address), admitting the clients
/// `server` knows.
pub async fn listen_tls(addr: &Addr, server: tls::Server) -> io::Result<Listener> {
    let Addr::Tls { host, port, .. } = addr else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr} is not a tls! address"),
        ));
    };
    let l = bind_tcp(addr, host, *port, true).await?;
    Ok(Listener::Tls(l, Arc::new(server)))
}

/// Listens on `addr`. Plain TCP carries no authentication, so unless `allow_remote_tcp` it
/// is refused on any address that is not loopback.
pub async fn listen(addr: &Addr, allow_remote_tcp: bool) -> io::Result<Listener> {
    match addr {
        Addr::Unix(path) => {
            remove_stale_socket(path).await?;
            let l = UnixListener::bind(path)
                .map_err(|e| io::Error::new(e.kind(), format!("listen {addr}: {e}")))?;
            Ok(Listener::Unix(l, path.clone()))
        }
        Addr::Tcp { host, port } => Ok(Listener::Tcp(
            bind_tcp(addr, host, *port, allow_remote_tcp).await?,
        )),
        Addr::Tls { .. } => {
            let server = tls::Server::from_home()
                .map_err(|e| io::Error::new(e.kind(), format!("listen {addr}: {e}")))?;
            listen_tls(addr, server).await
        }
        Addr::Command(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot listen on a command address {addr}"),
        )),
        Addr::Ssh { .. } => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot listen on an ssh address {addr}: ssh starts `ninefold exportfs --stdio` \
                 on the far side by itself"
            ),
        )),
    }
}

/// A TCP socket on `host!port` (`*`: every IPv4 address), loopback only unless
/// `allow_remote`.
async fn bind_tcp(
    addr: &Addr,
    host: &str,
    port: u16,
    allow_remote: bool,
) -> io::Result<TcpListener> {
    let host = if host == "*" { "0.0.0.0" } else { host };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("listen {addr}: {e}")))?
        .collect();
    let Some(first) = addrs.first() else {
        return Err(io::Error::other(format!("listen {addr}: no address")));
    };
    if !allow_remote && !addrs.iter().all(|a| is_loopback(a.ip())) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "listen {addr}: plain TCP has no authentication; only loopback addresses \
                 (127.0.0.1, ::1) may be used"
            ),
        ));
    }
    TcpListener::bind(first)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("listen {addr}: {e}")))
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// A socket file nobody answers on is left over from a dead server: reuse its name. One
/// that answers belongs to a live server: refuse.
async fn remove_stale_socket(path: &PathBuf) -> io::Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    if UnixStream::connect(path).await.is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "listen unix!{}: a server is already listening there",
                path.display()
            ),
        ));
    }
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("listen unix!{}: exists and is not a socket", path.display()),
        ));
    }
    std::fs::remove_file(path)
}

impl Listener {
    /// The next connection. A TLS one still has its handshake to do
    /// ([`Incoming::establish`]).
    pub async fn accept(&self) -> io::Result<Incoming> {
        match self {
            Listener::Unix(l, path) => {
                let (s, _) = l.accept().await?;
                let principal = s.peer_cred().ok().map(|c| user_name(c.uid()));
                let peer = Peer {
                    addr: format!("unix!{}", path.display()),
                    principal,
                };
                Ok(Incoming::Ready(Conn::from_stream(s), peer))
            }
            Listener::Tcp(l) => {
                let (s, a) = l.accept().await?;
                s.set_nodelay(true)?;
                let peer = Peer {
                    addr: format!("tcp!{}!{}", a.ip(), a.port()),
                    principal: None,
                };
                Ok(Incoming::Ready(Conn::from_stream(s), peer))
            }
            Listener::Tls(l, server) => {
                let (s, a) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok(Incoming::Tls(s, a, server.clone()))
            }
        }
    }

    /// The address actually bound (a TCP port of 0 becomes the chosen one).
    pub fn local_addr(&self) -> io::Result<Addr> {
        match self {
            Listener::Unix(_, p) => Ok(Addr::Unix(p.clone())),
            Listener::Tcp(l) => {
                let a = l.local_addr()?;
                Ok(Addr::Tcp {
                    host: a.ip().to_string(),
                    port: a.port(),
                })
            }
            Listener::Tls(l, _) => {
                let a = l.local_addr()?;
                Ok(Addr::Tls {
                    host: a.ip().to_string(),
                    port: a.port(),
                    options: Vec::new(),
                })
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A uid's login name, or the number when it has none.
fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_plain_tcp_off_loopback() {
        let a: Addr = "tcp!0.0.0.0!0".parse().unwrap();
        let e = listen(&a, false).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        let a: Addr = "tcp!127.0.0.1!0".parse().unwrap();
        let l = listen(&a, false).await.unwrap();
        assert!(matches!(l.local_addr().unwrap(), Addr::Tcp { port, .. } if port != 0));
    }

    #[tokio::test]
    async fn reuses_a_stale_unix_socket_but_not_a_live_one() {
        let dir = std::env::temp_dir().join(format!("ninefold-listen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let addr = Addr::Unix(path.clone());
        let live = listen(&addr, false).await.unwrap();
        assert_eq!(
            listen(&addr, false).await.unwrap_err().kind(),
            io::ErrorKind::AddrInUse
        );
        drop(live);
        assert!(!path.exists(), "the socket file goes with the listener");
        // A socket file left by a dead process (std does not remove it on drop).
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let fresh = listen(&addr, false).await.unwrap();
        drop(fresh);
        // A regular file in the way is not ours to delete.
        std::fs::write(&path, b"data").unwrap();
        assert_eq!(
            listen(&addr, false).await.unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
