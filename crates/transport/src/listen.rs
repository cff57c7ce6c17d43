use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use tokio::net::{TcpListener, UnixListener, UnixStream};

use crate::{Addr, Conn};

/// A listening socket. A unix socket's file is removed when the listener is dropped.
#[derive(Debug)]
pub enum Listener {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
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
        Addr::Tcp { host, port } => {
            let host = if host == "*" {
                "0.0.0.0"
            } else {
                host.as_str()
            };
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, *port))
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("listen {addr}: {e}")))?
                .collect();
            let Some(first) = addrs.first() else {
                return Err(io::Error::other(format!("listen {addr}: no address")));
            };
            if !allow_remote_tcp && !addrs.iter().all(|a| is_loopback(a.ip())) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "listen {addr}: plain TCP has no authentication; only loopback addresses \
                         (127.0.0.1, ::1) may be used"
                    ),
                ));
            }
            let l = TcpListener::bind(first)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("listen {addr}: {e}")))?;
            Ok(Listener::Tcp(l))
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
    /// The next connection, with a printable name for its peer.
    pub async fn accept(&self) -> io::Result<(Conn, String)> {
        match self {
            Listener::Unix(l, path) => {
                let (s, _) = l.accept().await?;
                Ok((Conn::from_stream(s), format!("unix!{}", path.display())))
            }
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok((
                    Conn::from_stream(s),
                    format!("tcp!{}!{}", peer.ip(), peer.port()),
                ))
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
