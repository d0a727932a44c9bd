//! Every way a request can fail, and the one place that maps each to its HTTP status.

use std::time::Duration;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use rulehook_engine::HookError;

/// Everything that can go wrong with a hook call, and its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("no rule named `{0}` is loaded")]
    UnknownRule(String),
    #[error("no rule named `{rule}` is loaded: {file} has errors; GET /rules lists them")]
    RuleFailedToLoad { rule: String, file: String },
    #[error("unknown hook `{0}`; expected sync, finalize or customize")]
    UnknownHook(String),
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
    #[error("the request needs {needed} bytes of memory or more, over the {limit} one request may hold (limit memory-limit: requests share half of it)")]
    NeedsTooMuchMemory { needed: usize, limit: usize },
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
    /// The engine's own error, kept whole: its variant decides the status.
    #[error("{}", hook_message(.0))]
    Hook(#[from] HookError),
    #[error("reading the request failed: {0}")]
    Read(String),
    /// A loopback-only page asked for under another name: a DNS-rebinding page may be
    /// reaching it through the browser.
    #[error("host `{0}` is not this playground's address; open it as http://localhost:PORT or http://127.0.0.1:PORT")]
    ForeignHost(String),
    /// A POST sent by a page of another origin, through the person's browser.
    #[error("origin `{0}` may not use this playground; use its own page")]
    CrossOrigin(String),
}

/// A request of the wrong shape is named as such; the engine's other errors say enough.
fn hook_message(error: &HookError) -> String {
    match error {
        HookError::BadRequest(e) => format!("bad request: {e}"),
        other => other.to_string(),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::Read(_) => StatusCode::BAD_REQUEST,
            ApiError::Hook(HookError::BadRequest(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnknownRule(_)
            | ApiError::RuleFailedToLoad { .. }
            | ApiError::UnknownHook(_)
            | ApiError::Hook(HookError::NoHook { .. }) => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) | ApiError::NeedsTooMuchMemory { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ApiError::OutOfMemory => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::ClientCertificateRequired
            | ApiError::ForeignHost(_)
            | ApiError::CrossOrigin(_) => StatusCode::FORBIDDEN,
            ApiError::Hook(HookError::Render { .. } | HookError::Interrupted { .. })
            | ApiError::RenderTimeout { .. }
            | ApiError::Panicked { .. } => StatusCode::INTERNAL_SERVER_ERROR,
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
