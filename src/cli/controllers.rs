//! `rulehook controllers`: the Metacontroller manifests for every rule, as YAML.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use super::exit;
use crate::controllers;
use crate::load;
use crate::ruleset::RuleSet;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of rule files.
    #[arg(long, env = "RULEHOOK_RULES", default_value = "rules")]
    pub rules: PathBuf,
    /// Where Metacontroller reaches rulehook, e.g. `http://rulehook.rulehook`.
    #[arg(long)]
    pub base_url: String,
}

pub fn run(args: &Args) -> ExitCode {
    let reads = match load::read_dir(&args.rules) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", args.rules.display());
            return exit::usage();
        }
    };
    let (set, report) = RuleSet::build(reads, SystemTime::now());
    let mut failed = !report.errors.is_empty();
    for error in &report.errors {
        eprintln!("{error}");
    }
    let mut documents = Vec::new();
    for loaded in set.rules() {
        match controllers::manifest(&loaded.rule, &args.base_url) {
            Ok(manifest) => match serde_yaml_ng::to_string(&manifest) {
                Ok(yaml) => documents.push(yaml),
                Err(e) => {
                    eprintln!("error: {e}");
                    failed = true;
                }
            },
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    print!("{}", documents.join("---\n"));
    if failed {
        exit::problems()
    } else {
        exit::ok()
    }
}
