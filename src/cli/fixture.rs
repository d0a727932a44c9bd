//! `rulehook fixture`: the hook request Metacontroller would send a rule, built from objects
//! as `kubectl get -o yaml` (or `-o json`) prints them. The building is the library's
//! ([`rulehook::offline::fixture`]), shared with test cases that name `parentFile`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::exit;
use super::rule_lookup::find_rule;
use rulehook::offline::fixture::{self, objects::Reader, Inputs, Options};
use rulehook_engine::{Hook, HookVersion};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A rule file, or the name of a rule in `--rules`.
    pub rule: String,
    /// The parent (for a decorator, the object): a file of one object, or `-` for standard
    /// input.
    #[arg(long, value_name = "FILE")]
    pub parent: String,
    /// Observed children (for a decorator, attachments): files of objects, single, `kind:
    /// List` or several YAML documents.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub children: Vec<String>,
    /// Related objects, as a customize hook would have asked for them.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub related: Vec<String>,
    /// Which hook the request is for.
    #[arg(long, default_value = "sync", value_parser = clap::builder::PossibleValuesParser::new(Hook::ALL.map(Hook::as_str)))]
    pub hook: String,
    #[command(flatten)]
    pub libraries: super::LibraryPath,
    /// Set `finalizing: true` (the finalize hook always does).
    #[arg(long)]
    pub finalizing: bool,
    /// The hook version, which decides how objects are keyed; the rule's `hookVersion` by
    /// default.
    #[arg(long, value_parser = ["v1", "v2"])]
    pub hook_version: Option<String>,
    /// The controller object; by default it is built from the rule, as `rulehook controllers`
    /// does.
    #[arg(long, value_name = "FILE")]
    pub controller: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "json")]
    pub output: Format,
    /// Where to look a rule name up.
    #[arg(long, env = "RULEHOOK_RULES", default_value = "rules")]
    pub rules: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Yaml,
}

pub fn run(args: &Args) -> ExitCode {
    match build(args) {
        Ok(text) => {
            print!("{text}");
            exit::ok()
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::usage()
        }
    }
}

fn build(args: &Args) -> Result<String, String> {
    let hook = Hook::parse(&args.hook).ok_or("unknown hook")?;
    let hook_version = args.hook_version.as_deref().map(|v| match v {
        "v2" => HookVersion::V2,
        _ => HookVersion::V1,
    });
    let loaded =
        find_rule(&args.rule, &args.rules, &args.libraries.libraries).map_err(|e| e.to_string())?;
    let options = Options {
        hook,
        finalizing: args.finalizing,
        hook_version,
    };
    let inputs = Inputs {
        dir: Path::new("."),
        parent: &args.parent,
        children: &args.children,
        related: &args.related,
        controller: args.controller.as_deref(),
    };
    let built = fixture::build(&loaded.rule, options, inputs, &mut Reader::default())
        .map_err(|e| e.to_string())?;
    for note in &built.notes {
        eprintln!("{note}");
    }
    match args.output {
        Format::Json => serde_json::to_string_pretty(&built.request)
            .map(|text| text + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => serde_yaml_ng::to_string(&built.request).map_err(|e| e.to_string()),
    }
}
