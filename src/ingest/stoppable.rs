//! A socket reader that can be told to stop: from then on it reports end of stream. FramedRead
//! then still hands over every complete line already in its buffer before the stream ends,
//! which is how shutdown stores what was received without reading anything new.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

pub struct StopOnCancel<R> {
    inner: R,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    stopped: bool,
}

impl<R> StopOnCancel<R> {
    pub fn new(inner: R, token: CancellationToken) -> Self {
        Self {
            inner,
            cancelled: Box::pin(token.cancelled_owned()),
            stopped: false,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for StopOnCancel<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Polling the token also registers this task, so a reader parked on an idle socket
        // wakes up when the token is cancelled.
        if self.stopped || self.cancelled.as_mut().poll(cx).is_ready() {
            self.stopped = true;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn reads_until_cancelled_then_reports_the_end() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let token = CancellationToken::new();
        let mut reader = StopOnCancel::new(rx, token.clone());
        tx.write_all(b"abc").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(reader.read(&mut buf).await.unwrap(), 3);

        // Parked on an idle stream, it wakes on cancellation.
        let waiting = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            reader.read(&mut buf).await.unwrap()
        });
        token.cancel();
        assert_eq!(waiting.await.unwrap(), 0);
    }
}
