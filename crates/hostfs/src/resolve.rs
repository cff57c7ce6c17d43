//! Path resolution confined beneath the root, by the kernel rather than by string checks.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use ninefold_fs::{Error, Result};
use rustix::fs::{Mode, OFlags, ResolveFlags, Stat, fstat, openat2};
use rustix::io::Errno;

/// The error of a host call, as a Plan 9 string.
pub(crate) fn errno(e: Errno) -> Error {
    Error::from_errno(e.raw_os_error())
}

/// Checks a name for create or rename: one plain path element.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(Error::BAD_ARG);
    }
    Ok(())
}

/// Applies one walk element to a lexical path: `..` pops (and stays at the root), any
/// other valid name is pushed.
pub(crate) fn step(path: &mut Vec<String>, name: &str) -> Result<()> {
    if name == ".." {
        path.pop();
        return Ok(());
    }
    check_name(name)?;
    path.push(name.to_owned());
    Ok(())
}

/// The lexical path an attach name selects: "" and "/" are the root; `.` and empty
/// elements are skipped, so "/a//b/" is "a/b".
pub(crate) fn parse_aname(aname: &str) -> Result<Vec<String>> {
    let mut path = Vec::new();
    for elem in aname.split('/').filter(|e| !e.is_empty() && *e != ".") {
        step(&mut path, elem)?;
    }
    Ok(path)
}

/// Opens the lexical `path` beneath `root`. Symlinks are followed while they stay beneath
/// the root; one that leads out fails with "permission denied".
pub(crate) fn open_beneath(
    root: BorrowedFd<'_>,
    path: &[String],
    flags: OFlags,
) -> Result<OwnedFd> {
    // Lexical paths never hold "..", so only symlink targets can climb, and the kernel
    // checks those.
    let joined = if path.is_empty() {
        ".".to_owned()
    } else {
        path.join("/")
    };
    // openat2 refuses O_PATH with flags it ignores, such as O_NOCTTY.
    let flags = if flags.contains(OFlags::PATH) {
        flags | OFlags::CLOEXEC
    } else {
        flags | OFlags::CLOEXEC | OFlags::NOCTTY
    };
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    // openat2 answers EAGAIN when a rename or mount raced the lookup: try again.
    let mut tries = 0;
    loop {
        match openat2(root, joined.as_str(), flags, Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            Err(Errno::AGAIN | Errno::INTR) if tries < 16 => tries += 1,
            Err(Errno::XDEV) => return Err(Error::PERM),
            Err(e) => return Err(errno(e)),
        }
    }
}

/// True when two stats describe the same file.
pub(crate) fn same_file(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// Opens the lexical `path` beneath `root` and checks that it is still the file `held`
/// refers to, so a node never acts on whatever else was moved to its name.
pub(crate) fn open_self(
    root: BorrowedFd<'_>,
    path: &[String],
    held: impl AsFd,
    flags: OFlags,
) -> Result<OwnedFd> {
    let fd = open_beneath(root, path, flags)?;
    let now = fstat(&fd).map_err(errno)?;
    let was = fstat(held).map_err(errno)?;
    if !same_file(&now, &was) {
        return Err(Error::NOT_FOUND);
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotdot_pops_and_stays_at_the_root() {
        let mut p = Vec::new();
        step(&mut p, "..").unwrap();
        assert!(p.is_empty());
        step(&mut p, "a").unwrap();
        step(&mut p, "b").unwrap();
        step(&mut p, "..").unwrap();
        assert_eq!(p, ["a"]);
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in ["", ".", "a/b", "/", "a\0b"] {
            assert_eq!(step(&mut Vec::new(), bad), Err(Error::BAD_ARG), "{bad:?}");
        }
        assert_eq!(check_name(".."), Err(Error::BAD_ARG));
    }

    #[test]
    fn anames_are_lexical_and_confined() {
        assert!(parse_aname("").unwrap().is_empty());
        assert!(parse_aname("/").unwrap().is_empty());
        assert_eq!(parse_aname("/a//./b/").unwrap(), ["a", "b"]);
        assert_eq!(parse_aname("../../a").unwrap(), ["a"]);
        assert!(parse_aname("a\0").is_err());
    }
}
