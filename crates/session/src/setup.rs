//! Entering a private user + mount namespace, without root (Linux's answer to Plan 9's
//! `rfork n`). This must run while the process has one thread: the kernel refuses
//! CLONE_NEWUSER to a multi-threaded process.

use std::fmt;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{getgid, getuid};

/// Why a session could not start, with what to do about it.
#[derive(Debug)]
pub struct SetupError {
    pub what: String,
    pub hint: Option<String>,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SetupError {}

fn fail(what: impl Into<String>, e: impl fmt::Display) -> SetupError {
    SetupError {
        what: format!("{}: {e}", what.into()),
        hint: None,
    }
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// What stops unprivileged user namespaces on this machine, if we can tell.
fn userns_hint() -> String {
    if read_trim("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return "unprivileged user namespaces are disabled: sudo sysctl -w kernel.unprivileged_userns_clone=1".into();
    }
    if read_trim("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return "user namespaces are disabled: sudo sysctl -w user.max_user_namespaces=15000"
            .into();
    }
    if read_trim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return "AppArmor restricts unprivileged user namespaces: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give ninefold an AppArmor profile that allows userns".into();
    }
    "the kernel refused a new user namespace; inside a container, run it with user namespaces allowed (e.g. docker --security-opt seccomp=unconfined)".into()
}

/// Make this process the first of a new user + mount namespace: our own uid and gid map to
/// themselves (so `id` and file ownership look as they did; other users' files show as the
/// overflow user, as in any rootless sandbox), and no mount event reaches the host.
pub fn enter() -> Result<(), SetupError> {
    let uid = getuid();
    let gid = getgid();
    if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS) {
        return Err(SetupError {
            what: format!("cannot create a user and mount namespace: {e}"),
            hint: Some(userns_hint()),
        });
    }
    // Without privilege only one line may be written, mapping our own ids; setgroups must
    // be denied before the gid map.
    std::fs::write("/proc/self/setgroups", "deny").map_err(|e| fail("/proc/self/setgroups", e))?;
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))
        .map_err(|e| fail("/proc/self/uid_map", e))?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))
        .map_err(|e| fail("/proc/self/gid_map", e))?;
    // A copy, then independent: nothing we mount shows on the host, nothing the host mounts
    // later shows here.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| fail("making / private", e))?;
    Ok(())
}

/// Whether `/dev/fuse` can be opened, and if not, what to do.
pub fn check_fuse() -> Result<(), SetupError> {
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse") {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SetupError {
            what: "/dev/fuse does not exist".into(),
            hint: Some("load the fuse module: sudo modprobe fuse".into()),
        }),
        Err(e) => Err(SetupError {
            what: format!("cannot open /dev/fuse: {e}"),
            hint: Some(
                "unions, /net and 9P mounts need FUSE; let users open it: sudo chmod 0666 /dev/fuse (most desktop distributions ship it so)".into(),
            ),
        }),
    }
}
