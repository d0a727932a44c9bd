//! The pages that show commands and what they print are true: README.md (in the repository,
//! which it only reads), docs/testing.md and every other page of docs/ (each in an empty
//! directory, in order). Every command a page shows with its output runs, and must print
//! exactly what the page shows.
//!
//! What the pages mark, whatever a block's fence says:
//!
//! - `<!-- file: PATH -->` before a code block writes that block to PATH.
//! - A block with `$ ` lines holds commands, each followed by its exact output; a `...` line
//!   in an output stands for any number of lines, and a command line ending in `\` goes on
//!   on the next line. Only `rulehook` and `curl` commands run. `$ rulehook serve … &`
//!   starts the server in the background, on a free port that takes the place of
//!   `localhost:8080` in the commands after it, waits until it answers, and stops it when
//!   the page ends.
//! - `*Not run by the docs test: REASON.*` on the line before a block shows why a block of
//!   commands cannot run here (a cluster, a container engine, a network).

use std::path::Path;
use std::process::Command;

use crate::support::{repo, Server, BIN};

const SKIP: &str = "*Not run by the docs test: ";

#[derive(Debug)]
enum Step {
    File {
        path: String,
        text: String,
    },
    Run {
        command: String,
        output: Vec<String>,
    },
}

fn steps(page: &str) -> Vec<Step> {
    let mut out = Vec::new();
    let mut lines = page.lines().peekable();
    let mut next_file: Option<String> = None;
    let mut skip_next = false;
    while let Some(line) = lines.next() {
        if let Some(path) = line
            .strip_prefix("<!-- file: ")
            .and_then(|l| l.strip_suffix(" -->"))
        {
            next_file = Some(path.to_owned());
            continue;
        }
        if let Some(reason) = line.strip_prefix(SKIP) {
            assert!(reason.len() > 3, "a skip marker without its reason: {line}");
            skip_next = true;
            continue;
        }
        if !line.starts_with("```") {
            continue;
        }
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
        } else if std::mem::take(&mut skip_next) {
            assert!(
                block.iter().any(|l| l.starts_with("$ ")),
                "a skip marker before a block with no command: {block:?}"
            );
        } else if block.iter().any(|l| l.starts_with("$ ")) {
            out.extend(commands(&block));
        }
    }
    out
}

/// The commands of one block, each with the output shown after it.
fn commands(block: &[String]) -> Vec<Step> {
    let mut out = Vec::new();
    let mut continued = false;
    for l in block {
        if let Some(Step::Run { command, .. }) = out.last_mut().filter(|_| continued) {
            command.push(' ');
            command.push_str(l.trim().trim_end_matches('\\').trim_end());
            continued = l.ends_with('\\');
            continue;
        }
        match l.strip_prefix("$ ") {
            Some(command) => {
                continued = command.ends_with('\\');
                out.push(Step::Run {
                    command: command.trim_end_matches('\\').trim_end().to_owned(),
                    output: Vec::new(),
                });
            }
            None => match out.last_mut() {
                Some(Step::Run { output, .. }) => output.push(l.clone()),
                _ => panic!("output before any command: {l}"),
            },
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

/// Runs one command of a page in `dir`: what it printed, stdout then stderr.
fn run(dir: &Path, command: &str) -> String {
    let out = if let Some(args) = command.strip_prefix("rulehook ") {
        Command::new(BIN)
            .args(args.split_whitespace())
            .current_dir(dir)
            .output()
            .unwrap()
    } else if command.starts_with("curl ") {
        Command::new("sh")
            .args(["-c", command])
            .current_dir(dir)
            .output()
            .expect("curl")
    } else {
        panic!("only rulehook and curl commands run; mark `{command}` with `{SKIP}REASON.*`")
    };
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `rulehook serve [--rules DIR] [FLAGS] &`, started in `dir` on a port of its own.
fn serve(dir: &Path, command: &str) -> Server {
    let args: Vec<&str> = command
        .strip_suffix('&')
        .and_then(|c| c.trim_end().strip_prefix("rulehook serve"))
        .unwrap_or_else(|| panic!("only `rulehook serve … &` runs in the background: {command}"))
        .split_whitespace()
        .collect();
    let (rules, flags) = match args.iter().position(|a| *a == "--rules") {
        Some(at) => {
            let rest: Vec<&str> = [&args[..at], &args[at + 2..]].concat();
            (args[at + 1], rest)
        }
        None => ("rules", args),
    };
    Server::start(&dir.join(rules), &flags)
}

/// Runs every step of `page` in `dir`; the number of commands run.
fn walk(page: &str, dir: &Path, writes: bool) -> usize {
    let mut servers: Vec<Server> = Vec::new();
    let mut commands = 0;
    for step in steps(page) {
        match step {
            Step::File { path, text } => {
                assert!(writes, "this page may not write files: {path}");
                let path = dir.join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            Step::Run { command, .. } if command.ends_with('&') => {
                servers.push(serve(dir, &command));
            }
            Step::Run { command, output } => {
                let command = match servers.last() {
                    Some(server) => command.replace("localhost:8080", &server.addr),
                    None => command,
                };
                let actual = run(dir, &command);
                let actual: Vec<&str> = actual.lines().collect();
                assert!(
                    matches(&output, &actual),
                    "`{command}` printed\n{}\nbut the page shows\n{}",
                    actual.join("\n"),
                    output.join("\n")
                );
                commands += 1;
            }
        }
    }
    commands
}

#[test]
fn every_file_and_command_of_the_testing_walkthrough_is_true() {
    let page = std::fs::read_to_string(repo().join("docs/testing.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let commands = walk(&page, dir.path(), true);
    assert!(
        commands >= 10,
        "only {commands} commands found in docs/testing.md"
    );
}

#[test]
fn every_command_the_readme_shows_with_its_output_is_true() {
    let page = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let commands = walk(&page, repo(), false);
    assert!(commands >= 1, "no command found in README.md");
}

#[test]
fn every_other_page_of_the_docs_is_walked_too() {
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") && !path.ends_with("testing.md") {
            let page = std::fs::read_to_string(&path).unwrap();
            let dir = tempfile::tempdir().unwrap();
            walk(&page, dir.path(), true);
        }
    }
}

#[test]
fn an_edited_output_or_an_unmarked_command_fails_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    let page = "```sh\n$ rulehook check .\nno rules in .: not what it prints\n```\n";
    let walked = std::panic::catch_unwind(|| walk(page, dir.path(), true));
    assert!(walked.is_err(), "an edited output passed");
    let page = "```text\n$ kubectl get pods\nNAME READY\n```\n";
    let walked = std::panic::catch_unwind(|| walk(page, dir.path(), true));
    assert!(walked.is_err(), "an unmarked kubectl block passed");
    let page = "*Not run by the docs test: it needs a cluster.*\n\n```text\n$ kubectl get pods\nNAME READY\n```\n";
    assert_eq!(walk(page, dir.path(), true), 0);
}
