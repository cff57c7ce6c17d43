//! `ninefold-bench`: ninefold's 9P core side by side with what a user would otherwise use.
//!
//! ```text
//! ninefold-bench [--ninefold PATH] [--runs N] [--stat-ops N] [--raw-buf BYTES]
//!                [--only read,b6] FILE
//! ```
//!
//! Serves FILE's directory with `ninefold exportfs` on a unix socket and on loopback TCP,
//! then measures, in one run:
//!
//! - sequential read of FILE: `cat FILE > /dev/null`; a raw socket copy (one process
//!   read(2)s the file and write(2)s it into a socket, another reads and discards); the real
//!   `ninefold 9p read`; and ninefold's client library in this process;
//! - small-op round trips: Tstat on an open fid through the client library (called from a
//!   runtime task, and from `Runtime::block_on`), next to a raw ping-pong of the same message
//!   sizes on the same kind of socket, with the CPU time client and server spend per op.
//!
//! Each measurement is repeated `--runs` times (default 7), the variants interleaved run by
//! run, and the median is reported with the range. The table is markdown on stdout, its
//! first column the row's name (`read`, `B6`), followed by one `goal | ROW | GOAL | RESULT |
//! STATUS` line per goal for `bench/run`'s summary (see `report.rs`); progress on stderr.
//!
//! `bench/run` (the harness) builds everything, runs the groups of rows and rewrites the
//! results in BENCHMARKS.md with `ninefold-bench report` (see `report.rs`).
//!
//! The file-system rows (B4 FUSE read/write, B5 `ls -l`/stat, B7 `newns` start-up) are
//! driven by `bench/fs.sh` (`bench/run.sh fs`), which uses the `time CMD…` and `stat-all
//! DIR` helpers here.
//!
//! `ninefold-bench net …` runs the network rows instead (B1 stream, B3 dials, B8 idle
//! conversations through `ninefold exportfs -r '#I'`): see `net.rs`.
//!
//! The same binary provides the raw helpers it starts as child processes (`raw-serve ADDR
//! FILE BUF`, `raw-recv ADDR LEN BUF`, `raw-pong ADDR REQ RESP`, `raw-sink ADDR`) and single measurements to
//! run under a profiler against a server started by hand (`lib-read ADDR NAME LEN task|
//! block_on`, `lib-stat ADDR NAME OPS task|block_on`, `raw-ping ADDR REQ RESP OPS`,
//! `dial-steps NET tcp!HOST!PORT DIALS`, `stream NET tcp!HOST!PORT BYTES [IN_FLIGHT]`).

mod child;
mod cpu;
mod fs;
mod net;
mod ninep;
mod raw;
mod remote;
mod report;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ninefold_transport::Addr;

use crate::child::{Announce, Server, count_output, time_command};
use crate::cpu::Placement;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ninefold-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    match strs.as_slice() {
        ["raw-serve", addr, file, buf] => raw::serve_file(addr, Path::new(file), buf.parse()?),
        ["raw-recv", addr, len, buf] => raw::recv_discard(addr, len.parse()?, buf.parse()?),
        ["raw-pong", addr, req, resp] => raw::pong(addr, req.parse()?, resp.parse()?),
        ["raw-sink", addr] => net::sink(addr),
        // Helpers of the file-system rows (B4, B5, B7), which bench/fs.sh drives.
        ["time", ..] => fs::time(&args[1..]),
        ["stat-all", dir] => fs::stat_all(Path::new(dir)),
        // B3's dial taken apart, against a /net served by hand: see net.rs.
        ["dial-steps", net, target, dials] => net::dial_steps(net, target, dials.parse()?),
        // B2's library stream alone, against a /net and a sink started by hand.
        ["stream", net, target, bytes] => remote::stream_once(net, target, bytes.parse()?, 1),
        ["stream", net, target, bytes, in_flight] => {
            remote::stream_once(net, target, bytes.parse()?, in_flight.parse()?)
        }
        // The network rows (B1, B3, B8) alone: see net.rs.
        ["net", ..] => net::bench(&args[1..]),
        // bench/run's last step: the results into BENCHMARKS.md.
        ["report", ..] => report::main(&args[1..]),
        // Single measurements, to run under a profiler (perf record, strace -c).
        ["lib-read", addr, name, len, how] => {
            let (addr, name, len): (Addr, String, u64) =
                (addr.parse()?, name.to_string(), len.parse()?);
            let took = Caller::parse(how)?.run(&runtime()?, async move {
                ninep::read_file(&addr, &name, len).await
            })?;
            println!("{:.1} MB/s", len as f64 / took.as_secs_f64() / 1e6);
            Ok(())
        }
        ["lib-stat", addr, name, ops, how] => {
            let (addr, name, ops): (Addr, String, usize) =
                (addr.parse()?, name.to_string(), ops.parse()?);
            let (t, _) = Caller::parse(how)?.run(&runtime()?, async move {
                ninep::stat_loop(&addr, &name, 100, ops, &[std::process::id()]).await
            })?;
            println!(
                "{:.2} µs/op, client CPU {:.2} µs/op",
                t.wall.as_secs_f64() * 1e6 / ops as f64,
                t.cpu.as_secs_f64() * 1e6 / ops as f64
            );
            Ok(())
        }
        ["raw-ping", addr, req, resp, ops] => {
            let ops: usize = ops.parse()?;
            let t = raw::ping_pong(
                &addr.parse()?,
                req.parse()?,
                resp.parse()?,
                100,
                ops,
                &[std::process::id()],
            )?;
            println!(
                "{:.2} µs/op, client CPU {:.2} µs/op",
                t.wall.as_secs_f64() * 1e6 / ops as f64,
                t.cpu.as_secs_f64() * 1e6 / ops as f64
            );
            Ok(())
        }
        _ => bench(Opts::parse(&args)?),
    }
}

#[derive(Debug)]
struct Opts {
    file: PathBuf,
    ninefold: Option<PathBuf>,
    runs: usize,
    stat_ops: usize,
    raw_buf: usize,
    /// The sequential-read rows.
    read: bool,
    /// The round-trip rows (B6).
    b6: bool,
}

const USAGE: &str = "usage: ninefold-bench [--ninefold PATH] [--runs N] [--stat-ops N] \
[--raw-buf BYTES] [--only read,b6] FILE";

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            file: PathBuf::new(),
            ninefold: None,
            runs: 7,
            stat_ops: 20_000,
            raw_buf: 1 << 20,
            read: true,
            b6: true,
        };
        let mut file = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || {
                it.next()
                    .with_context(|| format!("{a} needs a value\n{USAGE}"))
            };
            match a.as_str() {
                "--ninefold" => o.ninefold = Some(value()?.into()),
                "--runs" => o.runs = value()?.parse().context("--runs")?,
                "--stat-ops" => o.stat_ops = value()?.parse().context("--stat-ops")?,
                "--raw-buf" => o.raw_buf = value()?.parse().context("--raw-buf")?,
                "--only" => {
                    let only = value()?;
                    (o.read, o.b6) = (false, false);
                    for name in only.split(',') {
                        match name {
                            "read" => o.read = true,
                            "b6" => o.b6 = true,
                            _ => bail!("--only: unknown benchmark {name:?} (read, b6)"),
                        }
                    }
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                s if s.starts_with('-') => bail!("unknown option {s}\n{USAGE}"),
                s if file.is_none() => file = Some(PathBuf::from(s)),
                s => bail!("unexpected argument {s}\n{USAGE}"),
            }
        }
        o.file = file.with_context(|| format!("no FILE given\n{USAGE}"))?;
        if o.runs == 0 || o.stat_ops == 0 || o.raw_buf == 0 {
            bail!("--runs, --stat-ops and --raw-buf must be positive");
        }
        Ok(o)
    }
}

/// A directory for sockets, removed on the way out.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let p = std::env::temp_dir().join(format!("ninefold-bench-{}", std::process::id()));
        std::fs::create_dir_all(&p).with_context(|| format!("create {}", p.display()))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Transport {
    Unix,
    Tcp,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Unix => "unix",
            Transport::Tcp => "tcp loopback",
        }
    }

    /// An address to listen on: a socket in `dir`, or an ephemeral loopback port.
    fn listen_addr(self, dir: &Path, tag: &str) -> String {
        match self {
            Transport::Unix => format!("unix!{}", dir.join(format!("{tag}.sock")).display()),
            Transport::Tcp => "tcp!127.0.0.1!0".into(),
        }
    }
}

/// The servers of one transport, alive for the whole benchmark.
#[derive(Debug)]
struct Servers {
    t: Transport,
    exportfs: Server,
    raw_copy: Server,
}

/// What a row measures and how to print it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Moves this many bytes per run.
    Throughput(u64),
    /// Does this many operations per run.
    Latency(usize),
    /// Does this many operations per run, reported per second.
    Rate(usize),
}

#[derive(Debug)]
struct Row {
    what: String,
    transport: String,
    kind: Kind,
    samples: Vec<Duration>,
    /// CPU time of client and server during each sample, where measured.
    cpu: Vec<Duration>,
}

impl Row {
    fn new(what: impl Into<String>, transport: impl Into<String>, kind: Kind) -> Row {
        Row {
            what: what.into(),
            transport: transport.into(),
            kind,
            samples: Vec::new(),
            cpu: Vec::new(),
        }
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.samples.iter().map(Duration::as_secs_f64).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The median run's time in seconds.
    fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// MB/s (10^6 bytes) or µs per operation, from a time in seconds.
    fn value(&self, secs: f64) -> f64 {
        match self.kind {
            Kind::Throughput(bytes) => bytes as f64 / secs / 1e6,
            Kind::Latency(ops) => secs / ops as f64 * 1e6,
            Kind::Rate(ops) => ops as f64 / secs,
        }
    }

    fn unit(&self) -> &'static str {
        match self.kind {
            Kind::Throughput(_) => "MB/s",
            Kind::Latency(_) => "µs/op",
            Kind::Rate(_) => "/s",
        }
    }

    fn push(&mut self, t: ninep::Trips) {
        self.samples.push(t.wall);
        self.cpu.push(t.cpu);
    }

    /// Median CPU µs per operation, client and server together.
    fn cpu_cell(&self) -> String {
        let Kind::Latency(ops) = self.kind else {
            return String::new();
        };
        match self.cpu.len() {
            0 => String::new(),
            _ => format!("{:.1} µs/op", self.cpu_median() / ops as f64 * 1e6),
        }
    }

    fn cell(&self) -> String {
        format!("{:.1} {}", self.value(self.median()), self.unit())
    }

    fn range(&self) -> String {
        let v = self.sorted();
        let (Some(lo), Some(hi)) = (v.first(), v.last()) else {
            return String::new();
        };
        // The fastest run is the smallest time: for MB/s that is the largest value.
        let (a, b) = match self.kind {
            Kind::Throughput(_) | Kind::Rate(_) => (self.value(*hi), self.value(*lo)),
            Kind::Latency(_) => (self.value(*lo), self.value(*hi)),
        };
        format!("{a:.1}–{b:.1}")
    }

    /// How many times better than `base` this row is: >1 is faster for throughput; for
    /// latency it is our time over theirs (>1 is slower), as the goals are stated.
    fn ratio(&self, base: &Row) -> f64 {
        match self.kind {
            Kind::Throughput(_) | Kind::Rate(_) => base.median() / self.median(),
            Kind::Latency(_) => self.median() / base.median(),
        }
    }

    fn cpu_median(&self) -> f64 {
        let mut v: Vec<f64> = self.cpu.iter().map(Duration::as_secs_f64).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

/// The three round-trip measurements of one transport and placement.
#[derive(Debug)]
struct StatRows {
    placement: Option<Placement>,
    /// Transport and placement in a few words, for the goal lines.
    label: String,
    raw: Row,
    task: Row,
    block_on: Row,
}

const GOAL_MBPS: f64 = 1000.0;
const GOAL_VS_RAW: f64 = 0.5;
const GOAL_STAT: f64 = 1.5;

fn bench(o: Opts) -> Result<()> {
    let file = o
        .file
        .canonicalize()
        .with_context(|| format!("{}", o.file.display()))?;
    let len = std::fs::metadata(&file)?.len();
    let (Some(dir), Some(name)) = (file.parent(), file.file_name().and_then(|n| n.to_str())) else {
        bail!("{}: not a file in a directory", file.display());
    };
    let me = std::env::current_exe()?;
    let ninefold = find_ninefold(o.ninefold.as_deref())?;
    let limit = Duration::from_secs(120);
    let tmp = TempDir::new()?;
    let rt = runtime()?;

    eprintln!("starting servers…");
    let mut servers = Vec::new();
    for t in [Transport::Unix, Transport::Tcp] {
        let mut cmd = Command::new(&ninefold);
        cmd.arg("exportfs")
            .arg("-R")
            .arg("-r")
            .arg(dir)
            .arg("--listen")
            .arg(t.listen_addr(&tmp.0, "9p"));
        if t == Transport::Tcp {
            cmd.arg("--no-auth");
        }
        let exportfs = Server::start("ninefold exportfs", &mut cmd, Announce::Stderr)?;
        let raw_copy = Server::start(
            "raw-serve",
            Command::new(&me)
                .arg("raw-serve")
                .arg(t.listen_addr(&tmp.0, "raw"))
                .arg(&file)
                .arg(o.raw_buf.to_string()),
            Announce::Stdout,
        )?;
        servers.push(Servers {
            t,
            exportfs,
            raw_copy,
        });
    }

    let lib_read = |s: &Servers| -> Result<Duration> {
        let (a, n) = (addr(&s.exportfs)?, name.to_owned());
        Caller::Task.run(&rt, async move { ninep::read_file(&a, &n, len).await })
    };
    let me_pid = std::process::id();
    let lib_stat = |s: &Servers, caller: Caller, warm: usize, ops: usize| {
        let (a, n) = (addr(&s.exportfs)?, name.to_owned());
        let pids = [me_pid, s.exportfs.pid()];
        caller.run(&rt, async move {
            ninep::stat_loop(&a, &n, warm, ops, &pids).await
        })
    };

    // Untimed first runs check that every variant moves exactly the file, and warm up.
    eprintln!("checking each variant once…");
    if o.read {
        let cat_bytes = count_output("cat", Command::new("cat").arg(&file))?;
        if cat_bytes != len {
            bail!("cat gave {cat_bytes} bytes of {len}");
        }
    }
    for s in servers.iter().filter(|_| o.read) {
        let got = count_output(
            "ninefold 9p read",
            &mut read_cmd(&ninefold, &s.exportfs, name),
        )?;
        if got != len {
            bail!(
                "ninefold 9p read over {} gave {got} bytes of {len}",
                s.t.name()
            );
        }
        time_command(
            "raw-recv",
            &mut recv_cmd(&me, &s.raw_copy, len, o.raw_buf),
            limit,
        )?;
        lib_read(s)?;
    }

    // Sequential reads, interleaved run by run.
    let mut cat = Row::new("`cat FILE > /dev/null`", "—", Kind::Throughput(len));
    let mut reads: Vec<[Row; 3]> = servers
        .iter()
        .map(|s| {
            [
                Row::new(
                    format!(
                        "raw socket copy (read(2)+write(2), {} KiB buffer; receiver discards)",
                        o.raw_buf / 1024
                    ),
                    s.t.name(),
                    Kind::Throughput(len),
                ),
                Row::new(
                    "`ninefold 9p read FILE > /dev/null` ← `ninefold exportfs`",
                    s.t.name(),
                    Kind::Throughput(len),
                ),
                Row::new(
                    format!(
                        "Client library in-process, {} reads in flight, in a runtime task ← exportfs",
                        ninep::READ_AHEAD
                    ),
                    s.t.name(),
                    Kind::Throughput(len),
                ),
            ]
        })
        .collect();
    let read_runs = if o.read { o.runs } else { 0 };
    for run in 1..=read_runs {
        eprintln!("sequential read: run {run} of {}", o.runs);
        cat.samples
            .push(time_command("cat", Command::new("cat").arg(&file), limit)?);
        for (s, [raw_row, cli_row, lib_row]) in servers.iter().zip(reads.iter_mut()) {
            raw_row.samples.push(time_command(
                "raw-recv",
                &mut recv_cmd(&me, &s.raw_copy, len, o.raw_buf),
                limit,
            )?);
            cli_row.samples.push(time_command(
                "ninefold 9p read",
                &mut read_cmd(&ninefold, &s.exportfs, name),
                limit,
            )?);
            lib_row.samples.push(lib_read(s)?);
        }
    }

    // Small-op round trips. The raw ping-pong sends what Tstat and Rstat weigh for this file.
    let warm = (o.stat_ops / 10).max(100);
    let (_, rstat) = lib_stat(&servers[0], Caller::Task, 0, 0)?;
    let mut pongs = Vec::new();
    for s in &servers {
        pongs.push(Server::start(
            "raw-pong",
            Command::new(&me)
                .arg("raw-pong")
                .arg(s.t.listen_addr(&tmp.0, "pong"))
                .arg(ninep::TSTAT_SIZE.to_string())
                .arg(rstat.to_string()),
            Announce::Stdout,
        )?);
    }
    let all_cpus = cpu::current()?;
    let placements: &[Placement] = if all_cpus.is_set(0) && all_cpus.is_set(1) {
        &[Placement::SameCpu, Placement::TwoCpus]
    } else {
        eprintln!("CPUs 0 and 1 are not both available: round trips are not pinned");
        &[]
    };
    let mut stats: Vec<StatRows> = Vec::new();
    for s in servers.iter().filter(|_| o.b6) {
        for p in placements.iter().map(|&p| Some(p)).chain(
            // Unpinned only where pinning is impossible.
            placements.is_empty().then_some(None),
        ) {
            let transport = match p {
                Some(p) => format!("{}; {}", s.t.name(), p.name()),
                None => s.t.name().to_owned(),
            };
            let row = |what: String| Row::new(what, &transport, Kind::Latency(o.stat_ops));
            let label = match p {
                Some(Placement::SameCpu) => format!("{}, one CPU", s.t.name()),
                Some(Placement::TwoCpus) => format!("{}, two CPUs", s.t.name()),
                None => format!("{}, unpinned", s.t.name()),
            };
            stats.push(StatRows {
                placement: p,
                label,
                raw: row(format!(
                    "raw ping-pong, {} B out / {rstat} B back, one at a time",
                    ninep::TSTAT_SIZE
                )),
                task: row(
                    "Client library Tstat on an open fid, one at a time, in a runtime task \
                     ← exportfs"
                        .into(),
                ),
                block_on: row(
                    "Client library Tstat, the same loop in `Runtime::block_on` (as \
                     `#[tokio::main]` programs run) ← exportfs"
                        .into(),
                ),
            });
        }
    }
    let per_transport = stats.len() / servers.len();
    let stat_runs = if o.b6 { o.runs } else { 0 };
    let stat_result = (|| -> Result<()> {
        for run in 1..=stat_runs {
            eprintln!("round trips: run {run} of {}", o.runs);
            for (i, r) in stats.iter_mut().enumerate() {
                let (s, pong) = (&servers[i / per_transport], &pongs[i / per_transport]);
                if let Some(p) = r.placement {
                    cpu::pin(me_pid, &cpu::only(0))?;
                    cpu::pin(s.exportfs.pid(), &cpu::only(p.server_cpu()))?;
                    cpu::pin(pong.pid(), &cpu::only(p.server_cpu()))?;
                }
                r.raw.push(raw::ping_pong(
                    &addr(pong)?,
                    ninep::TSTAT_SIZE,
                    rstat,
                    warm,
                    o.stat_ops,
                    &[me_pid, pong.pid()],
                )?);
                for (row, caller) in [
                    (&mut r.task, Caller::Task),
                    (&mut r.block_on, Caller::BlockOn),
                ] {
                    let (trips, size) = lib_stat(s, caller, warm, o.stat_ops)?;
                    if size != rstat {
                        bail!("Rstat size changed from {rstat} to {size}");
                    }
                    row.push(trips);
                }
            }
        }
        Ok(())
    })();
    if !placements.is_empty() {
        cpu::pin(me_pid, &all_cpus)?;
    }
    stat_result?;
    drop(pongs);
    drop(servers);
    rt.shutdown_background();

    print_table(&o, len, rstat, &cat, &reads, &stats);
    Ok(())
}

/// The `ninefold` binary: the one given, or the one beside this benchmark.
fn find_ninefold(given: Option<&Path>) -> Result<PathBuf> {
    let ninefold = match given {
        Some(p) => p.to_owned(),
        None => std::env::current_exe()?.with_file_name("ninefold"),
    };
    if !ninefold.is_file() {
        bail!(
            "{} not found: build it (cargo build --release -p ninefold) or give --ninefold",
            ninefold.display()
        );
    }
    Ok(ninefold)
}

/// The runtime the client library runs on: tokio's multi-threaded one, as in `ninefold`.
fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Where the code calling the client library runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    /// In a task on the runtime's worker threads, as a server's request handlers do.
    Task,
    /// On the thread that calls `Runtime::block_on`, as `#[tokio::main]` programs and
    /// `ninefold` itself do: every wake-up crosses between that thread and the workers.
    BlockOn,
}

impl Caller {
    fn parse(s: &str) -> Result<Caller> {
        match s {
            "task" => Ok(Caller::Task),
            "block_on" => Ok(Caller::BlockOn),
            _ => bail!("{s:?}: expected task or block_on"),
        }
    }

    fn run<T, F>(self, rt: &tokio::runtime::Runtime, fut: F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        match self {
            Caller::Task => rt.block_on(rt.spawn(fut))?,
            Caller::BlockOn => rt.block_on(fut),
        }
    }
}

fn addr(s: &Server) -> Result<Addr> {
    s.addr
        .parse()
        .with_context(|| format!("server announced {:?}", s.addr))
}

fn read_cmd(ninefold: &Path, exportfs: &Server, name: &str) -> Command {
    let mut cmd = Command::new(ninefold);
    cmd.arg("9p")
        .arg("-a")
        .arg(&exportfs.addr)
        .arg("read")
        .arg(name);
    cmd
}

fn recv_cmd(me: &Path, raw: &Server, len: u64, buf: usize) -> Command {
    let mut cmd = Command::new(me);
    cmd.arg("raw-recv")
        .arg(&raw.addr)
        .arg(len.to_string())
        .arg(buf.to_string());
    cmd
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// The status of a goal line: `met`, `missed`, or `missed N of M` when only some of its
/// variants missed.
pub(crate) fn status(missed: usize, of: usize) -> String {
    match missed {
        0 => "met".into(),
        n if n == of => "missed".into(),
        n => format!("missed {n} of {of}"),
    }
}

fn print_table(
    o: &Opts,
    len: u64,
    rstat: usize,
    cat: &Row,
    reads: &[[Row; 3]],
    stats: &[StatRows],
) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!("Machine: {cores} cores, Linux {}.", kernel.trim());
    if o.read {
        println!(
            "note | read | A file of {len} bytes ({:.2} GiB), page cache warm. Each cell: median of {} runs \
             (variants interleaved run by run); min–max = slowest–fastest run.",
            len as f64 / (1u64 << 30) as f64,
            o.runs
        );
    }
    if o.b6 {
        println!(
            "note | B6 | {} timed Tstat (or ping-pong) per run after {} untimed, median of {} \
             runs; Tstat = {} bytes, Rstat = {rstat} bytes. CPU = time client and server spent \
             on a CPU per operation.",
            o.stat_ops,
            (o.stat_ops / 10).max(100),
            o.runs,
            ninep::TSTAT_SIZE
        );
    }
    println!();
    println!("| row | what | transport | median | min–max | CPU (client+server) | ratio | goal |");
    println!("|---|---|---|---:|---:|---:|---|---|");
    let mut goals = Vec::new();
    if o.read {
        println!(
            "| read | {} | {} | {} | {} | | reference | |",
            cat.what,
            cat.transport,
            cat.cell(),
            cat.range()
        );
        let (mut results, mut missed, mut of) = (Vec::new(), 0, 0);
        for [raw, cli, lib] in reads {
            println!(
                "| read | {} | {} | {} | {} | | baseline; {:.2}× cat | |",
                raw.what,
                raw.transport,
                raw.cell(),
                raw.range(),
                raw.ratio(cat)
            );
            for (r, short) in [(cli, "CLI"), (lib, "library")] {
                let vs_raw = r.ratio(raw);
                let mbps = r.value(r.median());
                println!(
                    "| read | {} | {} | {} | {} | | {:.2}× raw copy; {:.2}× cat | ≥ {GOAL_MBPS:.0} MB/s: {}; ≥ {GOAL_VS_RAW}× raw: {} |",
                    r.what,
                    r.transport,
                    r.cell(),
                    r.range(),
                    vs_raw,
                    r.ratio(cat),
                    met(mbps >= GOAL_MBPS),
                    met(vs_raw >= GOAL_VS_RAW)
                );
                results.push(format!(
                    "{short} {} {mbps:.0} MB/s = {vs_raw:.2}×",
                    r.transport
                ));
                missed += usize::from(mbps < GOAL_MBPS || vs_raw < GOAL_VS_RAW);
                of += 1;
            }
        }
        goals.push(format!(
            "goal | read | ≥ {GOAL_MBPS:.0} MB/s and ≥ {GOAL_VS_RAW}× the raw socket copy | {} | {}",
            results.join("; "),
            status(missed, of)
        ));
    }
    let mut by_caller = [
        ("a runtime task (as `ninefold` runs)", Vec::new(), 0),
        ("`Runtime::block_on`", Vec::new(), 0),
    ];
    for StatRows {
        raw,
        task,
        block_on: block,
        label,
        ..
    } in stats
    {
        println!(
            "| B6 | {} | {} | {} | {} | {} | baseline | |",
            raw.what,
            raw.transport,
            raw.cell(),
            raw.range(),
            raw.cpu_cell()
        );
        for (i, r) in [task, block].into_iter().enumerate() {
            let ratio = r.ratio(raw);
            println!(
                "| B6 | {} | {} | {} | {} | {} | {:.2}× raw ping-pong (CPU {:.2}×) | ≤ {GOAL_STAT}×: {} |",
                r.what,
                r.transport,
                r.cell(),
                r.range(),
                r.cpu_cell(),
                ratio,
                r.cpu_median() / raw.cpu_median(),
                met(ratio <= GOAL_STAT)
            );
            by_caller[i].1.push(format!("{label} {ratio:.2}×"));
            by_caller[i].2 += usize::from(ratio > GOAL_STAT);
        }
    }
    if o.b6 {
        for (caller, results, missed) in &by_caller {
            goals.push(format!(
                "goal | B6 | Tstat ≤ {GOAL_STAT}× a raw ping-pong, called from {caller} | {} | {}",
                results.join("; "),
                status(*missed, results.len())
            ));
        }
    }
    println!();
    for g in goals {
        println!("{g}");
    }
}
