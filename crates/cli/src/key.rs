//! `ninefold key`: make this machine's key for the TLS transport, or show it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ninefold_transport::tls::{self, Identity};

/// Make a key for the TLS transport (if there is none) and print its public half and
/// fingerprint.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The key is kept in ~/.config/ninefold/key ($NINEFOLD_HOME/key if \
set), readable only by you, and is never overwritten. The line printed is what a server's \
authorized_keys needs, followed by the principal name it should know you by:\n  \
ed25519 BASE64 NAME\n\
A client's known_hosts holds servers' keys by address:\n  \
192.0.2.1!17007 ed25519 BASE64"
)]
pub struct Args {
    /// The key file (default: key in ninefold's directory).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let path = match a.file {
        Some(p) => p,
        None => tls::key_path()?,
    };
    let identity = if path.exists() {
        tls::load_identity(&path)?
    } else {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        let id = Identity::generate()?;
        id.save(&path)?;
        eprintln!("ninefold key: made {}", path.display());
        id
    };
    let public = identity.public();
    println!("{public}");
    println!("{}", public.fingerprint());
    Ok(())
}

/// The key's directory, made readable only by us if it is new.
fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot make {}", dir.display()))
}
