use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use thiserror::Error;

/// A parsed dial string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// `unix!/path`
    Unix(PathBuf),
    /// `tcp!host!port`; host `*` means every address (for listening).
    Tcp { host: String, port: u16 },
    /// `{command args}`: a program speaking 9P on its stdin/stdout.
    Command(String),
    /// `tls!host!port[!option…]`: TLS 1.3 with Ed25519 keys on both sides (see
    /// [`crate::tls`]); options are `tofu` or a `SHA256:…` fingerprint to pin.
    Tls {
        host: String,
        port: u16,
        options: Vec<String>,
    },
    /// `ssh!user@host[!port[!options]]`, or a bare `host` or `user@host`: the system `ssh`
    /// running `ninefold exportfs --stdio` on `target` (see [`crate::ssh`]). `options` are
    /// extra ssh arguments, written after the port separated by blanks
    /// (`ssh!gw!!-i /k/id -o Compression=yes`; an empty port is the default one).
    Ssh {
        target: String,
        port: Option<u16>,
        options: Vec<String>,
    },
}

/// See [`Addr::write_window`].
const SSH_WRITE_WINDOW: usize = 4;

impl Addr {
    /// How many Twrites of one large write a client should keep in flight on this
    /// connection (`ninefold_client::Client::set_write_window`). Only a server that applies
    /// writes to a fid in the order they were sent may get more than one, so only ssh
    /// (which runs `ninefold exportfs --stdio`) and `tls!` (no other server speaks
    /// ninefold's TLS) could; a `unix!`, `tcp!` or `{command}` server may be any 9P server.
    /// Of those two only ssh does: there the crypto runs in ssh and sshd and the 9P
    /// processes mostly wait, and four writes in flight carried 25–40 % more (B2 in
    /// BENCHMARKS.md). Over TLS the 9P processes do the crypto themselves, and on two CPUs
    /// the overlap only added contention: 15–25 % less.
    pub fn write_window(&self) -> usize {
        match self {
            Addr::Ssh { .. } => SSH_WRITE_WINDOW,
            _ => 1,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AddrError {
    #[error(
        "bad address {0:?}: expected unix!/path, tcp!host!port, tls!host!port, {{command}}, host, user@host \
         or ssh!user@host!port"
    )]
    Syntax(String),
    #[error("bad address {addr:?}: unknown service {service:?}")]
    Service { addr: String, service: String },
}

/// Port numbers for the service names 9P users write.
fn service_port(s: &str) -> Option<u16> {
    match s {
        "9fs" | "9pfs" => Some(564),
        "styx" => Some(6666),
        "exportfs" => Some(17007),
        "rexexec" => Some(17009),
        "ninefold" => Some(5640),
        _ => s.parse().ok(),
    }
}

impl FromStr for Addr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Addr, AddrError> {
        let syntax = || AddrError::Syntax(s.to_owned());
        if let Some(inner) = s.strip_prefix('{') {
            let cmd = inner.strip_suffix('}').ok_or_else(syntax)?.trim();
            if cmd.is_empty() {
                return Err(syntax());
            }
            return Ok(Addr::Command(cmd.to_owned()));
        }
        if !s.contains('!') {
            // A bare word names a machine to reach by ssh (sshfs's `host:`).
            return if is_ssh_target(s) {
                Ok(Addr::Ssh {
                    target: s.to_owned(),
                    port: None,
                    options: Vec::new(),
                })
            } else {
                Err(syntax())
            };
        }
        if let Some(rest) = s.strip_prefix("ssh!") {
            return ssh(s, rest);
        }
        let mut parts = s.splitn(3, '!');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("unix"), Some(path), None) if !path.is_empty() => Ok(Addr::Unix(path.into())),
            (Some("tls"), Some(host), Some(rest)) if !host.is_empty() => {
                let mut words = rest.split('!');
                let port_name = words.next().unwrap_or_default();
                let port = service_port(port_name).ok_or_else(|| AddrError::Service {
                    addr: s.to_owned(),
                    service: port_name.to_owned(),
                })?;
                Ok(Addr::Tls {
                    host: unbracket(host),
                    port,
                    options: words.filter(|w| !w.is_empty()).map(str::to_owned).collect(),
                })
            }
            (Some("tcp" | "net"), Some(host), Some(port)) if !host.is_empty() => {
                // Plan 9 allows trailing !options; none apply here.
                let port_name = port.split('!').next().unwrap_or(port);
                let port = service_port(port_name).ok_or_else(|| AddrError::Service {
                    addr: s.to_owned(),
                    service: port_name.to_owned(),
                })?;
                Ok(Addr::Tcp {
                    host: unbracket(host),
                    port,
                })
            }
            _ => Err(syntax()),
        }
    }
}

/// `[::1]` → `::1`.
fn unbracket(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

/// `TARGET[!PORT[!OPTIONS]]` after `ssh!`.
fn ssh(s: &str, rest: &str) -> Result<Addr, AddrError> {
    let mut parts = rest.splitn(3, '!');
    let target = parts.next().unwrap_or_default();
    if !is_ssh_target(target) {
        return Err(AddrError::Syntax(s.to_owned()));
    }
    let port =
        match parts.next() {
            None | Some("") => None,
            Some("ssh") => Some(22),
            Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                AddrError::Service {
                    addr: s.to_owned(),
                    service: p.to_owned(),
                }
            })?),
        };
    let options = parts
        .next()
        .map(|o| o.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(Addr::Ssh {
        target: target.to_owned(),
        port,
        options,
    })
}

/// `host` or `user@host`, as ssh takes it. Deliberately narrow: a word that could be read
/// as an ssh option (`-oProxyCommand=…`), a file name (`/tmp/x`, `./s`, `#I`) or a shell
/// fragment is not a host.
fn is_ssh_target(s: &str) -> bool {
    let (user, host) = match s.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, s),
    };
    let user_ok = user.is_none_or(|u| {
        !u.is_empty()
            && !u.starts_with('-')
            && u.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
    });
    let host_ok = !host.is_empty()
        && !host.starts_with(['-', '.'])
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '%' | '[' | ']'));
    user_ok && host_ok
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Unix(p) => write!(f, "unix!{}", p.display()),
            Addr::Tcp { host, port } => write!(f, "tcp!{host}!{port}"),
            Addr::Tls {
                host,
                port,
                options,
            } => {
                write!(f, "tls!{host}!{port}")?;
                options.iter().try_for_each(|o| write!(f, "!{o}"))
            }
            Addr::Command(c) => write!(f, "{{{c}}}"),
            Addr::Ssh {
                target,
                port,
                options,
            } => {
                write!(f, "ssh!{target}")?;
                if port.is_some() || !options.is_empty() {
                    f.write_str("!")?;
                }
                if let Some(p) = port {
                    write!(f, "{p}")?;
                }
                if !options.is_empty() {
                    write!(f, "!{}", options.join(" "))?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dial_strings() {
        assert_eq!("unix!/tmp/s".parse(), Ok(Addr::Unix("/tmp/s".into())));
        assert_eq!(
            "tcp!127.0.0.1!5640".parse(),
            Ok(Addr::Tcp {
                host: "127.0.0.1".into(),
                port: 5640
            })
        );
        assert_eq!(
            "tcp!localhost!9fs".parse(),
            Ok(Addr::Tcp {
                host: "localhost".into(),
                port: 564
            })
        );
        assert_eq!(
            "tcp![::1]!80".parse(),
            Ok(Addr::Tcp {
                host: "::1".into(),
                port: 80
            })
        );
        assert_eq!(
            "{ninefold exportfs -r / --stdio}".parse(),
            Ok(Addr::Command("ninefold exportfs -r / --stdio".into()))
        );
        for bad in [
            "", "unix!", "tcp!h", "tcp!!1", "{}", "{x", "udp!a!1", "/tmp/x",
        ] {
            assert!(bad.parse::<Addr>().is_err(), "{bad}");
        }
        assert!(matches!(
            "tcp!h!nosuch".parse::<Addr>(),
            Err(AddrError::Service { .. })
        ));
        assert!("tcp!h!70000".parse::<Addr>().is_err());
    }

    #[test]
    fn tls_addresses() {
        assert_eq!(
            "tls!192.0.2.1!exportfs".parse(),
            Ok(Addr::Tls {
                host: "192.0.2.1".into(),
                port: 17007,
                options: vec![]
            })
        );
        assert_eq!(
            "tls![2001:db8::1]!5640!SHA256:abc!tofu".parse(),
            Ok(Addr::Tls {
                host: "2001:db8::1".into(),
                port: 5640,
                options: vec!["SHA256:abc".into(), "tofu".into()]
            })
        );
        for bad in ["tls!h", "tls!!1", "tls!h!x", "tls!h!"] {
            assert!(bad.parse::<Addr>().is_err(), "{bad}");
        }
    }

    fn ssh(target: &str, port: Option<u16>, options: &[&str]) -> Addr {
        Addr::Ssh {
            target: target.into(),
            port,
            options: options.iter().map(|o| o.to_string()).collect(),
        }
    }

    #[test]
    fn bare_hosts_and_ssh_addresses() {
        assert_eq!("gw".parse(), Ok(ssh("gw", None, &[])));
        assert_eq!("localhost".parse(), Ok(ssh("localhost", None, &[])));
        assert_eq!(
            "glenda@gw.example.org".parse(),
            Ok(ssh("glenda@gw.example.org", None, &[]))
        );
        assert_eq!("::1".parse(), Ok(ssh("::1", None, &[])));
        assert_eq!("ssh!gw".parse(), Ok(ssh("gw", None, &[])));
        assert_eq!(
            "ssh!root@127.0.0.1!2222".parse(),
            Ok(ssh("root@127.0.0.1", Some(2222), &[]))
        );
        assert_eq!("ssh!gw!ssh".parse(), Ok(ssh("gw", Some(22), &[])));
        assert_eq!(
            "ssh!gw!2222!-i /k/id  -o StrictHostKeyChecking=accept-new".parse(),
            Ok(ssh(
                "gw",
                Some(2222),
                &["-i", "/k/id", "-o", "StrictHostKeyChecking=accept-new"]
            ))
        );
        assert_eq!(
            "ssh!gw!!-F /a!b/config".parse(),
            Ok(ssh("gw", None, &["-F", "/a!b/config"]))
        );
        for bad in [
            "-oProxyCommand=x",
            "ssh!-oProxyCommand=x",
            "ssh!",
            "ssh!@gw",
            "ssh!me@",
            "./sock",
            "#I",
            "a b",
            "gw;rm",
            "$HOST",
            "ssh!gw!0",
            "ssh!gw!70000",
            "ssh!gw!x",
        ] {
            assert!(bad.parse::<Addr>().is_err(), "{bad}");
        }
        // Forms that were addresses before keep their meaning.
        assert!(matches!("net!h!564".parse(), Ok(Addr::Tcp { .. })));
        assert!(matches!("unix!gw".parse(), Ok(Addr::Unix(_))));
        assert!(matches!("{gw}".parse(), Ok(Addr::Command(_))));
    }

    #[test]
    fn displays_back_as_a_dial_string() {
        for s in [
            "unix!/tmp/s",
            "tcp!127.0.0.1!5640",
            "{cat}",
            "ssh!gw",
            "ssh!root@127.0.0.1!2222",
            "ssh!gw!!-i /k",
            "ssh!me@gw!22!-o BatchMode=yes -4",
            "tls!192.0.2.1!17007",
            "tls!gw!564!tofu",
        ] {
            assert_eq!(s.parse::<Addr>().unwrap().to_string(), s);
        }
        assert_eq!("me@gw".parse::<Addr>().unwrap().to_string(), "ssh!me@gw");
    }
}
