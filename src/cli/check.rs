//! `rulehook check`: load rule files the way the server does and print every problem.

use std::path::PathBuf;
use std::process::ExitCode;

use super::exit;
use rulehook::supply::load::CompiledRules;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rule files or directories of rule files.
    #[arg(default_value = "rules")]
    pub paths: Vec<PathBuf>,
    /// Fail on warnings too, as CI should: a warned rule loads, but rarely does what was meant.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: &Args) -> ExitCode {
    let compiled = match CompiledRules::from_trees(&args.paths) {
        Ok(compiled) => compiled,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::usage();
        }
    };
    let (mut files, mut rules) = (0, 0);
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    // One set per directory, as a server given that directory would load it: a name defined
    // twice is a problem only within one directory.
    for CompiledRules {
        rules: set,
        report,
        files_read,
    } in compiled
    {
        files += files_read;
        rules += set.len();
        for loaded in set.rules() {
            warnings.extend(loaded.rule.warnings.iter().cloned());
        }
        warnings.extend(set.unused_library_definitions());
        problems.extend(report.errors);
        problems.extend(
            report
                .transient
                .iter()
                .map(|t| rulehook_engine::Diagnostic::new(t, 1, 1, "cannot be read")),
        );
    }
    // Warnings fail the check only when it is strict: the rule loads and serves as it is.
    warnings.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    for warning in &warnings {
        println!(
            "{}:{}:{}: warning: {}",
            warning.file, warning.line, warning.column, warning.message
        );
    }
    for problem in &problems {
        println!("{problem}");
    }
    if rules == 0 && problems.is_empty() {
        println!(
            "no rules in {}: nothing to check (rule files are the *.yaml and *.yml files directly in a directory)",
            super::shown(&args.paths)
        );
        return exit::problems();
    }
    let failing_warnings = if args.strict { warnings.len() } else { 0 };
    if problems.is_empty() && failing_warnings == 0 {
        let verdict = match warnings.len() {
            0 => "no problems".to_owned(),
            n => format!("no errors, {}", super::counted(n, "warning")),
        };
        println!(
            "{}, {}, {verdict}",
            super::counted(files, "file"),
            super::counted(rules, "rule")
        );
        exit::ok()
    } else if problems.is_empty() {
        println!(
            "{} in {} (--strict)",
            super::counted(failing_warnings, "warning"),
            super::counted(files, "file")
        );
        exit::problems()
    } else {
        println!(
            "{} in {}",
            super::counted(problems.len(), "problem"),
            super::counted(files, "file")
        );
        exit::problems()
    }
}
