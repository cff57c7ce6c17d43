//! The network rows: a TCP stream (B1) and dials (B3) through a `/net` that `ninefold
//! exportfs -r '#I'` serves on a unix socket, next to the same done directly with loopback
//! sockets; the stream through a /net imported over TLS and over the ssh transport, next to
//! `ssh -L` forwarding (B2, in `remote.rs`); and what an idle conversation costs that
//! exportfs in memory (B8).
//!
//! ```text
//! ninefold-bench net [--ninefold PATH] [--runs N] [--only b1,b2,b3,b8] [--stream BYTES]
//!                    [--chunk BYTES] [--dials N] [--convs N] [--socat PATH]
//!                    [--race BYTES] [--race-tries N]
//! ```
//!
//! Every TCP connection goes to `raw-sink`, a child process (a current-thread tokio loop)
//! that reads each connection to its end, then answers with the byte count (8 bytes,
//! big-endian) and closes. The direct variants use blocking std sockets in this process;
//! the /net variants use ninefold's client and `ninefold_netfs::dial` in a runtime task.
//! B1 also streams through a socat relay to the same sink (`socat -b 1048576`, the relay a
//! user would otherwise set up), if socat is found (`--socat PATH`, else on `PATH`).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use ninefold_client::Client;
use ninefold_fs::{NodeRef, Tree};
use ninefold_netfs::dial::{Conn, dial};
use ninefold_transport::Addr;

use crate::child::{Announce, Guard, Server};
use crate::{Kind, Row, TempDir, find_ninefold, met, runtime, status};

const USAGE: &str = "usage: ninefold-bench net [--ninefold PATH] [--runs N] [--only b1,b2,b3,b8] \
[--stream BYTES] [--chunk BYTES] [--dials N] [--convs N] [--socat PATH] [--race BYTES] \
[--race-tries N]";

/// Goals of issue 8.
const GOAL_STREAM: f64 = 0.5;
const GOAL_DIALS: f64 = 0.3;
const GOAL_CONV_KIB: f64 = 16.0;
/// Dialers at once in the concurrent dial rows.
const PARALLEL: usize = 8;
/// Bytes asked for by each read of a conversation's data.
const READ_COUNT: u32 = 1 << 20;
/// socat's buffer (`-b`): large, so that the reference relay is a strong one.
const SOCAT_BUF: usize = 1 << 20;

#[derive(Debug)]
pub(crate) struct Opts {
    ninefold: Option<PathBuf>,
    pub(crate) runs: usize,
    b1: bool,
    b2: bool,
    b3: bool,
    b8: bool,
    pub(crate) stream: u64,
    pub(crate) chunk: usize,
    dials: usize,
    convs: usize,
    socat: Option<PathBuf>,
    /// B2's cipher race: bytes through `ssh -L` per try, and tries per cipher.
    pub(crate) race: u64,
    pub(crate) race_tries: usize,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            ninefold: None,
            runs: 5,
            b1: true,
            b2: true,
            b3: true,
            b8: true,
            stream: 1 << 30,
            chunk: 4 << 20,
            dials: 2000,
            convs: 10_000,
            socat: None,
            race: 256 << 20,
            race_tries: 5,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || {
                it.next()
                    .with_context(|| format!("{a} needs a value\n{USAGE}"))
            };
            match a.as_str() {
                "--ninefold" => o.ninefold = Some(value()?.into()),
                "--runs" => o.runs = value()?.parse().context("--runs")?,
                "--stream" => o.stream = value()?.parse().context("--stream")?,
                "--chunk" => o.chunk = value()?.parse().context("--chunk")?,
                "--dials" => o.dials = value()?.parse().context("--dials")?,
                "--convs" => o.convs = value()?.parse().context("--convs")?,
                "--socat" => o.socat = Some(value()?.into()),
                "--race" => o.race = value()?.parse().context("--race")?,
                "--race-tries" => o.race_tries = value()?.parse().context("--race-tries")?,
                "--only" => {
                    let only = value()?;
                    (o.b1, o.b2, o.b3, o.b8) = (false, false, false, false);
                    for name in only.split(',') {
                        match name {
                            "b1" => o.b1 = true,
                            "b2" => o.b2 = true,
                            "b3" => o.b3 = true,
                            "b8" => o.b8 = true,
                            _ => bail!("--only: unknown benchmark {name:?} (b1, b2, b3, b8)"),
                        }
                    }
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                s => bail!("unexpected argument {s}\n{USAGE}"),
            }
        }
        if o.runs == 0
            || o.stream == 0
            || o.chunk == 0
            || o.race == 0
            || o.race_tries == 0
            || o.dials < PARALLEL
            || o.convs < 2
        {
            bail!(
                "--runs, --stream, --chunk, --race and --race-tries must be positive, \
                 --dials ≥ {PARALLEL}, --convs ≥ 2"
            );
        }
        Ok(o)
    }
}

pub fn bench(args: &[String]) -> Result<()> {
    let o = Opts::parse(args)?;
    let ninefold = find_ninefold(o.ninefold.as_deref())?;
    let me = std::env::current_exe()?;
    let tmp = TempDir::new()?;
    let rt = runtime()?;
    raise_fd_limit();

    eprintln!("starting raw-sink…");
    let sink = Server::start(
        "raw-sink",
        Command::new(&me).arg("raw-sink").arg("tcp!127.0.0.1!0"),
        Announce::Stdout,
    )?;
    let port = match sink.addr.parse::<Addr>()? {
        Addr::Tcp { port, .. } => port,
        a => bail!("raw-sink announced {a}"),
    };
    let target = format!("tcp!127.0.0.1!{port}");

    let mut out = Vec::new();
    if o.b1 || o.b3 {
        let exportfs = start_exportfs(&ninefold, &tmp.0, "net")?;
        let net_addr: Addr = exportfs.addr.parse()?;
        if o.b1 {
            out.push(stream_rows(
                &o, &rt, &ninefold, &tmp.0, &net_addr, &target, port,
            )?);
        }
        if o.b3 {
            out.push(dial_rows(&o, &rt, &net_addr, &target, port)?);
        }
    }
    let remote = if o.b2 {
        Some(crate::remote::stream_rows(
            &o, &rt, &ninefold, &tmp.0, &target, port,
        )?)
    } else {
        None
    };
    let convs = if o.b8 {
        // A fresh exportfs, so that its memory is that of the conversations alone.
        let exportfs = start_exportfs(&ninefold, &tmp.0, "convs")?;
        Some(conv_memory(&o, &rt, &exportfs, &target)?)
    } else {
        None
    };
    drop(sink);
    rt.shutdown_background();

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!("Machine: {cores} cores, Linux {}.", kernel.trim());
    let mut ids = Vec::new();
    for (on, id) in [(o.b1, "B1"), (o.b3, "B3"), (o.b8, "B8")] {
        if on {
            ids.push(id);
        }
    }
    if let Some(r) = &remote {
        for n in &r.notes {
            println!("note | B2 | {n}");
        }
    }
    if !ids.is_empty() {
        println!(
            "note | {} | /net = `ninefold exportfs -r '#I' --listen unix!SOCK`, used through \
             ninefold's client and `ninefold_netfs::dial` in a runtime task; every TCP \
             connection goes to raw-sink (one thread), which reads it to its end and answers \
             with the byte count. Each cell: median of {} runs (variants interleaved); min–max \
             = slowest–fastest run.",
            ids.join(","),
            o.runs
        );
    }
    if o.b1 {
        println!(
            "note | B1 | {} bytes ({:.2} GiB) per run; the CLI reads them from a file in the page \
             cache.",
            o.stream,
            o.stream as f64 / f64::from(1 << 30)
        );
    }
    if o.b3 {
        println!(
            "note | B3 | {} dials per run, each followed by a close.",
            o.dials
        );
    }
    println!();
    println!("| row | what | median | min–max | ratio | goal |");
    println!("|---|---|---:|---:|---|---|");
    let mut goals = Vec::new();
    for rows in out.iter().chain(remote.iter()).chain(convs.iter()) {
        for line in &rows.lines {
            println!("{line}");
        }
        goals.extend(rows.goals.iter().cloned());
    }
    println!();
    for g in goals {
        println!("{g}");
    }
    Ok(())
}

/// `ninefold exportfs -r '#I'` on a unix socket in `dir`.
fn start_exportfs(ninefold: &Path, dir: &Path, tag: &str) -> Result<Server> {
    Server::start(
        "ninefold exportfs -r '#I'",
        Command::new(ninefold)
            .arg("exportfs")
            .arg("-r")
            .arg("#I")
            .arg("--listen")
            .arg(format!(
                "unix!{}",
                dir.join(format!("{tag}.sock")).display()
            )),
        Announce::Stderr,
    )
}

/// A 9P session with a served /net and its root.
async fn session(addr: &Addr) -> Result<(Client, NodeRef)> {
    let conn = ninefold_transport::dial(addr).await?;
    let client = Client::connect(conn.reader, conn.writer, ninefold_proto::DEFAULT_MSIZE)
        .await
        .with_context(|| format!("9P session with {addr}"))?;
    client.set_write_window(addr.write_window());
    let root = client.attach("bench", "").await.context("attach")?;
    Ok((client, root))
}

/// Reads a conversation to its end: the sink's 8-byte count.
pub(crate) async fn read_reply(c: &Conn) -> Result<u64> {
    let mut reply = Vec::new();
    loop {
        let b = c.read(READ_COUNT).await?;
        if b.is_empty() {
            break;
        }
        reply.extend_from_slice(&b);
    }
    let bytes: [u8; 8] = reply
        .as_slice()
        .try_into()
        .with_context(|| format!("the sink answered {} bytes, not 8", reply.len()))?;
    Ok(u64::from_be_bytes(bytes))
}

// ---- B1: a TCP stream ----

fn stream_rows(
    o: &Opts,
    rt: &tokio::runtime::Runtime,
    ninefold: &Path,
    dir: &Path,
    net: &Addr,
    target: &str,
    port: u16,
) -> Result<Rows> {
    let total = o.stream;
    let buf = vec![0x5au8; o.chunk.min(1 << 20)];
    let chunk = Bytes::from(vec![0xa5u8; o.chunk]);
    // The CLI reads standard input from a file (page cache warm).
    let file = dir.join("stream");
    write_file(&file, total)?;
    let reply = dir.join("reply");

    let lib = |total: u64| -> Result<Duration> {
        let (net, target, chunk) = (net.clone(), target.to_owned(), chunk.clone());
        rt.block_on(rt.spawn(async move {
            let (_client, root) = session(&net).await?;
            stream_through(&root, &target, &chunk, total).await
        }))?
    };
    let cli = |net: Option<&Addr>| -> Result<Duration> {
        let mut cmd = Command::new(ninefold);
        cmd.arg("dial");
        if let Some(n) = net {
            cmd.arg("-n").arg(n.to_string());
        }
        cmd.arg(target);
        cli_stream(cmd, &file, &reply, total)
    };

    let mib = o.chunk as f64 / f64::from(1 << 20);
    let mut direct = Row::new(
        format!(
            "direct loopback TCP: connect(), write(2) {} KiB at a time, shutdown, read the count",
            buf.len() / 1024
        ),
        "",
        Kind::Throughput(total),
    );
    let mut via = Row::new(
        format!(
            "through /net: `dial` in the client library, write_all of {mib} MiB (one Twrite \
             at a time), `close`, read the count"
        ),
        "",
        Kind::Throughput(total),
    );
    let mut cli_net = Row::new(
        "`ninefold dial -n unix!SOCK tcp!127.0.0.1!PORT < FILE` (the CLI through /net)",
        "",
        Kind::Throughput(total),
    );
    let mut cli_local = Row::new(
        "`ninefold dial tcp!127.0.0.1!PORT < FILE` (the CLI, in-process #I)",
        "",
        Kind::Throughput(total),
    );
    // The same client as `direct`, through a socat relay to the same sink.
    let socat = match o.socat.clone().or_else(|| which("socat")) {
        Some(path) => Ok(Socat::start(&path, port)?),
        None => Err("not measured: no socat (`bench/run` installs it when run as root)"),
    };
    let mut relay = Row::new(
        format!(
            "socat relay: the same client as direct, to `socat -b {SOCAT_BUF} \
             TCP-LISTEN:P,bind=127.0.0.1,fork TCP:127.0.0.1:PORT` (a process per connection)"
        ),
        "",
        Kind::Throughput(total),
    );
    eprintln!("B1: checking each variant once…");
    direct_stream(port, total.min(64 << 20), &buf)?;
    if let Ok(s) = &socat {
        direct_stream(s.port, total.min(64 << 20), &buf)?;
    }
    lib(total.min(64 << 20))?;
    cli(Some(net))?;
    for run in 1..=o.runs {
        eprintln!("B1 stream: run {run} of {}", o.runs);
        direct.samples.push(direct_stream(port, total, &buf)?);
        if let Ok(s) = &socat {
            relay.samples.push(direct_stream(s.port, total, &buf)?);
        }
        via.samples.push(lib(total)?);
        cli_net.samples.push(cli(Some(net))?);
        cli_local.samples.push(cli(None)?);
    }
    let _ = std::fs::remove_file(&file);
    let mut lines = vec![line("B1", &direct, "baseline".into(), "")];
    let vs = |row: &Row| {
        let mut r = format!("{:.2}× direct", row.ratio(&direct));
        if socat.is_ok() {
            r += &format!("; {:.2}× socat", row.ratio(&relay));
        }
        r
    };
    match &socat {
        Ok(_) => lines.push(line(
            "B1",
            &relay,
            format!("reference; {:.2}× direct", relay.ratio(&direct)),
            "",
        )),
        Err(why) => lines.push(format!("| B1 | {} | {why} | | | |", relay.what)),
    }
    let r = via.ratio(&direct);
    lines.push(line(
        "B1",
        &via,
        vs(&via),
        &format!("≥ {GOAL_STREAM}× direct: {}", met(r >= GOAL_STREAM)),
    ));
    for row in [&cli_net, &cli_local] {
        lines.push(line("B1", row, vs(row), ""));
    }
    let goal = format!(
        "goal | B1 | a TCP stream through /net (the client library) ≥ {GOAL_STREAM}× direct \
         loopback TCP | {}; the CLI through /net {} | {}",
        vs(&via),
        vs(&cli_net),
        status(usize::from(r < GOAL_STREAM), 1)
    );
    drop(socat);
    Ok(Rows {
        lines,
        goals: vec![goal],
        ..Rows::default()
    })
}

/// Dials `target` through the /net `net`, writes `total` bytes with `write_all` of `chunk`
/// (one Twrite at a time), half-closes and reads the sink's count: the time from the dial
/// to the count.
pub(crate) async fn stream_through(
    net: &NodeRef,
    target: &str,
    chunk: &Bytes,
    total: u64,
) -> Result<Duration> {
    let start = Instant::now();
    let c = dial(net, target).await?;
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        c.write_all(chunk.slice(..n)).await?;
        left -= n as u64;
    }
    c.close_write().await?;
    let got = read_reply(&c).await?;
    let took = start.elapsed();
    c.close().await;
    ensure!(got == total, "the sink got {got} bytes of {total}");
    Ok(took)
}

/// Runs `cmd` (a `ninefold dial …` to the sink) with standard input from `file`, which
/// holds `total` bytes, and standard output into `reply`; checks the sink's count and
/// returns the time from spawn to exit (at most 300 s).
pub(crate) fn cli_stream(
    mut cmd: Command,
    file: &Path,
    reply: &Path,
    total: u64,
) -> Result<Duration> {
    cmd.stdin(std::fs::File::open(file)?)
        .stdout(std::fs::File::create(reply)?)
        .stderr(Stdio::inherit());
    let start = Instant::now();
    let (status, exited) =
        Guard::spawn("ninefold dial", &mut cmd)?.wait_for(Duration::from_secs(300))?;
    ensure!(status.success(), "ninefold dial failed: {status}");
    let got = std::fs::read(reply)?;
    ensure!(
        got == total.to_be_bytes(),
        "ninefold dial: the sink's answer was {got:?}"
    );
    Ok(exited - start)
}

/// Table lines, `note |` texts and `goal |` lines of one benchmark.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    pub(crate) lines: Vec<String>,
    pub(crate) notes: Vec<String>,
    pub(crate) goals: Vec<String>,
}

/// A program on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// A socat relay from a loopback port to the sink, killed when dropped.
#[derive(Debug)]
struct Socat {
    _guard: Guard,
    port: u16,
}

impl Socat {
    fn start(socat: &Path, sink: u16) -> Result<Socat> {
        // socat cannot say which port it got: take a free one and hand it over.
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port();
        let guard = Guard::spawn(
            "socat",
            Command::new(socat)
                .arg("-b")
                .arg(SOCAT_BUF.to_string())
                .arg(format!(
                    "TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=128"
                ))
                .arg(format!("TCP:127.0.0.1:{sink}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
        )?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                // A connection through it: the sink answers 0 and socat closes.
                Ok(mut s) => {
                    s.shutdown(Shutdown::Write)?;
                    let mut reply = Vec::new();
                    s.read_to_end(&mut reply)?;
                    ensure!(
                        reply == 0u64.to_be_bytes(),
                        "socat relay answered {reply:?}"
                    );
                    break;
                }
                Err(e) if Instant::now() > deadline => {
                    bail!("socat did not listen on 127.0.0.1:{port} within 5 s: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        Ok(Socat {
            _guard: guard,
            port,
        })
    }
}

pub(crate) fn write_file(path: &Path, len: u64) -> Result<()> {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let block: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

/// Connects to the sink, writes `total` bytes, half-closes and reads the count back.
pub(crate) fn direct_stream(port: u16, total: u64, buf: &[u8]) -> Result<Duration> {
    let start = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    // Bounded: a relay that stalls fails the run instead of hanging it.
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    s.set_write_timeout(Some(Duration::from_secs(120)))?;
    let mut left = total;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        s.write_all(&buf[..n])?;
        left -= n as u64;
    }
    s.shutdown(Shutdown::Write)?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)?;
    let took = start.elapsed();
    ensure!(
        reply == total.to_be_bytes(),
        "the sink answered {reply:?} for {total} bytes"
    );
    Ok(took)
}

// ---- B3: dials ----

fn dial_rows(
    o: &Opts,
    rt: &tokio::runtime::Runtime,
    net: &Addr,
    target: &str,
    port: u16,
) -> Result<Rows> {
    let n = o.dials;
    // The same sink as a name cs must translate (a literal, so no resolver is involved).
    let target_cs = format!("net!127.0.0.1!{port}");
    let via = |target: &str, n: usize, at_once: usize| -> Result<Duration> {
        let (net, target) = (net.clone(), target.to_owned());
        rt.block_on(rt.spawn(async move {
            let (_client, root) = session(&net).await?;
            let start = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..at_once {
                let (root, target) = (root.clone(), target.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..n / at_once {
                        let c = dial(&root, &target).await?;
                        c.close().await;
                    }
                    Ok::<(), anyhow::Error>(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            Ok(start.elapsed())
        }))?
    };
    let direct = |n: usize, at_once: usize| -> Result<Duration> {
        let start = Instant::now();
        let threads: Vec<_> = (0..at_once)
            .map(|_| {
                std::thread::spawn(move || -> std::io::Result<()> {
                    for _ in 0..n / at_once {
                        drop(TcpStream::connect(("127.0.0.1", port))?);
                    }
                    Ok(())
                })
            })
            .collect();
        for t in threads {
            t.join()
                .map_err(|_| anyhow::anyhow!("a dialling thread panicked"))??;
        }
        Ok(start.elapsed())
    };
    let ops = n / PARALLEL * PARALLEL;
    let mut rows = [
        Row::new(
            "direct: connect() + close(), one at a time",
            "",
            Kind::Rate(n),
        ),
        Row::new(
            "through /net: `dial tcp!127.0.0.1!PORT` (numeric: no cs; clone, connect, data) + \
             `Conn::close` (both clunks sent, their answers not waited for), one at a time",
            "",
            Kind::Rate(n),
        ),
        Row::new(
            format!("direct, {PARALLEL} threads at once"),
            "",
            Kind::Rate(ops),
        ),
        Row::new(
            format!("through /net, {PARALLEL} tasks at once on one 9P connection"),
            "",
            Kind::Rate(ops),
        ),
        Row::new(
            "through /net, asking cs: `dial net!127.0.0.1!PORT` + `Conn::close`, one at a time",
            "",
            Kind::Rate(n),
        ),
    ];
    eprintln!("B3: warming up…");
    direct(n / 10, 1)?;
    via(target, n / 10, 1)?;
    via(&target_cs, n / 10, 1)?;
    for run in 1..=o.runs {
        eprintln!("B3 dials: run {run} of {}", o.runs);
        rows[0].samples.push(direct(n, 1)?);
        rows[1].samples.push(via(target, n, 1)?);
        rows[2].samples.push(direct(ops, PARALLEL)?);
        rows[3].samples.push(via(target, ops, PARALLEL)?);
        rows[4].samples.push(via(&target_cs, n, 1)?);
    }
    let r1 = rows[1].ratio(&rows[0]);
    let r3 = rows[3].ratio(&rows[2]);
    let r4 = rows[4].ratio(&rows[0]);
    let rate = |r: &Row| r.value(r.median());
    Ok(Rows {
        lines: vec![
            line("B3", &rows[0], "baseline".into(), ""),
            line(
                "B3",
                &rows[1],
                format!("{r1:.2}× direct"),
                &format!("≥ {GOAL_DIALS}× direct: {}", met(r1 >= GOAL_DIALS)),
            ),
            line("B3", &rows[2], "baseline".into(), ""),
            line("B3", &rows[3], format!("{r3:.2}× direct"), ""),
            line("B3", &rows[4], format!("{r4:.2}× direct"), ""),
        ],
        goals: vec![format!(
            "goal | B3 | dials through /net ≥ {GOAL_DIALS}× direct connect() | {r1:.2}× \
             ({:.0} against {:.0} dials/s); {PARALLEL} at once {r3:.2}× | {}",
            rate(&rows[1]),
            rate(&rows[0]),
            status(usize::from(r1 < GOAL_DIALS), 1)
        )],
        ..Rows::default()
    })
}

/// `dial-steps NET tcp!HOST!PORT DIALS`: where a dial through a served /net spends its time,
/// against an exportfs and a sink started by hand. Times `dial` + `Conn::close_and_wait`
/// and `dial` + drop (the clunks left to the background), then each step of a dial done by
/// hand as `dial` does it: walk and open `tcp/clone`; the connect with the number's read
/// sent together; walk and open data; both clunks at once; and for comparison a Tstat
/// (one plain round trip) and the connect alone. Prints µs per dial.
pub fn dial_steps(net: &str, target: &str, dials: usize) -> Result<()> {
    use ninefold_proto::om;
    let net: Addr = net.parse()?;
    let addr = target
        .strip_prefix("tcp!")
        .context("dial-steps wants a tcp!HOST!PORT target")?
        .to_owned();
    let target = target.to_owned();
    ensure!(dials > 0, "dial-steps: no dials");
    let rt = runtime()?;
    rt.block_on(rt.spawn(async move {
        let (_client, root) = session(&net).await?;
        let per = |d: Duration| d.as_secs_f64() * 1e6 / dials as f64;
        let open = |path: String| {
            let root = root.clone();
            async move {
                let names: Vec<String> = path.split('/').map(str::to_owned).collect();
                let n = root
                    .walk(&names)
                    .await?
                    .node
                    .ok_or(ninefold_fs::Error::NOT_FOUND)?;
                n.open(om::ORDWR).await?;
                Ok::<_, anyhow::Error>(n)
            }
        };
        let start = Instant::now();
        for _ in 0..dials {
            dial(&root, &target).await?.close_and_wait().await;
        }
        println!(
            "dial + Conn::close_and_wait: {:.1} µs",
            per(start.elapsed())
        );
        let start = Instant::now();
        for _ in 0..dials {
            drop(dial(&root, &target).await?);
        }
        println!(
            "dial + drop (clunks in the background): {:.1} µs",
            per(start.elapsed())
        );

        let mut t = [Duration::ZERO; 6];
        let connect = Bytes::from(format!("connect {addr}"));
        for _ in 0..dials {
            let s0 = Instant::now();
            let ctl = open("tcp/clone".into()).await?;
            let s1 = Instant::now();
            let (n, w) = tokio::join!(ctl.read(0, 64), ctl.write(0, connect.clone()));
            w?;
            let n = String::from_utf8_lossy(&n?).trim().to_owned();
            let s2 = Instant::now();
            let data = open(format!("tcp/{n}/data")).await?;
            let s3 = Instant::now();
            tokio::join!(data.clunk(), ctl.clunk());
            let s4 = Instant::now();
            root.stat().await?;
            let s5 = Instant::now();
            let ctl = open("tcp/clone".into()).await?;
            let s6 = Instant::now();
            ctl.write(0, connect.clone()).await?;
            let s7 = Instant::now();
            ctl.clunk().await;
            for (i, d) in [s1 - s0, s2 - s1, s3 - s2, s4 - s3, s5 - s4, s7 - s6]
                .into_iter()
                .enumerate()
            {
                t[i] += d;
            }
        }
        println!(
            "steps: walk+open clone {:.1} µs; read number ‖ connect {:.1}; walk+open data {:.1}; \
             two clunks {:.1}; one Tstat {:.1}; connect alone {:.1}",
            per(t[0]),
            per(t[1]),
            per(t[2]),
            per(t[3]),
            per(t[4]),
            per(t[5])
        );
        Ok::<(), anyhow::Error>(())
    }))?
}

// ---- B8: idle conversations ----

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS")
}

/// A `Vm…` line of `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

fn conv_memory(
    o: &Opts,
    rt: &tokio::runtime::Runtime,
    exportfs: &Server,
    target: &str,
) -> Result<Rows> {
    let (net, target, want) = (exportfs.addr.parse::<Addr>()?, target.to_owned(), o.convs);
    let pid = exportfs.pid();
    let warm = (want / 100).clamp(1, 100);
    eprintln!("B8: opening up to {want} conversations…");
    let m = rt.block_on(rt.spawn(async move {
        let (_client, root) = session(&net).await?;
        let mut convs = Vec::with_capacity(want);
        // The first few pay for what is allocated once (tables, the runtime's pools).
        for _ in 0..warm {
            convs.push(dial(&root, &target).await?);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = rss_kib(pid)?;
        let mut stopped = None;
        while convs.len() < want {
            match dial(&root, &target).await {
                Ok(c) => convs.push(c),
                Err(e) => {
                    stopped = Some(e.to_string());
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let idle = rss_kib(pid)?;
        let idle_size = status_kib(pid, "VmSize")?;
        // Then one read waiting on each, as a proxy or `ninefold dial` keeps.
        let readers: Vec<_> = convs
            .iter()
            .map(|c| {
                let c = c.clone();
                tokio::spawn(async move { c.read(READ_COUNT).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let reading = rss_kib(pid)?;
        let reading_size = status_kib(pid, "VmSize")?;
        for r in readers {
            r.abort();
        }
        let n = convs.len();
        for c in convs {
            c.close().await;
        }
        Ok::<_, anyhow::Error>(Mem {
            warm,
            opened: n,
            stopped,
            before,
            idle,
            reading,
            size_growth: reading_size.saturating_sub(idle_size),
        })
    }))??;
    let counted = (m.opened - m.warm) as f64;
    let idle = (m.idle as f64 - m.before as f64) / counted;
    let reading = (m.reading as f64 - m.before as f64) / counted;
    let how_many = match &m.stopped {
        None => format!("{} conversations", m.opened),
        Some(e) => format!(
            "{} conversations (of {want} asked: the next dial failed with \"{e}\")",
            m.opened
        ),
    };
    let missed = usize::from(idle > GOAL_CONV_KIB) + usize::from(reading > GOAL_CONV_KIB);
    let goal = format!(
        "goal | B8 | ≤ {GOAL_CONV_KIB} KiB of exportfs memory per idle conversation | \
         {idle:.1} KiB each for {} conversations; {reading:.1} KiB with a read waiting on each | {}",
        m.opened,
        status(missed, 2)
    );
    let lines = vec![
        format!(
            "| B8 | idle TCP conversations open through one exportfs -r '#I': {how_many}; \
             exportfs VmRSS {} → {} KiB after the first {} | {idle:.1} KiB/conversation | | | ≤ {GOAL_CONV_KIB} KiB: {} |",
            m.before,
            m.idle,
            m.warm,
            met(idle <= GOAL_CONV_KIB)
        ),
        format!(
            "| B8 | the same with one Tread waiting on each data file: VmRSS {} KiB (VmSize \
             +{:.0} KiB per read) | {reading:.1} KiB/conversation | | | ≤ {GOAL_CONV_KIB} KiB: {} |",
            m.reading,
            m.size_growth as f64 / m.opened as f64,
            met(reading <= GOAL_CONV_KIB)
        ),
    ];
    Ok(Rows {
        lines,
        goals: vec![goal],
        ..Rows::default()
    })
}

#[derive(Debug)]
struct Mem {
    warm: usize,
    opened: usize,
    stopped: Option<String>,
    before: u64,
    idle: u64,
    reading: u64,
    /// VmSize added by the waiting reads.
    size_growth: u64,
}

pub(crate) fn line(id: &str, r: &Row, ratio: String, goal: &str) -> String {
    format!(
        "| {id} | {} | {} | {} | {ratio} | {goal} |",
        r.what,
        r.cell(),
        r.range()
    )
}

// ---- raw-sink ----

/// `raw-sink ADDR`: reads every connection to its end, answers with the byte count (8 bytes,
/// big-endian) and closes it. One thread; idle connections cost a task each.
pub fn sink(addr: &str) -> Result<()> {
    raise_fd_limit();
    let addr: Addr = addr.parse()?;
    let Addr::Tcp { host, port } = addr else {
        bail!("raw-sink listens on tcp! addresses only");
    };
    let ip: std::net::IpAddr = host.parse().context("raw-sink wants a literal address")?;
    let sock = match ip {
        std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    sock.set_reuseaddr(true)?;
    sock.bind((ip, port).into())?;
    let a = sock.local_addr()?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on tcp!{}!{}", a.ip(), a.port())?;
    out.flush()?;
    std::thread::spawn(|| {
        let mut b = [0u8; 64];
        while matches!(std::io::stdin().read(&mut b), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // A deep accept queue: with the default (128), eight threads dialling at once
        // overflow it and their SYNs wait a second to be sent again.
        let l = sock.listen(4096)?;
        loop {
            let (s, _) = l.accept().await?;
            tokio::spawn(drain(s));
        }
    })
}

async fn drain(mut s: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let mut total = 0u64;
    // Allocated at the first byte: thousands of idle connections cost no buffers.
    let mut buf = Vec::new();
    loop {
        if s.readable().await.is_err() {
            return;
        }
        if buf.is_empty() {
            buf = vec![0u8; 256 << 10];
        }
        match s.try_read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
    let _ = s.write_all(&total.to_be_bytes()).await;
}

/// Thousands of conversations need thousands of descriptors: take the hard limit.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        lim.current = lim.maximum;
        let _ = setrlimit(Resource::Nofile, lim);
    }
}
