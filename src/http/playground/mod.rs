//! The playground's routes (`rulehook playground`): one page to write a rule on, the saved
//! rules it may start from, and `POST /api/render`, which tries the rule being written on a
//! request under `serve`'s limits, on a render thread (`offline::trial` does the trying).
//!
//! It listens on loopback and has no credentials, so it trusts no browser page but its own:
//! every route checks the `Host` (a DNS-rebinding page reaches it under a name of its own),
//! and a POST its `Origin`. It never writes to disk.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState};
use crate::http::admission::{self, RequestGuard};
use crate::http::connection::{Connection, HeldBody};
use crate::offline::trial;
use rulehook_engine::{Hook, Limits};

pub mod ui;

/// The page: plain HTML, CSS and JavaScript, with nothing fetched from elsewhere.
const PAGE: &str = include_str!("page.html");

/// The page may run its own inline script and call its own API, nothing else; no other
/// site may frame it.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Where a rule being tried says its errors are, in `RequestTimeout` and friends; its
/// renders queue for a render thread under this name, apart from any hook's.
const EDITED_RULE: &str = "the edited rule";

/// What the playground's routes share besides the server's state.
pub struct Playground {
    /// Every `Host` the page may be asked for under, lowercase: `localhost:PORT`,
    /// `127.0.0.1:PORT`, `[::1]:PORT` and the listen address.
    hosts: Vec<String>,
    /// The rules loaded from `--rules`, for the page to start from.
    rules: Vec<SavedRule>,
}

/// A loaded rule, as `GET /api/rules` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SavedRule {
    pub name: String,
    pub file: String,
    pub text: String,
}

impl Playground {
    pub fn new(listen: SocketAddr, rules: Vec<SavedRule>) -> Playground {
        let port = listen.port();
        let mut hosts = vec![
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
            listen.to_string().to_ascii_lowercase(),
        ];
        hosts.dedup();
        Playground { hosts, rules }
    }

    /// The `Host` must be one of this server's own names.
    fn check_host(&self, request: &HttpRequest) -> Result<(), ApiError> {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            Ok(())
        } else {
            Err(ApiError::ForeignHost(
                rulehook_engine::clip(host).to_string(),
            ))
        }
    }

    /// A browser sends `Origin` with every cross-site POST: it must be the page's own.
    fn check_origin(&self, request: &HttpRequest) -> Result<(), ApiError> {
        let Some(origin) = request.headers().get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("");
        let own = origin
            .strip_prefix("http://")
            .is_some_and(|host| self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)));
        if own {
            Ok(())
        } else {
            Err(ApiError::CrossOrigin(
                rulehook_engine::clip(origin).to_string(),
            ))
        }
    }
}

/// Registers the playground's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(page))
        .route("/api/rules", web::get().to(list_rules))
        .route("/api/render", web::post().to(render))
        .route("/api/request", web::post().to(built_request));
}

async fn page(
    playground: web::Data<Playground>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    playground.check_host(&request)?;
    Ok(page_response())
}

/// The page, under its content security policy.
fn page_response() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(PAGE)
}

async fn list_rules(
    playground: web::Data<Playground>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    playground.check_host(&request)?;
    Ok(HttpResponse::Ok().json(&playground.rules))
}

/// The body of `POST /api/render`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Attempt {
    rule: String,
    request: String,
    #[serde(default = "sync")]
    hook: String,
}

fn sync() -> String {
    Hook::Sync.as_str().to_owned()
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Tries a rule on a request, and answers the outcome (problems included) with 200.
async fn render(
    state: web::Data<AppState>,
    playground: web::Data<Playground>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    checked_attempt(&state, &playground, &request, payload, trial::run).await
}

/// The hook request the request editor's text stands for, as the page puts it in a test
/// case.
async fn built_request(
    state: web::Data<AppState>,
    playground: web::Data<Playground>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    checked_attempt(&state, &playground, &request, payload, trial::request).await
}

/// An edited rule's call, once the page's `Host` and `Origin` are checked.
async fn checked_attempt<T: Serialize + Send + 'static>(
    state: &AppState,
    playground: &Playground,
    request: &HttpRequest,
    payload: web::Payload,
    work: Work<T>,
) -> Result<HttpResponse, ApiError> {
    playground.check_host(request)?;
    playground.check_origin(request)?;
    attempt(state, request, payload, work, EDITED_RULE).await
}

/// What a playground call does, once its caller has checked who asks: read the body as a hook call's is read, do `work` on a
/// render thread within the render deadline, and answer what it gives as JSON. Errors name
/// the rule as `label`.
async fn attempt<T: Serialize + Send + 'static>(
    state: &AppState,
    request: &HttpRequest,
    payload: web::Payload,
    work: Work<T>,
    label: &'static str,
) -> Result<HttpResponse, ApiError> {
    super::hook::check_content_type(request)?;
    let (body, guard, _slot) = admission::admit(state, request, payload).await?;
    // Decoding copies the two texts out of the body.
    guard.reserve_or_refuse(body.len())?;
    let attempt: Attempt =
        serde_json::from_slice(&body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    drop(body);
    let hook =
        Hook::parse(&attempt.hook).ok_or_else(|| ApiError::UnknownHook(attempt.hook.clone()))?;
    let outcome = on_pool(state, attempt, hook, &guard, work, label).await?;
    let json = serde_json::to_vec(&outcome).map_err(|e| ApiError::Read(e.to_string()))?;
    drop(outcome);
    // From here the reservation covers the answer alone, until the client has read it.
    if !guard.reservation().resize(json.len()) {
        return Err(ApiError::OutOfMemory);
    }
    guard.reservation().mark_unsent();
    let connection = request.conn_data::<Connection>();
    let body = HeldBody::new(json.into(), guard, connection, state.limits.write_timeout);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, JSON))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// What a call does with the texts on a render thread.
type Work<T> = fn(&trial::Input<'_>) -> Result<T, trial::Stopped>;

/// Runs `work` on a render thread, as a hook's render runs: within the render deadline
/// (waiting for a thread included), every step charged to the request's guard.
async fn on_pool<T: Send + 'static>(
    state: &AppState,
    attempt: Attempt,
    hook: Hook,
    guard: &Arc<RequestGuard>,
    work: Work<T>,
    label: &'static str,
) -> Result<T, ApiError> {
    let limits = Limits {
        guard: Some(guard.clone()),
        ..state.limits.engine.clone()
    };
    let max_rule_bytes = state.limits.rules.max_file_bytes;
    let saved = state.rules.load_full();
    let outcome = state
        .on_render_thread(label, guard, move |reply| {
            // Read whether or not the rule reads it: a rule being written may start to.
            let now = crate::clock::now();
            let lookup = |name: &str| saved.get(name).map(|loaded| &loaded.rule);
            let input = trial::Input {
                rule: &attempt.rule,
                request: &attempt.request,
                hook,
                now: now.as_ref(),
                limits: &limits,
                max_rule_bytes,
                saved: &lookup,
            };
            let _ = reply.send(work(&input));
        })
        .await?;
    match outcome {
        Ok(outcome) => Ok(outcome),
        Err(trial::Stopped) if guard.starved() => Err(guard.out_of_memory()),
        Err(trial::Stopped) => Err(ApiError::RenderTimeout {
            rule: label.to_owned(),
            after: state.limits.render_timeout,
        }),
    }
}
