//! The routes that are not hooks: probes, the rule listing and metrics. All are cheap and
//! answer on the I/O threads.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::http::connection::{ClientCertificate, Connection, HeldBody};

pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Ready once the first load is done and serves a rule: a server with none is a mounted
/// volume gone wrong (or empty on purpose, with `--allow-empty`).
pub(super) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let rules = state.rules.load();
    let loaded = state.loaded.load(Ordering::Acquire);
    let empty = rules.is_empty() && !state.allow_empty;
    if loaded && !empty {
        HttpResponse::Ok()
            .content_type("text/plain")
            .body(format!("ok: {} rules\n", rules.len()))
    } else {
        let why = if !loaded {
            "rules are still loading"
        } else if rules.errors().next().is_some() {
            "no rule loaded; every rule file has errors"
        } else {
            "no rule loaded; the rule directory holds no rule file (serve with --allow-empty to be ready without rules)"
        };
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("not ready: {why}\n"))
    }
}

/// Checks the request's credentials when authentication is configured.
pub(super) fn authorize(state: &AppState, request: &HttpRequest) -> Result<(), ApiError> {
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
pub(super) async fn list_rules(
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
                "kind": rule.kind.as_str(),
                "hooks": rule.hooks().iter().map(|h| h.as_str()).collect::<Vec<_>>(),
                "hash": loaded.hash,
                "loadedAt": rfc3339(loaded.loaded_at),
                "memoryBytes": loaded.memory,
                "libraries": loaded.libraries.iter().map(|l| json!({
                    "name": l.name,
                    "file": l.file,
                    "sha256": l.sha256,
                })).collect::<Vec<_>>(),
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
    let listing = json!({
        "generation": rules.generation,
        "reloadChecks": state.reload_checks.load(Ordering::Relaxed),
        "memory": {"bytes": rules.memory(), "limitBytes": rules.limits().memory},
        "rules": rule_list,
        "files": file_list,
    });
    held(&state, &request, "application/json", listing.to_string())
}

fn errors_text(errors: &[rulehook_engine::Diagnostic]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

pub(super) async fn metrics_text(
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
    let (hits, misses) = state.answers.counts();
    state
        .metrics
        .observe_answer_cache(hits, misses, state.answers.bytes());
    state.observe_connections();
    let text = state.metrics.encode();
    held(
        &state,
        &request,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        text,
    )
}

/// A 200 whose body, which grows with the rule set, holds its memory from the request budget
/// until the client has read it, like a hook's answer: a client that asks again and again
/// and never reads cannot pile such bodies up.
fn held(
    state: &AppState,
    request: &HttpRequest,
    content_type: &'static str,
    body: String,
) -> Result<HttpResponse, ApiError> {
    let reservation = state.memory.reservation();
    if !reservation.grow(body.len()) {
        return Err(ApiError::OutOfMemory);
    }
    reservation.mark_unsent();
    let connection = request.conn_data::<Connection>();
    let body = HeldBody::new(
        body.into(),
        std::sync::Arc::new(reservation),
        connection,
        state.limits.write_timeout,
    );
    Ok(HttpResponse::Ok().content_type(content_type).body(body))
}
