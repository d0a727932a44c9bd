//! The HTTP shell: decode the request, look up the rule in the current snapshot, let the
//! engine render, encode the answer. Handlers never branch on what a rule contains.
//!
//! Every error becomes an HTTP status in exactly one place, [`ApiError`]'s `ResponseError`
//! impl. A failed render is never a 200: Metacontroller deletes any child missing from a 200.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use arc_swap::ArcSwap;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::auth::Auth;
use crate::engine::{Hook, HookError, Limits};
use crate::metrics::{self, Metrics};
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
    /// Frees large parsed requests after their answer is on its way.
    dropper: Option<SyncSender<Value>>,
    in_flight: AtomicUsize,
}

/// Request-level limits, on top of the engine's render limits.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub max_body_bytes: usize,
    /// Requests rendered at once before new ones get 429.
    pub max_in_flight: usize,
    pub engine: Limits,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            // Large parents bring thousands of children; 32 MiB holds ~10,000 Pods.
            max_body_bytes: 32 * 1024 * 1024,
            max_in_flight: 256,
            engine: Limits::default(),
        }
    }
}

/// Requests at least this large are freed on the dropper thread: freeing 3 MB of parsed
/// Pods takes ~6 ms, as long as rendering them. Small ones are cheaper to free in place.
const DEFERRED_DROP_BYTES: usize = 64 * 1024;

/// A thread that frees what it is sent. Bounded, so a burst falls back to freeing in place
/// rather than queueing memory.
fn spawn_dropper() -> Option<SyncSender<Value>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Value>(16);
    std::thread::Builder::new()
        .name("request-drop".to_owned())
        .spawn(move || rx.into_iter().for_each(drop))
        .ok()
        .map(|_| tx)
}

impl AppState {
    /// Frees a request's remains, off the request path when it is large.
    fn dispose(&self, leftovers: Value, body_len: usize) {
        if body_len < DEFERRED_DROP_BYTES {
            return;
        }
        if let Some(tx) = &self.dropper {
            // Full or gone: the value comes back in the error and is freed here.
            let _ = tx.try_send(leftovers);
        }
    }

    pub fn new(rules: Arc<ArcSwap<RuleSet>>, limits: ServerLimits) -> Self {
        AppState {
            rules,
            limits,
            loaded: AtomicBool::new(false),
            reload_checks: AtomicU64::new(0),
            metrics: Metrics::new(),
            auth: Auth::default(),
            open_metrics: false,
            dropper: spawn_dropper(),
            in_flight: AtomicUsize::new(0),
        }
    }
}

/// Registers every route; used by `serve` and by tests alike.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
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
            e @ HookError::Render { .. } => ApiError::Render(e.to_string()),
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
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("text/plain; charset=utf-8");
        match self {
            ApiError::Overloaded => {
                response.insert_header((header::RETRY_AFTER, "1"));
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
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode()))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// Releases an in-flight slot when the request ends, however it ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
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
    let _slot = admit(state)?;
    check_content_type(request)?;
    let body = read_body(request, payload, state.limits.max_body_bytes).await?;
    let value = loaded
        .rule
        .parse_request(&body)
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let body_len = body.len();
    drop(body);
    let parent = subject_name(&value);
    let (rendered, leftovers) = loaded
        .rule
        .render_body_keeping(hook, value, &state.limits.engine);
    state.dispose(leftovers, body_len);
    Ok((with_etag(request, rendered?), parent))
}

fn admit(state: &AppState) -> Result<InFlight<'_>, ApiError> {
    let before = state.in_flight.fetch_add(1, Ordering::AcqRel);
    let slot = InFlight(&state.in_flight);
    if before >= state.limits.max_in_flight {
        return Err(ApiError::Overloaded);
    }
    Ok(slot)
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

async fn read_body(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge(limit));
    }
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(ApiError::Read(e.to_string())),
        Err(_) => Err(ApiError::TooLarge(limit)),
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

/// 200 with an ETag, or 304 when the client already holds this exact body.
fn with_etag(request: &HttpRequest, body: Vec<u8>) -> HttpResponse {
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
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, tag_header))
        .body(body)
}
