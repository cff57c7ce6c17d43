//! A write larger than one message: as many Twrites as the msize requires, several in
//! flight when the server keeps them in order.

use std::collections::VecDeque;

use bytes::Bytes;
use ninefold_fs::Result;
use ninefold_proto::{Rmsg, Tmsg};

use crate::conn::{Call, Client, botch};

/// The most one Twrite carries when several may be in flight: small enough that a write
/// of a few MiB is cut into pieces that overlap (the server writes one out while the next
/// is on its way), large enough that per-message costs stay small.
const PIECE: usize = 1 << 20;

/// Writes `data` at `offset` through `fid`, at most `limit` bytes per Twrite, with up to
/// the client's write window in flight. Stops at the first short write; an error anywhere is
/// the result. Requests already sent are answered before this returns, never flushed: by
/// then they may have been carried out. (With a window above one, chunks after a short
/// write may have landed too; ninefold's streams write whole or fail.)
pub(crate) async fn write(
    client: &Client,
    fid: u32,
    offset: u64,
    mut data: Bytes,
    limit: usize,
) -> Result<u32> {
    let window = client.write_window();
    let limit = if window > 1 { limit.min(PIECE) } else { limit };
    let mut flying: VecDeque<(Call<'_>, u32)> = VecDeque::with_capacity(window);
    let mut next = offset;
    let mut first = true;
    let mut done: u32 = 0;
    // Set once the outcome is known: a short write or an error.
    let mut stop: Option<Result<u32>> = None;
    loop {
        while stop.is_none() && flying.len() < window && (first || !data.is_empty()) {
            first = false;
            let chunk = data.split_to(data.len().min(limit));
            let len = chunk.len() as u32;
            let msg = Tmsg::Write {
                fid,
                offset: next,
                data: chunk,
            };
            match client.call(msg).await {
                Ok(c) => flying.push_back((c, len)),
                Err(e) => stop = Some(Err(e)),
            }
            next = next.wrapping_add(u64::from(len));
        }
        let Some((call, len)) = flying.pop_front() else {
            return stop.unwrap_or(Ok(done));
        };
        let r = call.reply().await;
        if stop.is_some() {
            continue;
        }
        match r {
            Ok(Rmsg::Write { count }) if count <= len => {
                done = done.saturating_add(count);
                if count < len {
                    stop = Some(Ok(done));
                }
            }
            Ok(_) => stop = Some(Err(botch())),
            Err(e) => stop = Some(Err(e)),
        }
    }
}
