//! A body cut off past a number of bytes, counted as they are read: a body with no line end in
//! it never makes a frame, so a cap on framed lines alone would read it for ever.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// Reads `inner` until more than `limit` bytes have come, then fails with [`OverLimit`].
pub struct Capped<R> {
    inner: R,
    left: u64,
}

/// The error a [`Capped`] reader fails with.
#[derive(Debug, thiserror::Error)]
#[error("the body holds more bytes than its cap")]
pub struct OverLimit;

impl<R> Capped<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        Capped { inner, left: limit }
    }
}

impl OverLimit {
    /// Whether a read failed because its body went past the cap.
    pub fn caused(error: &io::Error) -> bool {
        error.get_ref().is_some_and(|e| e.is::<OverLimit>())
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Capped<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let read = (buf.filled().len() - before) as u64;
        if read > self.left {
            // An error must leave the buffer as it was.
            buf.set_filled(before);
            return Poll::Ready(Err(io::Error::other(OverLimit)));
        }
        self.left -= read;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[actix_rt::test]
    async fn a_body_up_to_the_cap_reads_whole_and_one_byte_more_fails() {
        let mut whole = Vec::new();
        Capped::new(&b"0123456789"[..], 10)
            .read_to_end(&mut whole)
            .await
            .unwrap();
        assert_eq!(whole, b"0123456789");
        let error = Capped::new(&b"0123456789"[..], 9)
            .read_to_end(&mut Vec::new())
            .await
            .unwrap_err();
        assert!(OverLimit::caused(&error), "{error}");
    }
}
