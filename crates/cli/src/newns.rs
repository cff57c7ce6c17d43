//! `ninefold newns`: run a command in a new private name space (newns(2), `rfork n`), seen
//! by ordinary Linux programs through a user + mount namespace.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use ninefold_fs::Tree;
use ninefold_hostfs::HostTree;
use ninefold_ns::{Dialer, PLAN9_DIRS};
use ninefold_session::{Control, ENV, FuseMounter, Projector, end, root, setup};
use tokio::sync::Mutex;

use crate::Exit;

/// Run CMD (default: your shell) in a new private name space: the host's files as they
/// are, plus /net (this machine's network as Plan 9 files), /srv, /n and /mnt for mounts.
/// Inside, `ninefold bind`, `mount`, `unmount`, `ns` and `srv` change it; nothing leaks
/// out, and it ends with the last program in it.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ninefold newns\n  ninefold newns -- sh -c 'cat /net/tcp/clone'\n  ninefold newns -n my.ns make"
)]
pub struct Args {
    /// A namespace file applied after the default name space.
    #[arg(short = 'n', value_name = "NSFILE")]
    nsfile: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    cmd: Vec<String>,
}

/// What must be done while the process still has one thread.
pub struct Prepared {
    host: Arc<dyn Tree>,
    /// Inside a session: the enclosing session's name space, to start from a copy of it.
    parent_ns: Option<String>,
    /// `#/`: the session's own mount points (/n, /net …), a private host directory.
    plan9: Arc<dyn Tree>,
    plan9_dir: PathBuf,
    extra: Option<String>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prepared")
    }
}

/// Enter the new namespaces and build the session's root. Runs before the runtime starts
/// (the kernel gives a new user namespace only to a single-threaded process).
pub fn prepare(a: &Args) -> Result<Prepared> {
    let extra = match &a.nsfile {
        Some(f) => Some(
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        ),
        None => None,
    };
    setup::check_fuse()?;
    if let Some(parent) = std::env::var_os(ENV) {
        return prepare_nested(std::path::Path::new(&parent), extra);
    }
    // Opened before / moves: the name space reaches the host's files through it.
    let host: Arc<dyn Tree> =
        Arc::new(HostTree::new(std::path::Path::new("/"), false).context("cannot open /")?);
    let dir = socket_dir()?;
    sweep(&dir);
    let plan9_dir = dir.join(format!("root.{}", std::process::id()));
    std::fs::create_dir_all(&plan9_dir)
        .with_context(|| format!("cannot make {}", plan9_dir.display()))?;
    setup::enter()?;
    // The mount points are made on a tmpfs of the session's own, which goes with it:
    // making and removing them on the host's /tmp (ext4 here) was a fifth of newns's time.
    root::private_tmpfs(&plan9_dir)?;
    for d in PLAN9_DIRS {
        std::fs::create_dir_all(plan9_dir.join(d))
            .with_context(|| format!("cannot make {}", plan9_dir.join(d).display()))?;
    }
    let plan9: Arc<dyn Tree> =
        Arc::new(HostTree::new(&plan9_dir, false).context("cannot open the session's root")?);
    root::build(&plan9_dir)?;
    Ok(Prepared {
        host,
        parent_ns: None,
        plan9,
        plan9_dir,
        extra,
    })
}

/// A session inside a session (`rfork n` in a name space): a new user and mount namespace
/// nested in the enclosing one, starting from a copy of its name space (its `ns` text,
/// replayed) over the root the enclosing session shows. Later changes on either side stay
/// on that side.
fn prepare_nested(parent: &std::path::Path, extra: Option<String>) -> Result<Prepared> {
    use ninefold_session::request_blocking;
    let text = request_blocking(parent, "ns").map_err(|e| anyhow!(e))?;
    let root = request_blocking(parent, "root").map_err(|e| anyhow!(e))?;
    let plan9_dir = PathBuf::from(root.trim_end());
    let host: Arc<dyn Tree> =
        Arc::new(HostTree::new(std::path::Path::new("/"), false).context("cannot open /")?);
    let plan9: Arc<dyn Tree> =
        Arc::new(HostTree::new(&plan9_dir, false).context("cannot open the session's root")?);
    setup::enter()?;
    Ok(Prepared {
        host,
        parent_ns: Some(text),
        plan9,
        plan9_dir,
        extra,
    })
}

/// Removes what sessions that were killed (SIGKILL, or before they could clean up) left in
/// the runtime directory: a control socket nobody listens on, with its session's
/// directory, and session directories without a socket that are over a minute old (a
/// session makes its directory a few milliseconds before its socket). A live session's
/// socket answers, wherever its process is; its directory is left alone.
fn sweep(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let old = |p: &std::path::Path| {
        std::fs::symlink_metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(60))
    };
    for name in &names {
        if let Some(pid) = name.strip_prefix("ns.") {
            let sock = dir.join(name);
            let dead = matches!(
                std::os::unix::net::UnixStream::connect(&sock),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
            );
            if dead {
                let _ = std::fs::remove_file(&sock);
                remove_empty_tree(&dir.join(format!("root.{pid}")));
            }
        } else if let Some(pid) = name.strip_prefix("root.") {
            let path = dir.join(name);
            if !names.iter().any(|n| *n == format!("ns.{pid}")) && old(&path) {
                remove_empty_tree(&path);
            }
        }
    }
}

/// Removes `dir` and the directories in it, bottom up, as far as they are empty: never a
/// file, never a directory with one in it. (Sessions before this one left their mount
/// points on the host.)
fn remove_empty_tree(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// The directory for the control socket: the user's runtime directory, or one in /tmp
/// only the user can open.
fn socket_dir() -> Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let uid = nix::unistd::getuid().as_raw();
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) => PathBuf::from(d).join("ninefold"),
        None => PathBuf::from(format!("/tmp/ninefold-{uid}")),
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(anyhow!("cannot make {}: {e}", dir.display())),
    }
    let md = std::fs::symlink_metadata(&dir)?;
    if !md.is_dir() || md.uid() != uid || md.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is not a private directory of yours; remove it and try again",
            dir.display()
        );
    }
    Ok(dir)
}

pub async fn run(a: Args, p: Prepared, fuse: FuseMounter) -> Result<()> {
    let user = std::env::var("USER").unwrap_or_else(|_| "none".into());
    let dialer: Arc<dyn ninefold_ns::Connector> = Arc::new(Dialer::default());
    let nested = p.parent_ns.is_some();
    // Nested: start empty and replay the enclosing name space below, line by line.
    let base = p.parent_ns.as_ref().map(|_| "");
    let extra = if nested { None } else { p.extra.as_deref() };
    let (ns, standard) = ninefold_ns::standard_over(
        p.host,
        Some(p.plan9),
        &user,
        dialer.clone(),
        Some(Arc::new(ninefold_session::SessionNs)),
        base,
        extra,
    )
    .await
    .map_err(|e| nsfile_error(&a, e))?;
    let mut projector = Projector::new(ns, dialer.clone(), fuse);
    if let Some(text) = &p.parent_ns {
        copy_parent(&mut projector, text, dialer.as_ref()).await;
        if let Some(extra) = &p.extra {
            let vars = |n: &str| std::env::var(n).ok();
            let lines = ninefold_ns::parse(extra, &vars).map_err(|e| nsfile_error(&a, e))?;
            let cx = ninefold_ns::Context {
                connector: dialer.as_ref(),
                vars: &vars,
            };
            projector
                .ns
                .apply(&lines, &cx)
                .await
                .map_err(|e| nsfile_error(&a, e))?;
        }
    }
    // A private place for the FUSE connection the first mount points share: the
    // session's own tmpfs (a nested session's would be the enclosing one's).
    let scratch = (!nested).then(|| p.plan9_dir.join(".fuse"));
    if let Some(s) = &scratch {
        std::fs::create_dir(s).with_context(|| format!("cannot make {}", s.display()))?;
    }
    let projected = projector.project_all(scratch.as_deref()).await;
    if let Some(s) = &scratch {
        let _ = std::fs::remove_dir(s);
    }
    projected?;

    let sock = socket_dir()?.join(format!("ns.{}", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let listener = tokio::net::UnixListener::bind(&sock)
        .with_context(|| format!("cannot listen on {}", sock.display()))?;
    let control = Arc::new(Control {
        projector: Mutex::new(projector),
        srv: standard.srv,
        connector: dialer,
        root: p.plan9_dir.clone(),
    });
    tokio::spawn(control.serve(listener));

    let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into());
    let (prog, args) = match a.cmd.split_first() {
        Some((p, rest)) => (p.clone(), rest.to_vec()),
        None => (shell, Vec::new()),
    };
    let (status, ended) = run_command(&prog, &args, &sock).await;
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&sock);
            if !nested {
                remove_plan9_dir(&p.plan9_dir);
            }
            return Err(e);
        }
    };
    if !ended {
        end::wait_for_the_rest().await;
    }
    let _ = std::fs::remove_file(&sock);
    if !nested {
        remove_plan9_dir(&p.plan9_dir);
    }
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        _ => 1,
    };
    if code == 0 {
        Ok(())
    } else {
        Err(Exit(u8::try_from(code).unwrap_or(1)).into())
    }
}

/// Runs the session's command; the bool says whether the session was told to end. The
/// terminal's interrupt and quit go to the command (the session outlives them). A SIGTERM
/// or SIGHUP to the session is passed on to the command, and the session ends when the
/// command exits, without waiting for its other processes. (It used to die at once,
/// leaving its control socket and directory behind.)
async fn run_command(
    prog: &str,
    args: &[String],
    sock: &std::path::Path,
) -> (Result<std::process::ExitStatus>, bool) {
    use tokio::signal::unix::{SignalKind, signal};
    let signals = (|| {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::quit())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        ))
    })();
    let (mut int, mut quit, mut term, mut hup) = match signals {
        Ok(s) => s,
        Err(e) => return (Err(e.into()), false),
    };
    let child = tokio::process::Command::new(prog)
        .args(args)
        .env(ENV, sock)
        .spawn()
        .with_context(|| format!("cannot run {prog}"));
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return (Err(e), false),
    };
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    let mut ended = false;
    loop {
        let sig = tokio::select! {
            status = child.wait() => {
                return (status.with_context(|| format!("waiting for {prog}")), ended);
            }
            _ = int.recv() => continue,
            _ = quit.recv() => continue,
            _ = term.recv() => nix::sys::signal::Signal::SIGTERM,
            _ = hup.recv() => nix::sys::signal::Signal::SIGHUP,
        };
        ended = true;
        if let Some(pid) = pid {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
    }
}

/// Remove the directory the session's tmpfs of mount points was mounted on, which is
/// all it left on the host.
fn remove_plan9_dir(dir: &std::path::Path) {
    let _ = nix::mount::umount2(dir, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir(dir);
}

/// Replay the enclosing session's name space. What cannot be copied (a connection posted
/// in its /srv, which is its own) is reported and left out; the rest is this session's.
async fn copy_parent(
    projector: &mut Projector,
    text: &str,
    connector: &dyn ninefold_ns::Connector,
) {
    let lines = match ninefold_ns::parse(text, &|_| None) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ninefold: newns: the enclosing name space does not parse: {e}");
            return;
        }
    };
    let cx = ninefold_ns::Context {
        connector,
        vars: &|_| None,
    };
    for l in lines {
        if matches!(l.op, ninefold_ns::Op::Cd(_)) {
            continue;
        }
        if let Err(e) = projector.ns.apply(std::slice::from_ref(&l), &cx).await {
            eprintln!("ninefold: newns: not copied: {e}");
        }
    }
}

fn nsfile_error(a: &Args, e: impl std::fmt::Display) -> anyhow::Error {
    match &a.nsfile {
        Some(f) => anyhow!("{}: {e}", f.display()),
        None => anyhow!("{e}"),
    }
}
