//! Errors as Plan 9 speaks them: a short string a client can match on.

use std::borrow::Cow;
use std::fmt;
use std::io;

/// A 9P error: the string that travels in Rerror.
///
/// The well-known strings are the ones Plan 9 uses and the Linux kernel's 9P client maps
/// back to errno values (net/9p/error.c), so `ls` on a mounted ninefold tree prints
/// "No such file or directory" rather than "Input/output error".
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Error(Cow<'static, str>);

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub const NOT_FOUND: Error = Error::from_static("file does not exist");
    pub const PERM: Error = Error::from_static("permission denied");
    pub const EXISTS: Error = Error::from_static("file already exists");
    pub const IS_DIR: Error = Error::from_static("file is a directory");
    pub const NOT_DIR: Error = Error::from_static("not a directory");
    pub const NOT_EMPTY: Error = Error::from_static("directory is not empty");
    pub const IO: Error = Error::from_static("i/o error");
    pub const NO_SPACE: Error = Error::from_static("file system full");
    pub const BAD_ARG: Error = Error::from_static("bad arg in system call");
    pub const IN_USE: Error = Error::from_static("device or object already in use");
    pub const BAD_OFFSET: Error = Error::from_static("bad offset in directory read");
    pub const BAD_USE: Error = Error::from_static("inappropriate use of fd");
    pub const READ_ONLY: Error = Error::from_static("read-only file system");
    pub const NAME_TOO_LONG: Error = Error::from_static("file name too long");
    pub const CROSS_DEVICE: Error = Error::from_static("cross-device link");
    pub const INTERRUPTED: Error = Error::from_static("interrupted");
    pub const HUNGUP: Error = Error::from_static("i/o on hungup channel");
    pub const NOT_SUPPORTED: Error = Error::from_static("operation not supported");
    pub const TOO_BIG: Error = Error::from_static("read or write too large");
    pub const WALK_NO_DIR: Error = Error::from_static("walk in non-directory");

    pub const fn from_static(s: &'static str) -> Error {
        Error(Cow::Borrowed(s))
    }

    pub fn new(s: impl Into<Cow<'static, str>>) -> Error {
        Error(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The nearest Linux errno, for projecting trees through FUSE.
    pub fn errno(&self) -> i32 {
        let s = self.as_str();
        if let Some(&(_, e)) = TABLE.iter().find(|(t, _)| *t == s) {
            return e;
        }
        // Longer texts that start with a known one ("permission denied: process 4 belongs
        // to root") mean the same.
        TABLE
            .iter()
            .find(|(t, _)| s.strip_prefix(t).is_some_and(|rest| rest.starts_with(':')))
            .map_or(5, |&(_, e)| e)
    }
}

/// Plan 9 error strings and the Linux errno each means, for FUSE; the first entry for an
/// errno is also what that errno becomes ([`Error::from_errno`]).
const TABLE: &[(&str, i32)] = &[
    ("file does not exist", 2),
    ("no such file", 2),
    ("permission denied", 13),
    ("file already exists", 17),
    ("file is a directory", 21),
    ("not a directory", 20),
    ("walk in non-directory", 20),
    ("directory is not empty", 39),
    ("file system full", 28),
    ("bad arg in system call", 22),
    ("device or object already in use", 16),
    ("read-only file system", 30),
    ("file name too long", 36),
    ("cross-device link", 18),
    ("interrupted", 4),
    ("i/o on hungup channel", 32),
    ("operation not supported", 95),
    ("read or write too large", 27),
    ("bad offset in directory read", 22),
    ("too many levels of symbolic links", 40),
    ("no such device or address", 6),
    ("resource temporarily unavailable", 11),
    ("too many open files", 24),
    ("text file busy", 26),
    ("function not implemented", 38),
    ("value too large for defined data type", 75),
    ("inappropriate use of fd", 9),
    // The name-space errors (port/chan.c): a refused create is EACCES, as a
    // read-only directory's would be; a bad bind is EINVAL.
    ("mounted directory forbids creation", 13),
    ("inconsistent mount", 22),
    ("not in union", 22),
    ("not mounted", 22),
    ("unknown device in # filename", 19),
    ("connection refused", 111),
    ("connection timed out", 110),
    ("address in use", 98),
    ("not a local IP address", 99),
    ("net unreachable", 101),
    ("host unreachable", 113),
    ("process exited", 3),
];

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?})", self.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    /// Host errors become the Plan 9 strings clients match on, never Rust debug text.
    fn from(e: io::Error) -> Error {
        if let Some(errno) = e.raw_os_error() {
            return Error::from_errno(errno);
        }
        match e.kind() {
            io::ErrorKind::NotFound => Error::NOT_FOUND,
            io::ErrorKind::PermissionDenied => Error::PERM,
            io::ErrorKind::AlreadyExists => Error::EXISTS,
            io::ErrorKind::InvalidInput => Error::BAD_ARG,
            _ => Error::new(e.to_string()),
        }
    }
}

impl Error {
    /// The Plan 9 string for a Linux errno.
    pub fn from_errno(errno: i32) -> Error {
        match errno {
            1 | 13 => Error::PERM,
            2 => Error::NOT_FOUND,
            4 => Error::INTERRUPTED,
            5 => Error::IO,
            9 => Error::BAD_USE,
            16 => Error::IN_USE,
            17 => Error::EXISTS,
            18 => Error::CROSS_DEVICE,
            20 => Error::NOT_DIR,
            21 => Error::IS_DIR,
            22 => Error::BAD_ARG,
            27 => Error::TOO_BIG,
            28 | 122 => Error::NO_SPACE,
            30 => Error::READ_ONLY,
            32 => Error::HUNGUP,
            36 => Error::NAME_TOO_LONG,
            39 => Error::NOT_EMPTY,
            23 | 24 => Error::from_static("too many open files"),
            95 => Error::NOT_SUPPORTED,
            // Not the table's "unknown device in # filename", which is the name space's.
            19 => Error::from_static("no such device"),
            // The rest as the table says (the network's errors among them, so a /net seen
            // through a Linux mount still says devip's words).
            _ => match TABLE.iter().find(|(_, e)| *e == errno) {
                Some((text, _)) => Error::from_static(text),
                None => Error::new(format!("system error {errno}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_errors_become_plan9_strings() {
        let e: Error = io::Error::from_raw_os_error(2).into();
        assert_eq!(e.as_str(), "file does not exist");
        let e: Error = io::Error::from_raw_os_error(39).into();
        assert_eq!(e, Error::NOT_EMPTY);
        assert_eq!(Error::NOT_EMPTY.errno(), 39);
        assert_eq!(Error::new("something odd").errno(), 5);
        assert_eq!(
            Error::new("permission denied: process 1 belongs to root").errno(),
            13
        );
        assert_eq!(Error::new("permission deniedish").errno(), 5);
        assert_eq!(Error::new("process exited").errno(), 3);
        assert_eq!(Error::new("mounted directory forbids creation").errno(), 13);
    }

    #[test]
    fn network_errors_survive_a_trip_through_linux() {
        for text in [
            "address in use",
            "not a local IP address",
            "net unreachable",
            "host unreachable",
            "connection refused",
            "connection timed out",
        ] {
            let errno = Error::new(text).errno();
            assert_ne!(errno, 5, "{text}");
            assert_eq!(Error::from_errno(errno).as_str(), text);
        }
    }
}
