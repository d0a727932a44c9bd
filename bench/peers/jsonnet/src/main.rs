//! A peer for rulehook's benchmarks: Metacontroller's "hello" hook written in jsonnet and served
//! the way jsonnetd serves a hook, so that rulehook is measured against the usual way of
//! writing such a hook in a template language, with a fast Rust interpreter (jrsonnet) and the
//! same HTTP server as rulehook's (actix-web).
//!
//! Usage: `jsonnet-hook --listen 127.0.0.1:8082 --workers 2 --file hello.jsonnet`
//!
//! Every POST, to any path, evaluates FILE, which must be a `function(request)`, with the
//! request body as the top-level argument `request`, and answers the result as JSON.
//!
//! Per request, as jsonnetd does: the file is evaluated anew and its function called with the
//! request; nothing of one answer is kept for the next. Unlike jsonnetd, which hands both the
//! file and the body to the jsonnet parser on every request:
//! - the file is parsed and analysed once per worker thread (jrsonnet's `prepare_snippet`),
//!   and only evaluated per request, as any server would that can keep a parsed program;
//! - the body is parsed with serde_json straight into a jsonnet value (the same value as
//!   `--tla-code` of that JSON gives), which is faster and tells malformed JSON (400) apart
//!   from a failing hook (500).
//!
//! The answer is jrsonnet's own minified manifestation (compact, object keys sorted, no trailing
//! newline) rather than jsonnetd's indented output, so that its bytes are rulehook's; no
//! conversion through serde_json is needed for that.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::http::Method;
use actix_web::web;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use jrsonnet_evaluator::manifest::{JsonFormat, ManifestFormat};
use jrsonnet_evaluator::tla::TlaArg;
use jrsonnet_evaluator::trace::{CompactFormat, PathResolver, TraceFormat};
use jrsonnet_evaluator::{apply_tla, Error, IStr, PreparedSnippet, State, Val};

/// rulehook's default `--max-body`.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Unreachable cycles of jsonnet values, which a hook may build, are only freed by
/// jrsonnet's cycle collector, never by reference counting: collect every this many requests
/// so that a long run does not grow, without paying a full collection on every request. (The
/// hello hook leaves none; a collection then walks only the ~170 values of `std` and the file.)
const COLLECT_EVERY: u32 = 64;

struct Args {
    listen: SocketAddr,
    workers: usize,
    file: std::path::PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut workers = None;
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = Some(value()?.parse().map_err(|e| format!("--listen: {e}"))?),
            "--workers" => workers = Some(value()?.parse().map_err(|e| format!("--workers: {e}"))?),
            "--file" => file = Some(value()?.into()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Args {
        listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8082))),
        workers: workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        file: file.ok_or("--file FILE is required")?,
    })
}

/// One worker thread's interpreter: jrsonnet values are reference-counted without atomics, so
/// each thread has its own state (with `std`) and its own parsed copy of the file.
struct Hook {
    state: State,
    program: PreparedSnippet,
    requests: std::cell::Cell<u32>,
}

impl Hook {
    fn new(name: &str, source: &str) -> Result<Self, String> {
        let mut builder = State::builder();
        builder.context_initializer(jrsonnet_stdlib::ContextInitializer::new(
            PathResolver::new_cwd_fallback(),
        ));
        let state = builder.build();
        let program = {
            let _entered = state.enter();
            state
                .prepare_snippet(name, source)
                .map_err(|e| describe(&e))?
        };
        Ok(Self {
            state,
            program,
            requests: std::cell::Cell::new(0),
        })
    }

    fn answer(&self, request: Val) -> Result<String, String> {
        let answer = {
            let _entered = self.state.enter();
            self.evaluate(request).map_err(|e| describe(&e))
        };
        let n = self.requests.get() + 1;
        if n == COLLECT_EVERY {
            jrsonnet_gcmodule::collect_thread_cycles();
            self.requests.set(0);
        } else {
            self.requests.set(n);
        }
        answer
    }

    fn evaluate(&self, request: Val) -> Result<String, Error> {
        let function = self.state.evaluate_prepared_snippet(&self.program)?;
        #[allow(
            clippy::mutable_key_type,
            reason = "an interned string hashes by its pointer; its cell is only the refcount"
        )]
        let tla = HashMap::from([(IStr::from("request"), TlaArg::Val(request))]);
        let result = apply_tla(&tla, function)?;
        JsonFormat::minify().manifest(result)
    }
}

/// The error with its jsonnet stack trace, as the jsonnet command line prints it.
fn describe(error: &Error) -> String {
    let format = CompactFormat {
        resolver: PathResolver::new_cwd_fallback(),
        ..CompactFormat::default()
    };
    format.format(error).unwrap_or_else(|_| error.to_string())
}

async fn answer(req: HttpRequest, payload: web::Payload, hook: web::Data<Hook>) -> HttpResponse {
    if req.method() != Method::POST {
        return HttpResponse::MethodNotAllowed().finish();
    }
    let body = match payload.to_bytes_limited(MAX_BODY).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            return HttpResponse::BadRequest().body(format!("reading the request failed: {e}\n"))
        }
        Err(_) => return HttpResponse::PayloadTooLarge().finish(),
    };
    let request: Val = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return HttpResponse::BadRequest().body(format!("malformed JSON: {e}\n")),
    };
    drop(body);
    match hook.answer(request) {
        Ok(json) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
            .body(json),
        Err(e) => HttpResponse::InternalServerError().body(format!("{e}\n")),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}\nusage: jsonnet-hook --listen ADDR --workers N --file FILE");
            return ExitCode::from(2);
        }
    };
    let source = match std::fs::read_to_string(&args.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let name: Arc<str> = args.file.display().to_string().into();
    let source: Arc<str> = source.into();
    // Syntax errors show at startup rather than as a 500 on every request.
    if let Err(e) = Hook::new(&name, &source) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let run = async move {
        HttpServer::new(move || {
            let hook = Hook::new(&name, &source).expect("the file parsed at startup");
            App::new()
                .app_data(web::Data::new(hook))
                .default_service(web::to(answer))
        })
        .workers(args.workers)
        // The same connection settings as rulehook's defaults.
        .client_request_timeout(std::time::Duration::from_secs(5))
        .keep_alive(std::time::Duration::from_secs(15))
        .bind(args.listen)?
        .run()
        .await
    };
    match actix_web::rt::System::new().block_on(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
