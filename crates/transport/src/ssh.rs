//! The ssh transport: the system `ssh` runs `ninefold exportfs --stdio` on the far side and
//! 9P travels over its standard input and output, as sshfs does with sftp. Everything about
//! reaching the host and proving who we are is ssh's: the user's keys and agent,
//! `~/.ssh/config` (aliases, ProxyJump, ControlMaster), `known_hosts`. ninefold writes no
//! cryptography and holds no secrets.
//!
//! The command line, in this order:
//!
//! ```text
//! ssh -T -e none -x -a -o ClearAllForwardings=yes [-p PORT] [OPTIONS…] [$NINEFOLD_SSH_OPTS…]
//!     -- TARGET $NINEFOLD_REMOTE exportfs --stdio
//! ```
//!
//! - `-T -e none`: no terminal and no escape character, so every byte is 9P. `-x -a` and
//!   `ClearAllForwardings`: no X11, agent or port forwarding rides along (as sshfs).
//! - `OPTIONS` come from the address (`ssh!host!port!-i KEY -o X=y`, which is what
//!   `ninefold import -i/-o` writes), then the words of `$NINEFOLD_SSH_OPTS` (split on
//!   blanks; no quoting, so an option cannot hold a blank — put such things in
//!   `~/.ssh/config`). ssh takes the first value given for an `-o` option, so the address's
//!   own options win over the environment's.
//! - `--` ends ssh's options: nothing after it (the target, the remote command) is read as
//!   one.
//! - `$NINEFOLD_REMOTE` (default `ninefold`) is how the far side's shell finds ninefold: a
//!   path such as `/opt/ninefold/bin/ninefold`, or any command prefix for that shell.
//! - No `BatchMode`: when there is a terminal, ssh may still ask for a passphrase, a
//!   password or whether to trust a new host key, on the terminal (never on the 9P pipe).
//!   Without one those questions fail, so unattended use needs keys (or an agent) and a
//!   known host key — `-o StrictHostKeyChecking=accept-new` to trust on first use.
//! - ssh's standard error is ours: its prompts and errors stay visible.
//!
//! Both variables are read when the connection is made, by the process that runs ssh:
//! inside a session that is the session (`ninefold newns`), so set them before starting it,
//! or give `import` the options (`-p`, `-i`, `-o`) instead.

use std::ffi::OsString;
use std::io;

/// The environment variable naming the far side's ninefold (default `ninefold`).
pub const REMOTE_ENV: &str = "NINEFOLD_REMOTE";
/// The environment variable holding extra ssh options, split on blanks.
pub const OPTS_ENV: &str = "NINEFOLD_SSH_OPTS";
/// The remote command when `$NINEFOLD_REMOTE` is unset or empty.
pub const DEFAULT_REMOTE: &str = "ninefold";

/// The program run for ssh addresses.
pub const PROGRAM: &str = "ssh";

/// `ssh`'s arguments for an ssh address, with the environment's options and remote
/// command.
pub fn args(target: &str, port: Option<u16>, options: &[String]) -> io::Result<Vec<OsString>> {
    let env_opts = env_text(OPTS_ENV)?.unwrap_or_default();
    let remote = env_text(REMOTE_ENV)?
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_REMOTE.to_owned());
    Ok(args_with(target, port, options, &env_opts, &remote)
        .into_iter()
        .map(OsString::from)
        .collect())
}

fn env_text(name: &str) -> io::Result<Option<String>> {
    match std::env::var_os(name) {
        None => Ok(None),
        Some(v) => v.into_string().map(Some).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("${name} is not UTF-8"))
        }),
    }
}

/// As [`args`], with the environment given.
pub fn args_with(
    target: &str,
    port: Option<u16>,
    options: &[String],
    env_opts: &str,
    remote: &str,
) -> Vec<String> {
    let mut a: Vec<String> = [
        "-T",
        "-e",
        "none",
        "-x",
        "-a",
        "-o",
        "ClearAllForwardings=yes",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    if let Some(p) = port {
        a.push("-p".into());
        a.push(p.to_string());
    }
    a.extend(options.iter().cloned());
    a.extend(env_opts.split_whitespace().map(str::to_owned));
    a.push("--".into());
    a.push(target.to_owned());
    a.push(remote.trim().to_owned());
    a.push("exportfs".into());
    a.push("--stdio".into());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line() {
        assert_eq!(
            args_with("gw", None, &[], "", "ninefold").join(" "),
            "-T -e none -x -a -o ClearAllForwardings=yes -- gw ninefold exportfs --stdio"
        );
        assert_eq!(
            args_with(
                "root@127.0.0.1",
                Some(2222),
                &["-i".into(), "/k/id".into()],
                " -o  UserKnownHostsFile=/tmp/kh\t-4 ",
                " /opt/nf/ninefold "
            )
            .join(" "),
            "-T -e none -x -a -o ClearAllForwardings=yes -p 2222 -i /k/id \
             -o UserKnownHostsFile=/tmp/kh -4 -- root@127.0.0.1 /opt/nf/ninefold exportfs --stdio"
        );
    }
}
