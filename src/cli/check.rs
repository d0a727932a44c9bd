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
    let reads = match load::read_paths(&args.paths) {
        Ok(reads) => reads,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::usage();
        }
    };
    let files = reads.len();
    let (set, report) = RuleSet::build(reads, SystemTime::now());
    let mut problems = report.errors;
    problems.extend(
        report
            .transient
            .iter()
            .map(|t| crate::engine::Diagnostic::new(t, 1, 1, "cannot be read")),
    );
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        println!("{files} files, {} rules, no problems", set.len());
        exit::ok()
    } else {
        println!("{} problems in {files} files", problems.len());
        exit::problems()
    }
}
