//! One suite file: read it, run its cases in order, print each result as it ends, and write
//! `--update`'s edits back.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rulehook_engine::suite::SuiteSpec;
use rulehook_engine::Locator;

use super::case::run_case;
use super::rules::SuiteRules;
use super::update::{apply_edits, Edit};
use super::{CaseResult, Outcome};

/// Runs every case of one suite, printing each result; rewrites the file under `--update`.
pub fn run_suite(
    path: &Path,
    libraries: &[PathBuf],
    update: bool,
    colour: bool,
) -> Vec<CaseResult> {
    let label = path.display().to_string();
    // A suite that cannot be read fails as a whole: `place` leads the printed line, and
    // `outcome` is what the report keeps.
    let fail_all = |place: &str, message: &str, outcome: String| {
        println!("{} {place}: {message}", paint(colour, "31", "FAIL"));
        vec![CaseResult {
            suite: label.clone(),
            name: "(suite)".to_owned(),
            line: 1,
            outcome: Outcome::Failed(outcome),
            seconds: 0.0,
        }]
    };
    let fail_at = |at: &dyn std::fmt::Display, message: &str| {
        let place = format!("{label}:{at}");
        fail_all(&place, message, format!("{place}: {message}"))
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return fail_all(&label, &e.to_string(), e.to_string()),
    };
    let suite = match parse_suite(&text) {
        Ok(s) => s,
        Err((at, message)) => return fail_at(&at, &message),
    };
    let locator = Locator::new(&text);
    let times = match suite.times(&locator) {
        Ok(times) => times,
        Err((pos, message)) => return fail_at(&pos, &message),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut rules = SuiteRules::new(dir, libraries);
    let mut results = Vec::new();
    let mut edits: Vec<Edit> = Vec::new();
    for (i, case) in suite.cases.iter().enumerate() {
        let line = locator.value(&format!("cases[{i}]")).line;
        let started = Instant::now();
        let now = times.get(i).and_then(Option::as_ref);
        let (outcome, edit) = run_case(&suite, case, now, i, dir, &mut rules, update);
        if let Some(edit) = edit {
            edits.push(edit);
        }
        let (tag, code) = match &outcome {
            Outcome::Passed => ("PASS", "32"),
            Outcome::Updated => ("UPDATED", "33"),
            Outcome::Failed(_) => ("FAIL", "31"),
        };
        println!("{} {label}:{line} {}", paint(colour, code, tag), case.name);
        if let Outcome::Failed(details) = &outcome {
            for l in details.lines() {
                println!("    {l}");
            }
        }
        results.push(CaseResult {
            suite: label.clone(),
            name: case.name.clone(),
            line,
            outcome,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    if !edits.is_empty() {
        let updated = apply_edits(&text, &locator, &edits);
        if let Err(e) = std::fs::write(path, updated) {
            println!(
                "{} {label}: cannot write updates: {e}",
                paint(colour, "31", "FAIL")
            );
        }
    }
    results
}

/// A suite, or where it went wrong (`line:column`) and why.
fn parse_suite(text: &str) -> Result<SuiteSpec, (String, String)> {
    serde_yaml_ng::from_str::<SuiteSpec>(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("{}:{}", l.line(), l.column()))
            .unwrap_or_else(|| "1:1".to_owned());
        (at, explain(&e.to_string()))
    })
}

/// A YAML reader's message without the position it appends (the caller leads with it),
/// and with the likely key for a misspelt one.
fn explain(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => &message[..at],
        _ => message,
    };
    let Some(rest) = message.split_once("unknown field `").map(|(_, r)| r) else {
        return message.to_owned();
    };
    let Some((key, expected)) = rest.split_once('`') else {
        return message.to_owned();
    };
    let allowed: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match rulehook_engine::suggest(key, allowed.iter().copied()) {
        Some(close) => format!("{message}; did you mean `{close}`?"),
        None => message.to_owned(),
    }
}

/// `text` in the colour of ANSI SGR `code`, when the output is a terminal.
fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}
