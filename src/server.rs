//! The HTTP shell: decode the request, look up the rule in the current snapshot, let the
//! engine render, encode the answer. Handlers never branch on what a rule contains.
//!
//! Every error becomes an HTTP status in exactly one place, [`ApiError`]'s `ResponseError`
//! impl. A failed render is never a 200: Metacontroller deletes any child missing from a 200.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use arc_swap::ArcSwap;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::admission::{self, InFlight, RequestGuard, RuleShares};
use crate::auth::Auth;
use crate::connection::{ClientCertificate, HeldBody, Socket};
use crate::engine::{Hook, HookError, Limits};
use crate::memory::{Budgets, MemoryBudget, DEFAULT_MEMORY_LIMIT, PARSE_FACTOR};
use crate::metrics::{self, Metrics};
use crate::render_pool::RenderPool;
use crate::ruleset::{LoadedRule, RuleSet};

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
    /// Whether hooks, `/rules` and `/metrics` need a verified client certificate. Probes
    /// never do: the kubelet has none.
    pub require_client_certificate: bool,
    /// What requests may hold in memory at once.
    pub memory: Arc<MemoryBudget>,
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
    /// What all requests together may hold in memory.
    pub request_memory: usize,
    pub engine: Limits,
    /// Renders of the rule with this name panic: a fault injected by tests, to show the
    /// recovery path over HTTP. Only debug builds have a flag that sets it.
    pub panic_rule: Option<String>,
}

impl ServerLimits {
    /// The limits that fit a container limited to `memory_limit` bytes.
    pub fn for_memory(memory_limit: usize) -> Self {
        let budgets = Budgets::derive(memory_limit);
        ServerLimits {
            max_body_bytes: budgets.max_body,
            max_in_flight: 256,
            // Metacontroller's own hook timeout: after it, nobody waits for the answer.
            body_timeout: Duration::from_secs(10),
            render_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            render_threads: default_render_threads(),
            request_memory: budgets.request_memory,
            engine: Limits {
                max_output_bytes: budgets.max_output,
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
        Ok(AppState {
            rules,
            memory: MemoryBudget::new(limits.request_memory),
            limits,
            loaded: AtomicBool::new(false),
            reload_checks: AtomicU64::new(0),
            metrics: Metrics::new(),
            auth: Auth::default(),
            open_metrics: false,
            require_client_certificate: false,
            renders,
            shares,
            in_flight: InFlight::default(),
        })
    }
}

/// Registers every route; used by `serve` and by tests alike.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .route(web::head().to(healthz)),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(readyz))
            .route(web::head().to(readyz)),
    )
    .route("/rules", web::get().to(list_rules))
    .route("/metrics", web::get().to(metrics_text))
    .service(
        web::resource("/{rule}/{hook}")
            .route(web::post().to(hook))
            .default_service(web::to(method_not_allowed)),
    );
}

/// Everything that can go wrong with a hook call, and its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("bad request: {0}")]
    WrongShape(String),
    #[error("no rule named `{0}` is loaded")]
    UnknownRule(String),
    #[error("unknown hook `{0}`; expected sync, finalize or customize")]
    UnknownHook(String),
    #[error("{0}")]
    NoHook(String),
    #[error("the request body is over the limit of {0} bytes")]
    TooLarge(usize),
    #[error("unsupported content type `{0}`; send application/json")]
    UnsupportedMediaType(String),
    #[error("method not allowed; hooks take POST")]
    MethodNotAllowed,
    #[error("too many requests in flight; retry shortly")]
    Overloaded,
    #[error("the server's memory budget for requests is in use; retry shortly")]
    OutOfMemory,
    #[error("the request body did not arrive within {} (limit body-timeout)", humantime::format_duration(*.0))]
    BodyTimeout(Duration),
    #[error("rule `{rule}` did not finish within {} (limit render-timeout)", humantime::format_duration(*.after))]
    RenderTimeout { rule: String, after: Duration },
    #[error("rule `{rule}` failed: the render stopped on an internal error, which was logged")]
    Panicked { rule: String },
    #[error("a verified client certificate is required")]
    ClientCertificateRequired,
    #[error("missing or wrong credentials")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Render(String),
    #[error("reading the request failed: {0}")]
    Read(String),
}

impl From<HookError> for ApiError {
    fn from(e: HookError) -> Self {
        match e {
            HookError::BadRequest(m) => ApiError::WrongShape(m),
            e @ HookError::NoHook { .. } => ApiError::NoHook(e.to_string()),
            e @ (HookError::Render { .. } | HookError::Interrupted { .. }) => {
                ApiError::Render(e.to_string())
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::Read(_) => StatusCode::BAD_REQUEST,
            ApiError::WrongShape(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnknownRule(_) | ApiError::UnknownHook(_) | ApiError::NoHook(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ApiError::OutOfMemory => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::ClientCertificateRequired => StatusCode::FORBIDDEN,
            ApiError::Render(_) | ApiError::RenderTimeout { .. } | ApiError::Panicked { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("text/plain; charset=utf-8");
        match self {
            ApiError::Overloaded | ApiError::OutOfMemory => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            // The rest of the body may still be on its way; the connection cannot be reused.
            ApiError::BodyTimeout(_) => {
                response.force_close();
            }
            ApiError::MethodNotAllowed => {
                response.insert_header((header::ALLOW, "POST"));
            }
            ApiError::Unauthorized(challenge) => {
                response.insert_header((header::WWW_AUTHENTICATE, *challenge));
            }
            _ => {}
        }
        response.body(format!("{self}\n"))
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Ready once the first load is done, unless it produced no rule at all and only errors.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let rules = state.rules.load();
    let loaded = state.loaded.load(Ordering::Acquire);
    let broken = rules.is_empty() && rules.errors().next().is_some();
    if loaded && !broken {
        HttpResponse::Ok()
            .content_type("text/plain")
            .body(format!("ok: {} rules\n", rules.len()))
    } else {
        let why = if loaded {
            "no rule loaded; every rule file has errors"
        } else {
            "rules are still loading"
        };
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("not ready: {why}\n"))
    }
}

/// Checks the request's credentials when authentication is configured.
fn authorize(state: &AppState, request: &HttpRequest) -> Result<(), ApiError> {
    if state.require_client_certificate && request.conn_data::<ClientCertificate>().is_none() {
        return Err(ApiError::ClientCertificateRequired);
    }
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if state.auth.allows(header) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(state.auth.challenge()))
    }
}

/// Every rule, and every file with a problem, as JSON.
async fn list_rules(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    authorize(&state, &request)?;
    let rules = state.rules.load();
    let files = rules.files();
    let rule_list: Vec<Value> = rules
        .rules()
        .map(|loaded| {
            let rule = &loaded.rule;
            let error = files
                .get(&rule.file)
                .filter(|f| !f.errors.is_empty())
                .map(|f| errors_text(&f.errors));
            json!({
                "name": rule.name,
                "file": rule.file,
                "kind": rule.kind_name(),
                "hooks": rule.hooks().iter().map(|h| h.as_str()).collect::<Vec<_>>(),
                "hash": loaded.hash,
                "loadedAt": rfc3339(loaded.loaded_at),
                "error": error,
            })
        })
        .collect();
    let file_list: Vec<Value> = files
        .iter()
        .map(|(file, f)| {
            json!({
                "file": file,
                "hash": f.hash,
                "rule": f.serving.as_ref().map(|r| r.rule.name.clone()),
                "error": (!f.errors.is_empty()).then(|| errors_text(&f.errors)),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "generation": rules.generation,
        "reloadChecks": state.reload_checks.load(Ordering::Relaxed),
        "rules": rule_list,
        "files": file_list,
    })))
}

fn errors_text(errors: &[crate::engine::Diagnostic]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

async fn metrics_text(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !state.open_metrics {
        authorize(&state, &request)?;
    }
    state.metrics.observe_memory(
        state.memory.limit(),
        state.memory.reserved(),
        state.memory.unsent(),
    );
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode()))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

async fn hook(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let (rule, hook) = path.into_inner();
    // One snapshot serves the whole request, whatever reloads happen meanwhile, and also
    // decides the metrics label.
    let rules = state.rules.load_full();
    let loaded = rules.get(&rule).cloned();
    let rule_label = if loaded.is_some() {
        rule.as_str()
    } else {
        metrics::UNKNOWN
    };
    let result = answer(&state, loaded, &rule, &hook, &request, payload).await;
    let (status, parent) = match &result {
        Ok((response, parent)) => (response.status(), parent.as_str()),
        Err(e) => (e.status_code(), ""),
    };
    let elapsed = started.elapsed();
    state
        .metrics
        .observe_request(rule_label, &hook, status.as_u16(), elapsed.as_secs_f64());
    tracing::info!(
        rule = %rule,
        hook = %hook,
        status = status.as_u16(),
        duration_us = elapsed.as_micros() as u64,
        parent = %parent,
        "hook request"
    );
    if let Err(e @ ApiError::Render(_)) = &result {
        tracing::warn!(rule = %rule, hook = %hook, error = %e, "rule failed");
    }
    result.map(|(response, _)| response)
}

async fn answer(
    state: &AppState,
    loaded: Option<Arc<LoadedRule>>,
    rule: &str,
    hook: &str,
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<(HttpResponse, String), ApiError> {
    authorize(state, request)?;
    let hook = Hook::parse(hook).ok_or_else(|| ApiError::UnknownHook(hook.to_owned()))?;
    let loaded = loaded.ok_or_else(|| ApiError::UnknownRule(rule.to_owned()))?;
    check_content_type(request)?;
    let limits = &state.limits;
    let guard = Arc::new(RequestGuard::new(&state.memory));
    let body = admission::read_body(
        request,
        payload,
        limits.max_body_bytes,
        limits.body_timeout,
        &guard,
    )
    .await?;
    let _slot = state.in_flight.admit(limits.max_in_flight)?;
    guard.reserve_or_refuse(body.len().saturating_mul(PARSE_FACTOR))?;
    let (answer, parent) = render_on_pool(state, &loaded, hook, body, &guard).await?;
    // From here the reservation covers the answer alone, until the client has read it.
    if !guard.reservation().resize(answer.len()) {
        return Err(ApiError::OutOfMemory);
    }
    Ok((respond(state, request, answer, guard), parent))
}

/// Parses and renders on a render thread, within the render deadline (which also covers
/// waiting for the rule's share of the threads).
async fn render_on_pool(
    state: &AppState,
    loaded: &Arc<LoadedRule>,
    hook: Hook,
    body: web::Bytes,
    guard: &Arc<RequestGuard>,
) -> Result<(Vec<u8>, String), ApiError> {
    let name = &loaded.rule.name;
    let rule = loaded.clone();
    let limits = Limits {
        guard: Some(guard.clone()),
        ..state.limits.engine.clone()
    };
    let inject_panic = state.limits.panic_rule.as_ref() == Some(name);
    let render = async {
        let share = state.shares.acquire(name).await;
        let job = state
            .renders
            .spawn(move |reply| {
                let _share = share;
                if let Some(guard) = &limits.guard {
                    if guard.cancelled() {
                        return; // its caller gave up while it queued
                    }
                }
                let value = match rule.rule.parse_request(&body) {
                    Ok(value) => value,
                    Err(e) => {
                        let _ = reply.send(Err(ApiError::MalformedJson(e.to_string())));
                        return;
                    }
                };
                drop(body);
                assert!(!inject_panic, "a panic injected for tests");
                let parent = subject_name(&value);
                let (rendered, leftovers) = rule.rule.render_body_keeping(hook, value, &limits);
                let _ = reply.send(rendered.map(|b| (b, parent)).map_err(ApiError::from));
                // Freeing a large request takes as long as rendering it; the answer is
                // already on its way.
                drop(leftovers);
            })
            .map_err(|_| ApiError::Overloaded)?;
        Ok::<_, ApiError>(job.await)
    };
    match actix_web::rt::time::timeout(state.limits.render_timeout, render).await {
        Err(_) => {
            guard.cancel();
            Err(ApiError::RenderTimeout {
                rule: name.clone(),
                after: state.limits.render_timeout,
            })
        }
        Ok(Err(busy)) => Err(busy),
        Ok(Ok(Err(_closed))) => {
            state.metrics.observe_panic(name);
            Err(ApiError::Panicked { rule: name.clone() })
        }
        Ok(Ok(Ok(Err(ApiError::Render(_))))) if guard.starved() => Err(ApiError::OutOfMemory),
        Ok(Ok(Ok(result))) => result,
    }
}

/// Metacontroller sends `application/json`; a client that says anything else is confused.
fn check_content_type(request: &HttpRequest) -> Result<(), ApiError> {
    let Some(value) = request.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    let mime = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || mime.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(text.to_owned()))
    }
}

/// `namespace/name` of the parent or decorated object, for the request log.
fn subject_name(request: &Value) -> String {
    let subject = request.get("parent").or_else(|| request.get("object"));
    let meta = subject.and_then(|s| s.get("metadata"));
    let field = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    match field("namespace") {
        "" => field("name").to_owned(),
        ns => format!("{ns}/{}", field("name")),
    }
}

/// A strong ETag: the hash of the exact body bytes.
pub fn etag(body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for b in &digest[..16] {
        tag.push(HEX[usize::from(b >> 4)] as char);
        tag.push(HEX[usize::from(b & 0xf)] as char);
    }
    tag.push('"');
    tag
}

/// 200 with an ETag, or 304 when the client already holds this exact body. The body keeps
/// the request's memory reservation until it is written, and a client that does not read a
/// large one within the write deadline is disconnected.
fn respond(
    state: &AppState,
    request: &HttpRequest,
    body: Vec<u8>,
    guard: Arc<RequestGuard>,
) -> HttpResponse {
    let tag = etag(&body);
    let matches = request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*");
    let tag_header = HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"\""));
    if matches {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, tag_header))
            .finish();
    }
    guard.reservation().mark_unsent();
    let socket = request.conn_data::<Socket>().cloned();
    let metrics = state.metrics.slow_readers();
    let body = HeldBody::new(
        body.into(),
        guard,
        socket,
        state.limits.write_timeout,
        move || {
            metrics.inc();
        },
    );
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, tag_header))
        .body(body)
}
