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
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AddrError {
    #[error("bad address {0:?}: expected unix!/path, tcp!host!port or {{command}}")]
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
        let mut parts = s.splitn(3, '!');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("unix"), Some(path), None) if !path.is_empty() => Ok(Addr::Unix(path.into())),
            (Some("tcp" | "net"), Some(host), Some(port)) if !host.is_empty() => {
                // Plan 9 allows trailing !options; none apply here.
                let port_name = port.split('!').next().unwrap_or(port);
                let port = service_port(port_name).ok_or_else(|| AddrError::Service {
                    addr: s.to_owned(),
                    service: port_name.to_owned(),
                })?;
                Ok(Addr::Tcp {
                    host: host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                    port,
                })
            }
            _ => Err(syntax()),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Unix(p) => write!(f, "unix!{}", p.display()),
            Addr::Tcp { host, port } => write!(f, "tcp!{host}!{port}"),
            Addr::Command(c) => write!(f, "{{{c}}}"),
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
    fn displays_back_as_a_dial_string() {
        for s in ["unix!/tmp/s", "tcp!127.0.0.1!5640", "{cat}"] {
            assert_eq!(s.parse::<Addr>().unwrap().to_string(), s);
        }
    }
}
