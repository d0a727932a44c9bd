//! `rulehook playground`: a page on loopback to write a rule on, showing its answer, values,
//! problems and what it changes against the saved rule as you type.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use arc_swap::ArcSwap;

use super::{exit, parse_size};
use rulehook::budget::memory;
use rulehook::http::assemble::{self, HttpSettings};
use rulehook::http::playground::{Playground, SavedRule};
use rulehook::http::{connection, shutdown, AppState, ServerLimits};
use rulehook::supply::load::CompiledRules;
use rulehook::supply::ruleset::RuleSet;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of saved rules: the page starts from one, and shows what an edit changes
    /// against it. Read once, at start.
    #[arg(long, env = "RULEHOOK_RULES", default_value = "rules")]
    pub rules: PathBuf,
    #[command(flatten)]
    pub libraries: super::LibraryPath,
    /// Address to listen on; a loopback address only, as the playground has no
    /// authentication.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// The memory limit `serve`'s limits are derived from (body size, output, request
    /// memory); read from the cgroup when not given, else 128MiB.
    #[arg(long, value_parser = parse_size)]
    pub memory_limit: Option<usize>,
}

/// Connections the page needs: a browser opens about six to a host.
const MAX_CONNECTIONS: usize = 32;

pub fn run(args: &Args) -> ExitCode {
    match actix_web::rt::System::new().block_on(serve(args)) {
        Ok(()) => exit::ok(),
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::usage()
        }
    }
}

async fn serve(args: &Args) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "{} is not a loopback address; the playground has no authentication, so give --listen 127.0.0.1:PORT or [::1]:PORT",
            args.listen
        );
    }
    let memory_limit = args
        .memory_limit
        .or_else(memory::cgroup_memory_limit)
        .unwrap_or(memory::DEFAULT_MEMORY_LIMIT);
    let limits = ServerLimits::for_memory(memory_limit);
    let (rules, saved) = load_saved(&args.rules, &args.libraries.libraries, &limits)?;
    let state = AppState::new(Arc::new(ArcSwap::from_pointee(rules)), limits)
        .map_err(|e| anyhow::anyhow!("cannot start the render threads: {e}"))?;
    let state = web::Data::new(state);
    let settings = HttpSettings {
        workers: 1,
        max_connections: MAX_CONNECTIONS,
        client_timeout: Duration::from_secs(5),
        keep_alive: Duration::from_secs(15),
        write_timeout: state.limits.write_timeout,
        shutdown_timeout: Duration::from_secs(1),
        tls: None,
    };
    let listener = connection::listen(args.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let listener_for_shutdown = listener
        .try_clone()
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    // The address bound, port included when `--listen` asked for any (port 0).
    let bound = listener.local_addr().unwrap_or(args.listen);
    let playground = web::Data::new(Playground::new(bound, saved));
    let server = assemble::playground_server(state, playground, listener, &settings)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    actix_web::rt::spawn(shutdown::on_signal(server.handle(), listener_for_shutdown));
    eprintln!("playground: http://{bound}/");
    server.await?;
    Ok(())
}

/// The rules in `dir` as `serve` would load them, and each one's text for the page. A
/// directory that is not there gives none: the page starts from the bundled hello rule.
fn load_saved(
    dir: &Path,
    libraries: &[PathBuf],
    limits: &ServerLimits,
) -> anyhow::Result<(RuleSet, Vec<SavedRule>)> {
    if !dir.exists() {
        eprintln!(
            "note: no rule directory {}; the page starts from the hello rule",
            dir.display()
        );
        return Ok((RuleSet::with_limits(limits.rules), Vec::new()));
    }
    let compiled = CompiledRules::from_dir(dir, libraries)?;
    for error in &compiled.report.errors {
        eprintln!("{error}");
    }
    let mut saved = Vec::new();
    for loaded in compiled.rules.rules() {
        let file = &loaded.rule.file;
        match read_text(Path::new(file), limits.rules.max_file_bytes) {
            Ok(text) => saved.push(SavedRule {
                name: loaded.rule.name.clone(),
                file: file.clone(),
                text,
            }),
            Err(e) => eprintln!("{file}: {e}; it is left out of the page's list"),
        }
    }
    saved.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((compiled.rules, saved))
}

/// A rule file's text for the page, no larger than a rule file may be.
fn read_text(path: &Path, max_bytes: usize) -> std::io::Result<String> {
    let len = std::fs::metadata(path)?.len();
    if usize::try_from(len).map_or(true, |len| len > max_bytes) {
        return Err(std::io::Error::other(format!(
            "the file is {len} bytes, over the {max_bytes} a rule file may have"
        )));
    }
    std::fs::read_to_string(path)
}
