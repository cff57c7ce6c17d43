//! Measurements through ninefold's own client library, in this process.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bytes::BytesMut;
use ninefold_client::{Client, RemoteNode, walk_path};
use ninefold_fs::Node;
use ninefold_proto::{DEFAULT_MSIZE, Rmsg, om};
use ninefold_transport::{Addr, dial};

use crate::cpu::cpu_time_of;

/// Reads in flight at once, as `ninefold 9p read` keeps them.
pub const READ_AHEAD: usize = 4;

async fn session(addr: &Addr) -> Result<(Client, RemoteNode)> {
    let conn = dial(addr).await?;
    let client = Client::connect(conn.reader, conn.writer, DEFAULT_MSIZE)
        .await
        .with_context(|| format!("9P session with {addr}"))?;
    let user = std::env::var("USER").unwrap_or_else(|_| "none".into());
    let root = client.attach_node(&user, "").await.context("attach")?;
    Ok((client, root))
}

/// Reads all of `name` (`len` bytes) the way `ninefold 9p read` does: messages of the
/// largest size the session allows, READ_AHEAD in flight. Timed from dialling to the last
/// byte.
pub async fn read_file(addr: &Addr, name: &str, len: u64) -> Result<Duration> {
    let start = Instant::now();
    let (client, root) = session(addr).await?;
    let node = walk_path(&root, name).await.context("walk")?;
    node.open(om::OREAD).await.context("open")?;
    let chunk = client.max_io();
    let node = Arc::new(node);
    let mut next = 0u64;
    let mut total = 0u64;
    let mut ahead = VecDeque::new();
    loop {
        while ahead.len() < READ_AHEAD && next < len {
            let n = node.clone();
            let at = next;
            ahead.push_back(tokio::spawn(async move { n.read(at, chunk).await }));
            next += u64::from(chunk);
        }
        let Some(task) = ahead.pop_front() else { break };
        let data = task.await??;
        total += data.len() as u64;
    }
    let took = start.elapsed();
    ensure!(total == len, "read {total} bytes of {len}");
    Ok(took)
}

/// What a loop of round trips took.
#[derive(Debug, Clone, Copy)]
pub struct Trips {
    pub wall: Duration,
    /// CPU time the processes asked about spent during the timed trips.
    pub cpu: Duration,
}

/// Opens `name` and sends `warm` untimed then `ops` timed Tstats on the open fid, one at a
/// time, noting the CPU time processes `pids` spend meanwhile. Also returns the size of the
/// Rstat frame the server sends for the file.
pub async fn stat_loop(
    addr: &Addr,
    name: &str,
    warm: usize,
    ops: usize,
    pids: &[u32],
) -> Result<(Trips, usize)> {
    let (_client, root) = session(addr).await?;
    let node = walk_path(&root, name).await.context("walk")?;
    node.open(om::OREAD).await.context("open")?;
    let stat = node.stat().await?;
    for _ in 0..warm {
        node.stat().await?;
    }
    let cpu0 = cpu_time_of(pids);
    let start = Instant::now();
    for _ in 0..ops {
        node.stat().await?;
    }
    let wall = start.elapsed();
    let cpu = cpu_time_of(pids).saturating_sub(cpu0);
    Ok((Trips { wall, cpu }, rstat_size(stat)))
}

/// The size of the Rstat frame carrying `stat`, as the server encodes it.
pub fn rstat_size(stat: ninefold_proto::Stat) -> usize {
    let mut buf = BytesMut::new();
    ninefold_proto::encode_r(0, &Rmsg::Stat { stat }, &mut buf, false);
    buf.len()
}

/// Tstat: size[4] type[1] tag[2] fid[4].
pub const TSTAT_SIZE: usize = 11;
