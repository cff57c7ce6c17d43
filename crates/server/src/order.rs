//! Pipelined requests that depend on each other take effect in the order they were sent.
//!
//! A client may send Twalk(newfid), Topen(newfid) and Tread(newfid) without waiting for
//! the replies in between (ninefold's client does, to dial in fewer round trips). Most
//! requests finish while they are being read (see `session::start`), so they run in order
//! anyway. One that has to wait — a walk through a slow tree, a Topen of a listen file —
//! closes a gate on the fid it creates or changes (attach, walk's newfid, open, create,
//! clunk, remove), and a later request that names such a fid waits at the gate first.
//!
//! Requests that had to wait go on in the order they came: each closes the gates it waited
//! at again until it has started (been polled once), and the gate of the fid it creates or
//! changes, if any, until it has finished. So every request on a fid is started in the
//! order it came, and a tree whose writes must land in order (a stream) gets that by
//! taking its place, a fair lock, in the first poll: the client may keep several Twrites
//! to a socket in flight. Reads and writes close no gate of their own: a write blocked on a
//! full socket or a `waitstop` must not hold up a read, a clunk, or a `stop` written on the
//! same fid.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ninefold_proto::Tmsg;
use tokio::sync::watch;

/// The gates of a connection that are closed: a request they guard is still running.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    map: Mutex<GateMap>,
}

#[derive(Debug, Default)]
struct GateMap {
    by_key: HashMap<Key, (u64, watch::Receiver<()>)>,
    next_id: u64,
}

/// A gate guards a fid.
pub(crate) type Key = u32;

/// The gates a request waits at, and those it closes until it has finished.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Keys {
    pub waits: [Option<Key>; 2],
    pub closes: [Option<Key>; 2],
}

/// Gates found closed: what to wait for, and which they were.
#[derive(Debug, Default)]
pub(crate) struct Closed {
    pub waits: Vec<watch::Receiver<()>>,
    pub keys: [Option<Key>; 2],
}

/// Held by a running request; the gates it closed open when it is dropped.
#[derive(Debug)]
pub(crate) struct Holder {
    gates: Arc<Gates>,
    id: u64,
    keys: [Option<Key>; 2],
    // Dropping the sender is what wakes the waiters.
    _open_on_drop: watch::Sender<()>,
}

impl Gates {
    fn lock(&self) -> MutexGuard<'_, GateMap> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Those of the gates `keys` that are closed: a request waits for them all.
    pub fn closed(&self, keys: [Option<Key>; 2]) -> Closed {
        let mut closed = Closed::default();
        let mut map = self.lock();
        if map.by_key.is_empty() {
            return closed;
        }
        for (i, key) in keys.into_iter().enumerate() {
            let Some(key) = key else { continue };
            if let Some((_, rx)) = map.by_key.get(&key) {
                if rx.has_changed().is_err() {
                    // Its request has ended; the entry was left by a race with drop.
                    map.by_key.remove(&key);
                } else {
                    closed.keys[i] = Some(key);
                    closed.waits.push(rx.clone());
                }
            }
        }
        closed
    }

    /// Closes the gates `keys` until the holder is dropped.
    pub fn close(self: &Arc<Self>, keys: [Option<Key>; 2]) -> Option<Holder> {
        if keys.iter().all(Option::is_none) {
            return None;
        }
        let (tx, rx) = watch::channel(());
        let mut map = self.lock();
        let id = map.next_id;
        map.next_id += 1;
        for key in keys.into_iter().flatten() {
            map.by_key.insert(key, (id, rx.clone()));
        }
        Some(Holder {
            gates: self.clone(),
            id,
            keys,
            _open_on_drop: tx,
        })
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let mut map = self.gates.lock();
        for key in self.keys.into_iter().flatten() {
            // A later request may have closed the gate again since.
            if map.by_key.get(&key).is_some_and(|(id, _)| *id == self.id) {
                map.by_key.remove(&key);
            }
        }
    }
}

/// Waits until every gate in `waits` is open.
async fn pass(waits: Vec<watch::Receiver<()>>) {
    for mut rx in waits {
        // Never sent on: this returns when the holder drops its sender.
        let _ = rx.changed().await;
    }
}

/// Runs `work` once the gates in `waits` are open. `queued` (the gates waited at, closed
/// again) is let go after the work's first poll, `holding` when the work has finished.
pub(crate) async fn in_turn<F: Future>(
    waits: Vec<watch::Receiver<()>>,
    queued: Option<Holder>,
    holding: Option<Holder>,
    work: F,
) -> F::Output {
    pass(waits).await;
    let mut queued = queued;
    let mut work = std::pin::pin!(work);
    let r = std::future::poll_fn(|cx| {
        let r = work.as_mut().poll(cx);
        queued.take();
        r
    })
    .await;
    drop(holding);
    r
}

/// The gates a request waits at and closes.
pub(crate) fn keys_of(msg: &Tmsg) -> Keys {
    let (waits, closes) = match *msg {
        Tmsg::Walk { fid, newfid, .. } if fid != newfid => {
            ([Some(fid), Some(newfid)], Some(newfid))
        }
        Tmsg::Walk { fid, .. }
        | Tmsg::Attach { fid, .. }
        | Tmsg::Open { fid, .. }
        | Tmsg::Create { fid, .. }
        | Tmsg::Clunk { fid }
        | Tmsg::Remove { fid } => ([Some(fid), None], Some(fid)),
        Tmsg::Read { fid, .. }
        | Tmsg::Write { fid, .. }
        | Tmsg::Stat { fid }
        | Tmsg::Wstat { fid, .. } => ([Some(fid), None], None),
        Tmsg::Auth { .. } | Tmsg::Version { .. } | Tmsg::Flush { .. } => return Keys::default(),
    };
    Keys {
        waits,
        closes: [closes, None],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(fid: u32, newfid: u32) -> Tmsg {
        Tmsg::Walk {
            fid,
            newfid,
            wnames: vec!["a".into()],
        }
    }

    fn closed_for(gates: &Gates, msg: &Tmsg) -> Vec<watch::Receiver<()>> {
        gates.closed(keys_of(msg).waits).waits
    }

    fn close_for(gates: &Arc<Gates>, msg: &Tmsg) -> Option<Holder> {
        gates.close(keys_of(msg).closes)
    }

    #[tokio::test]
    async fn a_request_waits_for_the_one_that_makes_its_fid() {
        let gates = Arc::new(Gates::default());
        let holder = close_for(&gates, &walk(0, 1));
        assert!(holder.is_some());
        // Reading fid 1 waits; stat of fid 0, which the walk only names, does not.
        let waits = closed_for(
            &gates,
            &Tmsg::Read {
                fid: 1,
                offset: 0,
                count: 1,
            },
        );
        assert_eq!(waits.len(), 1);
        assert!(closed_for(&gates, &Tmsg::Stat { fid: 0 }).is_empty());
        let mut waiting = tokio::spawn(pass(waits));
        let early = tokio::time::timeout(std::time::Duration::from_millis(100), &mut waiting).await;
        assert!(early.is_err(), "passed a closed gate");
        drop(holder);
        let passed = tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await;
        assert!(
            matches!(passed, Ok(Ok(()))),
            "the gate did not open: {passed:?}"
        );
        assert!(closed_for(&gates, &Tmsg::Stat { fid: 1 }).is_empty());
    }

    #[tokio::test]
    async fn reads_and_writes_close_no_gate() {
        let gates = Arc::new(Gates::default());
        let read = Tmsg::Read {
            fid: 3,
            offset: 0,
            count: 1,
        };
        let write = Tmsg::Write {
            fid: 3,
            offset: 0,
            data: bytes::Bytes::from_static(b"x"),
        };
        assert!(close_for(&gates, &read).is_none());
        assert!(close_for(&gates, &write).is_none());
        assert!(closed_for(&gates, &Tmsg::Clunk { fid: 3 }).is_empty());
    }

    #[tokio::test]
    async fn a_later_gate_outlives_an_earlier_holder() {
        let gates = Arc::new(Gates::default());
        let open = close_for(&gates, &Tmsg::Open { fid: 2, mode: 0 });
        let clunk = close_for(&gates, &Tmsg::Clunk { fid: 2 });
        drop(open);
        assert_eq!(closed_for(&gates, &Tmsg::Stat { fid: 2 }).len(), 1);
        drop(clunk);
        assert!(closed_for(&gates, &Tmsg::Stat { fid: 2 }).is_empty());
    }
}
