//! The blocking work: file reads and writes at an offset, and directory listings.

use std::os::fd::{AsFd, OwnedFd};

use bytes::Bytes;
use ninefold_fs::{Error, Result};
use ninefold_proto::Stat;
use rustix::buffer::spare_capacity;
use rustix::fs::{AtFlags, Dir, OFlags, fstat, statat};
use rustix::io::Errno;

use crate::resolve::{errno, open_beneath};
use crate::stat::{is_regular, is_symlink, to_stat};
use crate::tree::Shared;

/// Runs filesystem work on tokio's blocking pool, off the threads that serve requests.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or(Err(Error::IO))
}

/// Up to `count` bytes at `offset`. A regular file is read until `count` or end of file;
/// anything else (a device, a FIFO) answers with what one read gives, as a stream does.
pub(crate) fn read_at(fd: &OwnedFd, offset: u64, count: u32) -> Result<Bytes> {
    let count = count as usize;
    if count == 0 {
        return Ok(Bytes::new());
    }
    let st = fstat(fd).map_err(errno)?;
    let regular = is_regular(&st);
    // Size the buffer by what the file holds, plus a byte so the final read can see end of
    // file without growing it: a 4 MiB count on a small file allocates little.
    let left = u64::try_from(st.st_size)
        .unwrap_or(0)
        .saturating_sub(offset)
        .saturating_add(1);
    let first = usize::try_from(left).unwrap_or(count).max(8192).min(count);
    let mut buf: Vec<u8> = ninefold_io::pool::take(first);
    while buf.len() < count {
        if buf.len() == buf.capacity() {
            // The file grew while we read: double, within the count.
            let more = buf.len().max(8192).min(count - buf.len());
            buf.reserve_exact(more);
        }
        let at = offset.saturating_add(buf.len() as u64);
        let n = match rustix::io::pread(fd, spare_capacity(&mut buf), at) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            // Not seekable: a stream, where the offset means nothing.
            Err(Errno::SPIPE) => match rustix::io::read(fd, spare_capacity(&mut buf)) {
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(errno(e)),
            },
            Err(e) => return Err(errno(e)),
        };
        if n == 0 || !regular {
            break;
        }
    }
    // A pooled buffer may be larger than asked, and reads fill all of it.
    buf.truncate(count);
    Ok(ninefold_io::pool::freeze(buf))
}

/// Writes all of `data` at `offset` (or, on a stream, as one write).
pub(crate) fn write_at(fd: &OwnedFd, offset: u64, data: &[u8]) -> Result<u32> {
    let mut done = 0;
    while done < data.len() {
        let at = offset.saturating_add(done as u64);
        let n = match rustix::io::pwrite(fd, &data[done..], at) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(Errno::SPIPE) => match rustix::io::write(fd, &data[done..]) {
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(e) if done == 0 => return Err(errno(e)),
                Err(_) => break,
            },
            // Report what was written before the failure; the next write sees the error.
            Err(e) if done == 0 => return Err(errno(e)),
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(u32::try_from(done).unwrap_or(u32::MAX))
}

/// The entries of the open directory `dir` (whose lexical path is `path`), except `.` and
/// `..`, as stat entries.
pub(crate) fn list_dir(shared: &Shared, dir: &OwnedFd, path: &[String]) -> Result<Vec<Stat>> {
    let mut entries = Vec::new();
    let mut stream = Dir::read_from(dir).map_err(errno)?;
    while let Some(entry) = stream.read() {
        let entry = entry.map_err(errno)?;
        let raw = entry.file_name();
        let Ok(name) = raw.to_str() else {
            tracing::debug!(name = ?raw, "skipping a name that is not UTF-8");
            continue;
        };
        if name == "." || name == ".." {
            continue;
        }
        let mut st = match statat(dir, raw, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Removed since the listing was read.
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(errno(e)),
        };
        if is_symlink(&st) {
            // Show the target if it lies beneath the root, or else the link itself.
            let mut target = path.to_vec();
            target.push(name.to_owned());
            if let Ok(st2) = open_beneath(shared.root.as_fd(), &target, OFlags::PATH)
                .and_then(|fd| fstat(&fd).map_err(errno))
            {
                st = st2;
            }
        }
        let owner = shared.names.lookup(&st);
        entries.push(to_stat(&shared.devs, &st, name.to_owned(), owner));
    }
    Ok(entries)
}
