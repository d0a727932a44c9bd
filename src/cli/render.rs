//! `rulehook render`: one hook response, offline, exactly as the server would answer.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use super::rule_lookup::find_rule;
use super::{exit, request_file};
use rulehook_engine::{Hook, HookError, Limits};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A rule file, or the name of a rule in `--rules`.
    pub rule: String,
    /// The request: a JSON or YAML file, or `-` for standard input.
    #[arg(default_value = "-")]
    pub request: String,
    /// Which hook to call.
    #[arg(long, default_value = "sync", value_parser = ["sync", "finalize", "customize"])]
    pub hook: String,
    /// Where to look a rule name up.
    #[arg(long, env = "RULEHOOK_RULES", default_value = "rules")]
    pub rules: PathBuf,
}

pub fn run(args: &Args) -> ExitCode {
    match render(args) {
        Ok(Ok(response)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&response).unwrap_or_default()
            );
            exit::ok()
        }
        Ok(Err(e)) => {
            eprintln!("{e}");
            exit::problems()
        }
        Err(usage) => {
            eprintln!("error: {usage}");
            exit::usage()
        }
    }
}

/// Outer error: the command could not run. Inner error: the rule failed, as the server
/// would report it.
fn render(args: &Args) -> Result<Result<Value, HookError>, String> {
    let hook = Hook::parse(&args.hook).ok_or("unknown hook")?;
    let loaded = find_rule(&args.rule, &args.rules).map_err(|e| e.to_string())?;
    let request = request_file::read(&args.request).map_err(|e| e.to_string())?;
    Ok(loaded
        .rule
        .render_body(hook, request, &Limits::default())
        .map(|body| serde_json::from_slice(&body).unwrap_or_default()))
}
