//! The hook route: admit the request, read its body, answer it from the answer cache when
//! the same bytes were answered and kept before, else parse and render it (on the I/O thread
//! within a slice, or on a render thread), and answer with an ETag. Handlers never branch on
//! what a rule's templates contain, only on what the compiled rule says of itself: the hooks
//! it answers, and whether it reads the time (then the clock is read for it, and the answer
//! cache left alone).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use super::etag;
use super::status::authorize;
use super::{ApiError, AppState};
use crate::budget::answer_cache::{Answer, Miss};
use crate::http::admission::{self, RequestGuard, SliceGuard};
use crate::http::connection::{Chunked, Connection, HeldBody};
use crate::supply::ruleset::LoadedRule;
use crate::telemetry::failures::FailedCall;
use crate::telemetry::log_writer::{self, AccessRecord};
use crate::telemetry::metrics;
use rulehook_engine::clip;
use rulehook_engine::metacontroller::Subject;
use rulehook_engine::{Hook, HookError, Limits, Now, ReadError};

/// One line per hook call, queued for the log writer, which formats and writes it.
fn access_log(rule: &str, hook: &str, status: u16, elapsed: Duration, subject: Arc<Subject>) {
    let record = AccessRecord {
        at: SystemTime::now(),
        rule: rule.to_owned(),
        hook: hook.to_owned(),
        status,
        duration_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        subject,
    };
    if let Err(record) = log_writer::access(record) {
        // No writer runs (the library embedded elsewhere): the same line through `tracing`.
        log_writer::via_tracing(&record);
    }
}

/// Every path the other routes do not take: `POST /{rule}/{hook}` is a hook call, another
/// method on such a path is 405, and any other path is 404.
pub(super) async fn dispatch(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Some((rule, hook)) = rule_and_hook(request.path()) else {
        return Ok(HttpResponse::NotFound().finish());
    };
    if request.method() != actix_web::http::Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let (rule, hook) = (decode(rule), decode(hook));
    call(state, &rule, &hook, &request, payload).await
}

/// The two segments of `/{rule}/{hook}`, both non-empty.
pub(super) fn rule_and_hook(path: &str) -> Option<(&str, &str)> {
    let (rule, hook) = path.strip_prefix('/')?.split_once('/')?;
    (!rule.is_empty() && !hook.is_empty() && !hook.contains('/')).then_some((rule, hook))
}

/// A path segment with its percent-escapes decoded, as actix's own path matching gives it.
fn decode(segment: &str) -> std::borrow::Cow<'_, str> {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy()
}

async fn call(
    state: web::Data<AppState>,
    rule: &str,
    hook: &str,
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    // One snapshot serves the whole request, whatever reloads happen meanwhile, and also
    // decides the metrics label.
    let rules = state.rules.load();
    let found = rules.get(rule);
    let loaded = found.cloned();
    let unknown;
    let rule_label = match found {
        Some(loaded) => &loaded.metric_label,
        None => {
            unknown = metrics::unknown_label();
            &unknown
        }
    };
    // Known once the request is parsed (or answered from the cache), whatever comes after.
    let mut subject = None;
    let result = answer(&state, loaded, rule, hook, request, payload, &mut subject).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(e) => e.status_code(),
    };
    let elapsed = started.elapsed();
    state
        .metrics
        .observe_request(rule_label, hook, status.as_u16(), elapsed.as_secs_f64());
    let subject = subject.unwrap_or_default();
    if let Err(e @ ApiError::Hook(HookError::Render { .. } | HookError::Interrupted { .. })) =
        &result
    {
        tracing::warn!(
            rule = %clip(rule),
            hook = %clip(hook),
            parent = %clip(&subject.namespaced_name()),
            kind = %clip(&subject.kind),
            uid = %clip(&subject.uid),
            error = %e,
            "rule failed"
        );
    }
    if let (true, Err(e)) = (state.ui, &result) {
        keep_failure(&state, rule, hook, status.as_u16(), e, &subject);
    }
    if tracing::enabled!(tracing::Level::INFO) {
        access_log(rule, hook, status.as_u16(), elapsed, subject);
    }
    result
}

/// Keeps a failed call for the `/ui` page. Refused credentials are left out: they say
/// nothing about a rule, and anyone who can reach the port could fill the list with them.
fn keep_failure(
    state: &AppState,
    rule: &str,
    hook: &str,
    status: u16,
    error: &ApiError,
    subject: &Subject,
) {
    if matches!(status, 401 | 403) {
        return;
    }
    let at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    state.failures.record(FailedCall {
        at,
        rule: clip(rule).to_string(),
        hook: clip(hook).to_string(),
        status,
        message: error.to_string(),
        parent: clip(&subject.namespaced_name()).to_string(),
        kind: clip(&subject.kind).to_string(),
        uid: clip(&subject.uid).to_string(),
    });
}

/// Answers a hook call; `subject` is set as soon as the object the call is about is known.
async fn answer(
    state: &AppState,
    loaded: Option<Arc<LoadedRule>>,
    rule: &str,
    hook: &str,
    request: &HttpRequest,
    payload: web::Payload,
    subject: &mut Option<Arc<Subject>>,
) -> Result<HttpResponse, ApiError> {
    authorize(state, request)?;
    let hook = Hook::parse(hook).ok_or_else(|| ApiError::UnknownHook(hook.to_owned()))?;
    let loaded = loaded.ok_or_else(|| unknown_rule(state, rule))?;
    // A hook the rule does not answer is a 404 whatever the body, so it is decided before
    // the body is read.
    if !loaded.rule.answers(hook) {
        return Err(ApiError::Hook(HookError::NoHook {
            rule: loaded.rule.name.clone(),
            hook,
        }));
    }
    check_content_type(request)?;
    let (body, guard, _slot) = admission::admit(state, request, payload).await?;
    // A rule that reads the time answers the same bytes differently from one call to the
    // next: its answers are never sent again, nor kept.
    let now = loaded.rule.reads_now().then(crate::clock::now).flatten();
    let cached = if loaded.rule.reads_now() {
        Err(Miss::NOT_KEPT)
    } else {
        state.answers.get(&loaded, hook, &body)
    };
    let miss = match cached {
        Ok(kept) => {
            *subject = Some(kept.subject.clone());
            return Ok(respond_kept(request, &kept));
        }
        Err(miss) => miss,
    };
    let recorded = state.recorder.as_ref().map(|_| body.clone());
    // Most requests are seen once: only a repeated one is worth the copy the cache keeps.
    let kept_request = miss.worth_keeping().then(|| body.clone());
    // Who the call is about is kept only for what names it: the access log, a kept answer,
    // the failures page. A render that fails on its slice is run again on a render thread,
    // which always finds it, for the warning.
    let wanted = kept_request.is_some() || state.ui || tracing::enabled!(tracing::Level::INFO);
    let slice = render_in_slice(state, &loaded, hook, now.as_ref(), &body, &guard, wanted)?;
    let answer = match slice {
        Some((done, known)) => {
            *subject = known;
            done
        }
        None => render_on_pool(state, &loaded, hook, now.clone(), body, &guard, subject).await?,
    };
    // From here the reservation covers the answer alone, until the client has read it.
    if !guard.reservation().resize(answer.len()) {
        return Err(ApiError::OutOfMemory);
    }
    let answer = web::Bytes::from(answer);
    let tag = etag::header(&answer);
    if let Some(request_body) = kept_request {
        let kept = Answer {
            body: answer.clone(),
            etag: tag.clone(),
            subject: subject.clone().unwrap_or_default(),
        };
        state.answers.put(miss, &loaded, hook, &request_body, kept);
    }
    let response = respond(state, request, answer, tag, guard);
    if let (Some(recorder), Some(body)) = (&state.recorder, recorded) {
        if response.status() == actix_web::http::StatusCode::OK {
            recorder.offer(&loaded.rule.name, hook, body, now);
        }
    }
    Ok(response)
}

/// Why `rule` has no loaded rule: a file of that name failed to load, or there is none.
fn unknown_rule(state: &AppState, rule: &str) -> ApiError {
    match state.rules.load().failed_file_named(rule) {
        Some(file) => ApiError::RuleFailedToLoad {
            rule: rule.to_owned(),
            file: file.to_owned(),
        },
        None => ApiError::UnknownRule(rule.to_owned()),
    }
}

/// What one parse and render of a request gave.
enum Attempt {
    /// The body is not JSON: 400, whatever the limits.
    Malformed(String),
    /// The guard refused the parse its memory, or stopped it.
    Refused,
    /// The render's outcome, and who the call is about when that was asked for.
    Rendered(Result<Vec<u8>, HookError>, Option<Arc<Subject>>),
}

/// Parses `body` within `guard` and renders it, the one engine call sequence of both the
/// slice and the render threads. A body given, not lent, is freed once parsed; what the
/// parse built comes back with the outcome, for the caller to free when it suits.
fn parse_and_render(
    rule: &rulehook_engine::Rule,
    hook: Hook,
    body: impl AsRef<[u8]>,
    guard: &dyn rulehook_engine::RenderGuard,
    now: Option<&Now>,
    limits: &Limits,
    subject_wanted: bool,
) -> (Attempt, Option<serde_json::Value>) {
    // Who the call is about is built only when something will name it.
    let parsed = if subject_wanted {
        rule.parse_request_within(body.as_ref(), guard)
    } else {
        rule.parse_answer_reads_within(body.as_ref(), guard)
    };
    let mut request = match parsed {
        Ok(request) => request,
        Err(ReadError::Malformed(e)) => return (Attempt::Malformed(e.to_string()), None),
        Err(ReadError::Refused { .. }) => return (Attempt::Refused, None),
    };
    drop(body);
    let subject = subject_wanted.then(|| Arc::new(Subject::of(&request)));
    let rendered = rule.render_body_at(hook, &mut request, now, limits);
    (Attempt::Rendered(rendered, subject), Some(request))
}

/// An answer, and who it is about when that was asked for.
type Rendered = (Vec<u8>, Option<Arc<Subject>>);

/// Bodies up to this size may be parsed on the I/O thread: about 0.2 ms of work.
const SLICE_BODY_BYTES: usize = 64 * 1024;

/// What a render may build on the I/O thread before it is moved to a render thread.
const SLICE_OUTPUT_BYTES: usize = 256 * 1024;

/// How long a render may run on an I/O thread, whatever its work units said: a backstop for
/// work that was priced too low. Ten times the slice's work at a nanosecond a unit.
const SLICE_TIME: Duration = Duration::from_millis(10);

/// Tries the render on the I/O thread within a small, fixed slice of work (`--slice-work`
/// units, `--slice-steps` steps, 256 KiB built, bodies up to 64 KiB, 10 ms), and gives up
/// before the step that would pass it.
///
/// Handing a request to a render thread and back costs two cross-thread wake-ups; on a
/// small VM that is ~140 µs of latency and half the throughput of light hooks, which are
/// nearly every hook. A render that fits the slice is done before a hand-off would have
/// started; one that does not is dropped at the slice's end and run again from the start
/// on a render thread, with the full limits and the render deadline. So an I/O thread never
/// spends more than one slice on any request, and `/healthz` and light hooks never wait
/// behind a heavy render.
///
/// `Ok(None)` means "use a render thread". Failures that do not depend on limits (a bad
/// request, a missing hook) are final here. The answer comes with its subject when
/// `subject_wanted`.
fn render_in_slice(
    state: &AppState,
    loaded: &LoadedRule,
    hook: Hook,
    now: Option<&Now>,
    body: &web::Bytes,
    guard: &Arc<RequestGuard>,
    subject_wanted: bool,
) -> Result<Option<Rendered>, ApiError> {
    let steps = state.limits.slice_steps;
    let inject_panic = state.limits.panic_rule.as_ref() == Some(&loaded.rule.name);
    if steps == 0 || body.len() > SLICE_BODY_BYTES || inject_panic {
        return Ok(None);
    }
    let full = &state.limits.engine;
    let slice_guard = Arc::new(SliceGuard::new(guard.clone(), SLICE_TIME));
    let limits = Limits {
        max_steps: steps.min(full.max_steps),
        max_output_bytes: SLICE_OUTPUT_BYTES.min(full.max_output_bytes),
        max_loop_items: full.max_loop_items,
        max_work: state.limits.slice_work.min(full.max_work),
        guard: Some(slice_guard.clone()),
    };
    let rule = &loaded.rule;
    let held_before = guard.reservation().held();
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let guard = &*slice_guard;
        parse_and_render(rule, hook, body, guard, now, &limits, subject_wanted).0
    }));
    match attempt {
        Ok(Attempt::Rendered(Ok(answer), subject)) => Ok(Some((answer, subject))),
        // Out of time or memory, in the parse or the render.
        Ok(
            Attempt::Refused
            | Attempt::Rendered(Err(HookError::Render { .. } | HookError::Interrupted { .. }), _),
        ) => {
            if guard.starved() {
                return Err(guard.out_of_memory());
            }
            // Back to what the request held before the attempt; the render thread starts
            // over.
            guard.reservation().shrink_to(held_before);
            Ok(None)
        }
        Ok(Attempt::Rendered(Err(other), _)) => Err(other.into()),
        Ok(Attempt::Malformed(e)) => Err(ApiError::MalformedJson(e)),
        Err(_) => {
            tracing::error!(rule = %rule.name, "a render panicked on an I/O thread");
            state.metrics.observe_panic(&rule.name);
            Err(ApiError::Panicked {
                rule: rule.name.clone(),
            })
        }
    }
}

/// Parses and renders on a render thread, within the render deadline (which also covers
/// waiting for the rule's share of the threads).
async fn render_on_pool(
    state: &AppState,
    loaded: &Arc<LoadedRule>,
    hook: Hook,
    now: Option<Now>,
    body: web::Bytes,
    guard: &Arc<RequestGuard>,
    subject: &mut Option<Arc<Subject>>,
) -> Result<Vec<u8>, ApiError> {
    let name = &loaded.rule.name;
    let rule = loaded.clone();
    let limits = Limits {
        guard: Some(guard.clone()),
        ..state.limits.engine.clone()
    };
    let inject_panic = state.limits.panic_rule.as_ref() == Some(name);
    let request_guard = guard.clone();
    let rendered = state
        .on_render_thread(name, guard, move |reply| {
            assert!(!inject_panic, "a panic injected for tests");
            let (attempt, request) = parse_and_render(
                &rule.rule,
                hook,
                body,
                request_guard.as_ref(),
                now.as_ref(),
                &limits,
                true,
            );
            let _ = reply.send(match attempt {
                Attempt::Rendered(rendered, subject) => (rendered.map_err(ApiError::from), subject),
                Attempt::Malformed(e) => (Err(ApiError::MalformedJson(e)), None),
                // Its caller answers from the guard: out of memory, or cancelled.
                Attempt::Refused => (Err(ApiError::OutOfMemory), None),
            });
            // Freeing a large request takes as long as rendering it; the answer is
            // already on its way.
            drop(request);
        })
        .await;
    let (result, known) = match rendered {
        Ok(done) => done,
        Err(panicked @ ApiError::Panicked { .. }) => {
            state.metrics.observe_panic(name);
            return Err(panicked);
        }
        Err(other) => return Err(other),
    };
    if known.is_some() {
        *subject = known;
    }
    match result {
        Err(
            ApiError::OutOfMemory
            | ApiError::Hook(HookError::Render { .. } | HookError::Interrupted { .. }),
        ) if guard.starved() => Err(guard.out_of_memory()),
        result => result,
    }
}

/// Metacontroller sends `application/json`; a client that says anything else is confused.
pub(super) fn check_content_type(request: &HttpRequest) -> Result<(), ApiError> {
    let Some(value) = request.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    // What Metacontroller sends, decided before any parsing of the header.
    if value.as_bytes() == b"application/json" {
        return Ok(());
    }
    let text = value.to_str().unwrap_or("");
    let mime = text.split(';').next().unwrap_or("").trim();
    let suffix = mime.len().checked_sub(5).and_then(|at| mime.get(at..));
    if mime.eq_ignore_ascii_case("application/json")
        || suffix.is_some_and(|s| s.eq_ignore_ascii_case("+json"))
    {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(text.to_owned()))
    }
}

/// Made once: from a `&str`, actix would check the header value's bytes on every answer.
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// 200 with an ETag, or 304 when the client already holds this exact body. The body keeps
/// the request's memory reservation until it is written, and a client that does not read a
/// large one within the write deadline is disconnected.
fn respond(
    state: &AppState,
    request: &HttpRequest,
    body: web::Bytes,
    tag: HeaderValue,
    guard: Arc<RequestGuard>,
) -> HttpResponse {
    if etag::client_holds(request, &tag) {
        return etag::not_modified(tag);
    }
    guard.reservation().mark_unsent();
    let connection = request.conn_data::<Connection>();
    let body = HeldBody::new(body, guard, connection, state.limits.write_timeout);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, JSON))
        .insert_header((header::ETAG, tag))
        .body(body)
}

/// A kept answer, as [`respond`] sent it the first time. It is small and the cache holds
/// it, so it needs neither a reservation nor a watchdog; up to 64 KiB, it goes in pieces.
fn respond_kept(request: &HttpRequest, kept: &Answer) -> HttpResponse {
    if etag::client_holds(request, &kept.etag) {
        return etag::not_modified(kept.etag.clone());
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, JSON))
        .insert_header((header::ETAG, kept.etag.clone()))
        .body(Chunked::new(kept.body.clone()))
}
