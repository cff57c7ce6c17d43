//! Whom we trust: the keys of servers we have met (`known_hosts`) and of clients we admit
//! (`authorized_keys`), both plain text, `#` comments, one key per line.
//!
//! ```text
//! known_hosts:      192.0.2.1!17007 ed25519 BASE64
//! authorized_keys:  ed25519 BASE64 NAME
//! ```
//!
//! A known host is named as the dial string names it (`host!port`). An authorized key's
//! NAME is the principal: what the server's logs and its /net policy call that client,
//! whatever uname it claims in 9P.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::key::PublicKey;

/// Where ninefold keeps its keys: `$NINEFOLD_HOME`, else `$XDG_CONFIG_HOME/ninefold`,
/// else `~/.config/ninefold`.
pub fn home() -> io::Result<PathBuf> {
    let var = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty());
    if let Some(h) = var("NINEFOLD_HOME") {
        return Ok(h.into());
    }
    if let Some(x) = var("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(x).join("ninefold"));
    }
    match var("HOME") {
        Some(h) => Ok(PathBuf::from(h).join(".config/ninefold")),
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no $HOME (or $NINEFOLD_HOME) to keep keys in",
        )),
    }
}

/// A line that does not parse, with its place.
fn bad_line(path: &Path, n: usize, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}:{}: {why}", path.display(), n + 1),
    )
}

/// The meaningful lines of a file, numbered from 0; a missing file has none.
fn lines(path: &Path) -> io::Result<Vec<(usize, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    Ok(text
        .lines()
        .enumerate()
        .map(|(n, l)| (n, l.split('#').next().unwrap_or("").trim().to_owned()))
        .filter(|(_, l)| !l.is_empty())
        .collect())
}

/// The servers we know, from a known_hosts file.
#[derive(Debug, Default, Clone)]
pub struct KnownHosts {
    entries: Vec<(String, PublicKey)>,
}

impl KnownHosts {
    pub fn load(path: &Path) -> io::Result<KnownHosts> {
        let mut entries = Vec::new();
        for (n, line) in lines(path)? {
            let w: Vec<&str> = line.split_whitespace().collect();
            let [host, kind, key] = w[..] else {
                return Err(bad_line(path, n, "want: HOST!PORT ed25519 KEY"));
            };
            let key = PublicKey::parse_words(kind, key).map_err(|e| bad_line(path, n, &e))?;
            entries.push((host.to_owned(), key));
        }
        Ok(KnownHosts { entries })
    }

    /// The keys recorded for `host` (`host!port`).
    pub fn keys_of<'a>(&'a self, host: &'a str) -> impl Iterator<Item = PublicKey> + 'a {
        self.entries
            .iter()
            .filter(move |(h, _)| h == host)
            .map(|(_, k)| *k)
    }

    /// Appends `host key` to the file (made with its directory if need be).
    pub fn record(path: &Path, host: &str, key: &PublicKey) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        writeln!(f, "{host} {key}")
    }
}

/// The clients we admit, from an authorized_keys file.
#[derive(Debug, Default, Clone)]
pub struct AuthorizedKeys {
    entries: Vec<(PublicKey, String)>,
}

impl AuthorizedKeys {
    pub fn load(path: &Path) -> io::Result<AuthorizedKeys> {
        let mut entries = Vec::new();
        for (n, line) in lines(path)? {
            let w: Vec<&str> = line.split_whitespace().collect();
            let [kind, key, name] = w[..] else {
                return Err(bad_line(path, n, "want: ed25519 KEY NAME"));
            };
            let key = PublicKey::parse_words(kind, key).map_err(|e| bad_line(path, n, &e))?;
            if !valid_principal(name) {
                return Err(bad_line(
                    path,
                    n,
                    &format!("{name:?} cannot name a principal (not `*` or `none`, no `!` or `/`)"),
                ));
            }
            entries.push((key, name.to_owned()));
        }
        Ok(AuthorizedKeys { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal `key` speaks for, if it is admitted.
    pub fn principal(&self, key: &PublicKey) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, n)| n.as_str())
    }
}

/// A name a policy and a log can use: not a wildcard, not Plan 9's anonymous `none`, and
/// nothing that reads as a path or an address.
fn valid_principal(name: &str) -> bool {
    name != "*"
        && name != "none"
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::key::Identity;

    #[test]
    fn known_hosts_record_and_find() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        assert_eq!(KnownHosts::load(&path).unwrap().keys_of("h!1").count(), 0);
        let k = Identity::generate().unwrap().public();
        KnownHosts::record(&path, "192.0.2.1!17007", &k).unwrap();
        let kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.keys_of("192.0.2.1!17007").collect::<Vec<_>>(), [k]);
        assert_eq!(kh.keys_of("192.0.2.1!17008").count(), 0);
        std::fs::write(&path, "# comment\n\nh!1 ed25519\n").unwrap();
        let e = KnownHosts::load(&path).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("known_hosts:3: want: HOST!PORT ed25519 KEY"),
            "{e}"
        );
    }

    #[test]
    fn authorized_keys_name_principals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authorized_keys");
        let a = Identity::generate().unwrap().public();
        let b = Identity::generate().unwrap().public();
        std::fs::write(&path, format!("{a} ic   # the LAN machine\n")).unwrap();
        let ak = AuthorizedKeys::load(&path).unwrap();
        assert_eq!(ak.principal(&a), Some("ic"));
        assert_eq!(ak.principal(&b), None);
        for bad in ["*", "none", "a/b", "x!y"] {
            std::fs::write(&path, format!("{a} {bad}\n")).unwrap();
            assert!(AuthorizedKeys::load(&path).is_err(), "{bad}");
        }
        std::fs::write(&path, format!("{a}\n")).unwrap();
        assert!(AuthorizedKeys::load(&path).is_err());
        std::fs::write(&path, "ed25519 AAAA x\n").unwrap();
        assert!(AuthorizedKeys::load(&path).is_err());
    }
}
