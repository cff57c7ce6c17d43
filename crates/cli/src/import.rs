//! `ninefold import`: mount a part of another machine's name space in this session
//! (import(4)), reached with the system ssh.
//!
//! The session does the dialing (it alone may mount), so everything it needs travels in the
//! one request line, as a namespace-file `import` whose host word is a whole dial string:
//! `-p`, `-i` and `-o` are folded into `ssh!user@host!port!options`. That is also the source
//! `ns` prints, so its `mount` line reads back as the same import.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use ninefold_ns::quote;
use ninefold_session::{ENV, request};
use ninefold_transport::Addr;
use ninefold_transport::ssh::{OPTS_ENV, REMOTE_ENV};

use crate::UsageError;

/// Mount REMOTEPATH of HOST's name space on MTPT (default: REMOTEPATH) in this session
/// (import(4)).
///
/// HOST is a machine reached with ssh — `host`, `user@host`, or `ssh!user@host!port` — or
/// any other 9P address (tls!host!port — see `ninefold key` —, unix!/path, tcp!host!port,
/// {command}).
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("order").args(["after", "before"])))]
#[command(after_help = format!(
    "Over ssh, HOST runs `ninefold exportfs --stdio` and serves its standard name space: its \
files at /, its network at /net, its posted connections at /srv. Your ssh keys, agent, \
~/.ssh/config and known_hosts apply; ssh asks on the terminal when it must (passphrases, new \
host keys), and its messages go to the session's standard error.\n\n\
The session runs ssh, so its environment counts: ${REMOTE_ENV} (default `ninefold`) is how \
HOST's shell finds ninefold, and ${OPTS_ENV} holds more ssh options, split on blanks — set \
them before `ninefold newns`. The options given here travel with the import and show in \
`ninefold ns`.\n\n\
Whoever imports a machine's /net makes calls and listens from that machine as the ssh user.\n\n\
Examples:\n  ninefold import gw /net /net.alt\n  ninefold import -a glenda@gw /net\n  \
ninefold import -p 2222 -i ~/.ssh/id_gw root@10.0.0.1 /home/glenda/src /n/src"
))]
pub struct Args {
    /// Add the import after what is at MTPT (a union directory).
    #[arg(short = 'a')]
    after: bool,
    /// Add the import before what is at MTPT.
    #[arg(short = 'b')]
    before: bool,
    /// Files created in MTPT go to the import.
    #[arg(short = 'c')]
    create: bool,
    /// The ssh port on HOST.
    #[arg(short = 'p', value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// An ssh identity (private key) file.
    #[arg(short = 'i', value_name = "IDENTITY")]
    identity: Option<PathBuf>,
    /// An ssh option, as ssh -o takes it (KEY=VALUE); may be repeated.
    #[arg(short = 'o', value_name = "SSHOPT")]
    ssh_options: Vec<String>,
    #[arg(value_name = "HOST")]
    host: String,
    #[arg(value_name = "REMOTEPATH")]
    remote: String,
    #[arg(value_name = "MTPT")]
    mountpoint: Option<String>,
}

/// The session's control socket, or why there is none (the words of `bind`'s message).
fn socket() -> Result<PathBuf> {
    std::env::var_os(ENV)
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("not in a ninefold session: start one with `ninefold newns`"))
}

/// A name as the session sees it: absolute, or a `#` device name.
fn absolute(name: &str) -> Result<String> {
    if name.starts_with('/') || name.starts_with('#') {
        return Ok(name.to_string());
    }
    Ok(std::env::current_dir()?.join(name).display().to_string())
}

/// HOST as a whole dial string, with the ssh flags folded in.
fn host(a: &Args) -> Result<String> {
    let addr: Addr = a
        .host
        .parse()
        .map_err(|e| UsageError::new(format!("{e}")))?;
    let ssh_flags = a.port.is_some() || a.identity.is_some() || !a.ssh_options.is_empty();
    let Addr::Ssh {
        target,
        port,
        mut options,
    } = addr
    else {
        if ssh_flags {
            return Err(UsageError::new(format!(
                "-p, -i and -o are ssh options, and {} is not an ssh host",
                a.host
            ))
            .into());
        }
        return Ok(addr.to_string());
    };
    let port = match (port, a.port) {
        (Some(p), Some(q)) if p != q => {
            return Err(UsageError::new(format!("{}: port {p}, but -p {q}", a.host)).into());
        }
        (p, q) => q.or(p),
    };
    if let Some(id) = &a.identity {
        // The session runs ssh, from its own directory.
        let id = std::env::current_dir()?.join(id);
        options.push("-i".into());
        options.push(
            id.to_str()
                .ok_or_else(|| anyhow!("-i {}: not UTF-8", id.display()))?
                .to_owned(),
        );
    }
    for o in &a.ssh_options {
        options.push("-o".into());
        options.push(o.clone());
    }
    if let Some(bad) = options.iter().find(|o| o.contains(char::is_whitespace)) {
        return Err(UsageError::new(format!(
            "ssh option {bad:?} holds a blank, which an address cannot carry: put it in \
             ~/.ssh/config"
        ))
        .into());
    }
    Ok(Addr::Ssh {
        target,
        port,
        options,
    }
    .to_string())
}

pub async fn run(a: Args) -> Result<()> {
    let sock = socket()?;
    let host = host(&a)?;
    let mut flags = String::new();
    for (on, c) in [(a.after, 'a'), (a.before, 'b'), (a.create, 'c')] {
        if on {
            flags.push(c);
        }
    }
    let flags = if flags.is_empty() {
        flags
    } else {
        format!("-{flags}")
    };
    let mountpoint = absolute(a.mountpoint.as_deref().unwrap_or(&a.remote))?;
    let line = format!(
        "import {flags} {} {} {}",
        quote(&host),
        quote(&a.remote),
        quote(&mountpoint)
    );
    request(&sock, &line).await.map_err(|e| anyhow!(e))?;
    Ok(())
}
