use thiserror::Error;

/// Why a frame could not be decoded. Every variant is something a peer sent; none is a bug here.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("message too short")]
    Truncated,
    #[error("message size {size} exceeds limit {max}")]
    TooLarge { size: u64, max: u32 },
    #[error("message size {0} is smaller than a header")]
    TooSmall(u32),
    #[error("unknown message type {0}")]
    UnknownType(u8),
    #[error("{0} bytes left over at end of message")]
    TrailingBytes(usize),
    #[error("string is not valid UTF-8")]
    BadUtf8,
    #[error("too many walk elements: {0}")]
    TooManyWalkElements(u16),
    #[error("stat entry size {declared} does not match its contents ({actual})")]
    BadStatSize { declared: usize, actual: usize },
    #[error("count {count} does not match the data in the message")]
    BadCount { count: u32 },
}
