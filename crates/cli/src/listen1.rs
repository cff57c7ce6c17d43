//! `ninefold listen1`: announce an address and run a command for every call, the connection
//! on its standard input and output (Plan 9's listen1(8); inetd for one service).

use std::process::Stdio;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::FutureExt;
use ninefold_fs::NodeRef;
use ninefold_netfs::dial::{Conn, announce};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::Semaphore;

use crate::net::{self, NET_HELP, READ_COUNT, WRITE_CHUNK};

/// Listen on ADDR and run CMD for each call, with the call on CMD's stdin and stdout.
#[derive(Debug, clap::Args)]
#[command(after_help = format!(
    "ADDR is a Plan 9 announce string: tcp!*!port (every address), tcp!127.0.0.1!port, \
tcp!127.0.0.1!0 (any free port). Where it listens is said on stderr; nothing is printed on \
stdout.\n\n\
Each call runs CMD (not through a shell) with its standard input and output joined to \
the call and its standard error left as listen1's, so diagnostics never reach the caller \
(Plan 9 puts fd 2 on the call too: use sh -c 'CMD 2>&1' for that). Its environment \
also has net (the conversation's directory, e.g. /net/tcp/4), remote and local (the \
addresses, e.g. 127.0.0.1!40312). When CMD's standard output ends, the call's stream is \
ended (FIN); when the caller's ends, CMD's standard input is closed. The call is hung up \
once CMD has exited and its output is all sent. Calls are served concurrently, at most \
-p at a time; later ones wait in the listen queue.\n\n\
{NET_HELP}\n\nExamples:\n  \
ninefold listen1 tcp!127.0.0.1!7007 cat                  # an echo server\n  \
ninefold listen1 -p 4 'tcp!*!8080' sh -c 'echo hello from $local to $remote'\n  \
ninefold listen1 -n 'unix!/run/gw.sock' tcp!*!2222 /usr/sbin/sshd -i"
))]
pub struct Args {
    /// The network to listen on (see below).
    #[arg(short = 'n', long = "net", value_name = "NET")]
    net: Option<String>,
    /// Most calls served at once.
    #[arg(short = 'p', long = "max-calls", value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_calls: u32,
    /// The address to announce.
    #[arg(value_name = "ADDR")]
    addr: String,
    /// The command to run for each call, and its arguments.
    #[arg(value_name = "CMD", required = true, num_args = 1.., trailing_var_arg = true,
          allow_hyphen_values = true)]
    cmd: Vec<String>,
}

pub async fn run(a: Args) -> Result<()> {
    let net = net::open(a.net.as_deref()).await?;
    let announced = announce(&net.root, &a.addr)
        .await
        .with_context(|| format!("announce {}", a.addr))?;
    let local = net::dir_file(&net.root, &announced.dir, "local")
        .await
        .unwrap_or_default();
    let proto = announced.dir.split('/').next().unwrap_or("tcp");
    eprintln!("ninefold listen1: listening on {proto}!{local}");

    let cmd: Arc<[String]> = a.cmd.into();
    let calls = Arc::new(Semaphore::new(a.max_calls as usize));
    loop {
        // At most max_calls: the next call is not taken until one ends.
        let permit = calls.clone().acquire_owned().await.context("call limit")?;
        let c = announced
            .listen()
            .await
            .with_context(|| format!("listen {}", a.addr))?;
        let (root, cmd) = (net.root.clone(), cmd.clone());
        tokio::spawn(async move {
            let dir = c.dir.clone();
            if let Err(e) = serve_call(&root, c, &cmd).await {
                let msg = format!("{e:#}").replace('\n', " ");
                eprintln!("ninefold: listen1: {dir}: {msg}");
            }
            drop(permit);
        });
    }
}

/// Runs the command for one call and joins it to the call until both are done.
async fn serve_call(root: &NodeRef, c: Conn, cmd: &[String]) -> Result<()> {
    let remote = net::dir_file(root, &c.dir, "remote")
        .await
        .unwrap_or_default();
    let local = net::dir_file(root, &c.dir, "local")
        .await
        .unwrap_or_default();
    tracing::info!(dir = %c.dir, %remote, "call");
    let (prog, args) = cmd.split_first().context("no command")?;
    let spawned = Command::new(prog)
        .args(args)
        .env("net", format!("/net/{}", c.dir))
        .env("remote", &remote)
        .env("local", &local)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let _ = c.hangup().await;
            c.close_and_wait().await;
            return Err(e).with_context(|| format!("cannot run {prog}"));
        }
    };
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let conn = &c;

    // The caller's bytes to the command; its end of stream closes the command's stdin.
    let to_cmd = async move {
        let Some(mut w) = stdin else { return };
        loop {
            match conn.read(READ_COUNT).await {
                Ok(b) if b.is_empty() => return,
                Ok(b) => {
                    if w.write_all(&b).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::debug!(dir = %conn.dir, error = %e, "read");
                    return;
                }
            }
        }
    };
    // The command's output to the caller, then FIN; then the command's exit.
    let from_cmd = async move {
        if let Some(mut r) = stdout {
            loop {
                match read_chunk(&mut r, WRITE_CHUNK).await {
                    Ok(Some(b)) => {
                        if let Err(e) = conn.write_all(b).await {
                            // The caller is gone: dropping the pipe tells the command.
                            tracing::debug!(dir = %conn.dir, error = %e, "write");
                            break;
                        }
                    }
                    Ok(None) => {
                        net::close_write(conn).await;
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(dir = %conn.dir, error = %e, "command output");
                        break;
                    }
                }
            }
        }
        child.wait().await
    };
    let status = {
        tokio::pin!(to_cmd, from_cmd);
        tokio::select! {
            s = &mut from_cmd => s,
            () = &mut to_cmd => from_cmd.await,
        }
    };
    c.close_and_wait().await;
    let status = status.context("wait")?;
    tracing::info!(%status, "call ended");
    Ok(())
}

/// One chunk of a pipe: waits for some bytes, then takes whatever else is already there, up
/// to `max`. `None` at end of file.
async fn read_chunk<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<Option<Bytes>> {
    let mut buf = BytesMut::with_capacity(max);
    if r.read_buf(&mut (&mut buf).limit(max)).await? == 0 {
        return Ok(None);
    }
    while buf.len() < max {
        let room = max - buf.len();
        // A read that would wait is dropped unstarted: pipes lose nothing that way.
        match r.read_buf(&mut (&mut buf).limit(room)).now_or_never() {
            Some(Ok(n)) if n > 0 => {}
            _ => break,
        }
    }
    Ok(Some(buf.freeze()))
}
