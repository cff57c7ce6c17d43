//! Finding frame boundaries in a byte stream.

use crate::DecodeError;

/// size[4] type[1] tag[2]: the part every message starts with.
pub const HEADER_SIZE: usize = 7;

/// The length of the first frame in `buf`, once its size[4] has arrived: `Ok(None)` means
/// "need more bytes". A size outside `HEADER_SIZE..=max` is an error: the stream cannot be
/// resynchronised after it, so the caller should close the connection.
pub fn frame_len(buf: &[u8], max: u32) -> Result<Option<usize>, DecodeError> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    if (size as usize) < HEADER_SIZE {
        return Err(DecodeError::TooSmall(size));
    }
    if size > max {
        return Err(DecodeError::TooLarge {
            size: size as u64,
            max,
        });
    }
    Ok(Some(size as usize))
}
