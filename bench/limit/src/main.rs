//! The physical limit for a hook server on this machine: actix-web reading the whole request
//! body (as rulehook does, up to the same 32 MiB) and answering 200 with fixed bytes, with no
//! parsing, rendering or serializing in between.
//!
//! Usage: `limit --listen 127.0.0.1:8081 --workers 2 --response FILE`
//!
//! Every method and path gets the same answer: the bytes of FILE as `application/json`.

use std::net::SocketAddr;
use std::process::ExitCode;

use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};

/// rulehook's default `--max-body`.
const MAX_BODY: usize = 32 * 1024 * 1024;

struct Args {
    listen: SocketAddr,
    workers: usize,
    response: std::path::PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut workers = None;
    let mut response = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = Some(value()?.parse().map_err(|e| format!("--listen: {e}"))?),
            "--workers" => workers = Some(value()?.parse().map_err(|e| format!("--workers: {e}"))?),
            "--response" => response = Some(value()?.into()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Args {
        listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8081))),
        workers: workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        response: response.ok_or("--response FILE is required")?,
    })
}

async fn answer(payload: web::Payload, body: web::Data<Bytes>) -> HttpResponse {
    match payload.to_bytes_limited(MAX_BODY).await {
        Ok(Ok(request)) => {
            drop(request);
            HttpResponse::Ok()
                .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
                .body(body.get_ref().clone())
        }
        Ok(Err(e)) => HttpResponse::BadRequest().body(format!("reading the request failed: {e}\n")),
        Err(_) => HttpResponse::PayloadTooLarge().finish(),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}\nusage: limit --listen ADDR --workers N --response FILE");
            return ExitCode::from(2);
        }
    };
    let body = match std::fs::read(&args.response) {
        Ok(b) => web::Data::new(Bytes::from(b)),
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.response.display());
            return ExitCode::from(2);
        }
    };
    let run = async move {
        HttpServer::new(move || {
            App::new()
                .app_data(body.clone())
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
