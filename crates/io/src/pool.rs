//! Reused buffers for large payloads.
//!
//! An 8 MiB message in a freshly allocated buffer costs more than copying it: the allocator
//! hands blocks that large back to the kernel on free, so the next one is faulted in and
//! zeroed page by page (a fifth of a 1 GiB read's time went there). Large buffers are kept
//! here instead and handed out again; small ones go to the allocator as usual.

use std::sync::Mutex;

use bytes::Bytes;

/// Buffers smaller than this are not pooled.
pub const MIN: usize = 256 * 1024;
/// At most this many bytes of capacity are kept idle.
const KEEP_BYTES: usize = 64 * 1024 * 1024;

static FREE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

fn free_list() -> std::sync::MutexGuard<'static, Vec<Vec<u8>>> {
    FREE.lock().unwrap_or_else(|p| p.into_inner())
}

/// An empty buffer with at least `cap` bytes of capacity.
pub fn take(cap: usize) -> Vec<u8> {
    if cap >= MIN {
        let mut free = free_list();
        // Not much larger than asked: callers may fill all the capacity they are given.
        let fits = |b: &Vec<u8>| b.capacity() >= cap && b.capacity() / 2 <= cap;
        if let Some(i) = free.iter().position(fits) {
            let mut b = free.swap_remove(i);
            b.clear();
            return b;
        }
    }
    Vec::with_capacity(cap)
}

/// Freezes a buffer into `Bytes` whose storage returns to the pool when the last
/// reference to it is dropped.
pub fn freeze(buf: Vec<u8>) -> Bytes {
    if buf.capacity() >= MIN {
        Bytes::from_owner(Pooled(buf))
    } else {
        Bytes::from(buf)
    }
}

struct Pooled(Vec<u8>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut free = free_list();
        let held: usize = free.iter().map(Vec::capacity).sum();
        if held + self.0.capacity() <= KEEP_BYTES {
            free.push(std::mem::take(&mut self.0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_bytes_keep_their_data_while_referenced() {
        let mut v = take(MIN);
        assert!(v.is_empty() && v.capacity() >= MIN);
        v.extend_from_slice(&[7u8; 100]);
        let b = freeze(v);
        let slice = b.slice(10..20);
        drop(b);
        assert_eq!(&slice[..], &[7u8; 10][..], "a slice keeps the buffer alive");
        drop(slice);
        // Whatever comes back from the pool comes back empty.
        let again = take(MIN);
        assert!(again.is_empty() && again.capacity() >= MIN);
        assert_eq!(&freeze(vec![1, 2, 3])[..], &[1, 2, 3]);
    }
}
