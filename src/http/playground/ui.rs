//! `serve --ui`: the playground's page at `/ui` on the hook server, read-only. It lists the
//! loaded rules (from `/rules`) with their calls, errors and latency (from `/metrics`), and
//! shows a loaded rule's answer to a request typed there (`POST /ui/api/render`) and the
//! last failed hook calls with the object each was about (`GET /ui/api/failures`).
//!
//! The page holds no data, so it is served to anyone once `--ui` is on; everything it shows
//! comes from routes that take the hooks' credentials, which the page asks for and sends as
//! an `Authorization` header. Renders are admitted and limited as hook calls are, never
//! written anywhere, and not counted in the hooks' metrics.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{attempt, page_response};
use crate::http::status::authorize;
use crate::http::{ApiError, AppState};
use crate::offline::trial;

/// How errors name the rule a render tried, which the page knows; its renders queue for a
/// render thread under this name, so they take at most one rule's share of the threads.
const LOADED_RULE: &str = "the loaded rule";

/// Registers `/ui` and its render API; both answer 404 unless `--ui` is on.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui", web::get().to(page))
        .route("/ui/api/render", web::post().to(render))
        .route("/ui/api/failures", web::get().to(failures));
}

async fn page(state: web::Data<AppState>) -> HttpResponse {
    if state.ui {
        page_response()
    } else {
        HttpResponse::NotFound().finish()
    }
}

/// `{"rule": "<loaded rule's name>", "request": "<JSON or kubectl YAML>", "hook": "sync"}`:
/// the playground's outcome of that rule on that request, without a diff.
async fn render(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !state.ui {
        return Ok(HttpResponse::NotFound().finish());
    }
    authorize(&state, &request)?;
    attempt(&state, &request, payload, trial::run_saved, LOADED_RULE).await
}

/// The last failed hook calls, newest first, with the object each was about.
async fn failures(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !state.ui {
        return Ok(HttpResponse::NotFound().finish());
    }
    authorize(&state, &request)?;
    Ok(HttpResponse::Ok().json(state.failures.newest_first()))
}
