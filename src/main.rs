//! The `rulehook` command. The library holds the server and the rule loading; the command
//! line is this binary's own, in [`cli`].

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, LogFormat};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

mod cli;

/// mimalloc halves the cost of parsing and dropping request JSON, which is most of a hook
/// call's work (measured: 25 µs -> 12 µs per hello sync, parse included). Built with
/// `no_thp`: transparent huge pages made its arenas count 20 MB of idle RSS instead of 9 MB.
/// Wrapped to count what compiling a rule keeps, which is charged to the rules' memory.
#[global_allocator]
static GLOBAL: rulehook::budget::allocation::CountingAlloc =
    rulehook::budget::allocation::CountingAlloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, cli::Command::Serve(_)) {
        quiet_on_closed_pipe();
    }
    // Flushes the log writer's last lines when the command ends.
    let _log_writer = init_tracing(&cli);
    cli::run(cli)
}

/// `rulehook render … | head` closes the pipe early; Rust ignores SIGPIPE, so the next
/// print would panic. An offline command does what Unix tools do instead: it ends quietly.
/// (`serve` keeps ignoring SIGPIPE: a client that goes away must not stop the server.)
fn quiet_on_closed_pipe() {
    // SAFETY: called first thing in `main`, before any other thread exists, and
    // `SIG_DFL` is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr for the offline commands and stdout for `serve`, as JSON unless a
/// person is watching. `serve` writes from a thread of its own (see `log_writer`), so an
/// access log costs a hook call no formatting and no write system call.
fn init_tracing(cli: &Cli) -> Option<rulehook::telemetry::log_writer::Guard> {
    let serve = match &cli.command {
        cli::Command::Serve(args) => Some(args),
        _ => None,
    };
    // Only `serve` logs; the offline commands report on stdout and stderr, and log only
    // what goes wrong.
    let filter = EnvFilter::try_new(serve.map_or("warn", |args| args.log.as_str()))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match serve.and_then(|args| args.log_format) {
        Some(LogFormat::Json) => true,
        Some(LogFormat::Text) => false,
        None => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if serve.is_none() {
        builder
            .fmt_fields(rulehook::telemetry::log_format::fields())
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .init();
        return None;
    }
    let format = if json {
        rulehook::telemetry::log_writer::Format::Json
    } else {
        rulehook::telemetry::log_writer::Format::Text
    };
    let (writer, guard) = match rulehook::telemetry::log_writer::start(format, std::io::stdout()) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("error: cannot start the log writer: {e}");
            std::process::exit(1);
        }
    };
    let accept_errors = rulehook::telemetry::log_format::AcceptErrorLimit::default();
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_writer(writer)
            .finish()
            .with(accept_errors)
            .init();
    } else {
        // Request and file data land in log fields: escape them, and leave colours off (see
        // log_format).
        builder
            .fmt_fields(rulehook::telemetry::log_format::fields())
            .with_ansi(false)
            .with_writer(writer)
            .finish()
            .with(accept_errors)
            .init();
    }
    Some(guard)
}
