//! When a session ends: when no process but ours is left in its mount namespace. Background
//! jobs keep it alive, as they keep a Plan 9 name-space group alive; the 9P servers the
//! session itself started for `{command}` mounts (our direct children) do not.

use std::time::Duration;

use ninefold_procfs::host;

// /proc is read through the directory `#p` opened when the session's name space was made
// (before its programs ran): one of them may since have mounted another machine's /proc
// over /proc, and its processes are not this session's.

/// The identity of a process's mount namespace (`mnt:[4026532...]`).
fn mnt_ns(pid: &str) -> Option<String> {
    host::read_link(&format!("{pid}/ns/mnt")).ok()
}

fn parent(pid: &str) -> Option<u32> {
    let stat = String::from_utf8(host::read_file(&format!("{pid}/stat")).ok()?).ok()?;
    // The name may hold blanks and parentheses: the fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// How many processes of the session are left: those in our mount namespace that do not
/// descend from us. (The session's command is our child, but once it has exited its
/// background jobs are orphans, adopted elsewhere; what still descends from us are the
/// 9P servers we started for `{command}` mounts, and they end with us.)
pub fn others() -> usize {
    let me = std::process::id();
    let Some(mine) = mnt_ns("self") else {
        return 0;
    };
    let Ok(names) = host::list(".") else {
        return 0;
    };
    let pids: Vec<String> = names
        .into_iter()
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    pids.iter()
        .filter(|pid| pid.parse::<u32>().ok() != Some(me))
        .filter(|pid| mnt_ns(pid).as_ref() == Some(&mine))
        .filter(|pid| !descends_from(pid, me))
        .count()
}

fn descends_from(pid: &str, ancestor: u32) -> bool {
    let mut p = pid.to_string();
    // A chain of parents is short; the bound only guards against a loop of stale reads.
    for _ in 0..256 {
        match parent(&p) {
            Some(pp) if pp == ancestor => return true,
            Some(pp) if pp > 1 => p = pp.to_string(),
            _ => return false,
        }
    }
    false
}

/// Wait until the session's processes are gone.
pub async fn wait_for_the_rest() {
    while others() > 0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
