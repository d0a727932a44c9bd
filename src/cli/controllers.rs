//! `rulehook controllers`: the Metacontroller manifests for every rule, as YAML.

use std::path::PathBuf;
use std::process::ExitCode;

use super::exit;
use rulehook::offline::controllers;
use rulehook::supply::load::CompiledRules;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of rule files.
    #[arg(long, env = "RULEHOOK_RULES", default_value = "rules")]
    pub rules: PathBuf,
    /// Where Metacontroller reaches rulehook, e.g. `http://rulehook.rulehook`.
    #[arg(long)]
    pub base_url: String,
    #[command(flatten)]
    pub libraries: super::LibraryPath,
}

pub fn run(args: &Args) -> ExitCode {
    let CompiledRules { rules, report, .. } =
        match CompiledRules::from_dir(&args.rules, &args.libraries.libraries) {
            Ok(compiled) => compiled,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::usage();
            }
        };
    let mut failed = !report.errors.is_empty();
    for error in &report.errors {
        eprintln!("{error}");
    }
    let mut documents = Vec::new();
    for loaded in rules.rules() {
        match controllers::manifest(&loaded.rule, &args.base_url) {
            Ok(manifest) => match serde_yaml_ng::to_string(&manifest) {
                Ok(yaml) => documents.push(format!(
                    "# Child update strategies the rule's `controller:` section does not give are\n# defaults: {}.\n{yaml}",
                    controllers::DEFAULT_UPDATE_METHODS
                )),
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
