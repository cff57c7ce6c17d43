//! The FUSE kernel protocol (include/uapi/linux/fuse.h, 7.x) as plain bytes: requests
//! parsed into owned values with bounds checks, replies encoded into `Vec<u8>`.
//!
//! Only what the bridge uses is here. Layouts are those of protocol 7.12 and later (the
//! kernel's compat sizes for older daemons are never needed, since we answer INIT with a
//! minor of at least 12).

use bytes::Bytes;

/// Protocol version we speak.
pub(crate) const KERNEL_VERSION: u32 = 7;
/// The highest minor we answer with: the layouts below are those of 7.31.
pub(crate) const MAX_MINOR: u32 = 31;
/// The lowest minor the kernel must offer: umask in mkdir/mknod/create arrived in 7.12.
pub(crate) const MIN_MINOR: u32 = 12;

pub(crate) const OUT_HEADER_SIZE: usize = 16;

/// Largest write the kernel sends us, and (through max_pages) the largest read it asks for.
pub(crate) const MAX_WRITE: u32 = 1 << 20;
/// Pages of 4 KiB in MAX_WRITE.
pub(crate) const MAX_PAGES: u16 = 256;
/// The read buffer: a whole write request (header, write_in, payload) must fit.
pub(crate) const BUFFER_SIZE: usize = MAX_WRITE as usize + 4096;

/// The inode number of the root, fixed by the protocol.
pub(crate) const ROOT_ID: u64 = 1;

pub(crate) mod op {
    pub(crate) const LOOKUP: u32 = 1;
    pub(crate) const FORGET: u32 = 2;
    pub(crate) const GETATTR: u32 = 3;
    pub(crate) const SETATTR: u32 = 4;
    pub(crate) const READLINK: u32 = 5;
    pub(crate) const SYMLINK: u32 = 6;
    pub(crate) const MKNOD: u32 = 8;
    pub(crate) const MKDIR: u32 = 9;
    pub(crate) const UNLINK: u32 = 10;
    pub(crate) const RMDIR: u32 = 11;
    pub(crate) const RENAME: u32 = 12;
    pub(crate) const LINK: u32 = 13;
    pub(crate) const OPEN: u32 = 14;
    pub(crate) const READ: u32 = 15;
    pub(crate) const WRITE: u32 = 16;
    pub(crate) const STATFS: u32 = 17;
    pub(crate) const RELEASE: u32 = 18;
    pub(crate) const FSYNC: u32 = 20;
    pub(crate) const FLUSH: u32 = 25;
    pub(crate) const INIT: u32 = 26;
    pub(crate) const OPENDIR: u32 = 27;
    pub(crate) const READDIR: u32 = 28;
    pub(crate) const RELEASEDIR: u32 = 29;
    pub(crate) const FSYNCDIR: u32 = 30;
    pub(crate) const CREATE: u32 = 35;
    pub(crate) const INTERRUPT: u32 = 36;
    pub(crate) const DESTROY: u32 = 38;
    pub(crate) const POLL: u32 = 40;
    pub(crate) const BATCH_FORGET: u32 = 42;
    pub(crate) const READDIRPLUS: u32 = 44;
    pub(crate) const RENAME2: u32 = 45;
}

/// INIT flags.
pub(crate) mod init {
    pub(crate) const ASYNC_READ: u32 = 1 << 0;
    pub(crate) const ATOMIC_O_TRUNC: u32 = 1 << 3;
    pub(crate) const BIG_WRITES: u32 = 1 << 5;
    pub(crate) const AUTO_INVAL_DATA: u32 = 1 << 12;
    pub(crate) const DO_READDIRPLUS: u32 = 1 << 13;
    pub(crate) const READDIRPLUS_AUTO: u32 = 1 << 14;
    pub(crate) const PARALLEL_DIROPS: u32 = 1 << 18;
    pub(crate) const MAX_PAGES: u32 = 1 << 22;
}

/// Flags of the OPEN reply.
pub(crate) mod fopen {
    pub(crate) const DIRECT_IO: u32 = 1 << 0;
    pub(crate) const KEEP_CACHE: u32 = 1 << 1;
    /// No FLUSH at close(2) (7.35; older kernels ignore it and get ENOSYS once).
    pub(crate) const NOFLUSH: u32 = 1 << 5;
}

/// Which fields of a SETATTR are set.
pub(crate) mod fattr {
    pub(crate) const MODE: u32 = 1 << 0;
    pub(crate) const UID: u32 = 1 << 1;
    pub(crate) const GID: u32 = 1 << 2;
    pub(crate) const SIZE: u32 = 1 << 3;
    pub(crate) const ATIME: u32 = 1 << 4;
    pub(crate) const MTIME: u32 = 1 << 5;
    pub(crate) const FH: u32 = 1 << 6;
    pub(crate) const ATIME_NOW: u32 = 1 << 7;
    pub(crate) const MTIME_NOW: u32 = 1 << 8;
}

/// POLL: the kernel has a waiter and wants a FUSE_NOTIFY_POLL once the file may be ready.
pub(crate) const POLL_SCHEDULE_NOTIFY: u32 = 1 << 0;

/// Unsolicited messages to the kernel (`unique` 0, the code in the error field).
pub(crate) mod notify {
    /// `struct fuse_notify_poll_wakeup_out { kh }`: wake the pollers of that file.
    pub(crate) const POLL: i32 = 1;
    /// `struct fuse_notify_inval_entry_out { parent, namelen, flags }` and the name: the
    /// kernel forgets that name's entry in that directory.
    pub(crate) const INVAL_ENTRY: i32 = 3;
}

/// poll(2) event bits, as FUSE_POLL carries them (userspace values).
pub(crate) mod pollev {
    pub(crate) const POLLIN: u32 = 0x001;
    pub(crate) const POLLPRI: u32 = 0x002;
    pub(crate) const POLLOUT: u32 = 0x004;
    pub(crate) const POLLERR: u32 = 0x008;
    pub(crate) const POLLRDNORM: u32 = 0x040;
    pub(crate) const POLLRDBAND: u32 = 0x080;
    pub(crate) const POLLWRNORM: u32 = 0x100;
    /// What "readable" is reported as.
    pub(crate) const READABLE: u32 = POLLIN | POLLRDNORM;
    /// What "writable" is reported as.
    pub(crate) const WRITABLE: u32 = POLLOUT | POLLWRNORM;
    /// Events that ask about reading.
    pub(crate) const ASK_READ: u32 = POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND;
}

/// GETATTR: `fh` is valid.
pub(crate) const GETATTR_FH: u32 = 1;

/// Linux errno values used in replies.
pub(crate) mod errno {
    pub(crate) const EPERM: i32 = 1;
    pub(crate) const ENOENT: i32 = 2;
    pub(crate) const EINTR: i32 = 4;
    pub(crate) const EIO: i32 = 5;
    pub(crate) const EBADF: i32 = 9;
    pub(crate) const EXDEV: i32 = 18;
    pub(crate) const EDEADLK: i32 = 35;
    pub(crate) const ENOTDIR: i32 = 20;
    pub(crate) const EISDIR: i32 = 21;
    pub(crate) const EINVAL: i32 = 22;
    pub(crate) const ENAMETOOLONG: i32 = 36;
    pub(crate) const ENOSYS: i32 = 38;
    pub(crate) const ESTALE: i32 = 116;
}

/// Renameat2 flags.
pub(crate) const RENAME_NOREPLACE: u32 = 1 << 0;

/// The fixed header of every request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InHeader {
    pub(crate) len: u32,
    pub(crate) opcode: u32,
    pub(crate) unique: u64,
    pub(crate) nodeid: u64,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) pid: u32,
}

/// A bounds-checked little reader over one request's bytes. Every getter returns `None`
/// past the end, so a short or garbled request becomes EINVAL, never a panic.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        let b = self.bytes(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }

    pub(crate) fn skip(&mut self, n: usize) -> Option<()> {
        self.bytes(n).map(|_| ())
    }

    /// A NUL-terminated name.
    pub(crate) fn name(&mut self) -> Option<Vec<u8>> {
        let end = self.buf.iter().position(|&b| b == 0)?;
        let name = self.bytes(end)?.to_vec();
        self.skip(1)?;
        Some(name)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
}

impl InHeader {
    pub(crate) fn parse(c: &mut Cursor<'_>) -> Option<InHeader> {
        let len = c.u32()?;
        let opcode = c.u32()?;
        let unique = c.u64()?;
        let nodeid = c.u64()?;
        let uid = c.u32()?;
        let gid = c.u32()?;
        let pid = c.u32()?;
        c.skip(4)?; // total_extlen[2], padding[2]
        Some(InHeader {
            len,
            opcode,
            unique,
            nodeid,
            uid,
            gid,
            pid,
        })
    }
}

/// SETATTR's arguments.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SetAttrIn {
    pub(crate) valid: u32,
    pub(crate) fh: u64,
    pub(crate) size: u64,
    pub(crate) atime: u64,
    pub(crate) mtime: u64,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// One request, owned (copied out of the read buffer), ready to move into a task.
#[derive(Debug)]
pub(crate) enum Op {
    Init {
        major: u32,
        minor: u32,
        max_readahead: u32,
        flags: u32,
    },
    Destroy,
    Interrupt {
        unique: u64,
    },
    Forget {
        nlookup: u64,
    },
    BatchForget {
        items: Vec<(u64, u64)>,
    },
    Lookup {
        name: Vec<u8>,
    },
    GetAttr {
        fh: Option<u64>,
    },
    SetAttr(SetAttrIn),
    Mknod {
        name: Vec<u8>,
        mode: u32,
    },
    Mkdir {
        name: Vec<u8>,
        mode: u32,
    },
    Unlink {
        name: Vec<u8>,
    },
    Rmdir {
        name: Vec<u8>,
    },
    Rename {
        newdir: u64,
        flags: u32,
        old: Vec<u8>,
        new: Vec<u8>,
    },
    Open {
        flags: u32,
    },
    Read {
        fh: u64,
        offset: u64,
        size: u32,
    },
    Write {
        fh: u64,
        offset: u64,
        data: Bytes,
    },
    StatFs,
    Release {
        fh: u64,
    },
    Fsync {
        fh: u64,
    },
    Flush,
    OpenDir,
    /// READDIR, or READDIRPLUS (`plus`): each entry with what LOOKUP would answer.
    ReadDir {
        fh: u64,
        offset: u64,
        size: u32,
        plus: bool,
    },
    ReleaseDir {
        fh: u64,
    },
    FsyncDir,
    Create {
        name: Vec<u8>,
        mode: u32,
        flags: u32,
    },
    /// poll(2), select(2) or epoll on an open file. `kh` names the kernel's file for a
    /// FUSE_NOTIFY_POLL; `events` is what the caller waits for (0 from kernels before
    /// 7.21: anything).
    Poll {
        fh: u64,
        kh: u64,
        flags: u32,
        events: u32,
    },
    /// Symlinks, hard links and readlink: 9P2000 has none.
    NoLinks,
    /// Anything else: ENOSYS, which also tells the kernel not to ask again for most ops
    /// (xattrs, access, lseek, fallocate, statx …).
    Unsupported,
}

impl Op {
    /// Parses the body of a request whose header said `opcode`.
    pub(crate) fn parse(opcode: u32, body: &[u8]) -> Option<Op> {
        let mut c = Cursor::new(body);
        let op = match opcode {
            op::INIT => {
                let major = c.u32()?;
                let minor = c.u32()?;
                let max_readahead = c.u32()?;
                let flags = c.u32()?;
                Op::Init {
                    major,
                    minor,
                    max_readahead,
                    flags,
                }
            }
            op::DESTROY => Op::Destroy,
            op::INTERRUPT => Op::Interrupt { unique: c.u64()? },
            op::FORGET => Op::Forget { nlookup: c.u64()? },
            op::BATCH_FORGET => {
                let count = c.u32()?;
                c.skip(4)?;
                // Never trust the count for an allocation: each item is 16 bytes.
                let mut items = Vec::with_capacity((count as usize).min(c.buf.len() / 16));
                for _ in 0..count {
                    let nodeid = c.u64()?;
                    let nlookup = c.u64()?;
                    items.push((nodeid, nlookup));
                }
                Op::BatchForget { items }
            }
            op::LOOKUP => Op::Lookup { name: c.name()? },
            op::GETATTR => {
                let flags = c.u32()?;
                c.skip(4)?;
                let fh = c.u64()?;
                Op::GetAttr {
                    fh: (flags & GETATTR_FH != 0).then_some(fh),
                }
            }
            op::SETATTR => {
                let valid = c.u32()?;
                c.skip(4)?;
                let fh = c.u64()?;
                let size = c.u64()?;
                c.skip(8)?; // lock_owner
                let atime = c.u64()?;
                let mtime = c.u64()?;
                c.skip(8)?; // ctime
                c.skip(12)?; // atimensec, mtimensec, ctimensec
                let mode = c.u32()?;
                c.skip(4)?;
                let uid = c.u32()?;
                let gid = c.u32()?;
                Op::SetAttr(SetAttrIn {
                    valid,
                    fh,
                    size,
                    atime,
                    mtime,
                    mode,
                    uid,
                    gid,
                })
            }
            op::MKNOD => {
                let mode = c.u32()?;
                c.skip(12)?; // rdev, umask, padding
                Op::Mknod {
                    mode,
                    name: c.name()?,
                }
            }
            op::MKDIR => {
                let mode = c.u32()?;
                c.skip(4)?; // umask
                Op::Mkdir {
                    mode,
                    name: c.name()?,
                }
            }
            op::UNLINK => Op::Unlink { name: c.name()? },
            op::RMDIR => Op::Rmdir { name: c.name()? },
            op::RENAME => {
                let newdir = c.u64()?;
                Op::Rename {
                    newdir,
                    flags: 0,
                    old: c.name()?,
                    new: c.name()?,
                }
            }
            op::RENAME2 => {
                let newdir = c.u64()?;
                let flags = c.u32()?;
                c.skip(4)?;
                Op::Rename {
                    newdir,
                    flags,
                    old: c.name()?,
                    new: c.name()?,
                }
            }
            op::OPEN => Op::Open { flags: c.u32()? },
            op::READ | op::READDIR | op::READDIRPLUS => {
                let fh = c.u64()?;
                let offset = c.u64()?;
                let size = c.u32()?;
                match opcode {
                    op::READ => Op::Read { fh, offset, size },
                    _ => Op::ReadDir {
                        fh,
                        offset,
                        size,
                        plus: opcode == op::READDIRPLUS,
                    },
                }
            }
            op::WRITE => {
                let fh = c.u64()?;
                let offset = c.u64()?;
                let size = c.u32()?;
                c.skip(4 + 8 + 4 + 4)?; // write_flags, lock_owner, flags, padding
                let data = c.bytes(size as usize)?;
                Op::Write {
                    fh,
                    offset,
                    data: Bytes::copy_from_slice(data),
                }
            }
            op::STATFS => Op::StatFs,
            op::RELEASE => Op::Release { fh: c.u64()? },
            op::RELEASEDIR => Op::ReleaseDir { fh: c.u64()? },
            op::FSYNC => Op::Fsync { fh: c.u64()? },
            op::FSYNCDIR => Op::FsyncDir,
            op::FLUSH => Op::Flush,
            op::OPENDIR => Op::OpenDir,
            op::CREATE => {
                let flags = c.u32()?;
                let mode = c.u32()?;
                c.skip(8)?; // umask, open_flags
                Op::Create {
                    flags,
                    mode,
                    name: c.name()?,
                }
            }
            op::POLL => {
                let fh = c.u64()?;
                let kh = c.u64()?;
                let flags = c.u32()?;
                let events = c.u32()?;
                Op::Poll {
                    fh,
                    kh,
                    flags,
                    events,
                }
            }
            op::SYMLINK | op::LINK | op::READLINK => Op::NoLinks,
            _ => Op::Unsupported,
        };
        let _ = c.rest();
        Some(op)
    }
}

/// An encoder for reply bodies.
#[derive(Debug, Default)]
pub(crate) struct Out(pub(crate) Vec<u8>);

impl Out {
    pub(crate) fn with_capacity(n: usize) -> Out {
        Out(Vec::with_capacity(n))
    }
    pub(crate) fn u16(&mut self, v: u16) -> &mut Out {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn u32(&mut self, v: u32) -> &mut Out {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Out {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn zeros(&mut self, n: usize) -> &mut Out {
        self.0.resize(self.0.len() + n, 0);
        self
    }
}

/// `struct fuse_attr`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Attr {
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) atime: u64,
    pub(crate) mtime: u64,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

pub(crate) const S_IFDIR: u32 = 0o040000;
pub(crate) const S_IFREG: u32 = 0o100000;
pub(crate) const S_IFMT: u32 = 0o170000;

impl Attr {
    /// Block size reported to stat(2): what stdio and cp size their buffers by.
    const BLKSIZE: u32 = 128 << 10;

    fn encode(&self, o: &mut Out) {
        o.u64(self.ino)
            .u64(self.size)
            .u64(self.size.div_ceil(512))
            .u64(self.atime)
            .u64(self.mtime)
            .u64(self.mtime) // ctime: 9P has none; mtime is the nearest
            .u32(0)
            .u32(0)
            .u32(0)
            .u32(self.mode)
            // One link for directories too: find(1) then does not guess subdirectory
            // counts from it.
            .u32(1)
            .u32(self.uid)
            .u32(self.gid)
            .u32(0) // rdev
            .u32(Self::BLKSIZE)
            .u32(0); // flags
    }
}

/// How long the kernel may trust an entry and its attributes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Validity {
    pub(crate) entry: std::time::Duration,
    pub(crate) attr: std::time::Duration,
}

/// `struct fuse_entry_out`.
pub(crate) fn entry_out(o: &mut Out, nodeid: u64, attr: &Attr, v: Validity) {
    o.u64(nodeid)
        .u64(0) // generation
        .u64(v.entry.as_secs())
        .u64(v.attr.as_secs())
        .u32(v.entry.subsec_nanos())
        .u32(v.attr.subsec_nanos());
    attr.encode(o);
}

/// `struct fuse_attr_out`.
pub(crate) fn attr_out(o: &mut Out, attr: &Attr, v: Validity) {
    o.u64(v.attr.as_secs()).u32(v.attr.subsec_nanos()).u32(0);
    attr.encode(o);
}

/// `struct fuse_open_out`.
pub(crate) fn open_out(o: &mut Out, fh: u64, flags: u32) {
    o.u64(fh).u32(flags).u32(0);
}

/// `struct fuse_write_out`.
pub(crate) fn write_out(o: &mut Out, size: u32) {
    o.u32(size).u32(0);
}

/// `struct fuse_poll_out`.
pub(crate) fn poll_out(o: &mut Out, revents: u32) {
    o.u32(revents).u32(0);
}

/// `struct fuse_statfs_out`: nothing is known about space; names up to 255 bytes.
pub(crate) fn statfs_out(o: &mut Out) {
    o.zeros(5 * 8) // blocks, bfree, bavail, files, ffree
        .u32(4096) // bsize
        .u32(255) // namelen
        .u32(4096) // frsize
        .u32(0)
        .zeros(6 * 4);
}

/// `struct fuse_init_out`.
pub(crate) fn init_out(o: &mut Out, minor: u32, max_readahead: u32, flags: u32) {
    o.u32(KERNEL_VERSION)
        .u32(minor)
        .u32(max_readahead)
        .u32(flags)
        .u16(64) // max_background
        .u16(48) // congestion_threshold
        .u32(MAX_WRITE)
        .u32(1_000_000_000) // time_gran: 9P times are whole seconds
        .u16(MAX_PAGES)
        .u16(0) // map_alignment
        .u32(0) // flags2
        .u32(0) // max_stack_depth
        .zeros(6 * 4);
}

/// The size of one `struct fuse_dirent` holding `name`, padded to 8 bytes.
pub(crate) fn dirent_size(name: &[u8]) -> usize {
    (24 + name.len()).next_multiple_of(8)
}

/// The size of one `struct fuse_direntplus`: an entry_out, then the dirent.
pub(crate) fn direntplus_size(name: &[u8]) -> usize {
    ENTRY_OUT_SIZE + dirent_size(name)
}

/// `struct fuse_entry_out`'s size.
pub(crate) const ENTRY_OUT_SIZE: usize = 128;

/// Appends one `struct fuse_dirent`. `off` is the offset of the *next* entry.
pub(crate) fn dirent(o: &mut Out, ino: u64, off: u64, dir: bool, name: &[u8]) {
    let start = o.0.len();
    let dtype = if dir { 4 } else { 8 }; // DT_DIR, DT_REG
    o.u64(ino).u64(off).u32(name.len() as u32).u32(dtype);
    o.0.extend_from_slice(name);
    let end = start + dirent_size(name);
    o.0.resize(end, 0);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reply_layouts_have_the_kernel_sizes() {
        let v = Validity::default();
        let a = Attr::default();
        let mut o = Out::default();
        a.encode(&mut o);
        assert_eq!(o.0.len(), 88);
        let mut o = Out::default();
        entry_out(&mut o, 2, &a, v);
        assert_eq!(o.0.len(), 128);
        let mut o = Out::default();
        attr_out(&mut o, &a, v);
        assert_eq!(o.0.len(), 104);
        let mut o = Out::default();
        init_out(&mut o, 31, 0, 0);
        assert_eq!(o.0.len(), 64);
        let mut o = Out::default();
        poll_out(&mut o, pollev::READABLE);
        assert_eq!(o.0.len(), 8);
        let mut o = Out::default();
        statfs_out(&mut o);
        assert_eq!(o.0.len(), 80);
        let mut o = Out::default();
        dirent(&mut o, 1, 1, false, b"abc");
        assert_eq!(o.0.len(), 32);
        assert_eq!(o.0.len(), dirent_size(b"abc"));
    }

    #[test]
    fn short_or_garbled_requests_do_not_parse() {
        assert!(Op::parse(op::READ, &[0; 10]).is_none());
        assert!(Op::parse(op::LOOKUP, b"no-nul").is_none());
        // A batch forget claiming more items than it carries.
        let mut b = Vec::new();
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&[0; 16]);
        assert!(Op::parse(op::BATCH_FORGET, &b).is_none());
        // A write whose size exceeds its payload.
        let mut w = vec![0u8; 40];
        w[16..20].copy_from_slice(&100u32.to_le_bytes());
        assert!(Op::parse(op::WRITE, &w).is_none());
        assert!(matches!(
            Op::parse(op::RENAME, b"\x02\0\0\0\0\0\0\0a\0b\0").unwrap(),
            Op::Rename { newdir: 2, ref old, ref new, .. } if old == b"a" && new == b"b"
        ));
        assert!(matches!(Op::parse(9999, b"").unwrap(), Op::Unsupported));
        // POLL: fh, kh, flags, events; shorter is refused.
        let mut p = Vec::new();
        p.extend_from_slice(&3u64.to_le_bytes());
        p.extend_from_slice(&9u64.to_le_bytes());
        p.extend_from_slice(&POLL_SCHEDULE_NOTIFY.to_le_bytes());
        p.extend_from_slice(&pollev::POLLIN.to_le_bytes());
        assert!(matches!(
            Op::parse(op::POLL, &p).unwrap(),
            Op::Poll {
                fh: 3,
                kh: 9,
                flags: POLL_SCHEDULE_NOTIFY,
                events: pollev::POLLIN
            }
        ));
        assert!(Op::parse(op::POLL, &p[..20]).is_none());
    }

    #[test]
    fn header_parses() {
        let mut h = Vec::new();
        h.extend_from_slice(&40u32.to_le_bytes());
        h.extend_from_slice(&op::GETATTR.to_le_bytes());
        h.extend_from_slice(&7u64.to_le_bytes());
        h.extend_from_slice(&1u64.to_le_bytes());
        h.extend_from_slice(&[0; 16]);
        let hdr = InHeader::parse(&mut Cursor::new(&h)).unwrap();
        assert_eq!((hdr.len, hdr.opcode, hdr.unique, hdr.nodeid), (40, 3, 7, 1));
        assert!(InHeader::parse(&mut Cursor::new(&h[..39])).is_none());
    }
}
