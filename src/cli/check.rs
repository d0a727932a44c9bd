//! `rulehook check`: load rule files the way the server does and print every problem.

use std::path::PathBuf;
use std::process::ExitCode;

use super::exit;
use rulehook::supply::load::CompiledRules;
use rulehook_engine::Diagnostic;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rule files or directories of rule files.
    #[arg(default_value = "rules")]
    pub paths: Vec<PathBuf>,
    /// Fail on warnings too, as CI should: a warned rule loads, but rarely does what was meant.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub libraries: super::LibraryPath,
}

pub fn run(args: &Args) -> ExitCode {
    let compiled = match CompiledRules::from_trees(&args.paths, &args.libraries.libraries) {
        Ok(compiled) => compiled,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::usage();
        }
    };
    let groups = compiled.len();
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
    let mut warnings = shared_once(warnings, groups, &args.libraries.libraries);
    let problems = shared_once(problems, 1, &[]);
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

/// Each diagnostic once. The libraries of the search path join every directory's set, so
/// their problems come once per directory; and a definition is unused only when no directory
/// uses it, so a warning about a library in one of `search` counts only when every one of the
/// `groups` sets gave it.
fn shared_once(diagnostics: Vec<Diagnostic>, groups: usize, search: &[PathBuf]) -> Vec<Diagnostic> {
    let on_search_path = |d: &Diagnostic| {
        let dir = std::path::Path::new(&d.file).parent();
        search.iter().any(|s| dir == Some(s.as_path()))
    };
    let mut out: Vec<(Diagnostic, usize)> = Vec::new();
    for d in diagnostics {
        match out.iter_mut().find(|(seen, _)| *seen == d) {
            Some((_, count)) => *count += 1,
            None => out.push((d, 1)),
        }
    }
    out.into_iter()
        .filter(|(d, count)| *count >= groups || !on_search_path(d))
        .map(|(d, _)| d)
        .collect()
}
