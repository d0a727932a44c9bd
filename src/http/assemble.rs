//! The HTTP servers, assembled from actix's parts as `actix_web::HttpServer` would assemble
//! them, but with each connection's stream wrapped (see `connection`): that wrapper is what
//! bounds a connection's unsent answers, its head and its time, and counts it per peer.
//!
//! Two servers can run: the hook server, and, with `--probe-listen`, a small one that answers
//! only `/healthz` and `/readyz` on connections of its own, so the kubelet's probes get an
//! answer however many connections clients hold on the hook port.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_http::HttpServiceBuilder;
use actix_server::{Server, ServerBuilder};
use actix_service::{map_config, ServiceFactoryExt as _};
use actix_tls::accept::rustls_0_23::reexports::ServerConfig;
use actix_web::dev::AppConfig;
use actix_web::{web, App};

use super::AppState;
use crate::http::connection::{self, Accept, Conn, Connections, Deadlines, WRITE_BUFFER_BYTES};

/// How the servers treat connections; the flags of `rulehook serve`.
#[derive(Clone)]
pub struct HttpSettings {
    pub workers: usize,
    /// Open connections on the hook port at most; more wait in the listen queue.
    pub max_connections: usize,
    pub client_timeout: Duration,
    pub keep_alive: Duration,
    pub write_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub tls: Option<ServerConfig>,
}

/// Time a TLS client has to finish its handshake (actix-web's default).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// Time a connection gets to close cleanly after its last answer (actix-web's default).
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The probe server's connections: the kubelet opens one per probe and closes it, a few per
/// ten seconds, so 32 leave room for every probe and a person with curl.
pub const PROBE_CONNECTIONS: usize = 32;

/// What one peer may hold on the probe port: the kubelet is one peer.
pub const PROBE_CONNECTIONS_PER_PEER: usize = 8;

/// The hook server on `listener`, counting its connections in `connections`.
///
/// # Errors
///
/// When the listener cannot be handed to the server.
pub fn hook_server(
    state: web::Data<AppState>,
    listener: TcpListener,
    connections: Arc<Connections>,
    settings: &HttpSettings,
) -> std::io::Result<Server> {
    let builder = builder(settings);
    let tls = settings
        .tls
        .clone()
        .map(|config| (config, TLS_HANDSHAKE_TIMEOUT));
    listen(
        builder,
        "rulehook",
        listener,
        state,
        super::routes,
        Accept::new(connections, deadlines(settings), tls),
        settings,
    )
    .map(ServerBuilder::run)
}

/// The probe server on `listener`: plain HTTP, one worker, [`PROBE_CONNECTIONS`].
///
/// # Errors
///
/// When the listener cannot be handed to the server.
pub fn probe_server(
    state: web::Data<AppState>,
    listener: TcpListener,
    settings: &HttpSettings,
) -> std::io::Result<Server> {
    let builder = Server::build()
        .workers(1)
        .max_concurrent_connections(PROBE_CONNECTIONS)
        .shutdown_timeout(1)
        .disable_signals();
    let connections = Connections::new(PROBE_CONNECTIONS_PER_PEER);
    listen(
        builder,
        "rulehook-probes",
        listener,
        state,
        super::probe_routes,
        Accept::new(connections, deadlines(settings), None),
        settings,
    )
    .map(ServerBuilder::run)
}

/// The playground's server on `listener`: the hook server's connections and limits, with the
/// playground's page and API as its only routes.
///
/// # Errors
///
/// When the listener cannot be handed to the server.
pub fn playground_server(
    state: web::Data<AppState>,
    playground: web::Data<super::playground::Playground>,
    listener: TcpListener,
    settings: &HttpSettings,
) -> std::io::Result<Server> {
    let builder = builder(settings);
    let connections = state.connections.clone();
    let routes = move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(playground.clone());
        super::playground::routes(cfg);
    };
    listen(
        builder,
        "rulehook-playground",
        listener,
        state,
        routes,
        Accept::new(connections, deadlines(settings), None),
        settings,
    )
    .map(ServerBuilder::run)
}

/// A server of `settings.workers` workers sharing `--max-connections`; signals are left to
/// `shutdown`.
fn builder(settings: &HttpSettings) -> ServerBuilder {
    Server::build()
        .workers(settings.workers)
        .max_concurrent_connections(settings.max_connections.div_ceil(settings.workers).max(1))
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        .disable_signals()
}

fn deadlines(settings: &HttpSettings) -> Deadlines {
    Deadlines {
        head: settings.client_timeout,
        write: settings.write_timeout,
    }
}

/// Adds `listener` to `builder`: each worker accepts through `accept`, and serves `routes`
/// over HTTP/1.1 with the timeouts of `settings`.
fn listen(
    builder: ServerBuilder,
    name: &str,
    listener: TcpListener,
    state: web::Data<AppState>,
    routes: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    accept: Accept,
    settings: &HttpSettings,
) -> std::io::Result<ServerBuilder> {
    let shutdown = builder.graceful_shutdown_signal();
    let (keep_alive, client_timeout) = (settings.keep_alive, settings.client_timeout);
    builder.listen(name, listener, move || {
        let app = App::new().app_data(state.clone()).configure(routes.clone());
        let shutdown = shutdown.clone();
        let http = HttpServiceBuilder::<Conn, _>::default()
            .keep_alive(keep_alive)
            .client_request_timeout(client_timeout)
            .client_disconnect_timeout(DISCONNECT_TIMEOUT)
            .h1_write_buffer_size(WRITE_BUFFER_BYTES)
            .graceful_shutdown_signal(move || {
                let shutdown = shutdown.clone();
                async move { shutdown.notified().await }
            })
            .on_connect_ext(connection::on_connect)
            .h1(connection::track_requests(map_config(app, |()| {
                AppConfig::default()
            })));
        accept.clone().and_then(http)
    })
}
