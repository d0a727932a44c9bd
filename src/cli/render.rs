//! `rulehook render`: one hook response, offline, exactly as the server would answer.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use super::exit;
use super::output::{to_text, Format};
use super::request_file::{self, RequestFileError};
use super::rule_lookup::{find_rule, FindRuleError};
use rulehook_engine::{Hook, HookError, Limits, Now};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A rule file, or the name of a rule in `--rules`.
    pub rule: String,
    /// The request: a JSON or YAML file, or `-` for standard input.
    #[arg(default_value = "-")]
    pub request: String,
    /// Which hook to call.
    #[arg(long, default_value = "sync", value_parser = clap::builder::PossibleValuesParser::new(Hook::ALL.map(Hook::as_str)))]
    pub hook: String,
    /// Where to look a rule name up.
    #[arg(long, env = "RULEHOOK_RULES", default_value = "rules")]
    pub rules: PathBuf,
    #[command(flatten)]
    pub libraries: super::LibraryPath,
    /// How to print the answer.
    #[arg(short = 'o', long = "output", value_enum, default_value = "json")]
    pub output: Format,
    /// Print what every value of the rule evaluates to for this request, instead of the
    /// answer (missing values show as `~missing`).
    #[arg(long)]
    pub values: bool,
    /// The time templates see as `now` (RFC 3339, whole seconds, UTC, such as
    /// `2026-01-01T00:00:00Z`); the current time by default.
    #[arg(long, value_name = "TIME", value_parser = parse_now)]
    pub now: Option<Now>,
}

fn parse_now(text: &str) -> Result<Now, String> {
    Now::parse(text)
}

/// Why there is no response to print.
#[derive(Debug, thiserror::Error)]
enum RenderError {
    #[error("unknown hook")]
    UnknownHook,
    #[error(transparent)]
    Rule(#[from] FindRuleError),
    #[error(transparent)]
    Request(#[from] RequestFileError),
    #[error(
        "{0} holds a Kubernetes object, not a hook request; build the request from it with `rulehook fixture RULE --parent {0}`"
    )]
    BareObject(String),
    #[error("cannot print the answer: {0}")]
    Print(String),
    /// The rule failed on this request, as the server would report it.
    #[error(transparent)]
    Hook(#[from] HookError),
}

impl RenderError {
    /// A failing rule is a problem found (exit 1, the message as the server gives it); the
    /// rest mean the command could not run (exit 2).
    fn report(&self) -> ExitCode {
        if let RenderError::Hook(e) = self {
            eprintln!("{e}");
            return exit::problems();
        }
        eprintln!("error: {self}");
        exit::usage()
    }
}

pub fn run(args: &Args) -> ExitCode {
    match render(args).and_then(|answer| to_text(&answer, args.output).map_err(RenderError::Print))
    {
        Ok(text) => {
            print!("{text}");
            exit::ok()
        }
        Err(e) => e.report(),
    }
}

fn render(args: &Args) -> Result<Value, RenderError> {
    let hook = Hook::parse(&args.hook).ok_or(RenderError::UnknownHook)?;
    let loaded = find_rule(&args.rule, &args.rules, &args.libraries.libraries)?;
    let request = request_file::read(&args.request)?;
    let object = |k: &str| request.get(k).is_some();
    if object("apiVersion") && object("kind") && !object("parent") && !object("object") {
        return Err(RenderError::BareObject(args.request.clone()));
    }
    let now = args.now.clone().or_else(rulehook::clock::now);
    if args.values {
        let values =
            loaded
                .rule
                .evaluate_values(hook, request, now.as_ref(), &Limits::default())?;
        let mut out = serde_json::Map::new();
        for (name, value) in values {
            out.insert(name, value.unwrap_or_else(|| Value::from("~missing")));
        }
        return Ok(Value::Object(out));
    }
    Ok(loaded
        .rule
        .render_at(hook, request, now.as_ref(), &Limits::default())?)
}
