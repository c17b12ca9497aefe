//! Write coalescing under an HTTP/2 connection: requests that come in one after another go
//! out in one TLS write instead of one each.
//!
//! h2 writes and flushes its frames every time its connection task runs, and the task runs
//! each time a push hands it a request. One push at a time, that was one TLS record and one
//! `writev` per push; on a machine it shares with the push service, each write also wakes
//! the other side (about 4 % of a push's CPU against nginx, plus the server's own work).
//!
//! [`CoalescingIo`] keeps what h2 writes in a buffer of its own. The first flush after new
//! writes is put off once: the task wakes itself and returns `Pending`, which puts it at
//! the back of the runtime's queue, so the pushes already queued add their requests first.
//! The next flush writes everything. A flush is never put off twice in a row, so nothing
//! waits for more than one turn of the runtime's queue.

use bytes::{Buf, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Above this many buffered bytes, writes go through to the connection before more are taken.
const HIGH_WATER: usize = 256 * 1024;

pub struct CoalescingIo<T> {
    inner: T,
    buffer: BytesMut,
    /// The current flush was put off once already.
    deferred: bool,
}

impl<T> CoalescingIo<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            buffer: BytesMut::with_capacity(64 * 1024),
            deferred: false,
        }
    }
}

impl<T: AsyncWrite + Unpin> CoalescingIo<T> {
    /// Writes the buffer to the connection until it is empty or the connection is full.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.buffer.is_empty() {
            let written = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buffer))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.buffer.advance(written);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CoalescingIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CoalescingIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if self.buffer.len() >= HIGH_WATER {
            std::task::ready!(self.poll_drain(cx))?;
        }
        self.buffer.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slices: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.buffer.len() >= HIGH_WATER {
            std::task::ready!(self.poll_drain(cx))?;
        }
        let mut written = 0;
        for slice in slices {
            self.buffer.extend_from_slice(slice);
            written += slice.len();
        }
        Poll::Ready(Ok(written))
    }

    /// No: h2 then copies a body under 1 KiB into its own buffer, beside its headers. With
    /// vectored writes it keeps any body of 256 bytes or more apart, reports its buffer full,
    /// and flushes after each such push, which would put off every other flush.
    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.buffer.is_empty() && !self.deferred {
            self.deferred = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        std::task::ready!(self.poll_drain(cx))?;
        std::task::ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        self.deferred = false;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Counts the writes that reach the connection.
    struct CountingWriter {
        writes: usize,
        bytes: Vec<u8>,
    }

    impl AsyncWrite for CountingWriter {
        fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
            self.writes += 1;
            self.bytes.extend_from_slice(data);
            Poll::Ready(Ok(data.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn counting() -> CoalescingIo<CountingWriter> {
        CoalescingIo::new(CountingWriter {
            writes: 0,
            bytes: Vec::new(),
        })
    }

    #[tokio::test]
    async fn writes_before_a_flush_reach_the_connection_as_one() {
        let mut io = counting();
        io.write_all(b"HEADERS").await.unwrap();
        io.write_all(b"DATA").await.unwrap();
        assert_eq!(io.inner.writes, 0, "nothing goes out before a flush");
        io.flush().await.unwrap();
        assert_eq!(io.inner.writes, 1);
        assert_eq!(io.inner.bytes, b"HEADERSDATA");
        // A flush with nothing new returns at once.
        io.flush().await.unwrap();
        assert_eq!(io.inner.writes, 1);
    }

    #[tokio::test]
    async fn the_first_flush_yields_once_then_writes() {
        let mut io = counting();
        io.write_all(b"frame").await.unwrap();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(Pin::new(&mut io).poll_flush(&mut cx).is_pending());
        assert_eq!(io.inner.writes, 0);
        // Written at the next poll, even with more added in between.
        io.write_all(b" more").await.unwrap();
        assert!(matches!(Pin::new(&mut io).poll_flush(&mut cx), Poll::Ready(Ok(()))));
        assert_eq!(io.inner.bytes, b"frame more");
        assert_eq!(io.inner.writes, 1);
    }

    #[tokio::test]
    async fn a_full_buffer_goes_out_before_more_is_taken() {
        let mut io = counting();
        let block = vec![7u8; HIGH_WATER];
        io.write_all(&block).await.unwrap();
        io.write_all(b"x").await.unwrap();
        assert_eq!(io.inner.writes, 1, "the full buffer was written first");
        io.shutdown().await.unwrap();
        assert_eq!(io.inner.bytes.len(), HIGH_WATER + 1);
    }

    #[tokio::test]
    async fn reads_pass_through() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut io = CoalescingIo::new(client);
        server.write_all(b"answer").await.unwrap();
        let mut read = [0u8; 6];
        io.read_exact(&mut read).await.unwrap();
        assert_eq!(&read, b"answer");
    }
}
