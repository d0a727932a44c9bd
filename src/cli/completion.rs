//! `rulehook completion SHELL`: the shell completion script, generated from the same command
//! definitions the parser uses, so it never lists a flag that does not exist.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{exit, Cli};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell. Load it with, for bash,
    /// `source <(rulehook completion bash)`.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &Args) -> ExitCode {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "rulehook", &mut std::io::stdout());
    exit::ok()
}
