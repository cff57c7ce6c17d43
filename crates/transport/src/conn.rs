use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::process::{Child, Command};

use crate::{Addr, ssh};

/// A connected byte stream, as two halves. A command's child process lives as long as the
/// connection does.
pub struct Conn {
    pub reader: Box<dyn AsyncRead + Unpin + Send>,
    pub writer: Box<dyn AsyncWrite + Unpin + Send>,
    /// Kept so the child is killed and reaped when the connection goes.
    pub child: Option<Child>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("child", &self.child)
            .finish_non_exhaustive()
    }
}

impl Conn {
    pub fn from_stream<S>(s: S) -> Conn
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (r, w) = tokio::io::split(s);
        Conn {
            reader: Box::new(r),
            writer: Box::new(w),
            child: None,
        }
    }
}

/// This process's standard input and output. Pipes and sockets — what ssh and a
/// `{command}` address give — are used on the runtime's reactor, without blocking; tokio's
/// own stdin hands every read of at most 64 KiB to a thread of its blocking pool, which
/// halved the throughput of `exportfs --stdio` behind ssh. Anything else (a terminal, a
/// file) goes through tokio's stdin and stdout.
pub fn stdio() -> Conn {
    reactor_stdio().unwrap_or_else(|| Conn {
        reader: Box::new(tokio::io::stdin()),
        writer: Box::new(tokio::io::stdout()),
        child: None,
    })
}

/// Standard input and output as non-blocking pipes or sockets, if both are one or the
/// other and a runtime is there to drive them.
fn reactor_stdio() -> Option<Conn> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    tokio::runtime::Handle::try_current().ok()?;
    // Copies of 0 and 1, so that dropping the connection closes neither.
    let input = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let output = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
    let kind = |fd: &std::os::fd::OwnedFd| {
        let t = std::fs::File::from(fd.try_clone().ok()?)
            .metadata()
            .ok()?
            .file_type();
        Some((t.is_fifo(), t.is_socket()))
    };
    // Both are checked before either is made non-blocking: the fallback reads and writes
    // blocking descriptors.
    let (in_pipe, in_socket) = kind(&input)?;
    let (out_pipe, out_socket) = kind(&output)?;
    if !(in_pipe || in_socket) || !(out_pipe || out_socket) {
        return None;
    }
    let reader: Box<dyn AsyncRead + Unpin + Send> = if in_pipe {
        grow_pipe(&input);
        Box::new(tokio::net::unix::pipe::Receiver::from_owned_fd(input).ok()?)
    } else {
        Box::new(socket(input)?)
    };
    let writer: Box<dyn AsyncWrite + Unpin + Send> = if out_pipe {
        grow_pipe(&output);
        Box::new(tokio::net::unix::pipe::Sender::from_owned_fd(output).ok()?)
    } else {
        Box::new(socket(output)?)
    };
    Some(Conn {
        reader,
        writer,
        child: None,
    })
}

/// A pipe holds 64 KiB by default: every 64 KiB of a 9P message would be a wake-up. Ask
/// for 1 MiB (what an unprivileged process may have, by default); keep what it has if
/// refused.
fn grow_pipe(fd: impl std::os::fd::AsFd) {
    let _ = rustix::pipe::fcntl_setpipe_size(fd, 1 << 20);
}

/// A stream socket on the reactor (only read and written: any kind will do).
fn socket(fd: std::os::fd::OwnedFd) -> Option<UnixStream> {
    let s = std::os::unix::net::UnixStream::from(fd);
    s.set_nonblocking(true).ok()?;
    UnixStream::from_std(s).ok()
}

/// Connects to `addr`. Errors name the address.
pub async fn dial(addr: &Addr) -> io::Result<Conn> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("dial {addr}: {e}"));
    match addr {
        Addr::Unix(path) => Ok(Conn::from_stream(
            UnixStream::connect(path).await.map_err(named)?,
        )),
        Addr::Tcp { host, port } => {
            let s = TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(named)?;
            s.set_nodelay(true)?;
            Ok(Conn::from_stream(s))
        }
        Addr::Tls {
            host,
            port,
            options,
        } => crate::tls::connect(host, *port, options)
            .await
            .map_err(named),
        Addr::Command(cmd) => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(cmd);
            spawn(addr, c, "sh")
        }
        Addr::Ssh {
            target,
            port,
            options,
        } => {
            let mut c = Command::new(ssh::PROGRAM);
            c.args(ssh::args(target, *port, options).map_err(named)?);
            spawn(addr, c, ssh::PROGRAM)
        }
    }
}

/// Starts a program that speaks 9P on its stdin/stdout; its stderr is ours (ssh's prompts
/// and errors stay visible). It is killed when the connection is dropped, and reaped.
fn spawn(addr: &Addr, mut c: Command, program: &str) -> io::Result<Conn> {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("dial {addr}: cannot run {program}: {e}")))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(io::Error::other(format!(
            "dial {addr}: no pipes to the command"
        )));
    };
    grow_pipe(&stdin);
    grow_pipe(&stdout);
    Ok(Conn {
        reader: Box::new(stdout),
        writer: Box::new(stdin),
        child: Some(child),
    })
}

/// Why a connection's program went away, if it did within `within`: "ssh exited with
/// status 255". For error messages when 9P on its pipes fails at once (ssh could not log
/// in, or the far side has no ninefold).
pub async fn gone(addr: &Addr, child: &mut Child, within: Duration) -> Option<String> {
    let status = tokio::time::timeout(within, child.wait())
        .await
        .ok()?
        .ok()?;
    let program = match addr {
        Addr::Ssh { .. } => ssh::PROGRAM,
        _ => "the command",
    };
    Some(match (status.code(), status.signal()) {
        (Some(c), _) => format!("{program} exited with status {c}"),
        (None, Some(s)) => format!("{program} was killed by signal {s}"),
        _ => format!("{program} ended"),
    })
}
