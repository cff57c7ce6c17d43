//! Namespace files (namespace(6)): one operation per line, read by `newns` and `addns`,
//! and what `ns` prints. Parsing is separate from applying so a bad file is rejected whole,
//! before anything in the name space changes.

use std::fmt;

use ninefold_fs::{Error, Result};

use crate::flags::Flags;
use crate::text::words_expanding;

/// One operation of a namespace file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Bind {
        flags: Flags,
        quiet: bool,
        new: String,
        old: String,
    },
    Mount {
        flags: Flags,
        quiet: bool,
        source: String,
        old: String,
        spec: String,
    },
    Import {
        flags: Flags,
        host: String,
        remote: String,
        mountpoint: String,
    },
    Unmount {
        new: Option<String>,
        old: String,
    },
    Cd(String),
    Clear,
    /// `. file`: run another namespace file, read from the name space being built.
    Include(String),
}

/// An operation and the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: usize,
    pub op: Op,
}

/// A parse error, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parse a whole file. `vars` gives `$name`'s value.
pub fn parse(
    text: &str,
    vars: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<Vec<Line>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let op = words_expanding(trimmed, vars)
            .and_then(|w| parse_op(&w))
            .map_err(|e| ParseError {
                line: number,
                message: e.as_str().to_string(),
            })?;
        out.push(Line { number, op });
    }
    Ok(out)
}

/// Leading `-abcCq` words, then the rest.
fn options<'a>(words: &'a [String], allowed: &str) -> Result<(Flags, bool, &'a [String])> {
    let mut flags = Flags::default();
    let mut quiet = false;
    let mut rest = words;
    while let Some(w) = rest.first() {
        let Some(letters) = w.strip_prefix('-').filter(|l| !l.is_empty()) else {
            break;
        };
        for c in letters.chars() {
            if !allowed.contains(c) {
                return Err(Error::new(format!("unknown flag -{c}")));
            }
            if c == 'q' {
                quiet = true;
            } else {
                flags.set(c)?;
            }
        }
        rest = &rest[1..];
    }
    // Plan 9 takes the last of -a and -b; saying both is a mistake worth reporting.
    let both = rest.len() < words.len()
        && words[..words.len() - rest.len()]
            .iter()
            .any(|w| w.contains('a'))
        && words[..words.len() - rest.len()]
            .iter()
            .any(|w| w.contains('b'));
    if both {
        return Err(Error::new("-a and -b together"));
    }
    Ok((flags, quiet, rest))
}

fn usage(s: &'static str) -> Error {
    Error::new(format!("usage: {s}"))
}

fn parse_op(w: &[String]) -> Result<Op> {
    let Some((cmd, args)) = w.split_first() else {
        return Err(Error::new("empty line"));
    };
    Ok(match cmd.as_str() {
        "bind" => match options(args, "abcq")? {
            (flags, quiet, [new, old]) => Op::Bind {
                flags,
                quiet,
                new: new.clone(),
                old: old.clone(),
            },
            _ => return Err(usage("bind [-abcq] new old")),
        },
        "mount" => {
            let (flags, quiet, rest) = options(args, "abcCq")?;
            let (source, old, spec) = match rest {
                [s, o] => (s, o, String::new()),
                [s, o, spec] => (s, o, spec.clone()),
                _ => return Err(usage("mount [-abcCq] source old [spec]")),
            };
            Op::Mount {
                flags,
                quiet,
                source: source.clone(),
                old: old.clone(),
                spec,
            }
        }
        "import" => {
            let (flags, _, rest) = options(args, "abc")?;
            let (host, remote, mountpoint) = match rest {
                [h, m] => (h, m, m),
                [h, r, m] => (h, r, m),
                _ => return Err(usage("import [-abc] host [remotepath] mountpoint")),
            };
            Op::Import {
                flags,
                host: host.clone(),
                remote: remote.clone(),
                mountpoint: mountpoint.clone(),
            }
        }
        "unmount" => match args {
            [old] => Op::Unmount {
                new: None,
                old: old.clone(),
            },
            [new, old] => Op::Unmount {
                new: Some(new.clone()),
                old: old.clone(),
            },
            _ => return Err(usage("unmount [new] old")),
        },
        "cd" => match args {
            [d] => Op::Cd(d.clone()),
            _ => return Err(usage("cd dir")),
        },
        "clear" if args.is_empty() => Op::Clear,
        "clear" => return Err(usage("clear")),
        "." => match args {
            [f] => Op::Include(f.clone()),
            _ => return Err(usage(". file")),
        },
        other => return Err(Error::new(format!("unknown operation {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::Order;

    fn no_vars(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn every_operation_parses() {
        let text = "# comment\n\n  bind -ac '#I' /net\nmount -bC unix!/tmp/s /n/s spec\n\
                    mount /srv/cs /net \nimport -a gw /net\nimport gw /net /net.alt\n\
                    unmount /net\nunmount #I /net\ncd /tmp\nclear\n. /lib/ns.local\nbind -q /a /b\n";
        let ops: Vec<Op> = parse(text, &no_vars)
            .unwrap()
            .into_iter()
            .map(|l| l.op)
            .collect();
        assert_eq!(ops.len(), 11);
        assert_eq!(
            ops[0],
            Op::Bind {
                flags: Flags::AFTER.with_create(),
                quiet: false,
                new: "#I".into(),
                old: "/net".into()
            }
        );
        assert!(
            matches!(&ops[1], Op::Mount { flags, spec, .. } if flags.cache && flags.order == Order::Before && spec == "spec")
        );
        assert!(matches!(&ops[2], Op::Mount { spec, .. } if spec.is_empty()));
        assert!(
            matches!(&ops[3], Op::Import { remote, mountpoint, .. } if remote == "/net" && mountpoint == "/net")
        );
        assert!(
            matches!(&ops[4], Op::Import { remote, mountpoint, .. } if remote == "/net" && mountpoint == "/net.alt")
        );
        assert_eq!(
            ops[5],
            Op::Unmount {
                new: None,
                old: "/net".into()
            }
        );
        assert_eq!(
            ops[6],
            Op::Unmount {
                new: Some("#I".into()),
                old: "/net".into()
            }
        );
        assert_eq!(ops[7], Op::Cd("/tmp".into()));
        assert_eq!(ops[8], Op::Clear);
        assert_eq!(ops[9], Op::Include("/lib/ns.local".into()));
        assert!(matches!(&ops[10], Op::Bind { quiet: true, .. }));
    }

    #[test]
    fn bad_lines_say_which_and_why() {
        for (text, line, msg) in [
            ("bind /a\n", 1, "usage: bind"),
            ("\nbind -x /a /b\n", 2, "unknown flag -x"),
            ("bind -ab /a /b\n", 1, "-a and -b"),
            ("mount -q\n", 1, "usage: mount"),
            ("frob /x\n", 1, "unknown operation frob"),
            ("cd 'x\n", 1, "unmatched quote"),
            ("bind -C /a /b\n", 1, "unknown flag -C"),
        ] {
            let e = parse(text, &no_vars).unwrap_err();
            assert_eq!(e.line, line, "{text}");
            assert!(e.message.starts_with(msg), "{text}: {}", e.message);
        }
    }

    #[test]
    fn variables_expand() {
        let vars = |n: &str| (n == "home").then(|| "/home/glenda".to_string());
        let l = parse("bind -c $home/tmp /tmp\n", &vars).unwrap();
        assert!(matches!(&l[0].op, Op::Bind { new, .. } if new == "/home/glenda/tmp"));
    }
}
