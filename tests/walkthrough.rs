//! `docs/testing.md` is true: its files are written and its commands run, in an empty
//! directory and in order, and each command prints exactly what the page shows.
//!
//! The page marks what is executable: `<!-- file: PATH -->` before a code block writes that
//! block to PATH; a ```` ```console ```` block holds `$ rulehook …` commands, each followed by
//! its exact output. A `...` line in an output stands for any number of lines.

use std::path::Path;
use std::process::Command;

use crate::support::{repo, BIN};

enum Step {
    File {
        path: String,
        text: String,
    },
    Run {
        args: Vec<String>,
        output: Vec<String>,
    },
}

fn steps(page: &str) -> Vec<Step> {
    let mut out = Vec::new();
    let mut lines = page.lines().peekable();
    let mut next_file: Option<String> = None;
    while let Some(line) = lines.next() {
        if let Some(path) = line
            .strip_prefix("<!-- file: ")
            .and_then(|l| l.strip_suffix(" -->"))
        {
            next_file = Some(path.to_owned());
            continue;
        }
        let Some(lang) = line.strip_prefix("```") else {
            continue;
        };
        let mut block = Vec::new();
        for l in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            block.push(l.to_owned());
        }
        if let Some(path) = next_file.take() {
            out.push(Step::File {
                path,
                text: block.join("\n") + "\n",
            });
        } else if lang == "console" {
            for l in block {
                match l.strip_prefix("$ ") {
                    Some(command) => out.push(Step::Run {
                        args: command.split_whitespace().map(str::to_owned).collect(),
                        output: Vec::new(),
                    }),
                    None => match out.last_mut() {
                        Some(Step::Run { output, .. }) => output.push(l),
                        _ => panic!("output before any command: {l}"),
                    },
                }
            }
        }
    }
    out
}

/// Whether `actual` is `shown`, where a `...` line in `shown` matches any lines.
fn matches(shown: &[String], actual: &[&str]) -> bool {
    match shown.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "..." => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => {
            actual.first() == Some(&first.as_str()) && matches(rest, &actual[1..])
        }
    }
}

fn run(dir: &Path, args: &[String]) -> String {
    assert_eq!(args[0], "rulehook", "only rulehook commands run: {args:?}");
    let out = Command::new(BIN)
        .args(&args[1..])
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn every_file_and_command_of_the_testing_walkthrough_is_true() {
    let page = std::fs::read_to_string(repo().join("docs/testing.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut commands = 0;
    for step in steps(&page) {
        match step {
            Step::File { path, text } => {
                let path = dir.path().join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            Step::Run { args, output } => {
                let actual = run(dir.path(), &args);
                let actual: Vec<&str> = actual.lines().collect();
                assert!(
                    matches(&output, &actual),
                    "`{}` printed\n{}\nbut the page shows\n{}",
                    args.join(" "),
                    actual.join("\n"),
                    output.join("\n")
                );
                commands += 1;
            }
        }
    }
    assert!(
        commands >= 5,
        "only {commands} commands found in docs/testing.md"
    );
}
