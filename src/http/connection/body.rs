//! Response bodies handed to actix a piece at a time, so its write buffer never holds more
//! than [`CHUNK`] of one body beyond its own size; and bodies that hold their memory
//! reservation until the client has read them.
//!
//! actix-web has deadlines for reading a request's head but none for writing a response: a
//! client that never reads would keep a large answer in memory for as long as it likes. A
//! watchdog closes such a connection through its stream's close switch; the connection then
//! fails, and its body and reservation go.

use std::pin::Pin;
use std::rc::Weak;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;

use super::peers::Closed;
use super::Connection;

/// Answers smaller than this fit in the kernel's socket buffer and need no watchdog.
const WATCHED_BYTES: usize = 64 * 1024;

/// Pieces handed to actix one at a time. actix copies a piece into its write buffer when
/// that holds less than [`super::WRITE_BUFFER_BYTES`], so the buffer never exceeds the two
/// together, well under the connection's bound on unsent bytes.
pub const CHUNK: usize = 16 * 1024;

/// Bytes given to actix in pieces of [`CHUNK`]; a body that small goes in one piece.
pub struct Chunked {
    bytes: Bytes,
}

impl Chunked {
    pub fn new(bytes: impl Into<Bytes>) -> Chunked {
        Chunked {
            bytes: bytes.into(),
        }
    }
}

impl MessageBody for Chunked {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.bytes.len() as u64)
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        if self.bytes.len() <= CHUNK {
            Ok(self.bytes)
        } else {
            Err(self)
        }
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.bytes.is_empty() {
            return Poll::Ready(None);
        }
        let n = this.bytes.len().min(CHUNK);
        Poll::Ready(Some(Ok(this.bytes.split_to(n))))
    }
}

/// A response body that keeps `hold` alive until it is fully written or dropped.
pub struct HeldBody<H: Send + Sync + 'static> {
    body: Chunked,
    /// Kept only to be dropped with the body: the watchdog watches it through a `Weak`.
    _hold: Arc<H>,
}

impl<H: Send + Sync + 'static> HeldBody<H> {
    /// The body `bytes`, holding `hold` until written. When the connection is known and the
    /// body is large, a watchdog closes the connection (counted as [`Closed::SlowReader`]) if
    /// the client has not read it all within `write_timeout`.
    pub fn new(
        bytes: Bytes,
        hold: Arc<H>,
        connection: Option<&Connection>,
        write_timeout: Duration,
    ) -> HeldBody<H> {
        if let Some(connection) = connection.filter(|_| bytes.len() > WATCHED_BYTES) {
            let watched = Arc::downgrade(&hold);
            let conn: Weak<_> = connection.downgrade();
            actix_web::rt::spawn(async move {
                actix_web::rt::time::sleep(write_timeout).await;
                if let (Some(_), Some(conn)) = (watched.upgrade(), conn.upgrade()) {
                    // The dispatcher's next read or write fails, and the connection, its
                    // body and its reservation are dropped.
                    conn.close(Closed::SlowReader);
                }
            });
        }
        HeldBody {
            body: Chunked::new(bytes),
            _hold: hold,
        }
    }
}

impl<H: Send + Sync + 'static> MessageBody for HeldBody<H> {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    /// A small answer goes out in one piece, and what it held goes with it: it fits the
    /// kernel's socket buffer, so it is as good as sent.
    fn try_into_bytes(self) -> Result<Bytes, Self> {
        if self.body.bytes.len() <= CHUNK {
            Ok(self.body.bytes)
        } else {
            Err(self)
        }
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn a_large_body_goes_out_in_pieces_of_at_most_a_chunk() {
        let bytes = Bytes::from(vec![7u8; 3 * CHUNK + 5]);
        let mut body = Chunked::new(bytes.clone());
        let mut pieces = Vec::new();
        while let Some(piece) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await {
            pieces.push(piece.unwrap());
        }
        assert_eq!(
            pieces.iter().map(Bytes::len).collect::<Vec<_>>(),
            [CHUNK, CHUNK, CHUNK, 5]
        );
        assert_eq!(pieces.concat(), bytes);
        assert!(Chunked::new(vec![1u8; CHUNK]).try_into_bytes().is_ok());
        assert!(Chunked::new(vec![1u8; CHUNK + 1]).try_into_bytes().is_err());
    }
}
