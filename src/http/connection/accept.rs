//! What happens to a socket between `accept` and HTTP: its peer's share of the connections
//! is checked (a peer over it is dropped at once, before any TLS work), the TLS handshake
//! runs within its timeout and beside a bounded number of others, and the stream is wrapped
//! in a [`Conn`].

use std::future::{ready, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_service::{Service, ServiceFactory};
use actix_tls::accept::rustls_0_23::{reexports::ServerConfig, Acceptor, AcceptorService};
use actix_web::rt::net::TcpStream;

use super::peers::Connections;
use super::stream::{Conn, ConnState, Deadlines, Transport};

/// Turns accepted sockets into connections for one listener.
#[derive(Clone)]
pub struct Accept {
    connections: Arc<Connections>,
    deadlines: Deadlines,
    tls: Option<Acceptor>,
}

impl Accept {
    /// Plain HTTP, or HTTPS with `tls`, whose handshake must finish within
    /// `handshake_timeout`.
    pub fn new(
        connections: Arc<Connections>,
        deadlines: Deadlines,
        tls: Option<(ServerConfig, Duration)>,
    ) -> Accept {
        let tls = tls.map(|(config, timeout)| {
            let mut acceptor = Acceptor::new(config);
            acceptor.set_handshake_timeout(timeout);
            acceptor
        });
        Accept {
            connections,
            deadlines,
            tls,
        }
    }
}

impl ServiceFactory<TcpStream> for Accept {
    type Response = (Conn, Option<SocketAddr>);
    type Error = DispatchError;
    type Config = ();
    type Service = AcceptService;
    type InitError = ();
    type Future = std::future::Ready<Result<AcceptService, ()>>;

    fn new_service(&self, (): ()) -> Self::Future {
        // actix-tls makes its service at once; its future is only a formality.
        let tls = match &self.tls {
            Some(acceptor) => {
                match ServiceFactory::<TcpStream>::new_service(acceptor, ()).into_inner() {
                    Ok(service) => Some(service),
                    Err(()) => return ready(Err(())),
                }
            }
            None => None,
        };
        ready(Ok(AcceptService {
            connections: self.connections.clone(),
            deadlines: self.deadlines,
            tls,
        }))
    }
}

pub struct AcceptService {
    connections: Arc<Connections>,
    deadlines: Deadlines,
    tls: Option<AcceptorService>,
}

type Accepted = Pin<Box<dyn Future<Output = Result<(Conn, Option<SocketAddr>), DispatchError>>>>;

fn refused() -> DispatchError {
    DispatchError::Io(std::io::Error::other(
        "the peer holds its share of connections",
    ))
}

impl Service<TcpStream> for AcceptService {
    type Response = (Conn, Option<SocketAddr>);
    type Error = DispatchError;
    type Future = Accepted;

    /// Not ready while the worker has as many handshakes running as actix-tls allows (256),
    /// so the worker takes no new connection meanwhile.
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), DispatchError>> {
        match &self.tls {
            Some(tls) => Service::<TcpStream>::poll_ready(tls, cx)
                .map_err(|_| DispatchError::Io(std::io::Error::other("tls acceptor failed"))),
            None => Poll::Ready(Ok(())),
        }
    }

    fn call(&self, tcp: TcpStream) -> Accepted {
        let peer = tcp.peer_addr().ok();
        let Some(slot) = self.connections.admit(peer.map(|p| p.ip())) else {
            drop(tcp);
            return Box::pin(ready(Err(refused())));
        };
        let state = ConnState::new(self.deadlines, self.connections.clone());
        match &self.tls {
            None => Box::pin(ready(Ok((
                Conn::new(Transport::Plain(tcp), state, slot),
                peer,
            )))),
            Some(tls) => {
                let handshake = tls.call(tcp);
                Box::pin(async move {
                    let stream = handshake.await.map_err(|e| {
                        DispatchError::Io(std::io::Error::other(format!("tls handshake: {e:?}")))
                    })?;
                    Ok((
                        Conn::new(Transport::Tls(Box::new(stream)), state, slot),
                        peer,
                    ))
                })
            }
        }
    }
}
