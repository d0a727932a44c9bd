//! The `rulehook` command: one module per subcommand, each with a `run` that returns an exit
//! code, and what several of them share: [`rule_lookup`] finds the rule a person names, and
//! [`request_file`] reads the request they wrote.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod check;
pub mod completion;
pub mod controllers;
pub mod diff;
pub mod fixture;
mod library_path;
mod output;
pub mod playground;
pub mod render;
mod request_file;
mod rule_lookup;
pub mod schema;
pub mod serve;
pub mod test;

pub use library_path::LibraryPath;

/// Metacontroller hooks from YAML rules: one generic server for many controllers.
#[derive(Debug, Parser)]
#[command(name = "rulehook", version = rulehook::build::VERSION_TEXT, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the rules in a directory as Metacontroller hooks.
    Serve(Box<serve::Args>),
    /// Check rule files and report every problem as file:line:column.
    Check(check::Args),
    /// Render one hook response offline, as the server would.
    Render(render::Args),
    /// Run rule test suites (`*.test.yaml`) offline.
    Test(test::Args),
    /// Print the JSON Schema of rule files or of test suites.
    Schema(schema::Args),
    /// Print the CompositeController or DecoratorController manifest of every rule.
    Controllers(controllers::Args),
    /// Build the hook request Metacontroller would send, from `kubectl get -o yaml` output.
    Fixture(fixture::Args),
    /// Print a shell completion script (bash, zsh, fish, ...).
    Completion(completion::Args),
    /// Compare the answers of two rule sets to the same requests: what would be deleted,
    /// created or changed.
    Diff(diff::Args),
    /// Write a rule in the browser: a page on loopback showing its answer, values, problems
    /// and diff against the saved rule as you type.
    Playground(playground::Args),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Check(args) => check::run(&args),
        Command::Render(args) => render::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Controllers(args) => controllers::run(&args),
        Command::Fixture(args) => fixture::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Playground(args) => playground::run(&args),
        Command::Completion(args) => completion::run(&args),
    }
}

/// Exit codes shared by the offline commands.
pub mod exit {
    use std::process::ExitCode;

    pub fn ok() -> ExitCode {
        ExitCode::SUCCESS
    }

    /// Problems were found (rule errors, failed tests).
    pub fn problems() -> ExitCode {
        ExitCode::from(1)
    }

    /// The command itself was misused or could not run.
    pub fn usage() -> ExitCode {
        ExitCode::from(2)
    }
}

/// Parses `32MiB`, `512KiB`, `1GiB`, `100kB` or a plain byte count.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 32MiB"))?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "k" | "kB" | "K" => 1000,
        "KiB" | "Ki" => 1024,
        "M" | "MB" => 1000 * 1000,
        "MiB" | "Mi" => 1024 * 1024,
        "G" | "GB" => 1000 * 1000 * 1000,
        "GiB" | "Gi" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit `{other}`; use B, KiB, MiB or GiB"
            ))
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses durations such as `30s`, `250ms` or `1m`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e}"))
}

/// The paths a command was given, as its messages name them.
fn shown(paths: &[std::path::PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1 file`, `2 files`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("32MiB"), Ok(32 * 1024 * 1024));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("2kB"), Ok(2000));
        assert!(parse_size("3 parsecs").is_err());
    }
}
