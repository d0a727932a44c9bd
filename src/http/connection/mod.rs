//! Connections: from `accept` to the stream the HTTP dispatcher reads and writes, with what
//! each connection may hold bounded (its unsent answers, its request head, its share of the
//! connections per peer, its time), and the facts handlers need about it.
//!
//! - [`accept`]: the per-peer share, the TLS handshake, the wrapping;
//! - [`stream`]: the wrapped stream, where the bounds on bytes and time are kept, and the
//!   switch a watchdog closes a connection with;
//! - [`heads`]: where heads end in what is read, so requests are handed over one at a time;
//! - [`requests`]: where each request begins and ends, for the head deadline;
//! - [`body`]: answers handed to actix in pieces, and held with their memory until read;
//! - [`peers`]: the counts per peer, and of connections refused and closed;
//! - [`capacity`]: how many connections descriptors and memory allow.

use std::rc::{Rc, Weak};

use actix_web::dev::Extensions;

pub(crate) mod accept;
pub(crate) mod body;
pub mod capacity;
pub(crate) mod heads;
pub(crate) mod peers;
pub(crate) mod requests;
pub(crate) mod stream;

pub(crate) use accept::Accept;
pub(crate) use body::{Chunked, HeldBody};
pub(crate) use peers::{Closed, Connections};
pub(crate) use requests::track_requests;
pub(crate) use stream::{Conn, ConnState, Deadlines, Transport};

/// actix's write buffer: once it holds this much, the dispatcher stops adding pieces of a
/// body and writes. Half actix's default, so a connection's worst case stays small.
pub const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// The kernel's send and receive buffers of each connection, set on the listener (sockets
/// it accepts inherit them). Left to autotuning, a client that pipelines requests and reads
/// nothing makes the kernel buffer up to 4 MiB of answers per connection, memory the
/// container's cgroup is charged for. The kernel doubles the value for its bookkeeping.
pub const SOCKET_BUFFER_BYTES: usize = 64 * 1024;

/// The connection a request came on, for handlers (`request.conn_data::<Connection>()`).
#[derive(Clone)]
pub struct Connection(Rc<ConnState>);

impl Connection {
    /// Closes the connection at its next read or write.
    pub fn close(&self, why: Closed) {
        self.0.close(why);
    }

    /// Whether the current request's body has all been read from the socket (it came
    /// with its head): reading it no longer waits on the client.
    pub fn body_read(&self) -> bool {
        self.0.body_read()
    }

    fn downgrade(&self) -> Weak<ConnState> {
        Rc::downgrade(&self.0)
    }
}

/// Present when the TLS client presented a certificate that the client CA verified.
#[derive(Clone, Copy)]
pub struct ClientCertificate;

/// A listening socket as actix-web would make it (address reuse, a backlog of 1024), with
/// bounded socket buffers, owned here so shutdown can watch its accept queue.
///
/// # Errors
///
/// When the address cannot be bound.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket as RawSocket, Type};
    let socket = RawSocket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_send_buffer_size(SOCKET_BUFFER_BYTES)?;
    socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Records what handlers need to know about a new connection. Used as `on_connect_ext`.
pub fn on_connect(conn: &Conn, data: &mut Extensions) {
    data.insert(Connection(conn.state().clone()));
    if let Transport::Tls(tls) = conn.transport() {
        let (_, session) = tls.get_ref();
        if session.peer_certificates().is_some_and(|c| !c.is_empty()) {
            data.insert(ClientCertificate);
        }
    }
}
