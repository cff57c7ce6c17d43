//! CPU time consumed by processes, from the scheduler's own accounting.

use std::time::Duration;

/// The CPU time all threads of process `pid` have run so far (`/proc/PID/task/*/schedstat`,
/// nanoseconds). Threads that have exited are not counted, so measure over spans in which
/// the processes keep their threads.
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let mut ns = 0u64;
    for t in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
            ns += s
                .split_whitespace()
                .next()
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

/// The CPU time of several processes together.
pub fn cpu_time_of(pids: &[u32]) -> Duration {
    pids.iter().map(|&p| cpu_time(p)).sum()
}

/// Where the round-trip benchmarks put client and server. Pinned, because on a virtual
/// machine whose idle CPUs halt, whether two processes share a CPU changes a round trip's
/// cost several times over, and an unpinned scheduler decides that differently run by run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Placement {
    /// Client and server on CPU 0: every hand-off is a plain context switch.
    SameCpu,
    /// Client on CPU 0, server on CPU 1: every hand-off wakes the other CPU.
    TwoCpus,
}

impl Placement {
    pub fn name(self) -> &'static str {
        match self {
            Placement::SameCpu => "client and server on CPU 0",
            Placement::TwoCpus => "client on CPU 0, server on CPU 1",
        }
    }

    pub fn server_cpu(self) -> usize {
        match self {
            Placement::SameCpu => 0,
            Placement::TwoCpus => 1,
        }
    }
}

/// Restricts every thread of process `pid` to `cpus` (threads it starts later inherit it).
pub fn pin(pid: u32, cpus: &rustix::thread::CpuSet) -> anyhow::Result<()> {
    use anyhow::Context;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("threads of process {pid}"))?;
    for t in tasks.flatten() {
        let Some(tid) = t
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw)
        else {
            continue;
        };
        // A thread may have ended since the listing: that is fine.
        match rustix::thread::sched_setaffinity(Some(tid), cpus) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(e) => return Err(e).with_context(|| format!("pin thread {tid:?} of {pid}")),
        }
    }
    Ok(())
}

/// The set holding just `cpu`.
pub fn only(cpu: usize) -> rustix::thread::CpuSet {
    let mut s = rustix::thread::CpuSet::new();
    s.set(cpu);
    s
}

/// The CPUs this process may run on now.
pub fn current() -> anyhow::Result<rustix::thread::CpuSet> {
    Ok(rustix::thread::sched_getaffinity(None)?)
}
