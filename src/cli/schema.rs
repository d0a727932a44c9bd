//! `rulehook schema`: the JSON Schemas editors use for completion and checking.

use std::process::ExitCode;

use super::exit;
use rulehook_engine::schema;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which schema to print.
    #[arg(value_parser = ["rule", "test", "library"])]
    pub which: String,
}

pub fn run(args: &Args) -> ExitCode {
    let schema = match args.which.as_str() {
        "rule" => schema::rule(),
        "library" => schema::library(),
        _ => schema::test_suite(),
    };
    match serde_json::to_string_pretty(&schema) {
        Ok(text) => {
            println!("{text}");
            exit::ok()
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::usage()
        }
    }
}
