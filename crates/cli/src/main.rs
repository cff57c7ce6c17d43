//! `ninefold`: Plan 9 commands on Linux. This file only parses arguments and reports errors;
//! each subcommand lives in its own module and calls the library crates.

mod dial;
mod exportfs;
mod fuse;
mod import;
mod key;
mod kill;
mod listen1;
mod net;
mod newns;
mod ninep;
mod ps;
mod session;
mod stdout;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Plan 9's network of files on Linux.
#[derive(Debug, Parser)]
#[command(name = "ninefold", version, about, long_about = None)]
struct Cli {
    /// Log what happens on stderr (-v: info, -vv: debug, -vvv: every 9P message).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Exportfs(exportfs::Args),
    #[command(name = "9p")]
    NineP(ninep::Args),
    Dial(dial::Args),
    Listen1(listen1::Args),
    Newns(newns::Args),
    Bind(session::BindArgs),
    Mount(session::MountArgs),
    Unmount(session::UnmountArgs),
    Ns(session::NsArgs),
    Srv(session::SrvArgs),
    Ps(ps::Args),
    Kill(kill::KillArgs),
    Slay(kill::SlayArgs),
    Import(import::Args),
    Key(key::Args),
}

/// Exit with this status and say nothing more (the command already did, or its program's
/// status is being passed on).
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// A command line that parsed but makes no sense, found by the command itself: reported as
/// clap's errors are, with exit status 2.
#[derive(Debug)]
pub struct UsageError(String);

impl UsageError {
    pub fn new(msg: impl Into<String>) -> UsageError {
        UsageError(msg.into())
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print them as clap formats them, and succeed.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: clap's message up to its usage block.
            let text = e.render().to_string();
            let msg: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let msg = msg.join(" ");
            let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
            eprintln!("ninefold: {msg} (try --help)");
            return ExitCode::from(2);
        }
    };
    // A listening exportfs is a daemon: its log (who attached, who dialled where) is
    // wanted without asking.
    let daemon = matches!(&cli.command, Command::Exportfs(a) if a.listens());
    init_logging(cli.verbose, daemon);
    // A session's namespaces must be made while this process has one thread.
    let prepared = match &cli.command {
        Command::Newns(a) => match newns::prepare(a) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("ninefold: {}", format!("{e:#}").replace('\n', " "));
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ninefold: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The command runs as a task, not in block_on: on a worker thread its requests and
    // replies do not cross between threads (measured: 17 µs instead of 32 µs per Tstat).
    let work = rt.spawn(async move {
        match cli.command {
            Command::Exportfs(a) => exportfs::run(a).await,
            Command::NineP(a) => ninep::run(a).await,
            Command::Dial(a) => dial::run(a).await,
            Command::Listen1(a) => listen1::run(a).await,
            Command::Newns(a) => match prepared {
                Some(p) => newns::run(a, p, fuse::mounter()).await,
                None => Err(anyhow::anyhow!("internal error: newns was not prepared")),
            },
            Command::Bind(a) => session::bind(a).await,
            Command::Mount(a) => session::mount(a).await,
            Command::Unmount(a) => session::unmount(a).await,
            Command::Ns(a) => session::ns(a).await,
            Command::Srv(a) => session::srv(a).await,
            Command::Ps(a) => ps::run(a).await,
            Command::Kill(a) => kill::kill(a).await,
            Command::Slay(a) => kill::slay(a).await,
            Command::Import(a) => import::run(a).await,
            Command::Key(a) => key::run(a),
        }
    });
    let result = rt
        .block_on(work)
        .unwrap_or_else(|e| Err(anyhow::anyhow!("internal error: {e}")));
    // Blocking reads of stdin must not keep the process alive after the work is done.
    rt.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Exit>() => ExitCode::from(e.downcast_ref::<Exit>().map_or(1, |x| x.0)),
        Err(e) if e.is::<UsageError>() => {
            eprintln!("ninefold: {e} (try --help)");
            ExitCode::from(2)
        }
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("ninefold: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8, daemon: bool) {
    let default = match verbose {
        0 if daemon => "info",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NINEFOLD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Logs go to stderr: stdout may be carrying 9P. A stderr that is closed (a daemon whose
    // starter stopped reading) must not matter: by default the subscriber reports its own
    // write failures with eprintln!, which panics there, taking a connection's task with it.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .log_internal_errors(false)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
