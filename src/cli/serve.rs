//! `rulehook serve`: load the rule directory, watch it, and answer hooks over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::{web, App, HttpServer};
use arc_swap::ArcSwap;

use super::{exit, parse_duration, parse_size};
use crate::auth::Auth;
use crate::engine::Limits;
use crate::load;
use crate::ruleset::RuleSet;
use crate::server::{self, AppState, ServerLimits};
use crate::tls::{self, CertReloader};
use crate::watch::{self, Reloader, WatchMode};

/// Every flag can also be set with the environment variable shown.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of rule files (a ConfigMap volume in a cluster).
    #[arg(long, env = "RULEHOOK_RULES", default_value = "rules")]
    pub rules: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "RULEHOOK_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Largest request body; larger ones get 413.
    #[arg(long, env = "RULEHOOK_MAX_BODY", default_value = "32MiB", value_parser = parse_size)]
    pub max_body: usize,
    /// Most items one `$forEach` may produce.
    #[arg(long, env = "RULEHOOK_MAX_LOOP_ITEMS", default_value_t = 10_000)]
    pub max_loop_items: usize,
    /// Largest response body a rule may produce.
    #[arg(long, env = "RULEHOOK_MAX_OUTPUT_BYTES", default_value = "16MiB", value_parser = parse_size)]
    pub max_output_bytes: usize,
    /// Most template evaluations in one render.
    #[arg(long, env = "RULEHOOK_MAX_RENDER_STEPS", default_value_t = 1_000_000)]
    pub max_render_steps: u64,
    /// Requests handled at once; beyond it, 429 with `Retry-After: 1`.
    #[arg(long, env = "RULEHOOK_MAX_IN_FLIGHT", default_value_t = 256)]
    pub max_in_flight: usize,
    /// How rule changes are noticed.
    #[arg(long, env = "RULEHOOK_WATCH", value_enum, default_value = "auto")]
    pub watch: WatchMode,
    /// Re-check period: the backstop in `auto` mode, the poll period in `poll` mode.
    #[arg(long, env = "RULEHOOK_RECHECK_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub recheck_interval: Duration,
    /// HTTP worker threads; defaults to the number of CPUs.
    #[arg(long, env = "RULEHOOK_WORKERS")]
    pub workers: Option<usize>,
    /// Time a client has to send its request headers and body.
    #[arg(long, env = "RULEHOOK_CLIENT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub client_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    #[arg(long, env = "RULEHOOK_KEEP_ALIVE", default_value = "15s", value_parser = parse_duration)]
    pub keep_alive: Duration,
    /// PEM certificate chain; with `--tls-key`, serve HTTPS. Re-read when the files change.
    #[arg(long, env = "RULEHOOK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "RULEHOOK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA bundle; when set, clients must present a certificate it signed.
    #[arg(long, env = "RULEHOOK_CLIENT_CA", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// How often to look for a rotated certificate.
    #[arg(long, env = "RULEHOOK_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub tls_reload_interval: Duration,
    /// File holding the bearer token hook calls must carry.
    #[arg(long, env = "RULEHOOK_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// File of `user:password` lines accepted as basic auth.
    #[arg(long, env = "RULEHOOK_BASIC_AUTH_FILE")]
    pub basic_auth_file: Option<PathBuf>,
    /// Serve `/metrics` without authentication even when it is configured.
    #[arg(long, env = "RULEHOOK_OPEN_METRICS")]
    pub open_metrics: bool,
    /// On SIGTERM, how long in-flight requests get to finish.
    #[arg(long, env = "RULEHOOK_SHUTDOWN_TIMEOUT", default_value = "25s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

pub fn run(args: Args) -> ExitCode {
    match actix_web::rt::System::new().block_on(serve(args)) {
        Ok(()) => exit::ok(),
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::usage()
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let limits = ServerLimits {
        max_body_bytes: args.max_body,
        max_in_flight: args.max_in_flight,
        engine: Limits {
            max_loop_items: args.max_loop_items,
            max_output_bytes: args.max_output_bytes,
            max_steps: args.max_render_steps,
        },
    };
    let rules = Arc::new(ArcSwap::from_pointee(RuleSet::default()));
    let mut app_state = AppState::new(rules.clone(), limits);
    app_state.auth = Auth::from_files(
        args.auth_token_file.as_deref(),
        args.basic_auth_file.as_deref(),
    )?;
    app_state.open_metrics = args.open_metrics;
    let state = web::Data::new(app_state);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let certs = CertReloader::new(cert, key)?;
            certs.spawn_refresh(args.tls_reload_interval);
            Some(tls::server_config(certs, args.client_ca.as_deref())?)
        }
        _ => None,
    };

    let observed = state.clone();
    let reloader = Reloader {
        dir: args.rules.clone(),
        rules,
        observe: Some(Arc::new(move |outcome, rules| {
            observed.reload_checks.fetch_add(1, Ordering::Relaxed);
            observed.metrics.observe_reload(outcome, rules);
        })),
    };
    let initial = load::read_dir(&args.rules).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the rule directory {}: {e}",
            args.rules.display()
        )
    })?;
    let (set, report) = RuleSet::default().update(initial, SystemTime::now());
    for error in &report.errors {
        tracing::warn!("{error}");
    }
    tracing::info!(rules = set.len(), errors = report.errors.len(), dir = %args.rules.display(), "rules loaded");
    state.metrics.observe_rules(&set);
    reloader.rules.store(Arc::new(set));
    state.loaded.store(true, Ordering::Release);
    let _watch = watch::spawn(reloader, args.watch, args.recheck_interval)
        .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", args.rules.display()))?;

    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .configure(server::routes)
    })
    .workers(workers)
    .client_request_timeout(args.client_timeout)
    .keep_alive(args.keep_alive)
    .shutdown_timeout(args.shutdown_timeout.as_secs());
    let https = tls.is_some();
    let server = match tls {
        Some(config) => server.bind_rustls_0_23(args.listen, config),
        None => server.bind(args.listen),
    }
    .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    tracing::info!(listen = %args.listen, workers, https, auth = state.auth.is_enabled(), "serving");
    server.run().await?;
    tracing::info!("stopped");
    Ok(())
}
