//! `rulehook serve`: load the rule directory, watch it, and answer hooks over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use arc_swap::ArcSwap;

use super::{exit, parse_duration, parse_size};
use rulehook::budget::memory;
use rulehook::http::assemble::{self, HttpSettings};
use rulehook::http::auth::Auth;
use rulehook::http::connection::capacity::{self, Capacity};
use rulehook::http::tls::{self, CertReloader};
use rulehook::http::{self, AppState, ServerLimits};
use rulehook::http::{connection, shutdown};
use rulehook::supply::ruleset::RuleSet;
use rulehook::supply::watch::{self, Reloader, WatchMode};
use rulehook::telemetry::record::RecordConfig;
use rulehook_engine::Limits;

/// Every flag can also be set with the environment variable shown.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of rule files (a ConfigMap volume in a cluster).
    #[arg(
        long,
        help_heading = "Rules",
        env = "RULEHOOK_RULES",
        default_value = "rules"
    )]
    pub rules: PathBuf,
    /// A directory of libraries (`NAME.lib.yaml`) that the rules may import as if the
    /// libraries lay beside them, e.g. a second ConfigMap volume; repeat it, or separate
    /// directories with `:`, for several. Watched and reloaded as the rule directory is. A
    /// library beside the rules may not have the name of one found here: both are reported.
    #[arg(
        long = "libraries",
        value_name = "DIR",
        help_heading = "Rules",
        env = "RULEHOOK_LIBRARIES",
        value_delimiter = ':'
    )]
    pub libraries: Vec<PathBuf>,
    /// Address to listen on.
    #[arg(
        long,
        help_heading = "Listening",
        env = "RULEHOOK_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    pub listen: SocketAddr,
    /// A second address that answers only `/healthz` and `/readyz`, on a few connections of
    /// its own, so probes are answered however many connections clients hold on `--listen`.
    /// Off unless given (the shipped manifests give `0.0.0.0:8081`); always plain HTTP.
    #[arg(long, help_heading = "Listening", env = "RULEHOOK_PROBE_LISTEN")]
    pub probe_listen: Option<SocketAddr>,
    /// The container's memory limit, from which every memory limit below is derived; read
    /// from the cgroup when not given, else 128MiB (the shipped manifests' limit).
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_MEMORY_LIMIT", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
    /// Largest request body; larger ones get 413. Default: memory limit / 8.
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_MAX_BODY", value_parser = parse_size)]
    pub max_body: Option<usize>,
    /// Most items one `$forEach` may produce.
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_MAX_LOOP_ITEMS", default_value_t = Limits::DEFAULT_MAX_LOOP_ITEMS)]
    pub max_loop_items: usize,
    /// Most one render may build, its answer included. Default: memory limit / 32.
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_MAX_OUTPUT_BYTES", value_parser = parse_size)]
    pub max_output_bytes: Option<usize>,
    /// What the cache of answers to repeated requests may keep (requests and answers of up
    /// to 64 KiB); `0` turns it off. Default: memory limit / 32.
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_ANSWER_CACHE", value_parser = parse_size)]
    pub answer_cache: Option<usize>,
    /// Most template evaluations in one render.
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_MAX_RENDER_STEPS", default_value_t = Limits::DEFAULT_MAX_STEPS)]
    pub max_render_steps: u64,
    /// Requests parsed and rendered at once (bodies fully received); beyond it, 429 with
    /// `Retry-After: 1`.
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_MAX_IN_FLIGHT", default_value_t = ServerLimits::DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,
    /// Open connections at most; more wait in the listen queue. Default: what the open-file
    /// limit (raised to its hard limit at start) and the memory limit allow, logged at start.
    #[arg(long, help_heading = "Listening", env = "RULEHOOK_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Connections one client address may hold; more are closed as soon as accepted. `0`
    /// turns the limit off (behind a service mesh, where every client is 127.0.0.1).
    #[arg(long, help_heading = "Listening", env = "RULEHOOK_MAX_CONNECTIONS_PER_PEER", default_value_t = ServerLimits::DEFAULT_MAX_CONNECTIONS_PER_PEER)]
    pub max_connections_per_peer: usize,
    /// Time a client has, after its headers, to send the whole body; then 408.
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// Time a render may take, waiting for a render thread included; then 500.
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_RENDER_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub render_timeout: Duration,
    /// Time a client has to read a large answer before it is disconnected.
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_WRITE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub write_timeout: Duration,
    /// Threads that parse and render requests; default twice the CPUs, at least 4.
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_RENDER_THREADS")]
    pub render_threads: Option<usize>,
    /// Template steps a render may take on an HTTP I/O thread (bodies up to 64 KiB) before it
    /// is moved to a render thread and started over; 0 puts every render on the render
    /// threads, at about half the throughput of light hooks.
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_SLICE_STEPS", default_value_t = ServerLimits::DEFAULT_SLICE_STEPS)]
    pub slice_steps: u64,
    /// Work units (about a nanosecond of the costliest work each) a render may spend on an
    /// HTTP I/O thread before it moves to a render thread; a step that would pass it never
    /// starts there. Renders on a render thread may spend what fits in --render-timeout.
    #[arg(long, help_heading = "Limits", env = "RULEHOOK_SLICE_WORK", default_value_t = ServerLimits::DEFAULT_SLICE_WORK)]
    pub slice_work: u64,
    /// How rule changes are noticed.
    #[arg(
        long,
        help_heading = "Rules",
        env = "RULEHOOK_WATCH",
        value_enum,
        default_value = "auto"
    )]
    pub watch: WatchMode,
    /// Re-check period: the backstop in `auto` mode, the poll period in `poll` mode.
    #[arg(long, help_heading = "Rules", env = "RULEHOOK_RECHECK_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub recheck_interval: Duration,
    /// Be ready (`/readyz`) with no rule loaded; without it, an empty or mis-mounted rule
    /// directory keeps the server out of its Service.
    #[arg(long, help_heading = "Rules", env = "RULEHOOK_ALLOW_EMPTY")]
    pub allow_empty: bool,
    /// HTTP worker threads; defaults to the number of CPUs.
    #[arg(long, help_heading = "Listening", env = "RULEHOOK_WORKERS")]
    pub workers: Option<usize>,
    /// Time a client has to send a request's headers: from the connection's start for the
    /// first request, from the first byte of the head for later ones.
    #[arg(long, help_heading = "Listening", env = "RULEHOOK_CLIENT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub client_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    #[arg(long, help_heading = "Listening", env = "RULEHOOK_KEEP_ALIVE", default_value = "15s", value_parser = parse_duration)]
    pub keep_alive: Duration,
    /// PEM certificate chain; with `--tls-key`, serve HTTPS. Re-read when the files change.
    #[arg(
        long,
        help_heading = "Auth and TLS",
        env = "RULEHOOK_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `--tls-cert`.
    #[arg(
        long,
        help_heading = "Auth and TLS",
        env = "RULEHOOK_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// PEM CA bundle; when set, clients must present a certificate it signed.
    #[arg(
        long,
        help_heading = "Auth and TLS",
        env = "RULEHOOK_CLIENT_CA",
        requires = "tls_cert"
    )]
    pub client_ca: Option<PathBuf>,
    /// How often to look for a rotated certificate.
    #[arg(long, help_heading = "Auth and TLS", env = "RULEHOOK_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub tls_reload_interval: Duration,
    /// File holding the bearer token hook calls must carry.
    #[arg(long, help_heading = "Auth and TLS", env = "RULEHOOK_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// File of `user:password` lines accepted as basic auth; neither part may be empty.
    #[arg(long, help_heading = "Auth and TLS", env = "RULEHOOK_BASIC_AUTH_FILE")]
    pub basic_auth_file: Option<PathBuf>,
    /// Serve `/metrics` without authentication even when it is configured.
    #[arg(long, help_heading = "Auth and TLS", env = "RULEHOOK_OPEN_METRICS")]
    pub open_metrics: bool,
    /// Serve a read-only page at `/ui`: the loaded rules, their calls, errors and latency,
    /// and a loaded rule's answer to a request typed there. Its API calls carry the hooks'
    /// credentials.
    #[arg(long, env = "RULEHOOK_UI")]
    pub ui: bool,
    /// Test builds only: renders of this rule panic, to exercise the recovery path.
    #[cfg(debug_assertions)]
    #[arg(long, hide = true)]
    pub debug_panic_rule: Option<String>,
    /// Save each distinct request answered with 200 in `DIR/<rule>/<hook>/<sha256>.json`,
    /// Secret data redacted, for `rulehook diff`.
    #[arg(
        long,
        help_heading = "Logs and recording",
        env = "RULEHOOK_RECORD",
        value_name = "DIR"
    )]
    pub record: Option<PathBuf>,
    /// Files `--record` keeps per rule; the oldest go first.
    #[arg(long, help_heading = "Logs and recording", env = "RULEHOOK_RECORD_MAX_FILES", default_value_t = RecordConfig::DEFAULT_MAX_FILES)]
    pub record_max_files: usize,
    /// Bytes `--record` keeps per rule; the oldest go first.
    #[arg(long, help_heading = "Logs and recording", env = "RULEHOOK_RECORD_MAX_BYTES", default_value = "64MiB", value_parser = parse_size)]
    pub record_max_bytes: usize,
    /// On SIGTERM, how long in-flight requests get to finish.
    #[arg(long, help_heading = "Listening", env = "RULEHOOK_SHUTDOWN_TIMEOUT", default_value = "25s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// Log format; JSON by default when stdout is not a terminal.
    #[arg(
        long,
        help_heading = "Logs and recording",
        env = "RULEHOOK_LOG_FORMAT",
        value_enum
    )]
    pub log_format: Option<super::LogFormat>,
    /// Log filter, e.g. `info` or `rulehook=debug`.
    #[arg(
        long,
        help_heading = "Logs and recording",
        env = "RULEHOOK_LOG",
        default_value = "info"
    )]
    pub log: String,
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

/// The limits from the flags: those not given follow from the memory limit.
fn server_limits(args: &Args) -> ServerLimits {
    let memory_limit = args
        .memory_limit
        .or_else(memory::cgroup_memory_limit)
        .unwrap_or(memory::DEFAULT_MEMORY_LIMIT);
    let mut limits = ServerLimits::for_memory(memory_limit);
    limits.max_connections_per_peer = args.max_connections_per_peer;
    limits.max_body_bytes = args.max_body.unwrap_or(limits.max_body_bytes);
    limits.answer_cache_bytes = args.answer_cache.unwrap_or(limits.answer_cache_bytes);
    limits.max_in_flight = args.max_in_flight;
    limits.body_timeout = args.body_timeout;
    limits.render_timeout = args.render_timeout;
    limits.write_timeout = args.write_timeout;
    limits.render_threads = args.render_threads.unwrap_or(limits.render_threads);
    limits.slice_steps = args.slice_steps;
    limits.slice_work = args.slice_work;
    #[cfg(debug_assertions)]
    {
        limits.panic_rule.clone_from(&args.debug_panic_rule);
    }
    limits.engine = Limits {
        max_loop_items: args.max_loop_items,
        max_output_bytes: args
            .max_output_bytes
            .unwrap_or(limits.engine.max_output_bytes),
        max_steps: args.max_render_steps,
        max_work: http::work_within(args.render_timeout),
        ..Limits::default()
    };
    tracing::info!(
        memory_limit,
        request_memory = limits.request_memory,
        max_body = limits.max_body_bytes,
        max_output = limits.engine.max_output_bytes,
        answer_cache = limits.answer_cache_bytes,
        rules_memory = limits.rules.memory,
        render_threads = limits.render_threads,
        "limits"
    );
    limits
}

/// `--max-connections`, or what the open-file and memory limits allow (logged).
fn max_connections(args: &Args, limits: &ServerLimits, workers: usize, tls: bool) -> usize {
    let descriptors = capacity::raise_descriptor_limit();
    // The HTTP workers, the system thread, the accept threads and the probe server's worker.
    let threads = workers + 4;
    let capacity = Capacity::derive(descriptors, limits.memory_limit, threads, tls);
    let chosen = args.max_connections.unwrap_or(capacity.connections());
    tracing::info!(
        max_connections = chosen,
        by_open_files = capacity.by_descriptors,
        by_memory = capacity.by_memory,
        open_file_limit = descriptors,
        per_peer = args.max_connections_per_peer,
        "connections"
    );
    chosen
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let limits = server_limits(&args);
    let rules = Arc::new(ArcSwap::from_pointee(RuleSet::with_limits(limits.rules)));
    let mut app_state = AppState::new(rules.clone(), limits)
        .map_err(|e| anyhow::anyhow!("cannot start the render threads: {e}"))?;
    app_state.auth = Auth::from_files(
        args.auth_token_file.as_deref(),
        args.basic_auth_file.as_deref(),
    )?;
    app_state.open_metrics = args.open_metrics;
    app_state.allow_empty = args.allow_empty;
    app_state.ui = args.ui;
    app_state.require_client_certificate = args.client_ca.is_some();
    if let Some(dir) = &args.record {
        app_state
            .record(RecordConfig {
                dir: dir.clone(),
                max_files: args.record_max_files,
                max_bytes: args.record_max_bytes,
            })
            .map_err(|e| anyhow::anyhow!("cannot record into {}: {e}", dir.display()))?;
    }
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
        libraries: args.libraries.clone(),
        rules,
        observe: Some(Arc::new(move |outcome, rules| {
            observed.reload_checks.fetch_add(1, Ordering::Relaxed);
            observed.observe_reload(outcome, rules);
        })),
        quiet_period: watch::QUIET_PERIOD,
    };
    let report = reloader.load_first().map_err(|e| {
        let which = if e.dir == args.rules {
            "rule"
        } else {
            "library"
        };
        anyhow::anyhow!("cannot read the {which} directory {e}")
    })?;
    for error in &report.errors {
        tracing::warn!("{error}");
    }
    for file in &report.settling {
        tracing::warn!(
            file,
            "still being written; not loaded (the watch loop reads it once it has gone unmodified for {})",
            humantime::format_duration(watch::QUIET_PERIOD)
        );
    }
    {
        let loaded = reloader.rules.load();
        tracing::info!(rules = loaded.len(), errors = report.errors.len(), dir = %args.rules.display(), "rules loaded");
        state.observe_rules(&loaded);
    }
    state.loaded.store(true, Ordering::Release);
    let _watch = watch::spawn(reloader, args.watch, args.recheck_interval, &report)
        .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", args.rules.display()))?;

    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let settings = HttpSettings {
        workers,
        max_connections: max_connections(&args, &state.limits, workers, tls.is_some()),
        client_timeout: args.client_timeout,
        keep_alive: args.keep_alive,
        write_timeout: args.write_timeout,
        shutdown_timeout: args.shutdown_timeout,
        tls,
    };
    let listener = connection::listen(args.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    // Shutdown watches this socket's accept queue, to take in what the kernel queued.
    let listener_for_shutdown = listener
        .try_clone()
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let probes = match args.probe_listen {
        Some(addr) => {
            let listener = connection::listen(addr)
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
            let probes = assemble::probe_server(state.clone(), listener, &settings)
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
            let handle = probes.handle();
            // A server starts when first polled.
            actix_web::rt::spawn(probes);
            Some(handle)
        }
        None => None,
    };
    let server = assemble::hook_server(
        state.clone(),
        listener,
        state.connections.clone(),
        &settings,
    )
    .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    actix_web::rt::spawn(shutdown::on_signal(server.handle(), listener_for_shutdown));
    tracing::info!(listen = %args.listen, probe_listen = ?args.probe_listen, workers, https = settings.tls.is_some(), auth = state.auth.is_enabled(), version = rulehook::build::VERSION, commit = rulehook::build::COMMIT, "serving");
    let served = server.await;
    if let Some(probes) = probes {
        // The kubelet's probes are answered until the hook server has drained.
        probes.stop(false).await;
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        serve: Args,
    }

    /// The timeouts' defaults are written twice, as help text here and as durations in
    /// `ServerLimits`; this keeps the two the same.
    #[test]
    fn serve_without_flags_gets_the_server_defaults() {
        let args = Command::parse_from(["rulehook", "--memory-limit", "128MiB"]).serve;
        let from_flags = server_limits(&args);
        let defaults = ServerLimits::for_memory(memory::DEFAULT_MEMORY_LIMIT);
        assert_eq!(
            format!("{from_flags:?}"),
            format!("{defaults:?}"),
            "the flags' defaults and ServerLimits disagree"
        );
        assert_eq!(args.record_max_bytes, RecordConfig::DEFAULT_MAX_BYTES);
    }
}
