//! The HTTP shell: decode the request, look up the rule in the current snapshot, let the
//! engine render, encode the answer. Handlers never branch on what a rule contains.
//!
//! Every error becomes an HTTP status in exactly one place, [`ApiError`]'s `ResponseError`
//! impl. A failed render is never a 200: Metacontroller deletes any child missing from a 200.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use arc_swap::ArcSwap;

use crate::budget::answer_cache::AnswerCache;
use crate::budget::memory::{Budgets, MemoryBudget, DEFAULT_MEMORY_LIMIT};
use crate::budget::render_pool::RenderPool;
use crate::supply::ruleset::{LoadedRule, RuleSet};
use crate::telemetry::metrics::Metrics;
use admission::{InFlight, RuleShares};
use auth::Auth;
use connection::Connections;
use rulehook_engine::Limits;

pub(crate) mod admission;
pub mod assemble;
pub mod auth;
pub mod connection;
mod error;
mod etag;
mod hook;
mod observe;
pub mod playground;
mod render_thread;
pub mod shutdown;
mod status;
pub mod tls;

pub(crate) use error::ApiError;

/// Server-wide state, shared by every worker.
pub struct AppState {
    /// The rules being served; the watcher swaps in a new set, requests load a snapshot.
    pub rules: Arc<ArcSwap<RuleSet>>,
    pub limits: ServerLimits,
    /// Set once the first load has finished.
    pub loaded: AtomicBool,
    /// Times the rule directory was re-read, changed or not.
    pub reload_checks: AtomicU64,
    pub metrics: Metrics,
    pub auth: Auth,
    /// Whether `/metrics` skips authentication, for scrapers that carry no credential.
    pub open_metrics: bool,
    /// Whether `/ui` serves the read-only page (`--ui`).
    pub ui: bool,
    /// The last failed hook calls, kept only while `--ui` is on: the page shows them.
    pub failures: crate::telemetry::failures::RecentFailures,
    /// Whether `/readyz` is ready with no rule loaded (`--allow-empty`).
    pub allow_empty: bool,
    /// Whether hooks, `/rules` and `/metrics` need a verified client certificate. Probes
    /// never do: the kubelet has none.
    pub require_client_certificate: bool,
    /// What requests may hold in memory at once.
    pub memory: Arc<MemoryBudget>,
    /// Where answered requests are recorded (`--record`), if anywhere.
    pub(crate) recorder: Option<crate::telemetry::record::Recorder>,
    /// Answers to requests seen before.
    pub answers: AnswerCache<LoadedRule>,
    /// The hook port's connections, per peer.
    pub connections: Arc<Connections>,
    renders: RenderPool,
    shares: RuleShares,
    in_flight: InFlight,
}

/// Request-level limits, on top of the engine's render limits.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub max_body_bytes: usize,
    /// Requests being parsed and rendered at once before new ones get 429.
    pub max_in_flight: usize,
    /// The time a client has, after its headers, to send the whole body.
    pub body_timeout: Duration,
    /// The time a render may take, queueing included.
    pub render_timeout: Duration,
    /// The time a client has to read a large answer.
    pub write_timeout: Duration,
    /// Threads that parse and render.
    pub render_threads: usize,
    /// Steps a render may take on an I/O thread before it moves to a render thread; 0 sends
    /// every render to the render threads.
    pub slice_steps: u64,
    /// Work units a render may spend on an I/O thread before it moves to a render thread.
    pub slice_work: u64,
    /// What all requests together may hold in memory.
    pub request_memory: usize,
    /// What the answer cache may keep; 0 turns it off.
    pub answer_cache_bytes: usize,
    /// What rules may take: their memory share and the largest rule file.
    pub rules: crate::supply::ruleset::RuleLimits,
    /// The container's memory limit, which every memory limit here follows from.
    pub memory_limit: usize,
    /// Connections one peer address may hold on the hook port; 0 for no limit.
    pub max_connections_per_peer: usize,
    pub engine: Limits,
    /// Renders of the rule with this name panic: a fault injected by tests, to show the
    /// recovery path over HTTP. Only debug builds have a flag that sets it.
    pub panic_rule: Option<String>,
}

impl ServerLimits {
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;
    /// Metacontroller opens one connection per hook call in flight: a few per controller
    /// (its `--workers`, 5 by default), so 128 serve two dozen busy controllers from one
    /// Metacontroller, while one client alone can never hold every connection.
    pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 128;
    pub const DEFAULT_SLICE_STEPS: u64 = 2_000;
    /// About a millisecond: a light hook takes a few hundred units, and an I/O thread stays
    /// free for probes and other light hooks.
    pub const DEFAULT_SLICE_WORK: u64 = 1_000_000;

    /// The limits that fit a container limited to `memory_limit` bytes.
    pub fn for_memory(memory_limit: usize) -> Self {
        let budgets = Budgets::derive(memory_limit);
        ServerLimits {
            max_body_bytes: budgets.max_body,
            max_in_flight: ServerLimits::DEFAULT_MAX_IN_FLIGHT,
            // Metacontroller's own hook timeout: after it, nobody waits for the answer.
            body_timeout: Duration::from_secs(10),
            render_timeout: DEFAULT_RENDER_TIMEOUT,
            write_timeout: Duration::from_secs(10),
            render_threads: default_render_threads(),
            slice_steps: ServerLimits::DEFAULT_SLICE_STEPS,
            slice_work: ServerLimits::DEFAULT_SLICE_WORK,
            request_memory: budgets.request_memory,
            answer_cache_bytes: budgets.answer_cache,
            rules: crate::supply::ruleset::RuleLimits::for_memory(memory_limit),
            memory_limit,
            max_connections_per_peer: ServerLimits::DEFAULT_MAX_CONNECTIONS_PER_PEER,
            engine: Limits {
                max_output_bytes: budgets.max_output,
                max_work: work_within(DEFAULT_RENDER_TIMEOUT),
                ..Limits::default()
            },
            panic_rule: None,
        }
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits::for_memory(DEFAULT_MEMORY_LIMIT)
    }
}

/// The time a render may take, queueing included.
pub const DEFAULT_RENDER_TIMEOUT: Duration = Duration::from_secs(5);

/// The work units that fit in `time`, at about a nanosecond each: no step may start that
/// would take a render past its deadline.
pub fn work_within(time: Duration) -> u64 {
    u64::try_from(time.as_nanos()).unwrap_or(u64::MAX)
}

/// Twice the CPUs, at least four: a light hook always finds a thread while heavy renders
/// run, and the memory budget, not the thread count, bounds what renders hold.
pub fn default_render_threads() -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cpus * 2).max(4)
}

impl AppState {
    /// # Errors
    ///
    /// When the render threads cannot be started.
    pub fn new(rules: Arc<ArcSwap<RuleSet>>, limits: ServerLimits) -> std::io::Result<Self> {
        let renders = RenderPool::new(limits.render_threads, limits.max_in_flight)?;
        let shares = RuleShares::new(limits.render_threads);
        let answers = AnswerCache::new(limits.answer_cache_bytes);
        let connections = Connections::new(limits.max_connections_per_peer);
        Ok(AppState {
            rules,
            memory: MemoryBudget::new(limits.request_memory),
            limits,
            loaded: AtomicBool::new(false),
            reload_checks: AtomicU64::new(0),
            metrics: Metrics::new(),
            auth: Auth::default(),
            open_metrics: false,
            ui: false,
            failures: crate::telemetry::failures::RecentFailures::default(),
            allow_empty: false,
            require_client_certificate: false,
            recorder: None,
            answers,
            connections,
            renders,
            shares,
            in_flight: InFlight::default(),
        })
    }

    /// Starts recording the requests answered with 200 into `config.dir` (`--record`). Its
    /// queue holds at most twice the largest body: all that recording may hold on top of
    /// the requests' own memory budget, besides the one request the writer is parsing.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created or the writer thread cannot start.
    pub fn record(
        &mut self,
        config: crate::telemetry::record::RecordConfig,
    ) -> std::io::Result<()> {
        let recorder = crate::telemetry::record::Recorder::start(
            config,
            self.limits.max_body_bytes.saturating_mul(2),
            self.metrics.records_dropped(),
        )?;
        self.recorder = Some(recorder);
        Ok(())
    }
}

/// Registers the probes, which the hook port and the probe port both answer.
pub fn probe_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(status::healthz))
            .route(web::head().to(status::healthz)),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(status::readyz))
            .route(web::head().to(status::readyz)),
    );
}

/// Registers every route of the hook server.
///
/// `/{rule}/{hook}` is split by hand: actix matches a dynamic segment with a regex, which
/// cost about 1 µs of every hook call, more than the ETag. No other route has two
/// segments, so they sit in one scope that a hook path passes over in a single test,
/// instead of being tried one by one (each try sets up and drops actix's table of path
/// segments). What matches nothing there still ends in [`hook::dispatch`], the 404s.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let other_routes = web::scope("")
        .guard(actix_web::guard::fn_guard(|ctx| {
            hook::rule_and_hook(ctx.head().uri.path()).is_none()
        }))
        .configure(probe_routes)
        .route("/rules", web::get().to(status::list_rules))
        .route("/metrics", web::get().to(status::metrics_text))
        .configure(playground::ui::routes);
    cfg.service(other_routes)
        .default_service(web::to(hook::dispatch));
}
