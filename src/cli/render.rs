//! `rulehook render`: one hook response, offline, exactly as the server would answer.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;

use super::{exit, request_file};
use crate::load;
use crate::ruleset::{LoadedRule, RuleSet};
use rulehook_engine::{Hook, HookError, Limits, Rule};

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
    let loaded = find_rule(&args.rule, &args.rules)?;
    let request = request_file::read(&args.request).map_err(|e| e.to_string())?;
    Ok(loaded
        .rule
        .render_body(hook, request, &Limits::default())
        .map(|body| serde_json::from_slice(&body).unwrap_or_default()))
}

/// A rule file, or a rule by name from a directory.
pub fn find_rule(rule: &str, dir: &Path) -> Result<Arc<LoadedRule>, String> {
    let path = Path::new(rule);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{rule}: {e}"))?;
        let rule = Rule::compile(&path.display().to_string(), &text).map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        return Ok(Arc::new(LoadedRule {
            rule,
            hash: crate::ruleset::content_hash(&text),
            loaded_at: SystemTime::now(),
        }));
    }
    let reads = load::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (set, report) = RuleSet::build(reads, SystemTime::now());
    let Some(loaded) = set.get(rule) else {
        let mut message = format!("no rule named `{rule}` in {}", dir.display());
        for e in &report.errors {
            message.push_str(&format!("\n{e}"));
        }
        return Err(message);
    };
    Ok(loaded.clone())
}
