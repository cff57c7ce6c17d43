//! `ninefold 9p`: a one-shot 9P client for scripts (plan9port's 9p(1)).

use std::collections::VecDeque;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use ninefold_client::{Client, RemoteNode, split_path, walk_path};
use ninefold_fs::Node;
use ninefold_proto::{Stat, dm, om, read_dir_entries};
use ninefold_transport::{Addr, Conn, dial};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::stdout::BulkStdout;

/// Talk 9P to a server: list, stat, read, write, create and remove files.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "ADDR is unix!/path, tcp!host!port, or {command args}: a program that \
speaks 9P on its stdin/stdout, started with sh -c.\n\nExamples:\n  \
ninefold 9p -a 'unix!/tmp/src.sock' ls -l /\n  \
ninefold 9p -a '{ninefold exportfs -r /etc -R --stdio}' read hostname\n  \
echo hello | ninefold 9p -a 'unix!/tmp/src.sock' write -t notes.txt"
)]
pub struct Args {
    /// The server's address.
    #[arg(short = 'a', long = "addr", value_name = "ADDR")]
    addr: String,
    /// The attach name: which tree of the server to use.
    #[arg(short = 'A', long = "aname", default_value = "")]
    aname: String,
    /// The user name to attach as.
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Largest 9P message size to ask for, in bytes.
    #[arg(long, default_value_t = ninefold_proto::DEFAULT_MSIZE, value_parser = clap::value_parser!(u32).range(ninefold_proto::MIN_MSIZE as i64..))]
    msize: u32,
    #[command(subcommand)]
    op: Op,
}

#[derive(Debug, clap::Subcommand)]
enum Op {
    /// List a directory (or name a file).
    Ls {
        /// Long listing: mode, owner, group, length, modification time, name.
        #[arg(short = 'l')]
        long: bool,
        #[arg(default_value = "/")]
        path: String,
    },
    /// Print a file's stat entry.
    Stat { path: String },
    /// Copy a file to standard output.
    Read { path: String },
    /// Copy standard input to a file, one Twrite per chunk read.
    Write {
        /// Truncate the file when opening it.
        #[arg(short = 't', long)]
        truncate: bool,
        path: String,
    },
    /// Create a file, or a directory if PATH ends in '/'.
    Create {
        /// Permissions of the new file (octal).
        #[arg(short = 'm', long = "mode", value_parser = parse_octal)]
        mode: Option<u32>,
        path: String,
    },
    /// Remove a file or an empty directory.
    Rm { path: String },
    /// Open read-write: print what the file says, write each line of stdin to it.
    Rdwr { path: String },
}

fn parse_octal(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not an octal mode like 644"))
}

pub async fn run(a: Args) -> Result<()> {
    let addr: Addr = a.addr.parse()?;
    let conn = dial(&addr).await?;
    let Conn {
        reader,
        writer,
        child: _child,
    } = conn;
    let client = Client::connect(reader, writer, a.msize)
        .await
        .with_context(|| format!("9P session with {addr}"))?;
    client.set_write_window(addr.write_window());
    let user = a
        .user
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "none".into());
    let root = client
        .attach_node(&user, &a.aname)
        .await
        .with_context(|| format!("attach to {addr}"))?;
    match a.op {
        Op::Ls { long, path } => ls(&root, &path, long).await,
        Op::Stat { path } => {
            let st = walk(&root, &path).await?.stat().await.context(path)?;
            println!("{}", stat_line(&st));
            Ok(())
        }
        Op::Read { path } => read(&root, &path).await,
        Op::Write { truncate, path } => write(&root, &path, truncate).await,
        Op::Create { mode, path } => create(&root, &path, mode).await,
        Op::Rm { path } => {
            walk(&root, &path).await?.remove().await.context(path)?;
            Ok(())
        }
        Op::Rdwr { path } => rdwr(&root, &path).await,
    }
}

async fn walk(root: &RemoteNode, path: &str) -> Result<RemoteNode> {
    walk_path(root, path).await.with_context(|| path.to_owned())
}

async fn ls(root: &RemoteNode, path: &str, long: bool) -> Result<()> {
    let node = walk(root, path).await?;
    let st = node.stat().await.with_context(|| path.to_owned())?;
    let mut entries = if st.is_dir() {
        node.open(om::OREAD)
            .await
            .with_context(|| path.to_owned())?;
        read_dir(&node).await.with_context(|| path.to_owned())?
    } else {
        vec![st]
    };
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    for e in &entries {
        if long {
            out.push_str(&long_line(e));
        } else {
            out.push_str(&e.name);
        }
        out.push('\n');
    }
    stdout_write(out.as_bytes()).await
}

async fn read_dir(node: &RemoteNode) -> Result<Vec<Stat>> {
    let mut all = Vec::new();
    let mut offset = 0u64;
    loop {
        let chunk = node.read(offset, u32::MAX).await?;
        if chunk.is_empty() {
            return Ok(all);
        }
        offset += chunk.len() as u64;
        all.extend(read_dir_entries(chunk).context("malformed directory entry from server")?);
    }
}

/// Reads ahead this many messages at once on files of known length: one round trip at a
/// time would leave the pipe idle half the time.
const READ_AHEAD: usize = 4;

async fn read(root: &RemoteNode, path: &str) -> Result<()> {
    let node = walk(root, path).await?;
    let st = node.stat().await.with_context(|| path.to_owned())?;
    if st.is_dir() {
        bail!("{path}: {}", ninefold_fs::Error::IS_DIR);
    }
    node.open(om::OREAD)
        .await
        .with_context(|| path.to_owned())?;
    let mut out = BulkStdout::default();
    let chunk = node.client().max_io();
    let node = std::sync::Arc::new(node);
    let mut offset = 0u64;
    // Over the length the file reports, keep several reads in flight. Streams report length
    // 0 and are never read ahead: each of their reads consumes what it returns.
    let mut next = 0u64;
    let mut ahead = VecDeque::new();
    loop {
        while ahead.len() < READ_AHEAD && next < st.length {
            let n = node.clone();
            let at = next;
            ahead.push_back(tokio::spawn(async move { n.read(at, chunk).await }));
            next += u64::from(chunk);
        }
        let Some(task) = ahead.pop_front() else { break };
        let data = task
            .await
            .context("read task")?
            .with_context(|| path.to_owned())?;
        offset += data.len() as u64;
        let short = data.len() < chunk as usize;
        out.write(data).await?;
        if short {
            // Shorter than asked: whatever was read beyond it may be wrong. Go on one by one.
            ahead.iter().for_each(|t| t.abort());
            break;
        }
    }
    loop {
        let data = node
            .read(offset, chunk)
            .await
            .with_context(|| path.to_owned())?;
        if data.is_empty() {
            break;
        }
        offset += data.len() as u64;
        out.write(data).await?;
    }
    out.finish().await
}

async fn write(root: &RemoteNode, path: &str, truncate: bool) -> Result<()> {
    let node = walk(root, path).await?;
    let mode = if truncate {
        om::OWRITE | om::OTRUNC
    } else {
        om::OWRITE
    };
    node.open(mode).await.with_context(|| path.to_owned())?;
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; node.client().max_io() as usize];
    let mut offset = 0u64;
    loop {
        let n = stdin.read(&mut buf).await.context("stdin")?;
        if n == 0 {
            return Ok(());
        }
        let data = Bytes::copy_from_slice(&buf[..n]);
        let w = node
            .write(offset, data)
            .await
            .with_context(|| path.to_owned())?;
        if (w as usize) < n {
            bail!("{path}: short write ({w} of {n} bytes)");
        }
        offset += n as u64;
    }
}

async fn create(root: &RemoteNode, path: &str, mode: Option<u32>) -> Result<()> {
    let is_dir = path.ends_with('/');
    let mut names = split_path(path);
    let Some(name) = names.pop() else {
        bail!("{path}: nothing to create");
    };
    let parent = walk(root, &names.join("/")).await?;
    let perm = if is_dir {
        dm::DMDIR | mode.unwrap_or(0o777)
    } else {
        mode.unwrap_or(0o666)
    };
    parent
        .create(&name, perm, om::OREAD)
        .await
        .with_context(|| path.to_owned())?;
    Ok(())
}

async fn rdwr(root: &RemoteNode, path: &str) -> Result<()> {
    let node = walk(root, path).await?;
    node.open(om::ORDWR)
        .await
        .with_context(|| path.to_owned())?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let (mut roff, mut woff) = (0u64, 0u64);
    loop {
        let data = node
            .read(roff, node.client().max_io())
            .await
            .with_context(|| path.to_owned())?;
        roff += data.len() as u64;
        stdout_write(&data).await?;
        let Some(line) = lines.next_line().await.context("stdin")? else {
            return Ok(());
        };
        let n = node
            .write(woff, Bytes::from(line.into_bytes()))
            .await
            .with_context(|| path.to_owned())?;
        woff += n as u64;
    }
}

async fn stdout_write(b: &[u8]) -> Result<()> {
    let mut out = tokio::io::stdout();
    out.write_all(b).await.context("stdout")?;
    out.flush().await.context("stdout")?;
    Ok(())
}

/// plan9port's `9p stat` line.
fn stat_line(s: &Stat) -> String {
    format!(
        "'{}' '{}' '{}' '{}' q ({:016x} {} {:02x}) m {:#o} at {} mt {} l {} t {} d {}",
        s.name,
        s.uid,
        s.gid,
        s.muid,
        s.qid.path,
        s.qid.version,
        s.qid.ty.0,
        s.mode,
        s.atime,
        s.mtime,
        s.length,
        s.ty,
        s.dev
    )
}

/// An `ls -l` line in Plan 9's layout: mode, owner, group, length, date, name.
fn long_line(s: &Stat) -> String {
    format!(
        "{} {} {} {:>10} {} {}",
        mode_string(s.mode),
        s.uid,
        s.gid,
        s.length,
        date(s.mtime),
        s.name
    )
}

fn mode_string(mode: u32) -> String {
    let mut m = String::with_capacity(11);
    m.push(if mode & dm::DMDIR != 0 {
        'd'
    } else if mode & dm::DMAPPEND != 0 {
        'a'
    } else {
        '-'
    });
    m.push(if mode & dm::DMEXCL != 0 { 'l' } else { '-' });
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        m.push(if bits & 4 != 0 { 'r' } else { '-' });
        m.push(if bits & 2 != 0 { 'w' } else { '-' });
        m.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    m
}

/// UTC "YYYY-MM-DD HH:MM" without a time-zone database.
fn date(secs: u32) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_modes_and_dates() {
        assert_eq!(mode_string(dm::DMDIR | 0o755), "d-rwxr-xr-x");
        assert_eq!(mode_string(0o640), "--rw-r-----");
        assert_eq!(date(0), "1970-01-01 00:00");
        assert_eq!(date(1_700_000_000), "2023-11-14 22:13");
    }
}
