//! `rulehook check`: load rule files the way the server does and print every problem.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use super::exit;
use crate::load;
use crate::ruleset::RuleSet;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rule files or directories of rule files.
    #[arg(default_value = "rules")]
    pub paths: Vec<PathBuf>,
}

pub fn run(args: &Args) -> ExitCode {
    let groups = match load::discover_rules(&args.paths) {
        Ok(groups) => groups,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::usage();
        }
    };
    let (mut files, mut rules) = (0, 0);
    let mut problems = Vec::new();
    // Each directory is checked as one server would load it, so duplicate names are only
    // an error within a directory.
    for reads in groups {
        files += reads.len();
        let (set, report) = RuleSet::build(reads, SystemTime::now());
        rules += set.len();
        problems.extend(report.errors);
        problems.extend(
            report
                .transient
                .iter()
                .map(|t| rulehook_engine::Diagnostic::new(t, 1, 1, "cannot be read")),
        );
    }
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        println!("{files} files, {rules} rules, no problems");
        exit::ok()
    } else {
        println!("{} problems in {files} files", problems.len());
        exit::problems()
    }
}
