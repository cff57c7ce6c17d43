//! Seed 000 end to end, in network namespaces this test makes and removes: a gateway G
//! exports its /net over TLS; IC and OIC on the LAN (no route beyond it) import it and dial
//! out, listen on G's port, and send datagrams, through files; H outside serves HTTP and a
//! UDP echo. Needs root (network namespaces) and sessions; without them it says why and
//! skips, unless NINEFOLD_REQUIRE_PRIVILEGED=1 (CI), where a skip is a failure.
//!
//! ```text
//!   IC 192.0.2.10 ─┐                         ┌─ 198.51.100.1  G  ── 198.51.100.2  H
//!   OIC 192.0.2.11 ┴─ br0 192.0.2.1  G ──────┘
//! ```
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{BIN, Bg};

const LIMIT: Duration = Duration::from_secs(60);

fn required() -> bool {
    std::env::var("NINEFOLD_REQUIRE_PRIVILEGED").as_deref() == Ok("1")
}

fn skip<T>(why: &str) -> Option<T> {
    assert!(
        !required(),
        "required here (NINEFOLD_REQUIRE_PRIVILEGED=1): {why}"
    );
    eprintln!("skipped: {why}");
    None
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `ip ARGS`, which must succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {}", text(&out.stderr));
}

/// The four machines, removed with everything in them when dropped.
struct Net {
    g: String,
    ic: String,
    oic: String,
    h: String,
    tmp: tempfile::TempDir,
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.g, &self.ic, &self.oic, &self.h] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

impl Net {
    fn make() -> Option<Net> {
        if !rustix::process::geteuid().is_root() {
            return skip("network namespaces need root");
        }
        if Command::new("ip").arg("-V").output().is_err() {
            return skip("no `ip` (iproute2)");
        }
        let id = std::process::id();
        let n = Net {
            g: format!("nf{id}-g"),
            ic: format!("nf{id}-ic"),
            oic: format!("nf{id}-oic"),
            h: format!("nf{id}-h"),
            tmp: tempfile::tempdir().unwrap(),
        };
        for ns in [&n.g, &n.ic, &n.oic, &n.h] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let g = n.g.as_str();
        ip(&["-n", g, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", g, "addr", "add", "192.0.2.1/24", "dev", "br0"]);
        ip(&["-n", g, "link", "set", "br0", "up"]);
        for (port, ns, addr) in [
            ("ic0", &n.ic, "192.0.2.10/24"),
            ("oic0", &n.oic, "192.0.2.11/24"),
        ] {
            ip(&[
                "-n", g, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ]);
            ip(&["-n", g, "link", "set", port, "master", "br0", "up"]);
            ip(&["-n", ns, "addr", "add", addr, "dev", "eth0"]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
        }
        ip(&[
            "-n", g, "link", "add", "out0", "type", "veth", "peer", "name", "eth0", "netns", &n.h,
        ]);
        ip(&["-n", g, "addr", "add", "198.51.100.1/24", "dev", "out0"]);
        ip(&["-n", g, "link", "set", "out0", "up"]);
        ip(&["-n", &n.h, "addr", "add", "198.51.100.2/24", "dev", "eth0"]);
        ip(&["-n", &n.h, "link", "set", "eth0", "up"]);
        Some(n)
    }

    /// `ip netns exec NS PROGRAM ARGS`, as the machine whose ninefold directory is `home`.
    fn cmd(&self, ns: &str, home: &Path, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program])
            .args(args)
            .env("NINEFOLD_HOME", home)
            .env("NF", BIN)
            .env("NO_COLOR", "1")
            .current_dir(self.tmp.path());
        c
    }

    fn home(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Runs `script` with bash in a ninefold session on `ns`.
    fn session(&self, ns: &str, home: &str, script: &str) -> Output {
        let c = self.cmd(
            ns,
            &self.home(home),
            BIN,
            &["newns", "--", "bash", "-euc", script],
        );
        common::run_bounded(c, b"", LIMIT)
    }

    /// A session in the background, in a process group of its own (to be killed whole).
    fn session_bg(&self, ns: &str, home: &str, script: &str) -> Bg {
        use std::os::unix::process::CommandExt;
        let mut c = self.cmd(
            ns,
            &self.home(home),
            BIN,
            &["newns", "--", "bash", "-euc", script],
        );
        c.process_group(0);
        Bg::start(c)
    }
}

/// `ninefold key` for a machine: its public key line.
fn key(home: &Path) -> String {
    let mut c = Command::new(BIN);
    c.arg("key").env("NINEFOLD_HOME", home);
    let out = common::run_bounded(c, b"", LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().next().unwrap().to_owned()
}

/// Open descriptors of a process.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn seed_000_the_gateway_without_nat() {
    let Some(net) = Net::make() else { return };

    // Keys: G's is known to IC and OIC; theirs are authorized on G, a stranger's is not.
    let g_key = key(&net.home("g"));
    for (m, name) in [("ic", "ic"), ("oic", "oic")] {
        let k = key(&net.home(m));
        let line = format!("{k} {name}\n");
        let path = net.home("g").join("authorized_keys");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, old + &line).unwrap();
        std::fs::write(
            net.home(m).join("known_hosts"),
            format!("192.0.2.1!17007 {g_key}\n"),
        )
        .unwrap();
    }
    key(&net.home("stranger"));
    std::fs::write(
        net.home("stranger").join("known_hosts"),
        format!("192.0.2.1!17007 {g_key}\n"),
    )
    .unwrap();
    let rules = net.tmp.path().join("net.rules");
    std::fs::write(
        &rules,
        "ic  connect  *   198.51.100.0/24 *\n\
         ic  announce tcp *               8080\n\
         oic connect  tcp 198.51.100.0/24 *\n\
         oic announce tcp *               8080\n",
    )
    .unwrap();

    // H: an HTTP server, a sink and a UDP echo server.
    let h_home = net.home("h");
    let http = Bg::start(net.cmd(
        &net.h,
        &h_home,
        BIN,
        &[
            "listen1",
            "tcp!198.51.100.2!80",
            "sh",
            "-c",
            r#"read -r line; printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from H: %s\n' "$line""#,
        ],
    ));
    http.wait_for("listening on", LIMIT);
    let sink = Bg::start(net.cmd(
        &net.h,
        &h_home,
        BIN,
        &[
            "listen1",
            "tcp!198.51.100.2!9000",
            "sh",
            "-c",
            "cat >/dev/null",
        ],
    ));
    sink.wait_for("listening on", LIMIT);
    let udp = Bg::start(net.cmd(
        &net.h,
        &h_home,
        "python3",
        &[
            "-c",
            "import socket,sys\n\
             s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
             s.bind(('198.51.100.2',7)); s.settimeout(60)\n\
             print('udp echo ready',file=sys.stderr,flush=True)\n\
             for _ in range(100):\n  d,a=s.recvfrom(2048); s.sendto(d,a)\n",
        ],
    ));
    udp.wait_for("udp echo ready", LIMIT);

    // G exports its name space, with /net under the policy, over TLS on its LAN side.
    let g = start_g(&net, &rules);

    // 1. IC: no route out of its own; through G's /net by hand with bash and cat, and with
    //    `ninefold dial -n /net.alt`. G's loopback stays out of reach.
    let out = net.session(
        &net.ic,
        "ic",
        r#"
if $NF dial tcp!198.51.100.2!80 </dev/null 2>err; then echo "direct dial worked"; exit 1; fi
grep -q unreachable err
$NF import tls!192.0.2.1!17007 /net /net.alt
exec 3<>/net.alt/tcp/clone
read -r n <&3 || [ -n "$n" ]
echo "connect 198.51.100.2!80" >&3
printf 'GET / HTTP/1.0\r\n\r\n' >/net.alt/tcp/$n/data
cat /net.alt/tcp/$n/data
exec 3>&-
printf 'GET /dial HTTP/1.0\r\n\r\n' | $NF dial -n /net.alt tcp!198.51.100.2!80
if $NF dial -n /net.alt tcp!127.0.0.1!17007 </dev/null 2>err; then echo "reached G's loopback"; exit 1; fi
cat err
"#,
    );
    let o = ok(&out, "IC's dial out");
    assert!(o.contains("hello from H: GET / HTTP/1.0"), "{o}");
    assert!(o.contains("hello from H: GET /dial HTTP/1.0"), "{o}");
    assert!(o.contains("permission denied"), "{o}");
    let log = g.wait_for("connect tcp!198.51.100.2!80", LIMIT);
    assert!(log.contains("ic"), "G's log names the principal: {log}");

    // 2. IC listens on G's port 8080 through /net.alt; H calls G and talks to IC.
    let ic_listen = net.session_bg(
        &net.ic,
        "ic",
        "$NF import tls!192.0.2.1!17007 /net /net.alt\n\
         exec $NF listen1 -n /net.alt 'tcp!*!8080' cat\n",
    );
    ic_listen.wait_for("listening on", LIMIT);
    let mut c = net.cmd(&net.h, &h_home, BIN, &["dial", "tcp!198.51.100.1!8080"]);
    c.env("NINEFOLD_HOME", &h_home);
    let out = common::run_bounded(c, b"hello IC\n", LIMIT);
    assert_eq!(ok(&out, "H's call to IC"), "hello IC\n");

    // 3. OIC announces the same port through its own import: address in use, over 9P.
    let out = net.session(
        &net.oic,
        "oic",
        "$NF import tls!192.0.2.1!17007 /net /net.alt\n\
         if $NF listen1 -n /net.alt 'tcp!*!8080' cat 2>err; then exit 1; fi\n\
         cat err\n",
    );
    assert!(
        ok(&out, "OIC's announce").contains("address in use"),
        "{}",
        text(&out.stdout)
    );
    drop(ic_listen);

    // 4. UDP from IC through /net.alt to H's echo server and back.
    let out = net.session(
        &net.ic,
        "ic",
        r#"
$NF import tls!192.0.2.1!17007 /net /net.alt
exec 4<>/net.alt/udp/clone
read -r u <&4 || [ -n "$u" ]
echo "connect 198.51.100.2!7" >&4
exec 5<>/net.alt/udp/$u/data
printf 'ping over udp' >&5
head -c 13 <&5
"#,
    );
    assert_eq!(ok(&out, "UDP through G"), "ping over udp");

    // 5. A key G does not know gets no 9P; a principal without an announce rule cannot.
    let mut c = net.cmd(
        &net.ic,
        &net.home("stranger"),
        BIN,
        &["9p", "-a", "tls!192.0.2.1!17007", "ls", "/"],
    );
    c.env("NINEFOLD_HOME", net.home("stranger"));
    let out = common::run_bounded(c, b"", LIMIT);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("refused our key"),
        "{}",
        text(&out.stderr)
    );
    let out = net.session(
        &net.oic,
        "oic",
        "$NF import tls!192.0.2.1!17007 /net /net.alt\n\
         if $NF listen1 -n /net.alt 'tcp!*!8081' cat 2>err; then exit 1; fi\n\
         cat err\n",
    );
    assert!(ok(&out, "OIC's announce of 8081").contains("permission denied"));

    // 6. IC's import killed in the middle of a transfer: G hangs up its conversations and
    //    its descriptors come back to where they were.
    std::thread::sleep(Duration::from_millis(200));
    let before = fds(g.pid());
    let mut upload = net.session_bg(
        &net.ic,
        "ic",
        "$NF import tls!192.0.2.1!17007 /net /net.alt\n\
         echo uploading >&2\n\
         exec $NF dial -n /net.alt tcp!198.51.100.2!9000 </dev/zero\n",
    );
    upload.wait_for("uploading", LIMIT);
    let deadline = Instant::now() + LIMIT;
    while fds(g.pid()) <= before + 1 {
        assert!(Instant::now() < deadline, "the upload never reached G");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let during = fds(g.pid());
    // The session's daemon holds the 9P connection (and serves the mount dial writes to).
    upload.kill();
    drop(upload);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = fds(g.pid());
        if now <= before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "G still holds {now} descriptors (before {before}, during {during})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // 7. G restarts under an import: the mount fails at once (no hang), and running the
    //    import again reconnects.
    let flag = net.tmp.path().join("restarted");
    let imported = net.tmp.path().join("imported");
    let script = format!(
        r#"
$NF import tls!192.0.2.1!17007 /net /net.alt
cat /net.alt/tcp/clone >/dev/null
touch {imported}
for i in $(seq 600); do [ -e {flag} ] && break; sleep 0.05; done
if timeout 10 cat /net.alt/tcp/clone >/dev/null 2>err; then echo "the old import still worked"; exit 1; fi
echo "after the restart: $(cat err)"
$NF import tls!192.0.2.1!17007 /net /net.alt
printf 'GET /again HTTP/1.0\r\n\r\n' | $NF dial -n /net.alt tcp!198.51.100.2!80
"#,
        flag = flag.display(),
        imported = imported.display()
    );
    let out = std::thread::scope(|s| {
        let session = s.spawn(|| net.session(&net.ic, "ic", &script));
        // The session has imported: restart G.
        let deadline = Instant::now() + LIMIT;
        while !imported.exists() {
            assert!(Instant::now() < deadline, "IC never imported");
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(g);
        let g2 = start_g(&net, &rules);
        std::fs::write(&flag, "").unwrap();
        let out = session.join().unwrap();
        drop(g2);
        out
    });
    let o = ok(&out, "IC's import across G's restart");
    assert!(o.contains("after the restart: "), "{o}");
    assert!(o.contains("hello from H: GET /again HTTP/1.0"), "{o}");
    drop((http, sink, udp));
}

/// G's exportfs: its name space, /net under `rules`, over TLS on the LAN side.
fn start_g(net: &Net, rules: &Path) -> Bg {
    let g = Bg::start(net.cmd(
        &net.g,
        &net.home("g"),
        BIN,
        &[
            "exportfs",
            "--net-policy",
            rules.to_str().unwrap(),
            "--listen",
            "tls!192.0.2.1!17007",
        ],
    ));
    g.wait_for("serving", LIMIT);
    g
}
