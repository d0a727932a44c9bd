//! `rulehook test`: run test suites (`*.test.yaml`) against their rules, offline.
//!
//! Each case sends one request through the same engine the server uses and compares the
//! answer with its expectation. The last line is always `N passed, M failed`.
//!
//! - [`suite`]: reads a suite, runs its cases in order and prints each result.
//! - [`case`]: what one case asks for, and whether the answer meets it.
//! - [`objects`]: cases built from kubectl output (`parentFile`), as `rulehook fixture` does.
//! - [`rules`]: the rules a suite's cases name, read once per suite.
//! - [`update`]: `--update`, which rewrites `expect` blocks and leaves every other line be.
//! - [`junit`]: the `--junit` report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use super::exit;
use rulehook::supply::load;

mod case;
mod junit;
mod objects;
mod rules;
mod suite;
mod update;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Test suite files, or directories to search for `*.test.yaml`.
    #[arg(default_value = "rules")]
    pub paths: Vec<PathBuf>,
    /// Write each case's current response into its `expect` (or add one when it has none).
    #[arg(long)]
    pub update: bool,
    /// Also write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Keep running: test again whenever a file under the given paths changes.
    #[arg(long, conflicts_with = "update")]
    pub watch: bool,
    /// Colour PASS and FAIL: `auto` does on a terminal, unless NO_COLOR is set or TERM is
    /// `dumb`.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: Color,
    #[command(flatten)]
    pub libraries: super::LibraryPath,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether to colour standard output, as <https://no-color.org> and terminfo's `dumb`
    /// ask.
    fn wanted(self) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
                std::io::stdout().is_terminal()
                    && !set("NO_COLOR")
                    && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
            }
        }
    }
}

/// How one case ended.
#[derive(Debug)]
pub enum Outcome {
    Passed,
    Updated,
    Failed(String),
}

/// One case's result, for the report.
#[derive(Debug)]
pub struct CaseResult {
    pub suite: String,
    pub name: String,
    pub line: usize,
    pub outcome: Outcome,
    pub seconds: f64,
}

pub fn run(args: &Args) -> ExitCode {
    let first = run_once(args);
    if !args.watch {
        return first;
    }
    println!(
        "watching {} for changes (Ctrl-C to stop)",
        crate::cli::shown(&args.paths)
    );
    // A library on the search path is a change of every rule importing it.
    let mut watched_paths = args.paths.clone();
    watched_paths.extend(args.libraries.libraries.iter().cloned());
    let watched = rulehook::supply::watch::on_change(&watched_paths, || {
        println!("\n--- change seen, testing again");
        run_once(args);
        true
    });
    match watched {
        Ok(()) => exit::ok(),
        Err(e) => {
            eprintln!(
                "error: cannot watch {}: {e}",
                crate::cli::shown(&args.paths)
            );
            exit::usage()
        }
    }
}

fn run_once(args: &Args) -> ExitCode {
    let suites = match load::discover_suites(&args.paths) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::usage();
        }
    };
    if suites.is_empty() {
        println!(
            "no test suites (*.test.yaml) in {}: nothing was tested",
            crate::cli::shown(&args.paths)
        );
        println!("0 passed, 0 failed");
        return exit::problems();
    }
    let colour = args.color.wanted();
    let mut results = Vec::new();
    for suite in &suites {
        results.extend(suite::run_suite(
            suite,
            &args.libraries.libraries,
            args.update,
            colour,
        ));
    }
    let failed = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    let passed = results.len() - failed;
    if let Some(path) = &args.junit {
        if let Err(e) = std::fs::write(path, junit::report(&results)) {
            eprintln!("error: {}: {e}", path.display());
            return exit::usage();
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        exit::ok()
    } else {
        exit::problems()
    }
}
