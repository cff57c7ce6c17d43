//! `ninefold ps`: the processes of a /prog (Plan 9's /proc), in Plan 9's ps format — this
//! machine's, or another's bound in a session. Also what `kill` and `slay` read.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use ninefold_fs::{NodeRef, Tree};
use ninefold_procfs::ProcTree;
use ninefold_proto::om;

/// Where processes are read from when -p is not given and the directory exists (a
/// session's /prog, the default name space's `bind '#p' /prog`).
pub const PROG: &str = "/prog";

/// Help text for -p, shared by ps, kill and slay.
pub const PROG_HELP: &str = "The process directory to read: a /prog (or any directory laid out \
as Plan 9's /proc, such as another machine's /prog bound in a session). Default: /prog if it \
exists, else this machine's processes read in process (#p).";

/// List processes (ps(1)): user, pid, user and system time (m:ss), memory, state, name.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show each process's arguments instead of its name.
    #[arg(short = 'a')]
    args: bool,
    #[arg(short = 'p', value_name = "PROGDIR", help = PROG_HELP)]
    prog: Option<PathBuf>,
}

/// A process directory: a Linux directory (a /prog seen through the file system), or the
/// in-process `#p`.
#[derive(Debug)]
pub enum Prog {
    Dir(PathBuf),
    Tree(NodeRef),
}

impl Prog {
    /// The directory `-p` names, else /prog if it exists, else `#p` in process.
    pub async fn open(dir: Option<&Path>) -> Result<Prog> {
        if let Some(d) = dir {
            return Ok(Prog::Dir(d.to_owned()));
        }
        if Path::new(PROG).is_dir() {
            return Ok(Prog::Dir(PROG.into()));
        }
        let user = std::env::var("USER").unwrap_or_else(|_| "none".into());
        let root = ProcTree::for_this_user()
            .attach(&user, "")
            .await
            .context("attach to #p")?;
        Ok(Prog::Tree(root))
    }

    /// How the printed commands of kill and slay name this directory: as given to -p, or
    /// /prog (which is where a session has `#p`; outside one, use --now).
    pub fn shown(&self) -> String {
        match self {
            Prog::Dir(d) => d.display().to_string(),
            Prog::Tree(_) => PROG.into(),
        }
    }

    /// The process directories' names (pids), in increasing order.
    pub async fn pids(&self) -> Result<Vec<u64>> {
        let names = match self {
            Prog::Dir(d) => std::fs::read_dir(d)
                .with_context(|| format!("cannot list {}", d.display()))?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect::<Vec<_>>(),
            Prog::Tree(root) => list(root).await.context("cannot list #p")?,
        };
        let mut pids: Vec<u64> = names.iter().filter_map(|n| n.parse().ok()).collect();
        pids.sort_unstable();
        Ok(pids)
    }

    /// The text of `file` of process `pid`.
    pub async fn read(&self, pid: u64, file: &str) -> Result<String> {
        match self {
            Prog::Dir(d) => {
                let path = d.join(pid.to_string()).join(file);
                let b = std::fs::read(&path).with_context(|| path.display().to_string())?;
                Ok(String::from_utf8_lossy(&b).into_owned())
            }
            Prog::Tree(root) => {
                let n = walk(root, pid, file).await?;
                n.open(om::OREAD).await?;
                let mut out = Vec::new();
                let r = loop {
                    match n.read(out.len() as u64, 65536).await {
                        Ok(b) if b.is_empty() => break Ok(()),
                        Ok(b) => out.extend_from_slice(&b),
                        Err(e) => break Err(e),
                    }
                };
                n.clunk().await;
                r.with_context(|| format!("#p/{pid}/{file}"))?;
                Ok(String::from_utf8_lossy(&out).into_owned())
            }
        }
    }

    /// Writes `msg` to `file` of process `pid`, as `echo msg > file` does.
    pub async fn write(&self, pid: u64, file: &str, msg: &str) -> Result<()> {
        match self {
            Prog::Dir(d) => {
                use std::io::Write;
                let path = d.join(pid.to_string()).join(file);
                std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&path)
                    .and_then(|mut f| f.write_all(msg.as_bytes()))
                    .with_context(|| path.display().to_string())
            }
            Prog::Tree(root) => {
                let n = walk(root, pid, file).await?;
                let r = match n.open(om::OWRITE | om::OTRUNC).await {
                    Ok(_) => n
                        .write(0, Bytes::copy_from_slice(msg.as_bytes()))
                        .await
                        .map(drop),
                    Err(e) => Err(e),
                };
                n.clunk().await;
                r.with_context(|| format!("#p/{pid}/{file}"))
            }
        }
    }
}

async fn walk(root: &NodeRef, pid: u64, file: &str) -> Result<NodeRef> {
    let w = root
        .walk(&[pid.to_string(), file.to_owned()])
        .await
        .with_context(|| format!("#p/{pid}"))?;
    w.node
        .ok_or_else(|| anyhow!("#p/{pid}/{file}: file does not exist"))
}

async fn list(root: &NodeRef) -> ninefold_fs::Result<Vec<String>> {
    let d = root.clone_node().await?;
    d.open(om::OREAD).await?;
    let mut names = Vec::new();
    let mut offset = 0;
    let r = loop {
        match d.read(offset, 1 << 20).await {
            Ok(b) if b.is_empty() => break Ok(()),
            Ok(b) => {
                offset += b.len() as u64;
                match ninefold_proto::read_dir_entries(b) {
                    Ok(entries) => names.extend(entries.into_iter().map(|s| s.name)),
                    Err(_) => break Err(ninefold_fs::Error::IO),
                }
            }
            Err(e) => break Err(e),
        }
    };
    d.clunk().await;
    r.map(|()| names)
}

/// One process as ps shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u64,
    pub user: String,
    /// The name from `status`.
    pub name: String,
    /// The whole line ps prints, without its newline.
    pub line: String,
}

/// A `status` as ps reads it: tokenized, at least 12 fields (name, user, state, six times
/// in ms, memory in KiB, two priorities). `shown` replaces the name at the end of the
/// line (ps -a's arguments).
pub fn parse_status(pid: u64, status: &str, shown: Option<&str>) -> Option<Process> {
    let f: Vec<&str> = status.split_whitespace().collect();
    if f.len() < 12 {
        return None;
    }
    let n = |i: usize| f[i].parse::<u64>().ok();
    let (utime, stime, size) = (n(3)? / 1000, n(4)? / 1000, n(9)?);
    let line = format!(
        "{:<10} {:>8} {:>4}:{:02} {:>3}:{:02} {:>7}K {:<8.8} {}",
        f[1],
        pid,
        utime / 60,
        utime % 60,
        stime / 60,
        stime % 60,
        size,
        f[2],
        shown.unwrap_or(f[0])
    );
    Some(Process {
        pid,
        user: f[1].to_owned(),
        name: f[0].to_owned(),
        line,
    })
}

/// Every process of `prog` that can still be read, in pid order.
pub async fn processes(prog: &Prog, with_args: bool) -> Result<Vec<Process>> {
    let mut out = Vec::new();
    for pid in prog.pids().await? {
        // Gone meanwhile, or not ours to read: left out, as ps does.
        let Ok(status) = prog.read(pid, "status").await else {
            continue;
        };
        let args = if with_args {
            prog.read(pid, "args")
                .await
                .ok()
                .map(|a| a.trim_end().replace('\n', " "))
                .filter(|a| !a.is_empty())
        } else {
            None
        };
        if let Some(p) = parse_status(pid, &status, args.as_deref()) {
            out.push(p);
        }
    }
    Ok(out)
}

pub async fn run(a: Args) -> Result<()> {
    let prog = Prog::open(a.prog.as_deref()).await?;
    let mut text = String::new();
    for p in processes(&prog, a.args).await? {
        text.push_str(&p.line);
        text.push('\n');
    }
    print!("{text}");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let status = format!(
            "{:<27} {:<27} {:<11} {}",
            "sleep",
            "glenda",
            "Wakeme",
            [61_500u64, 2_000, 9, 0, 0, 0, 7868, 10, 10]
                .iter()
                .map(|n| format!("{n:>11} "))
                .collect::<String>()
        );
        let p = parse_status(42, &status, None).unwrap();
        assert_eq!(
            p.line,
            "glenda           42    1:01   0:02    7868K Wakeme   sleep"
        );
        let p = parse_status(42, &status, Some("sleep 60")).unwrap();
        assert!(p.line.ends_with(" Wakeme   sleep 60"));
        let long = status.replace("Wakeme", "Queueing_long");
        let p = parse_status(1, &long, None).unwrap();
        assert!(p.line.contains(" Queueing sleep"), "{}", p.line);
        assert!(parse_status(1, "too few fields", None).is_none());
        assert!(parse_status(1, &status.replace("61500", "x"), None).is_none());
    }
}
