//! B2: the TCP stream of B1 through a /net imported from another machine — over the TLS
//! transport and over the ssh transport — next to `ssh -L` port forwarding over the same
//! loopback path, to the same sink (`raw-sink`, see `net.rs`).
//!
//! - `ssh -L`: a private `sshd -D` on 127.0.0.1 (its own host and client keys, started and
//!   killed here; needs root), and `ssh -N -L LPORT:127.0.0.1:SINK` to it; B1's direct client
//!   (blocking write(2) of 1 MiB) writes to LPORT. The cipher is the fastest of those ssh
//!   offers for this, measured here through `ssh -L` itself (each its own tunnel, a warm-up,
//!   then the best of `--race-tries` streams of `--race` bytes, the tries going round the
//!   ciphers in turn); no compression.
//! - TLS: `ninefold exportfs -r '#I' --net-policy F --listen tls!127.0.0.1!0`, its key and the
//!   client's made by `ninefold key` in their own homes, the client authorized, the server
//!   pinned by fingerprint; the policy (`* connect tcp 127.0.0.1 SINK`) lets the sink be
//!   reached (loopback is refused to TLS principals by default).
//! - ssh transport: `ssh!root@127.0.0.1!PORT!OPTIONS` with the cipher of `ssh -L`; ssh runs
//!   `ninefold exportfs --stdio` on the far side, found there through the sshd's `SetEnv
//!   PATH=` (the directory of the `ninefold` measured), and the client walks to its `net`.
//!
//! The tunnel and both imports are set up once and kept through every run, as a forwarding
//! or an imported /net is used: a run times connect (or `dial`) to the sink's count. Both
//! /net variants go through the client library (`ninefold_netfs::dial`, as B1) and the CLI
//! (`ninefold dial -n`, whose time includes its start and the handshake or ssh login).

use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use ninefold_client::Client;
use ninefold_fs::{NodeRef, Tree};
use ninefold_transport::Addr;

use crate::child::{Announce, Guard, Server};
use crate::net::{Opts, Rows, cli_stream, direct_stream, line, stream_through, which, write_file};
use crate::{Kind, Row, met, status};

/// Goals of issues 6 and 8.
const GOAL_TLS: f64 = 1.5;
const GOAL_SSH: f64 = 1.0;
/// The ciphers raced for `ssh -L` (and then used by the ssh transport too): the AEAD ones
/// OpenSSH offers, and AES-CTR with ssh's default MAC.
const CIPHERS: &[&str] = &[
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
];
/// The longest any one start-up (sshd, a tunnel, a login, an import) may take.
const START_LIMIT: Duration = Duration::from_secs(30);
/// The longest one measured stream through the library may take.
const RUN_LIMIT: Duration = Duration::from_secs(300);
/// The warm-up stream of each variant, before the runs.
const WARM: u64 = 64 << 20;

pub(crate) fn stream_rows(
    o: &Opts,
    rt: &tokio::runtime::Runtime,
    ninefold: &Path,
    dir: &Path,
    target: &str,
    port: u16,
) -> Result<Rows> {
    let total = o.stream;
    let buf = vec![0x5au8; o.chunk.min(1 << 20)];
    let chunk = Bytes::from(vec![0xa5u8; o.chunk]);
    let dir = dir.join("b2");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("stream");
    write_file(&file, total)?;
    let reply = dir.join("reply");
    let mut notes = Vec::new();

    eprintln!("B2: the TLS exportfs…");
    let tls = TlsExport::start(ninefold, &dir, port)?;
    eprintln!("B2: a private sshd on 127.0.0.1…");
    let sshd = Sshd::start(ninefold, &dir);
    let ssh = match &sshd {
        Ok(sshd) => {
            let (cipher, race, tunnel) = race(sshd, o, port, &buf)?;
            eprintln!("B2: ssh -L and the ssh transport with {cipher}");
            Ok((sshd, cipher, race, tunnel))
        }
        Err(why) => {
            eprintln!("B2: no ssh rows: {why}");
            Err(why.clone())
        }
    };

    // The imports, kept through every run.
    let tls_net = rt.block_on(rt.spawn({
        let tls = tls.connect_args()?;
        async move {
            let (host, port, options, identity, known) = tls;
            let conn = tokio::time::timeout(
                START_LIMIT,
                ninefold_transport::tls::connect_with(&host, port, &options, &identity, &known),
            )
            .await
            .context("the TLS handshake took too long")??;
            // What Addr::write_window says for any tls! address.
            Imported::new(conn, "TLS", 1).await
        }
    }))??;
    let ssh_net = match &ssh {
        Ok((sshd, cipher, ..)) => {
            let addr = sshd.transport_addr(cipher);
            Some(rt.block_on(rt.spawn(async move {
                let conn = tokio::time::timeout(START_LIMIT, ninefold_transport::dial(&addr))
                    .await
                    .context("ssh took too long")??;
                Imported::new(conn, "ssh", addr.write_window()).await
            }))??)
        }
        Err(_) => None,
    };

    let lib = |net: &NodeRef, total: u64| -> Result<Duration> {
        let (net, target, chunk) = (net.clone(), target.to_owned(), chunk.clone());
        rt.block_on(rt.spawn(async move {
            tokio::time::timeout(RUN_LIMIT, stream_through(&net, &target, &chunk, total))
                .await
                .context("a stream through /net took too long")?
        }))?
    };
    let cli = |net: &str, home: Option<&Path>, total: u64, file: &Path| -> Result<Duration> {
        let mut cmd = Command::new(ninefold);
        cmd.arg("dial").arg("-n").arg(net).arg(target);
        if let Some(h) = home {
            cmd.env("NINEFOLD_HOME", h);
        }
        cli_stream(cmd, file, &reply, total)
    };

    let (ssh_cipher, ssh_tunnel) = match &ssh {
        Ok((_, c, _, t)) => (Some(*c), Some(t)),
        Err(_) => (None, None),
    };
    let short = |c: &str| c.trim_end_matches("@openssh.com").to_owned();
    let cipher_name = ssh_cipher.map(short).unwrap_or_default();
    let ssh_addr_shown = "ssh!root@127.0.0.1!PORT!-i KEY -o Ciphers=… -o Compression=no …";
    let mut direct = Row::new(
        format!(
            "direct loopback TCP (context): connect(), write(2) {} KiB at a time, shutdown, \
             read the count",
            buf.len() / 1024
        ),
        "",
        Kind::Throughput(total),
    );
    let mut forward = Row::new(
        format!(
            "`ssh -N -L LPORT:127.0.0.1:PORT root@127.0.0.1` ({cipher_name}, \
             Compression=no) to the private sshd; the same client as direct, to LPORT"
        ),
        "",
        Kind::Throughput(total),
    );
    let mib = o.chunk as f64 / f64::from(1 << 20);
    let mut via_tls = Row::new(
        format!(
            "through /net imported over TLS (`tls!127.0.0.1!P!SHA256:…` ← `ninefold exportfs \
             -r '#I' --net-policy F --listen tls!127.0.0.1!0`): `dial` in the client library, \
             write_all of {mib} MiB (one Twrite at a time), `close`, read the count"
        ),
        "",
        Kind::Throughput(total),
    );
    let mut via_ssh = Row::new(
        format!(
            "through /net imported over the ssh transport (`{ssh_addr_shown}`; ssh runs \
             `ninefold exportfs --stdio` on the far side, {cipher_name}): the same library \
             calls, but each write goes as 1 MiB Twrites, four in flight (the write window \
             ninefold uses over ssh)"
        ),
        "",
        Kind::Throughput(total),
    );
    let mut cli_tls = Row::new(
        "`ninefold dial -n tls!127.0.0.1!P!SHA256:… tcp!127.0.0.1!PORT < FILE` (the CLI; \
         its time includes its start and the TLS handshake)",
        "",
        Kind::Throughput(total),
    );
    let mut cli_ssh = Row::new(
        format!(
            "`ninefold dial -n '{ssh_addr_shown}' tcp!127.0.0.1!PORT < FILE` (the CLI; its \
             time includes its start and ssh's login)"
        ),
        "",
        Kind::Throughput(total),
    );

    eprintln!("B2: each variant once ({} MiB)…", total.min(WARM) >> 20);
    let warm = total.min(WARM);
    let warm_file = dir.join("warm");
    write_file(&warm_file, warm)?;
    direct_stream(port, warm, &buf)?;
    lib(&tls_net.net, warm)?;
    cli(&tls.addr, Some(&tls.client_home), warm, &warm_file)?;
    if let (Some(t), Some(n), Ok((sshd, c, ..))) = (ssh_tunnel, &ssh_net, &ssh) {
        direct_stream(t.port, warm, &buf)?;
        lib(&n.net, warm)?;
        cli(&sshd.transport_addr(c).to_string(), None, warm, &warm_file)?;
    }
    let _ = std::fs::remove_file(&warm_file);
    for run in 1..=o.runs {
        eprintln!("B2 stream: run {run} of {}", o.runs);
        direct.samples.push(direct_stream(port, total, &buf)?);
        if let Some(t) = ssh_tunnel {
            forward.samples.push(direct_stream(t.port, total, &buf)?);
        }
        via_tls.samples.push(lib(&tls_net.net, total)?);
        if let Some(n) = &ssh_net {
            via_ssh.samples.push(lib(&n.net, total)?);
        }
        cli_tls
            .samples
            .push(cli(&tls.addr, Some(&tls.client_home), total, &file)?);
        if let Ok((sshd, c, ..)) = &ssh {
            cli_ssh.samples.push(cli(
                &sshd.transport_addr(c).to_string(),
                None,
                total,
                &file,
            )?);
        }
    }
    let _ = std::fs::remove_file(&file);
    // The imports go first (their ssh and the far side's exportfs end with them), then the
    // tunnel, then sshd and the TLS exportfs.
    rt.block_on(async move {
        drop(tls_net);
        drop(ssh_net);
    });

    let ssh_version = ssh_version();
    notes.push(format!(
        "Everything on 127.0.0.1; the sink is B1's raw-sink. {} bytes ({:.2} GiB) per run; \
         each cell the median of {} runs, variants interleaved run by run, after one \
         untimed stream of {} MiB through each (warm caches and connections on both sides); \
         min–max = slowest–fastest run. The tunnel and both imports are set up once and kept \
         through the runs (as a forwarding or an imported /net is used): a run times \
         connect (or `dial`) to the sink's count; the CLI rows time a whole `ninefold dial`, \
         from spawn to exit.",
        total,
        total as f64 / f64::from(1 << 30),
        o.runs,
        warm >> 20
    ));
    match &ssh {
        Ok((_, cipher, race, _)) => notes.push(format!(
            "ssh: {ssh_version} against a private `sshd -D` on 127.0.0.1 (its own host and \
             client keys; `SetEnv PATH=` names the directory of the `ninefold` measured, which \
             is how the ssh transport's `ninefold exportfs --stdio` is found on the far side), \
             Compression=no, cipher {}: the fastest here through `ssh -L` of {race} ({} MiB \
             per try, best of {} after a warm-up; each cipher its own tunnel, the tries \
             going round the ciphers in turn; the winner's tunnel is the one measured). The \
             ssh transport uses the same cipher.",
            short(cipher),
            o.race >> 20,
            o.race_tries
        )),
        Err(why) => notes.push(format!("ssh rows not measured: {why}.")),
    }
    notes.push(
        "TLS: TLS 1.3 by rustls with the ring provider (its first choice of suite is \
         AES-256-GCM), Ed25519 keys made by `ninefold key` in a server and a client home, \
         the client in the server's authorized_keys, the server pinned by its fingerprint in \
         the address; the policy file `* connect tcp 127.0.0.1 PORT` lets the sink on loopback \
         be reached (refused to TLS principals by default)."
            .into(),
    );

    let mut lines = vec![line("B2", &direct, "context".into(), "")];
    let mut goal_result = Vec::new();
    let mut missed = 0;
    let goal_text = format!(
        "a TCP stream through /net (the client library): over TLS ≥ {GOAL_TLS}× `ssh -L`; over \
         the ssh transport ≥ {GOAL_SSH}× `ssh -L`"
    );
    let mbs = |r: &Row| r.value(r.median());
    let goal = if ssh.is_ok() {
        lines.push(line(
            "B2",
            &forward,
            format!("reference; {:.2}× direct", forward.ratio(&direct)),
            "",
        ));
        let vs = |r: &Row| {
            format!(
                "{:.2}× `ssh -L`; {:.2}× direct",
                r.ratio(&forward),
                r.ratio(&direct)
            )
        };
        let (rt_, rs) = (via_tls.ratio(&forward), via_ssh.ratio(&forward));
        lines.push(line(
            "B2",
            &via_tls,
            vs(&via_tls),
            &format!("≥ {GOAL_TLS}× `ssh -L`: {}", met(rt_ >= GOAL_TLS)),
        ));
        lines.push(line(
            "B2",
            &via_ssh,
            vs(&via_ssh),
            &format!("≥ {GOAL_SSH}× `ssh -L`: {}", met(rs >= GOAL_SSH)),
        ));
        lines.push(line("B2", &cli_tls, vs(&cli_tls), ""));
        lines.push(line("B2", &cli_ssh, vs(&cli_ssh), ""));
        missed += usize::from(rt_ < GOAL_TLS) + usize::from(rs < GOAL_SSH);
        goal_result.push(format!(
            "TLS {rt_:.2}×, ssh transport {rs:.2}× ({:.0} and {:.0} against {:.0} MB/s, \
             {cipher_name}); the CLI: TLS {:.2}×, ssh {:.2}×",
            mbs(&via_tls),
            mbs(&via_ssh),
            mbs(&forward),
            cli_tls.ratio(&forward),
            cli_ssh.ratio(&forward)
        ));
        format!(
            "goal | B2 | {goal_text} | {} | {}",
            goal_result.join("; "),
            status(missed, 2)
        )
    } else {
        let why = ssh.as_ref().err().cloned().unwrap_or_default();
        lines.push(format!(
            "| B2 | {} | not measured: {why} | | | |",
            forward.what
        ));
        lines.push(line(
            "B2",
            &via_tls,
            format!("{:.2}× direct", via_tls.ratio(&direct)),
            "",
        ));
        lines.push(line(
            "B2",
            &cli_tls,
            format!("{:.2}× direct", cli_tls.ratio(&direct)),
            "",
        ));
        format!(
            "goal | B2 | {goal_text} | TLS {:.0} MB/s | not measured: no `ssh -L` ({why})",
            mbs(&via_tls)
        )
    };
    drop(ssh);
    drop(sshd);
    drop(tls);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Rows {
        lines,
        notes,
        goals: vec![goal],
    })
}

/// `ssh -V`, e.g. `OpenSSH_9.2p1`.
fn ssh_version() -> String {
    Command::new("ssh")
        .arg("-V")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stderr)
                .split([' ', ','])
                .next()
                .map(str::to_owned)
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "ssh".into())
}

/// A /net imported over a transport: the 9P client, the `net` directory, and the transport's
/// child (ssh), which lives as long as this does.
struct Imported {
    _client: Client,
    net: NodeRef,
    _child: Option<tokio::process::Child>,
}

impl std::fmt::Debug for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Imported").finish_non_exhaustive()
    }
}

impl Imported {
    /// Attaches to the tree served on `conn` and finds its /net: the root, if it has `tcp`
    /// (`exportfs -r '#I'`), else its `net` (the standard name space of `exportfs --stdio`),
    /// as `ninefold dial -n` does.
    /// `window`: the write window, as `Addr::write_window` gives it for the address.
    async fn new(conn: ninefold_transport::Conn, what: &str, window: usize) -> Result<Imported> {
        let child = conn.child;
        let client = tokio::time::timeout(
            START_LIMIT,
            Client::connect(conn.reader, conn.writer, ninefold_proto::DEFAULT_MSIZE),
        )
        .await
        .with_context(|| format!("9P version over {what} took too long"))?
        .with_context(|| format!("9P session over {what}"))?;
        client.set_write_window(window);
        let root = client
            .attach("bench", "")
            .await
            .with_context(|| format!("attach over {what}"))?;
        let net = ninefold_netfs::dial::find_net(root)
            .await
            .with_context(|| format!("the tree served over {what} has no tcp, nor a net with"))?;
        Ok(Imported {
            _client: client,
            net,
            _child: child,
        })
    }
}

/// Runs `cmd` to completion within `limit` and returns its standard output.
fn output(name: &str, cmd: &mut Command, limit: Duration) -> Result<String> {
    let out = tempfile(name)?;
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out)?)
        .stderr(Stdio::inherit());
    let (status, _) = Guard::spawn(name, cmd)?.wait_for(limit)?;
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    ensure!(status.success(), "{name} failed: {status}");
    Ok(text)
}

fn tempfile(name: &str) -> Result<PathBuf> {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Ok(std::env::temp_dir().join(format!("ninefold-bench-{}-{safe}.out", std::process::id())))
}

/// A loopback port free at the moment.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

// ---- TLS ----

/// Host, port, address options, key and known_hosts file of a TLS client.
type TlsClient = (
    String,
    u16,
    Vec<String>,
    ninefold_transport::tls::Identity,
    PathBuf,
);

/// `ninefold exportfs -r '#I'` on TLS, with a client key it admits.
#[derive(Debug)]
struct TlsExport {
    _server: Server,
    /// `tls!127.0.0.1!PORT!SHA256:…`
    addr: String,
    port: u16,
    fingerprint: String,
    client_home: PathBuf,
}

impl TlsExport {
    /// With a policy that lets its clients reach the sink, at 127.0.0.1 port `sink`.
    fn start(ninefold: &Path, dir: &Path, sink: u16) -> Result<TlsExport> {
        let (server_home, client_home) = (dir.join("tls-server"), dir.join("tls-client"));
        let key = |home: &Path| -> Result<(String, String)> {
            std::fs::create_dir_all(home)?;
            let out = output(
                "ninefold key",
                Command::new(ninefold).arg("key").env("NINEFOLD_HOME", home),
                START_LIMIT,
            )?;
            let mut l = out.lines();
            match (l.next(), l.next()) {
                (Some(k), Some(fp)) if k.starts_with("ed25519 ") && fp.starts_with("SHA256:") => {
                    Ok((k.trim().to_owned(), fp.trim().to_owned()))
                }
                _ => bail!("ninefold key printed {out:?}"),
            }
        };
        let (_, fingerprint) = key(&server_home)?;
        let (client_key, _) = key(&client_home)?;
        std::fs::write(
            server_home.join("authorized_keys"),
            format!("{client_key} bench\n"),
        )?;
        let policy = dir.join("net.policy");
        std::fs::write(
            &policy,
            format!("# B2: the sink, on loopback\n* connect tcp 127.0.0.1 {sink}\n"),
        )?;
        let server = Server::start_when(
            "ninefold exportfs -r '#I' --listen tls!…",
            Command::new(ninefold)
                .arg("exportfs")
                .arg("-r")
                .arg("#I")
                .arg("--net-policy")
                .arg(&policy)
                .arg("--listen")
                .arg("tls!127.0.0.1!0")
                .env("NINEFOLD_HOME", &server_home)
                .env("NINEFOLD_LOG", "warn"),
            Announce::Stderr,
            |l| l.contains(" on tls!"),
        )?;
        let port = match server.addr.parse::<Addr>()? {
            Addr::Tls { port, .. } => port,
            a => bail!("the TLS exportfs announced {a}"),
        };
        Ok(TlsExport {
            _server: server,
            addr: format!("tls!127.0.0.1!{port}!{fingerprint}"),
            port,
            fingerprint,
            client_home,
        })
    }

    /// What `ninefold_transport::tls::connect_with` takes: host, port, the pinned
    /// fingerprint, the client's key and its known_hosts (what `dial` would read from the
    /// client's NINEFOLD_HOME).
    fn connect_args(&self) -> Result<TlsClient> {
        use ninefold_transport::tls::{KEY_FILE, KNOWN_HOSTS, load_identity};
        Ok((
            "127.0.0.1".into(),
            self.port,
            vec![self.fingerprint.clone()],
            load_identity(&self.client_home.join(KEY_FILE))?,
            self.client_home.join(KNOWN_HOSTS),
        ))
    }
}

// ---- ssh ----

/// A program by name on PATH or in the sbin directories (sshd is often outside PATH).
fn find(name: &str) -> Option<PathBuf> {
    which(name).or_else(|| {
        ["/usr/sbin", "/sbin", "/usr/local/sbin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
    })
}

/// A private sshd on 127.0.0.1, killed when dropped.
#[derive(Debug)]
struct Sshd {
    _guard: Guard,
    port: u16,
    dir: PathBuf,
}

impl Sshd {
    /// Starts one, or says why it cannot.
    fn start(ninefold: &Path, dir: &Path) -> std::result::Result<Sshd, String> {
        let (Some(sshd), Some(keygen), Some(_)) = (find("sshd"), find("ssh-keygen"), find("ssh"))
        else {
            return Err(
                "no sshd, ssh or ssh-keygen (`bench/run` installs openssh-server when run as \
                 root)"
                    .into(),
            );
        };
        if !rustix::process::geteuid().is_root() {
            return Err("a private sshd needs root (privilege separation, login as root)".into());
        }
        Sshd::start_with(&sshd, &keygen, ninefold, dir).map_err(|e| format!("{e:#}"))
    }

    fn start_with(sshd: &Path, keygen: &Path, ninefold: &Path, dir: &Path) -> Result<Sshd> {
        let dir = dir.join("ssh");
        std::fs::create_dir_all(&dir)?;
        for key in ["host", "id"] {
            output(
                "ssh-keygen",
                Command::new(keygen)
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                    .arg(dir.join(key)),
                START_LIMIT,
            )?;
        }
        std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys"))?;
        // sshd checks for its privilege separation directory even with -D.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port()?;
        let bin = ninefold
            .canonicalize()?
            .parent()
            .context("ninefold's directory")?
            .to_owned();
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\n\
                 UsePAM no\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 AllowTcpForwarding local\nX11Forwarding no\nPrintMotd no\nLogLevel ERROR\n\
                 SetEnv PATH={}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                 NINEFOLD_LOG=warn\n",
                bin.display()
            ),
        )?;
        let mut guard = Guard::spawn(
            "sshd",
            Command::new(sshd)
                .arg("-D")
                .arg("-f")
                .arg(dir.join("sshd_config"))
                .arg("-E")
                .arg(dir.join("sshd.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
        )?;
        let log_file = dir.join("sshd.log");
        let log = || {
            std::fs::read_to_string(&log_file)
                .unwrap_or_default()
                .trim()
                .replace('\n', " | ")
        };
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(st) = guard.exited() {
                bail!("sshd exited ({st}): {}", log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            ensure!(Instant::now() < deadline, "sshd did not listen: {}", log());
            std::thread::sleep(Duration::from_millis(20));
        }
        let sshd = Sshd {
            _guard: guard,
            port,
            dir,
        };
        // A login, and ninefold found on the far side.
        let far = output(
            "ssh … command -v ninefold",
            Command::new("ssh")
                .args(sshd.options("aes128-gcm@openssh.com"))
                .arg("-p")
                .arg(port.to_string())
                .arg("root@127.0.0.1")
                .arg("command -v ninefold"),
            START_LIMIT,
        )
        .with_context(|| format!("logging in to the private sshd: {}", log()))?;
        ensure!(
            Path::new(far.trim()) == bin.join("ninefold"),
            "the far side finds ninefold at {:?}, not in {}",
            far.trim(),
            bin.display()
        );
        Ok(sshd)
    }

    /// The client's ssh options: our key, nothing asked or kept, no compression, `cipher`.
    fn options(&self, cipher: &str) -> Vec<String> {
        let key = self.dir.join("id");
        [
            "-F",
            "/dev/null",
            "-i",
            &key.display().to_string(),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "Compression=no",
            "-o",
            &format!("Ciphers={cipher}"),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    /// The ssh transport's address for this sshd.
    fn transport_addr(&self, cipher: &str) -> Addr {
        Addr::Ssh {
            target: "root@127.0.0.1".into(),
            port: Some(self.port),
            options: self.options(cipher),
        }
    }
}

/// `ssh -N -L LPORT:127.0.0.1:SINK` to the private sshd, killed when dropped.
#[derive(Debug)]
struct Tunnel {
    _guard: Guard,
    port: u16,
}

impl Tunnel {
    fn start(sshd: &Sshd, cipher: &str, sink: u16) -> Result<Tunnel> {
        let port = free_port()?;
        let mut guard = Guard::spawn(
            "ssh -L",
            Command::new("ssh")
                .arg("-N")
                .args(sshd.options(cipher))
                .args(["-o", "ExitOnForwardFailure=yes", "-p"])
                .arg(sshd.port.to_string())
                .arg("-L")
                .arg(format!("127.0.0.1:{port}:127.0.0.1:{sink}"))
                .arg("root@127.0.0.1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
        )?;
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(st) = guard.exited() {
                bail!("ssh -L with {cipher} exited: {st}");
            }
            // A connection through it: the sink answers 0.
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(START_LIMIT))?;
                s.shutdown(Shutdown::Write)?;
                let mut reply = Vec::new();
                s.read_to_end(&mut reply)?;
                ensure!(
                    reply == 0u64.to_be_bytes(),
                    "ssh -L answered {reply:?} for no bytes"
                );
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "ssh -L with {cipher} did not listen on 127.0.0.1:{port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Tunnel {
            _guard: guard,
            port,
        })
    }
}

/// The fastest of [`CIPHERS`] through `ssh -L` here, the race in words, and that cipher's
/// tunnel. Every cipher gets its own tunnel, all started first; after one warm-up stream
/// through each, the tries go round the ciphers in turn, so that a burst of load elsewhere
/// on the machine does not fall on one cipher's tries alone; each cipher's best try counts.
fn race(sshd: &Sshd, o: &Opts, sink: u16, buf: &[u8]) -> Result<(&'static str, String, Tunnel)> {
    let short = |c: &str| c.trim_end_matches("@openssh.com").to_owned();
    let mut tunnels = Vec::new();
    let mut said = Vec::new();
    for &c in CIPHERS {
        match Tunnel::start(sshd, c, sink) {
            Ok(t) => tunnels.push((c, t, Duration::MAX)),
            Err(e) => {
                eprintln!("B2: {e:#}");
                said.push(format!("{} not offered", short(c)));
            }
        }
    }
    ensure!(
        !tunnels.is_empty(),
        "ssh -L worked with none of the ciphers"
    );
    for (_, t, _) in &tunnels {
        direct_stream(t.port, o.race.min(WARM), buf)?;
    }
    for _ in 0..o.race_tries {
        for (_, t, best) in &mut tunnels {
            *best = (*best).min(direct_stream(t.port, o.race, buf)?);
        }
    }
    for (c, _, best) in &tunnels {
        let mbs = o.race as f64 / best.as_secs_f64() / 1e6;
        eprintln!("B2: ssh -L with {c}: {mbs:.0} MB/s");
        said.push(format!("{} {mbs:.0} MB/s", short(c)));
    }
    let fastest = tunnels
        .into_iter()
        .min_by_key(|(_, _, best)| *best)
        .context("no tunnel")?;
    Ok((fastest.0, said.join(", "), fastest.1))
}

// ---- a single stream, to run under a profiler ----

/// `stream NET tcp!HOST!PORT BYTES [IN_FLIGHT]`: B2's library variant alone, against a sink
/// started by hand (`ninefold-bench raw-sink tcp!127.0.0.1!0`) and a /net named by any dial
/// string (`tls!…`, reading `$NINEFOLD_HOME` as `dial` does; `ssh!…`, with
/// `$NINEFOLD_SSH_OPTS` and `$NINEFOLD_REMOTE`; `unix!…`). Imports it, dials the sink,
/// writes BYTES in 4 MiB `write_all`s and reads the count; prints MB/s from dial to count.
/// With IN_FLIGHT > 1, that many tasks write 4 MiB Twrites at once on the one conversation
/// (their order on the stream is then arbitrary: the sink only counts), to see what
/// overlapping the stages would buy.
pub(crate) fn stream_once(net: &str, target: &str, bytes: u64, in_flight: usize) -> Result<()> {
    let addr: Addr = net.parse()?;
    let target = target.to_owned();
    ensure!(in_flight > 0, "stream: IN_FLIGHT must be positive");
    let rt = crate::runtime()?;
    let took = rt.block_on(rt.spawn(async move {
        let conn = tokio::time::timeout(START_LIMIT, ninefold_transport::dial(&addr))
            .await
            .context("the dial took too long")??;
        let imported = Imported::new(conn, net_kind(&addr), addr.write_window()).await?;
        let chunk = Bytes::from(vec![0xa5u8; 4 << 20]);
        if in_flight == 1 {
            return stream_through(&imported.net, &target, &chunk, bytes).await;
        }
        let start = Instant::now();
        let c = ninefold_netfs::dial::dial(&imported.net, &target).await?;
        let per = bytes / in_flight as u64;
        let mut tasks = Vec::new();
        for i in 0..in_flight {
            let (c, chunk) = (c.clone(), chunk.clone());
            let mine = if i == 0 {
                bytes - per * (in_flight as u64 - 1)
            } else {
                per
            };
            tasks.push(tokio::spawn(async move {
                let mut left = mine;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    c.write_all(chunk.slice(..n)).await?;
                    left -= n as u64;
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        c.close_write().await?;
        let got = crate::net::read_reply(&c).await?;
        let took = start.elapsed();
        c.close().await;
        ensure!(got == bytes, "the sink got {got} bytes of {bytes}");
        Ok(took)
    }))??;
    println!(
        "{:.1} MB/s ({bytes} bytes in {:.3} s, {in_flight} in flight)",
        bytes as f64 / took.as_secs_f64() / 1e6,
        took.as_secs_f64()
    );
    rt.shutdown_background();
    Ok(())
}

fn net_kind(a: &Addr) -> &'static str {
    match a {
        Addr::Tls { .. } => "TLS",
        Addr::Ssh { .. } => "ssh",
        Addr::Unix(_) => "unix",
        Addr::Tcp { .. } => "tcp",
        Addr::Command(_) => "a command",
    }
}
