//! Which signals interrupt a request.
//!
//! The kernel sends FUSE_INTERRUPT for any signal that arrives while a caller waits on us,
//! including those a program catches only to keep house: a shell's SIGCHLD handler fires
//! whenever a background job ends, a terminal program's SIGWINCH on every resize. Plan 9
//! flushes on a note, and a caught SIGINT or SIGTERM is one — but answering EINTR for a
//! SIGCHLD makes `echo waitstop > ctl` fail in a shell whose job just ended, which no
//! Linux file does (their waits restart). So an interrupt cancels the request unless every
//! signal pending for the caller is one of those housekeeping signals and is caught; then
//! the request goes on, and the handler runs once it is answered. When the pending
//! signals cannot be read (the caller is gone), it cancels, as before.

/// Signals programs catch to keep house, not to stop what they are doing: SIGCHLD,
/// SIGCONT, SIGURG, SIGVTALRM, SIGPROF, SIGWINCH.
const HOUSEKEEPING: u64 = bit(17) | bit(18) | bit(23) | bit(26) | bit(27) | bit(28);

const fn bit(sig: u32) -> u64 {
    1 << (sig - 1)
}

/// Linux's /proc, opened by the first mount ([`open_proc`]) and read through that
/// directory only. Whatever is mounted on /proc later must not be read: a session that
/// mounts another machine's /proc there through FUSE would send this read to that
/// mount — to the very thread that is reading it, when the interrupt is of a request to
/// that mount, which then waits for itself for ever. `None`: /proc is not procfs.
static PROC: std::sync::OnceLock<Option<std::os::fd::OwnedFd>> = std::sync::OnceLock::new();

/// Opens /proc for [`cancels`], if it was not yet: called by every mount.
pub(crate) fn open_proc() {
    PROC.get_or_init(|| {
        use rustix::fs::{Mode, OFlags, PROC_SUPER_MAGIC};
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open("/proc", flags, Mode::empty()).ok()?;
        let procfs = rustix::fs::fstatfs(&fd).ok()?.f_type == PROC_SUPER_MAGIC;
        procfs.then_some(fd)
    });
}

/// Threads of ours whose requests are served all the same (see [`serving_own_thread`]).
static SERVED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Runs `f` with this thread's requests served even by mounts that refuse their own
/// process's (`MountOptions::refuse_own_process`). For a thread outside the runtime (one
/// of its blocking pool) that must look names up through such a mount, as binding from
/// one does; never on a thread the runtime needs to serve the mount.
pub fn serving_own_thread<R>(f: impl FnOnce() -> R) -> R {
    struct Served(u32);
    impl Drop for Served {
        fn drop(&mut self) {
            let mut s = SERVED.lock().unwrap_or_else(|p| p.into_inner());
            s.retain(|t| *t != self.0);
        }
    }
    let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
    SERVED.lock().unwrap_or_else(|p| p.into_inner()).push(tid);
    let _served = Served(tid);
    f()
}

/// Whether thread `tid` of ours is being served (see [`serving_own_thread`]).
pub(crate) fn served(tid: u32) -> bool {
    SERVED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&tid)
}

/// Whether thread `tid` is one of this process's.
pub(crate) fn ours(tid: u32) -> bool {
    if tid == std::process::id() {
        return true;
    }
    open_proc();
    let Some(Some(proc)) = PROC.get() else {
        return false;
    };
    let path = format!("self/task/{tid}");
    rustix::fs::statat(proc, path, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

/// Whether an interrupt of a request made by thread `tid` should cancel it.
pub(crate) fn cancels(tid: u32) -> bool {
    use rustix::fs::{Mode, OFlags};
    open_proc();
    let Some(Some(proc)) = PROC.get() else {
        return true;
    };
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    let Ok(fd) = rustix::fs::openat(proc, format!("{tid}/status"), flags, Mode::empty()) else {
        return true;
    };
    match std::io::read_to_string(std::fs::File::from(fd)) {
        Ok(status) => cancels_given(&status),
        Err(_) => true,
    }
}

/// As [`cancels`], from the text of /proc/TID/status.
fn cancels_given(status: &str) -> bool {
    let mask = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    };
    let (Some(thread), Some(shared), Some(blocked), Some(caught)) = (
        mask("SigPnd:"),
        mask("ShdPnd:"),
        mask("SigBlk:"),
        mask("SigCgt:"),
    ) else {
        return true;
    };
    let pending = (thread | shared) & !blocked;
    // Nothing pending any more (another thread took a process-wide signal): nothing to
    // tell apart, so do as Plan 9 does.
    if pending == 0 {
        return true;
    }
    pending & !(HOUSEKEEPING & caught) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(pnd: u64, shd: u64, blk: u64, cgt: u64) -> String {
        format!(
            "Name:\tbash\nSigQ:\t0/1000\nSigPnd:\t{pnd:016x}\nShdPnd:\t{shd:016x}\n\
             SigBlk:\t{blk:016x}\nSigIgn:\t0000000000000000\nSigCgt:\t{cgt:016x}\n"
        )
    }

    #[test]
    fn housekeeping_signals_that_are_caught_do_not_cancel() {
        let chld = bit(17);
        let int = bit(2);
        // A shell's SIGCHLD handler: the write goes on.
        assert!(!cancels_given(&status(0, chld, 0, chld | int)));
        assert!(!cancels_given(&status(bit(28), chld, 0, chld | bit(28))));
        // Ctrl-C, caught or not, cancels; so does SIGCHLD alongside it.
        assert!(cancels_given(&status(0, int, 0, chld | int)));
        assert!(cancels_given(&status(0, int | chld, 0, chld)));
        // SIGTERM, SIGKILL (never caught), SIGUSR1.
        assert!(cancels_given(&status(0, bit(15), 0, 0)));
        assert!(cancels_given(&status(bit(9), 0, 0, 0)));
        assert!(cancels_given(&status(0, bit(10), 0, bit(10))));
        // A housekeeping signal with no handler would not have interrupted: if it is
        // there, something else is going on; cancel.
        assert!(cancels_given(&status(0, chld, 0, 0)));
        // Blocked signals do not count; none pending at all cancels.
        assert!(!cancels_given(&status(0, chld | int, int, chld)));
        assert!(cancels_given(&status(0, 0, 0, chld)));
        assert!(cancels_given("garbage"));
    }

    #[test]
    fn tells_our_threads() {
        /// The calling thread's id, from /proc/thread-self (`PID/task/TID`).
        fn tid() -> u32 {
            let link = std::fs::read_link("/proc/thread-self").unwrap();
            link.file_name().unwrap().to_str().unwrap().parse().unwrap()
        }
        assert!(ours(std::process::id()));
        let other = std::thread::spawn(tid).join().unwrap();
        assert_ne!(other, std::process::id());
        // Our thread while it lives; not once it has gone.
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(tid()).unwrap();
            let _ = done_rx.recv();
        });
        assert!(ours(rx.recv().unwrap()));
        done_tx.send(()).unwrap();
        t.join().unwrap();
        // Another process: a child.
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(!ours(child.id()));
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn reads_a_real_status() {
        // The main thread has nothing pending: cancel, as Plan 9 would.
        assert!(cancels(std::process::id()));
        assert!(cancels(u32::MAX));
    }
}
