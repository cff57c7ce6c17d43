//! The session's root: the host's top-level entries as they are (bind mounts, so at native
//! speed), on a private tmpfs that also holds the Plan 9 mount points Linux lacks. This is
//! bubblewrap's recipe: tmpfs on /tmp, pivot_root into it, bind what the old root had,
//! detach the old root.

use std::os::unix::fs::{FileTypeExt, symlink};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::pivot_root;

use crate::setup::SetupError;

const OLD: &str = ".oldroot";

fn fail(what: impl Into<String>, e: impl std::fmt::Display) -> SetupError {
    SetupError {
        what: format!("{}: {e}", what.into()),
        hint: None,
    }
}

#[derive(Debug)]
enum Kind {
    Dir,
    File,
    Link(PathBuf),
}

/// Binds `from` on `to` with what is mounted beneath it (MS_BIND | MS_REC).
pub fn bind(from: &Path, to: &Path) -> nix::Result<()> {
    mount(
        Some(from),
        to,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
}

/// Mounts a tmpfs of this mount namespace's own on `dir`.
pub fn private_tmpfs(dir: &Path) -> Result<(), SetupError> {
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )
    .map_err(|e| fail(format!("mounting a tmpfs on {}", dir.display()), e))
}

/// Replace `/` (in this mount namespace) by a tmpfs holding the host's top-level entries
/// plus the directories of `plan9` (a host directory) that the host's `/` lacks, bound from
/// there. The working directory is kept when it still exists.
pub fn build(plan9: &Path) -> Result<(), SetupError> {
    let mut extra = Vec::new();
    for e in std::fs::read_dir(plan9).map_err(|e| fail(plan9.display().to_string(), e))? {
        let Ok(e) = e else { continue };
        if !Path::new("/").join(e.file_name()).exists() {
            extra.push((e.file_name(), e.path()));
        }
    }
    let cwd = std::env::current_dir().ok();
    let mut entries = Vec::new();
    for e in std::fs::read_dir("/").map_err(|e| fail("reading /", e))? {
        let Ok(e) = e else { continue };
        let Ok(ft) = e.file_type() else { continue };
        let name = e.file_name();
        let kind = if ft.is_symlink() {
            match std::fs::read_link(e.path()) {
                Ok(t) => Kind::Link(t),
                Err(_) => continue,
            }
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() || ft.is_socket() || ft.is_fifo() || ft.is_char_device() {
            Kind::File
        } else {
            continue;
        };
        entries.push((name, kind));
    }

    private_tmpfs(Path::new("/tmp"))?;
    let old = Path::new("/tmp").join(OLD);
    std::fs::create_dir(&old).map_err(|e| fail(old.display().to_string(), e))?;
    pivot_root("/tmp", &old).map_err(|e| fail("pivot_root", e))?;
    std::env::set_current_dir("/").map_err(|e| fail("chdir /", e))?;

    let old = Path::new("/").join(OLD);
    for (name, kind) in &entries {
        let to = Path::new("/").join(name);
        let from = old.join(name);
        let made = match kind {
            Kind::Link(target) => {
                symlink(target, &to).map_err(|e| fail(to.display().to_string(), e))?;
                continue;
            }
            Kind::Dir => std::fs::create_dir(&to),
            Kind::File => std::fs::File::create(&to).map(drop),
        };
        made.map_err(|e| fail(to.display().to_string(), e))?;
        bind(&from, &to).map_err(|e| fail(format!("binding {}", to.display()), e))?;
    }
    for (name, from) in &extra {
        let to = Path::new("/").join(name);
        std::fs::create_dir(&to).map_err(|e| fail(to.display().to_string(), e))?;
        // `plan9` is a path of the old root, now under it.
        let from = old.join(from.strip_prefix("/").unwrap_or(from));
        bind(&from, &to).map_err(|e| fail(format!("binding {}", to.display()), e))?;
    }
    umount2(&old, MntFlags::MNT_DETACH).map_err(|e| fail("detaching the old root", e))?;
    let _ = std::fs::remove_dir(&old);
    if let Some(cwd) = cwd {
        let _ = std::env::set_current_dir(cwd);
    }
    Ok(())
}
