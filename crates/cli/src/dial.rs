//! `ninefold dial`: call a network address and join it to standard input and output, like
//! netcat — Plan 9's dial(2) as a command, through the local stack or a remote `/net`.

use std::io;
use std::os::fd::AsFd;

use anyhow::{Context, Result};
use bytes::Bytes;
use ninefold_netfs::dial::dial;
use tokio::sync::mpsc;

use crate::net::{self, NET_HELP, READ_COUNT, WRITE_CHUNK};
use crate::stdout::BulkStdout;

/// Call ADDR and copy standard input to it and what it sends to standard output.
#[derive(Debug, clap::Args)]
#[command(after_help = format!(
    "ADDR is a Plan 9 dial string: tcp!host!port, udp!host!port, net!host!service (every \
network, in cs's order), or a bare host (net!host). Names are translated by the network's \
cs, so services like http work.\n\n\
When standard input ends, dial sends the end of its stream (TCP FIN: `close` on the \
conversation's ctl) and goes on copying until the other end closes; then it exits 0.\n\n\
{NET_HELP}\n\nExamples:\n  \
printf 'GET / HTTP/1.0\\r\\n\\r\\n' | ninefold dial tcp!127.0.0.1!http\n  \
ninefold dial -n 'unix!/run/gw.sock' tcp!10.0.0.5!22 < request\n  \
ninefold dial -n \"{{ninefold exportfs -r '#I' --stdio}}\" tcp!localhost!8080"
))]
pub struct Args {
    /// The network to dial through (see below).
    #[arg(short = 'n', long = "net", value_name = "NET")]
    net: Option<String>,
    /// The address to call.
    #[arg(value_name = "ADDR")]
    addr: String,
}

/// The largest datagram one read of standard input makes, on udp.
const DATAGRAM_MAX: usize = 65_507;
/// Chunks of standard input read ahead while the previous one is being written.
const READ_AHEAD: usize = 2;

pub async fn run(a: Args) -> Result<()> {
    let net = net::open(a.net.as_deref()).await?;
    let conn = dial(&net.root, &a.addr)
        .await
        .with_context(|| format!("dial {}", a.addr))?;
    let datagrams = conn.dir.starts_with("udp/");
    let (tx, mut rx) = mpsc::channel(READ_AHEAD);
    let chunk = if datagrams { DATAGRAM_MAX } else { WRITE_CHUNK };
    // One read of a datagram network is one datagram: reads are never joined there.
    std::thread::spawn(move || read_stdin(&tx, chunk, !datagrams));

    let addr = a.addr.as_str();
    let conn_ref = &conn;
    let down = async move {
        let mut out = BulkStdout::default();
        loop {
            let b = conn_ref
                .read(READ_COUNT)
                .await
                .with_context(|| format!("{addr}: read"))?;
            if b.is_empty() {
                break;
            }
            out.write(b).await?;
        }
        out.finish().await
    };
    // Outer error: standard input failed, give up at once. Inner: a write to the network
    // failed, and what the other end still sends is printed before saying so.
    let up = async move {
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk.context("stdin")?;
            if let Err(e) = conn_ref.write_all(chunk).await {
                return Ok(Err(anyhow::Error::new(e).context(format!("{addr}: write"))));
            }
        }
        net::close_write(conn_ref).await;
        Ok::<Result<()>, anyhow::Error>(Ok(()))
    };
    let result = {
        tokio::pin!(down, up);
        tokio::select! {
        // The other end closed: done, whatever is left of standard input.
        r = &mut down => r,
        r = &mut up => match r {
            Err(e) => Err(e),
            // Input ended, or the network took no more: print what still comes.
            Ok(w) => {
                let d = down.await;
                w.and(d)
            }
        }
        }
    };
    conn.close_and_wait().await;
    result
}

/// Reads standard input on a thread of its own (its reads block) and passes it on in
/// chunks of at most `max` bytes, then `None` at end of input. With `join`, what is already
/// waiting is read into the same chunk, so a fast pipe gives large writes, not 64 KiB ones.
fn read_stdin(tx: &mpsc::Sender<io::Result<Bytes>>, max: usize, join: bool) {
    let stdin = std::io::stdin();
    loop {
        // Reused buffers: fresh large ones would be faulted in page by page every time.
        let mut buf = ninefold_io::pool::take(max);
        let r = fill(stdin.as_fd(), &mut buf, join);
        if !buf.is_empty()
            && tx
                .blocking_send(Ok(ninefold_io::pool::freeze(buf)))
                .is_err()
        {
            return;
        }
        match r {
            Ok(false) => {}
            Ok(true) => return,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
}

/// Reads into `buf`'s spare capacity: at least one read, then, with `join`, more while more
/// is waiting. True at end of input.
fn fill(fd: std::os::fd::BorrowedFd<'_>, buf: &mut Vec<u8>, join: bool) -> io::Result<bool> {
    use rustix::buffer::spare_capacity;
    use rustix::io::Errno;
    loop {
        match rustix::io::read(fd, spare_capacity(buf)) {
            Ok(0) => return Ok(true),
            Ok(_) => {
                if !join || buf.len() == buf.capacity() || !ready(fd) {
                    return Ok(false);
                }
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether a read of `fd` would return at once.
fn ready(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&now)), Ok(n) if n > 0)
}
