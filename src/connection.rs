//! Per-connection facts the handlers need, and response bodies that hold their memory
//! reservation until the client has read them.
//!
//! actix-web has deadlines for reading a request's head but none for writing a response: a
//! client that never reads would keep a large answer in memory for as long as it likes. Each
//! connection keeps a duplicate of its socket handle here, so a watchdog can shut a socket
//! whose client stopped reading; the connection then fails, and its body and reservation go.

use std::any::Any;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use actix_web::web::Bytes;

/// The connection's socket, shared with write watchdogs.
#[derive(Clone)]
pub struct Socket(Arc<OwnedFd>);

/// Present when the TLS client presented a certificate that the client CA verified.
#[derive(Clone, Copy)]
pub struct ClientCertificate;

/// A listening socket as actix-web would make it (address reuse, a backlog of 1024), but
/// owned here, so shutdown can watch its accept queue.
///
/// # Errors
///
/// When the address cannot be bound.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket as RawSocket, Type};
    let socket = RawSocket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Records what handlers need to know about a new connection. Used as `on_connect`.
pub fn on_connect(io: &dyn Any, data: &mut Extensions) {
    let tcp = if let Some(tcp) = io.downcast_ref::<TcpStream>() {
        Some(tcp)
    } else if let Some(tls) =
        io.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
    {
        let (tcp, session) = tls.get_ref();
        if session.peer_certificates().is_some_and(|c| !c.is_empty()) {
            data.insert(ClientCertificate);
        }
        Some(tcp)
    } else {
        None
    };
    if let Some(fd) = tcp.and_then(|t| t.as_fd().try_clone_to_owned().ok()) {
        data.insert(Socket(Arc::new(fd)));
    }
}

/// Answers smaller than this fit in the kernel's socket buffer and need no watchdog.
const WATCHED_BYTES: usize = 64 * 1024;

/// Pieces handed to actix one at a time, so what it copies into its write buffer stays small
/// and the rest stays counted in our reservation until it is written.
const CHUNK: usize = 64 * 1024;

/// A response body that keeps `hold` alive until it is fully written or dropped.
pub struct HeldBody<H: Send + Sync + 'static> {
    bytes: Bytes,
    /// Kept only to be dropped with the body: the watchdog watches it through a `Weak`.
    _hold: Arc<H>,
}

impl<H: Send + Sync + 'static> HeldBody<H> {
    /// The body `bytes`, holding `hold` until written. When `socket` is known and the body is
    /// large, a watchdog shuts the connection if the client has not read it all within
    /// `write_timeout`, and calls `on_drop`.
    pub fn new(
        bytes: Bytes,
        hold: Arc<H>,
        socket: Option<Socket>,
        write_timeout: Duration,
        on_drop: impl FnOnce() + 'static,
    ) -> HeldBody<H> {
        if let Some(Socket(fd)) = socket.filter(|_| bytes.len() > WATCHED_BYTES) {
            let watched: Weak<H> = Arc::downgrade(&hold);
            actix_web::rt::spawn(async move {
                actix_web::rt::time::sleep(write_timeout).await;
                if watched.upgrade().is_some() {
                    // Both directions: the dispatcher's pending write fails at once, and the
                    // connection, its body and its reservation are dropped.
                    let _ = socket2::SockRef::from(&*fd).shutdown(std::net::Shutdown::Both);
                    on_drop();
                }
            });
        }
        HeldBody { bytes, _hold: hold }
    }
}

impl<H: Send + Sync + 'static> MessageBody for HeldBody<H> {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.bytes.len() as u64)
    }

    /// A small answer goes out in one piece, and what it held goes with it: it fits the
    /// kernel's socket buffer, so it is as good as sent.
    fn try_into_bytes(self) -> Result<Bytes, Self> {
        if self.bytes.len() <= WATCHED_BYTES {
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
