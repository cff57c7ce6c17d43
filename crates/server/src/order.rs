//! Pipelined requests that depend on each other take effect in the order they were sent.
//!
//! A client may send Twalk(newfid), Topen(newfid) and Tread(newfid) without waiting for
//! the replies in between (ninefold's client does, to dial in fewer round trips). Most
//! requests finish while they are being read (see `session::start`), so they run in order
//! anyway. One that has to wait — a walk through a slow tree, a Topen of a listen file —
//! leaves a gate on the fids it creates or changes (attach, walk's newfid, open, create,
//! clunk, remove), and a later request that names such a fid waits at the gate first.
//! Requests that had to wait go on in the order they came: each closes a gate of its own
//! on the fids it names, opened when it has started (polled once: a write has taken its
//! place at the socket) or, if it creates or changes a fid, when it has finished. Reads and
//! writes that did not wait leave no gate: a read waiting on a socket must not hold up a
//! write to the same fid, nor a clunk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ninefold_proto::Tmsg;
use tokio::sync::watch;

/// The fids of a connection whose last creating or changing request is still running.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    map: Mutex<GateMap>,
}

#[derive(Debug, Default)]
struct GateMap {
    by_fid: HashMap<u32, (u64, watch::Receiver<()>)>,
    next_id: u64,
}

/// Held by a running request; the gates it closed open when it is dropped.
#[derive(Debug)]
pub(crate) struct Holder {
    gates: Arc<Gates>,
    id: u64,
    fids: Fids,
    // Dropping the sender is what wakes the waiters.
    _open_on_drop: watch::Sender<()>,
}

/// At most two fids: a walk's fid and newfid.
pub(crate) type Fids = [Option<u32>; 2];

impl Gates {
    fn lock(&self) -> MutexGuard<'_, GateMap> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The gates still closed on the fids a request names; it waits for them all.
    pub fn closed_on(&self, names: Fids) -> Vec<watch::Receiver<()>> {
        let mut map = self.lock();
        if map.by_fid.is_empty() {
            return Vec::new();
        }
        let mut waits = Vec::new();
        for fid in names.into_iter().flatten() {
            if let Some((_, rx)) = map.by_fid.get(&fid) {
                if rx.has_changed().is_err() {
                    // Its request has ended; the entry was left by a race with drop.
                    map.by_fid.remove(&fid);
                } else {
                    waits.push(rx.clone());
                }
            }
        }
        waits
    }

    /// Closes gates on the fids a request creates or changes, until the holder is dropped.
    pub fn close(self: &Arc<Self>, changes: Fids) -> Option<Holder> {
        if changes.iter().all(Option::is_none) {
            return None;
        }
        let (tx, rx) = watch::channel(());
        let mut map = self.lock();
        let id = map.next_id;
        map.next_id += 1;
        for fid in changes.into_iter().flatten() {
            map.by_fid.insert(fid, (id, rx.clone()));
        }
        Some(Holder {
            gates: self.clone(),
            id,
            fids: changes,
            _open_on_drop: tx,
        })
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let mut map = self.gates.lock();
        for fid in self.fids.into_iter().flatten() {
            // A later request on the fid may have closed a gate of its own since.
            if map.by_fid.get(&fid).is_some_and(|(id, _)| *id == self.id) {
                map.by_fid.remove(&fid);
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

/// Runs `work` once the gates in `waits` are open. `holder` (the request's own gate) is
/// let go after the work's first poll or, with `until_done`, when the work has finished.
pub(crate) async fn in_turn<F: Future>(
    waits: Vec<watch::Receiver<()>>,
    holder: Option<Holder>,
    until_done: bool,
    work: F,
) -> F::Output {
    pass(waits).await;
    let mut holder = holder;
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| {
        let r = work.as_mut().poll(cx);
        if !until_done {
            holder.take();
        }
        r
    })
    .await
}

/// The fids a request names, and those it creates or changes.
pub(crate) fn fids_of(msg: &Tmsg) -> (Fids, Fids) {
    match *msg {
        Tmsg::Walk { fid, newfid, .. } => ([Some(fid), Some(newfid)], [Some(newfid), None]),
        Tmsg::Attach { fid, .. }
        | Tmsg::Open { fid, .. }
        | Tmsg::Create { fid, .. }
        | Tmsg::Clunk { fid }
        | Tmsg::Remove { fid } => ([Some(fid), None], [Some(fid), None]),
        Tmsg::Read { fid, .. }
        | Tmsg::Write { fid, .. }
        | Tmsg::Stat { fid }
        | Tmsg::Wstat { fid, .. } => ([Some(fid), None], [None, None]),
        Tmsg::Auth { .. } | Tmsg::Version { .. } | Tmsg::Flush { .. } => ([None; 2], [None; 2]),
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
        gates.closed_on(fids_of(msg).0)
    }

    fn close_for(gates: &Arc<Gates>, msg: &Tmsg) -> Option<Holder> {
        gates.close(fids_of(msg).1)
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
        assert!(close_for(&gates, &read).is_none());
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
