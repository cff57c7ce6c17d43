//! `ninefold kill` and `slay`: print the shell commands that would kill processes, as Plan
//! 9's kill(1) and slay do, to be piped into sh — or, with --now, do it.

use std::path::PathBuf;

use anyhow::Result;

use crate::Exit;
use crate::ps::{PROG_HELP, Process, Prog, processes};

/// Print `echo kill>/prog/PID/note # <ps line>` for each process of yours called NAME (and
/// each PID), to pipe into sh: a note, which the process may catch (SIGTERM).
#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// Send the notes now instead of printing the commands.
    #[arg(long)]
    now: bool,
    #[arg(short = 'p', value_name = "PROGDIR", help = PROG_HELP)]
    prog: Option<PathBuf>,
    /// Process names (as ps shows them) or pids.
    #[arg(required = true, value_name = "NAME|PID")]
    targets: Vec<String>,
}

/// Print `echo kill>/prog/PID/ctl # <ps line>` for each process of yours called NAME (and
/// each PID), to pipe into sh: surer than kill, if heavy-handed (SIGKILL).
#[derive(Debug, clap::Args)]
pub struct SlayArgs {
    /// Kill them now instead of printing the commands.
    #[arg(long)]
    now: bool,
    #[arg(short = 'p', value_name = "PROGDIR", help = PROG_HELP)]
    prog: Option<PathBuf>,
    /// Process names (as ps shows them) or pids.
    #[arg(required = true, value_name = "NAME|PID")]
    targets: Vec<String>,
}

pub async fn kill(a: KillArgs) -> Result<()> {
    run("kill", "note", a.now, a.prog, &a.targets).await
}

pub async fn slay(a: SlayArgs) -> Result<()> {
    run("slay", "ctl", a.now, a.prog, &a.targets).await
}

/// The user whose processes a name matches: the one running this.
fn me() -> String {
    let uid = nix::unistd::geteuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

/// The processes `target` names: a pid (whoever owns it), or every process of `user`
/// with that name. ninefold itself is never one.
pub fn matches<'a>(procs: &'a [Process], target: &str, user: &str) -> Vec<&'a Process> {
    let me = u64::from(std::process::id());
    let by_pid = target.parse::<u64>().ok();
    procs
        .iter()
        .filter(|p| p.pid != me)
        .filter(|p| match by_pid {
            Some(pid) => p.pid == pid,
            None => p.name == target && p.user == user,
        })
        .collect()
}

async fn run(
    cmd: &str,
    file: &str,
    now: bool,
    dir: Option<PathBuf>,
    targets: &[String],
) -> Result<()> {
    let prog = Prog::open(dir.as_deref()).await?;
    let procs = processes(&prog, false).await?;
    let user = me();
    let shown = prog.shown();
    let mut failed = false;
    let mut out = String::new();
    for t in targets {
        let found = matches(&procs, t, &user);
        if found.is_empty() {
            eprintln!("ninefold {cmd}: no process {t}");
            failed = true;
        }
        for p in found {
            if !now {
                out.push_str(&format!(
                    "echo kill>{shown}/{}/{file} # {}\n",
                    p.pid, p.line
                ));
                continue;
            }
            if let Err(e) = prog.write(p.pid, file, "kill").await {
                eprintln!("ninefold {cmd}: {}", format!("{e:#}").replace('\n', " "));
                failed = true;
            }
        }
    }
    print!("{out}");
    if failed {
        return Err(Exit(1).into());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(pid: u64, user: &str, name: &str) -> Process {
        Process {
            pid,
            user: user.into(),
            name: name.into(),
            line: format!("{user} {pid} {name}"),
        }
    }

    #[test]
    fn names_are_yours_pids_anyones() {
        let procs = [
            p(10, "glenda", "sleep"),
            p(11, "root", "sleep"),
            p(12, "glenda", "sleep"),
            p(13, "glenda", "rc"),
        ];
        let pids = |t: &str| -> Vec<u64> {
            matches(&procs, t, "glenda")
                .into_iter()
                .map(|p| p.pid)
                .collect()
        };
        assert_eq!(pids("sleep"), [10, 12]);
        assert_eq!(pids("11"), [11]);
        assert!(pids("sh").is_empty());
        assert!(pids("99").is_empty());
    }
}
