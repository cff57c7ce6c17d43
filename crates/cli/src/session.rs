//! `ninefold bind`, `mount`, `unmount`, `ns`, `srv`: change or show the name space of the
//! session this program runs in, through its control socket.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use ninefold_ns::quote;
use ninefold_session::{ENV, request};

/// The session's control socket, or why there is none.
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
    let cwd = std::env::current_dir()?;
    Ok(cwd.join(name).display().to_string())
}

/// A mount source: dial strings and `{command}` as they are, file names made absolute. A
/// bare word is a file when one by that name is here, else a host (ssh), as `import` takes.
fn source(s: &str) -> Result<String> {
    let path_like = s.starts_with(['/', '.', '#']);
    if s.starts_with('{') || s.contains('!') || (!path_like && !std::path::Path::new(s).exists()) {
        Ok(s.to_string())
    } else {
        absolute(s)
    }
}

async fn send(line: String) -> Result<String> {
    request(&socket()?, &line).await.map_err(|e| anyhow!(e))
}

fn flag_word(after: bool, before: bool, create: bool, cache: bool) -> String {
    let mut f = String::new();
    if after {
        f.push('a');
    }
    if before {
        f.push('b');
    }
    if create {
        f.push('c');
    }
    if cache {
        f.push('C');
    }
    if f.is_empty() { f } else { format!("-{f}") }
}

/// Bind NEW onto OLD in this session's name space (bind(1)).
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("order").args(["after", "before"])))]
pub struct BindArgs {
    /// Add NEW after what is at OLD (a union directory).
    #[arg(short = 'a')]
    after: bool,
    /// Add NEW before what is at OLD.
    #[arg(short = 'b')]
    before: bool,
    /// Files created in OLD go to NEW.
    #[arg(short = 'c')]
    create: bool,
    new: String,
    old: String,
}

pub async fn bind(a: BindArgs) -> Result<()> {
    let f = flag_word(a.after, a.before, a.create, false);
    send(format!(
        "bind {f} {} {}",
        quote(&absolute(&a.new)?),
        quote(&absolute(&a.old)?)
    ))
    .await
    .map(drop)
}

/// Mount a 9P server on OLD (mount(1)): SOURCE is unix!path, tls!host!port, an ssh host,
/// tcp!host!port, {command args} or a posted /srv/NAME; SPEC is the attach name.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("order").args(["after", "before"])))]
pub struct MountArgs {
    #[arg(short = 'a')]
    after: bool,
    #[arg(short = 'b')]
    before: bool,
    #[arg(short = 'c')]
    create: bool,
    /// Allow caching (recorded; nothing caches yet).
    #[arg(short = 'C')]
    cache: bool,
    source: String,
    old: String,
    spec: Option<String>,
}

pub async fn mount(a: MountArgs) -> Result<()> {
    let f = flag_word(a.after, a.before, a.create, a.cache);
    let spec = a.spec.as_deref().map(quote).unwrap_or_default();
    send(format!(
        "mount {f} {} {} {spec}",
        quote(&source(&a.source)?),
        quote(&absolute(&a.old)?)
    ))
    .await
    .map(drop)
}

/// Undo binds and mounts on OLD: all of them, or only NEW (unmount(1)).
#[derive(Debug, clap::Args)]
pub struct UnmountArgs {
    #[arg(num_args = 1..=2, value_names = ["NEW", "OLD"])]
    names: Vec<String>,
}

pub async fn unmount(a: UnmountArgs) -> Result<()> {
    let line = match &a.names[..] {
        [old] => format!("unmount {}", quote(&absolute(old)?)),
        [new, old] => format!(
            "unmount {} {}",
            quote(&source(new)?),
            quote(&absolute(old)?)
        ),
        _ => return Err(crate::UsageError::new("usage: unmount [new] old").into()),
    };
    send(line).await.map(drop)
}

/// Print this session's name space as bind and mount lines (ns(1)).
#[derive(Debug, clap::Args)]
pub struct NsArgs {}

pub async fn ns(_: NsArgs) -> Result<()> {
    print!("{}", send("ns".into()).await?);
    Ok(())
}

/// Post a 9P connection in this session's /srv under NAME (srv(4)).
#[derive(Debug, clap::Args)]
pub struct SrvArgs {
    source: String,
    name: String,
}

pub async fn srv(a: SrvArgs) -> Result<()> {
    send(format!(
        "srv {} {}",
        quote(&source(&a.source)?),
        quote(&a.name)
    ))
    .await
    .map(drop)
}
