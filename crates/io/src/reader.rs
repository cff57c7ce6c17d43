use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use ninefold_proto::frame_len;

use crate::pool;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Reads whole 9P frames from a byte stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
}

/// How much to ask the socket for when no frame size is known yet.
const READ_CHUNK: usize = 64 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(READ_CHUNK),
        }
    }

    /// The next frame, size field included; `None` at a clean end of stream. A frame larger
    /// than `max` or smaller than a header is `InvalidData`: the stream cannot be trusted
    /// after it.
    pub async fn next(&mut self, max: u32) -> io::Result<Option<Bytes>> {
        loop {
            match frame_len(&self.buf, max) {
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                Ok(Some(n)) if self.buf.len() >= n => {
                    return Ok(Some(self.buf.split_to(n).freeze()));
                }
                Ok(Some(n)) if n >= pool::MIN => return self.read_large(n).await.map(Some),
                Ok(Some(n)) => self.buf.reserve(n - self.buf.len()),
                Ok(None) => self.buf.reserve(READ_CHUNK),
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a message",
                ));
            }
        }
    }
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A large frame goes into a pooled buffer of its own, so its payload can be handed on
    /// without copying and the memory reused once the caller is done with it.
    async fn read_large(&mut self, n: usize) -> io::Result<Bytes> {
        let mut v = pool::take(n);
        // What is buffered is the start of this frame and nothing more (it is shorter).
        v.extend_from_slice(&self.buf);
        self.buf.clear();
        while v.len() < n {
            // Never read past the frame: what follows belongs to the next one.
            let want = n - v.len();
            let mut dst = (&mut v).limit(want);
            if self.inner.read_buf(&mut dst).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a message",
                ));
            }
        }
        Ok(pool::freeze(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn splits_frames_that_arrive_in_pieces() {
        let (a, mut b) = tokio::io::duplex(8);
        let mut r = FrameReader::new(a);
        let writer = tokio::spawn(async move {
            let mut bytes = vec![7, 0, 0, 0, 120, 1, 0];
            bytes.extend([9, 0, 0, 0, 100, 2, 0, 0xaa, 0xbb]);
            b.write_all(&bytes).await.unwrap();
        });
        let f1 = r.next(1024).await.unwrap().unwrap();
        assert_eq!(&f1[..], &[7, 0, 0, 0, 120, 1, 0]);
        let f2 = r.next(1024).await.unwrap().unwrap();
        assert_eq!(f2.len(), 9);
        writer.await.unwrap();
        assert!(r.next(1024).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_large_frame_ends_where_its_size_says() {
        let (a, mut b) = tokio::io::duplex(4096);
        let n = pool::MIN + 1000;
        let mut big = (n as u32).to_le_bytes().to_vec();
        big.extend((4..n).map(|i| i as u8));
        let mut small = vec![7, 0, 0, 0, 120, 1, 0];
        let writer = tokio::spawn(async move {
            big.append(&mut small);
            b.write_all(&big).await.unwrap();
        });
        let mut r = FrameReader::new(a);
        let f1 = r.next(1 << 20).await.unwrap().unwrap();
        assert_eq!(f1.len(), n);
        assert!(f1[4..].iter().enumerate().all(|(i, &x)| x == (i + 4) as u8));
        let f2 = r.next(1 << 20).await.unwrap().unwrap();
        assert_eq!(&f2[..], &[7, 0, 0, 0, 120, 1, 0]);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn refuses_oversized_and_truncated_frames() {
        let (a, mut b) = tokio::io::duplex(64);
        b.write_all(&[0, 0, 1, 0, 100]).await.unwrap();
        let mut r = FrameReader::new(a);
        let e = r.next(1024).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);

        let (a, mut b) = tokio::io::duplex(64);
        b.write_all(&[9, 0, 0, 0, 100]).await.unwrap();
        drop(b);
        let mut r = FrameReader::new(a);
        assert_eq!(
            r.next(1024).await.unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }
}
