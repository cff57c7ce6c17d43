//! Control messages: one write to `ctl` is one message, split into blank-separated fields
//! (Plan 9 `parsecmd`). Parsing is pure; [`crate::conv`] carries the messages out.

use std::net::SocketAddr;

use ninefold_fs::{Error, Result};

use crate::addr::{self, Local};

pub(crate) const SHORT: Error = Error::from_static("short control request");
pub(crate) const UNKNOWN: Error = Error::from_static("unknown control request");
pub(crate) const BAD_CONNECT: Error = Error::from_static("bad args to connect");
pub(crate) const BAD_ANNOUNCE: Error = Error::from_static("bad args to announce");
pub(crate) const BAD_BIND: Error = Error::from_static("bad args to bind");

/// One TCP control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ctl {
    /// `connect addr!port[!suffix…] [local]`
    Connect {
        remote: SocketAddr,
        local: Option<Local>,
    },
    /// `announce [addr!]port`
    Announce(Local),
    /// `bind [addr!]port`: only records the local address (APE's socket emulation).
    Bind(Local),
    /// `hangup`: abort the connection now (RST).
    Hangup,
    /// `close` (9front): graceful FIN on the write side; reading goes on.
    Close,
    /// `keepalive [ms]`
    Keepalive(Option<u32>),
    /// `ttl [n]`; 255 without an argument.
    Ttl(u32),
    /// `tos [n]`; 0 without an argument.
    Tos(u32),
    /// `headers` (UDP): the 52-byte header on every datagram of `data`.
    Headers,
    /// `reject N cause` (libc reject(2)): the call is dropped.
    Reject,
    /// Accepted and without effect on host sockets: `accept N` (libc accept(2) writes it
    /// and ignores the answer), `ignoreadvice`, `checksum`, `maxfragsize`,
    /// `tcpporthogdefense` (the host's stack decides those).
    Ignored,
}

/// Parses one write to `ctl`. A trailing newline is allowed; any blanks separate fields.
pub(crate) fn parse(msg: &[u8]) -> Result<Ctl> {
    let text = String::from_utf8_lossy(msg);
    let f: Vec<&str> = text.split_ascii_whitespace().collect();
    let Some(&verb) = f.first() else {
        return Err(SHORT);
    };
    let args = &f[1..];
    Ok(match verb {
        "connect" => match args {
            [remote] => Ctl::Connect {
                remote: addr::parse_remote(remote)?,
                local: None,
            },
            [remote, local] => Ctl::Connect {
                remote: addr::parse_remote(remote)?,
                local: Some(addr::parse_local(local)?),
            },
            _ => return Err(BAD_CONNECT),
        },
        "announce" => match args {
            [local] => Ctl::Announce(addr::parse_local(local)?),
            _ => return Err(BAD_ANNOUNCE),
        },
        "bind" => match args {
            [local] => Ctl::Bind(addr::parse_local(local)?),
            _ => return Err(BAD_BIND),
        },
        "hangup" => Ctl::Hangup,
        "close" => Ctl::Close,
        // As tcp.c: a number that does not parse leaves the default interval.
        "keepalive" => Ctl::Keepalive(args.first().and_then(|a| a.parse().ok())),
        // Checked here so a bad value fails now, not the next connect.
        "ttl" => Ctl::Ttl(
            byte_or(args, 255)
                .filter(|&t| t > 0)
                .ok_or(Error::BAD_ARG)?,
        ),
        "tos" => Ctl::Tos(byte_or(args, 0).ok_or(Error::BAD_ARG)?),
        "reject" => Ctl::Reject,
        "headers" => Ctl::Headers,
        "accept" | "ignoreadvice" | "checksum" | "maxfragsize" | "tcpporthogdefense" => {
            Ctl::Ignored
        }
        _ => return Err(UNKNOWN),
    })
}

/// The first argument as a number from 0 to 255, or `default` when there is none.
fn byte_or(args: &[&str], default: u8) -> Option<u32> {
    match args.first() {
        None => Some(default.into()),
        Some(a) => a.parse::<u8>().ok().map(u32::from),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::addr::LocalPort;

    fn p(s: &str) -> Result<Ctl> {
        parse(s.as_bytes())
    }

    #[test]
    fn connect_forms() {
        assert_eq!(
            p("connect 127.0.0.1!80\n").unwrap(),
            Ctl::Connect {
                remote: "127.0.0.1:80".parse().unwrap(),
                local: None
            }
        );
        assert_eq!(
            p("connect ::1!564!r 5000").unwrap(),
            Ctl::Connect {
                remote: "[::1]:564".parse().unwrap(),
                local: Some(Local {
                    ip: None,
                    port: LocalPort::Num(5000)
                })
            }
        );
        assert_eq!(p("connect"), Err(BAD_CONNECT));
        assert_eq!(p("connect a b c"), Err(BAD_CONNECT));
        assert_eq!(p("connect 1.2.3.4"), Err(addr::MALFORMED));
        assert_eq!(p("connect host!80"), Err(addr::BAD_IP));
    }

    #[test]
    fn announce_and_bind() {
        assert_eq!(
            p("announce *!564").unwrap(),
            Ctl::Announce(Local {
                ip: None,
                port: LocalPort::Num(564)
            })
        );
        assert_eq!(
            p("announce *").unwrap(),
            Ctl::Announce(Local {
                ip: None,
                port: LocalPort::Star
            })
        );
        assert_eq!(p("announce"), Err(BAD_ANNOUNCE));
        assert_eq!(p("announce 1 2"), Err(BAD_ANNOUNCE));
        assert_eq!(p("bind"), Err(BAD_BIND));
        assert!(matches!(p("bind 127.0.0.1!9"), Ok(Ctl::Bind(_))));
    }

    #[test]
    fn small_verbs() {
        assert_eq!(p("hangup"), Ok(Ctl::Hangup));
        assert_eq!(p("close\n"), Ok(Ctl::Close));
        assert_eq!(p("keepalive"), Ok(Ctl::Keepalive(None)));
        assert_eq!(p("keepalive 5000"), Ok(Ctl::Keepalive(Some(5000))));
        assert_eq!(p("keepalive soon"), Ok(Ctl::Keepalive(None)));
        assert_eq!(p("ttl"), Ok(Ctl::Ttl(255)));
        assert_eq!(p("ttl 64"), Ok(Ctl::Ttl(64)));
        assert_eq!(p("ttl x"), Err(Error::BAD_ARG));
        assert_eq!(p("ttl 0"), Err(Error::BAD_ARG));
        assert_eq!(p("ttl 256"), Err(Error::BAD_ARG));
        assert_eq!(p("tos 256"), Err(Error::BAD_ARG));
        assert_eq!(p("tos 16"), Ok(Ctl::Tos(16)));
        assert_eq!(p("tos"), Ok(Ctl::Tos(0)));
        assert_eq!(p("accept 3"), Ok(Ctl::Ignored));
        assert_eq!(p("reject 3 go away"), Ok(Ctl::Reject));
    }

    #[test]
    fn empty_and_unknown() {
        assert_eq!(p(""), Err(SHORT));
        assert_eq!(p(" \n\t"), Err(SHORT));
        assert_eq!(p("frobnicate"), Err(UNKNOWN));
        assert_eq!(p("CONNECT 1.2.3.4!5"), Err(UNKNOWN));
        assert!(parse(&[0xff, 0xfe, b' ', 0]).is_err());
    }
}
