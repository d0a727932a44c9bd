//! `rulehook test`: run test suites (`*.test.yaml`) against their rules, offline.
//!
//! Each case sends one request through the same engine the server uses and compares the
//! answer with its expectation. The last line is always `N passed, M failed`.
//!
//! This file is a little over 500 lines: suite loading, running and reporting (text, diffs,
//! JUnit) change together with the suite format; splitting them belongs with the next
//! restructuring of the crate.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::rule_lookup::find_rule;
use super::{exit, request_file};
use crate::load;
use crate::load::CompiledRules;
use crate::ruleset::{LoadedRule, RuleSet};
use rulehook_engine::case::{compare, merge_patch, CaseSpec, Mismatch, SuiteSpec};
use rulehook_engine::locate::Locator;
use rulehook_engine::{Hook, Limits, Rule};

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
    let suites = match load::discover_suites(&args.paths) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::usage();
        }
    };
    let colour = std::io::stdout().is_terminal();
    let mut results = Vec::new();
    for suite in &suites {
        results.extend(run_suite(suite, args.update, colour));
    }
    let failed = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    let passed = results.len() - failed;
    if let Some(path) = &args.junit {
        if let Err(e) = std::fs::write(path, junit(&results)) {
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

fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// Runs every case of one suite, printing each result; rewrites the file under `--update`.
fn run_suite(path: &Path, update: bool, colour: bool) -> Vec<CaseResult> {
    let label = path.display().to_string();
    let fail_all = |message: String| {
        println!("{} {label}: {message}", paint(colour, "31", "FAIL"));
        vec![CaseResult {
            suite: label.clone(),
            name: "(suite)".to_owned(),
            line: 1,
            outcome: Outcome::Failed(message),
            seconds: 0.0,
        }]
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return fail_all(e.to_string()),
    };
    let suite = match parse_suite(&label, &text) {
        Ok(s) => s,
        Err(message) => return fail_all(message),
    };
    let locator = Locator::new(&text);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut rules = RuleCache::new(dir);
    let mut results = Vec::new();
    let mut edits: Vec<Edit> = Vec::new();
    for (i, case) in suite.cases.iter().enumerate() {
        let line = locator.value(&format!("cases[{i}]")).line;
        let started = Instant::now();
        let (outcome, edit) = run_case(&suite, case, i, dir, &mut rules, update);
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

fn parse_suite(label: &str, text: &str) -> Result<SuiteSpec, String> {
    serde_yaml_ng::from_str::<SuiteSpec>(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("{}:{}", l.line(), l.column()))
            .unwrap_or_else(|| "1:1".to_owned());
        format!("{label}:{at}: {e}")
    })
}

/// Rules of a suite's directory, loaded once per suite.
struct RuleCache {
    dir: PathBuf,
    set: Option<Result<RuleSet, String>>,
    files: HashMap<String, Result<Arc<LoadedRule>, String>>,
}

impl RuleCache {
    fn new(dir: &Path) -> Self {
        RuleCache {
            dir: dir.to_path_buf(),
            set: None,
            files: HashMap::new(),
        }
    }

    /// A rule by name from the directory, or by path (relative to the suite) to a file.
    fn get(&mut self, rule: &str) -> Result<Arc<LoadedRule>, String> {
        if rule.ends_with(".yaml") || rule.ends_with(".yml") {
            let path = self.dir.join(rule);
            return self
                .files
                .entry(rule.to_owned())
                .or_insert_with(|| {
                    find_rule(&path.display().to_string(), Path::new("."))
                        .map_err(|e| e.to_string())
                })
                .clone();
        }
        let dir = self.dir.clone();
        let set = self.set.get_or_insert_with(|| {
            CompiledRules::from_dir(&dir)
                .map(|compiled| compiled.rules)
                .map_err(|e| e.to_string())
        });
        let set = set.as_ref().map_err(Clone::clone)?;
        if let Some(loaded) = set.get(rule) {
            return Ok(loaded.clone());
        }
        let errors: Vec<String> = set.errors().map(ToString::to_string).collect();
        if errors.is_empty() {
            Err(format!("no rule named `{rule}` in {}", dir.display()))
        } else {
            Err(format!(
                "no rule named `{rule}` is loaded from {}:\n{}",
                dir.display(),
                errors.join("\n")
            ))
        }
    }
}

/// A change `--update` makes to one case.
struct Edit {
    case: usize,
    /// The key to write: `expect`, replacing any existing one.
    value: Value,
}

fn run_case(
    suite: &SuiteSpec,
    case: &CaseSpec,
    index: usize,
    dir: &Path,
    rules: &mut RuleCache,
    update: bool,
) -> (Outcome, Option<Edit>) {
    let expectations = [
        case.expect.is_some(),
        case.expect_partial.is_some(),
        case.expect_error.is_some(),
    ];
    if expectations.iter().filter(|e| **e).count() > 1 {
        return (
            Outcome::Failed(
                "give only one of `expect`, `expectPartial` and `expectError`".to_owned(),
            ),
            None,
        );
    }
    let Some(rule_name) = case.rule.as_ref().or(suite.rule.as_ref()) else {
        return (
            Outcome::Failed("no rule: set `rule` on the suite or the case".to_owned()),
            None,
        );
    };
    let loaded = match rules.get(rule_name) {
        Ok(r) => r,
        Err(e) => return (Outcome::Failed(e), None),
    };
    let request = match build_request(case, dir) {
        Ok(r) => r,
        Err(e) => return (Outcome::Failed(e), None),
    };
    let hook = case.hook.or(suite.hook).unwrap_or(Hook::Sync);
    let result = render(&loaded.rule, hook, request);

    if let Some(want) = &case.expect_error {
        return match result {
            Err(message) if message.contains(want.as_str()) => (Outcome::Passed, None),
            Err(message) => (
                Outcome::Failed(format!(
                    "expected an error containing {want:?}\n  actual error: {message}"
                )),
                None,
            ),
            Ok(response) => (
                Outcome::Failed(format!(
                    "expected an error containing {want:?}\n  actual response: {response}"
                )),
                None,
            ),
        };
    }
    let response = match result {
        Ok(r) => r,
        Err(message) => return (Outcome::Failed(format!("the rule failed: {message}")), None),
    };
    let (expected, partial) = match (&case.expect, &case.expect_partial) {
        (Some(e), _) => (e, false),
        (None, Some(e)) => (e, true),
        (None, None) => {
            return if update {
                (
                    Outcome::Updated,
                    Some(Edit {
                        case: index,
                        value: response,
                    }),
                )
            } else {
                (Outcome::Failed("the case has no expectation; run with --update to record the current response".to_owned()), None)
            };
        }
    };
    match compare(expected, &response, partial) {
        None => (Outcome::Passed, None),
        Some(_) if update && !partial => (
            Outcome::Updated,
            Some(Edit {
                case: index,
                value: response,
            }),
        ),
        Some(mismatch) => (Outcome::Failed(describe(&mismatch)), None),
    }
}

fn render(rule: &Rule, hook: Hook, request: Value) -> Result<Value, String> {
    let body = rule
        .render_body(hook, request, &Limits::default())
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

fn build_request(case: &CaseSpec, dir: &Path) -> Result<Value, String> {
    let mut request = match (&case.request, &case.request_file) {
        (Some(_), Some(_)) => return Err("give `request` or `requestFile`, not both".to_owned()),
        (Some(r), None) => r.clone(),
        (None, Some(file)) => {
            request_file::read_path(&dir.join(file)).map_err(|e| e.to_string())?
        }
        (None, None) => return Err("the case has no `request` or `requestFile`".to_owned()),
    };
    if let Some(patch) = &case.patch {
        merge_patch(&mut request, patch);
    }
    Ok(request)
}

fn describe(m: &Mismatch) -> String {
    let show = |v: &Option<Value>| match v {
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
        None => "(nothing)".to_owned(),
    };
    format!(
        "at {}\n  expected: {}\n  actual:   {}",
        m.path,
        show(&m.expected),
        show(&m.actual)
    )
}

/// Rewrites each edited case's `expect` block, leaving every other line as it was.
fn apply_edits(text: &str, locator: &Locator, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        if let Some(last) = lines.last_mut() {
            last.push('\n');
        }
    }
    // Bottom-up, so earlier line numbers stay valid.
    let mut edits: Vec<&Edit> = edits.iter().collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.case));
    for edit in edits {
        let case_path = format!("cases[{}]", edit.case);
        let yaml = serde_yaml_ng::to_string(&edit.value).unwrap_or_default();
        let expect_path = format!("{case_path}.expect");
        let key = locator.key(&expect_path);
        let has_expect = locator.has_key(&expect_path);
        if has_expect {
            replace_block(&mut lines, key.line, key.column, "expect", &yaml);
        } else {
            let start = locator.value(&case_path);
            insert_block(&mut lines, start.line, start.column, "expect", &yaml);
        }
    }
    lines.concat()
}

fn indent_of(line: &str) -> usize {
    line.chars().take_while(|c| *c == ' ').count()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The last line (0-based) of the block that starts on `first` (0-based) and holds lines
/// indented deeper than `indent`, ignoring trailing blank lines.
fn block_end(lines: &[String], first: usize, indent: usize) -> usize {
    let mut end = first;
    for (i, line) in lines.iter().enumerate().skip(first + 1) {
        if is_blank(line) {
            continue;
        }
        if indent_of(line) > indent {
            end = i;
        } else {
            break;
        }
    }
    end
}

fn indented(yaml: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    yaml.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// Replaces `key:` at (line, column) and its value with `key:` and `yaml`.
pub fn replace_block(lines: &mut Vec<String>, line: usize, column: usize, key: &str, yaml: &str) {
    let first = line.saturating_sub(1);
    let Some(key_line) = lines.get(first) else {
        return;
    };
    let indent = column.saturating_sub(1);
    let prefix: String = key_line.chars().take(indent).collect();
    let end = block_end(lines, first, indent);
    let replacement = format!("{prefix}{key}:\n{}", indented(yaml, indent + 2));
    lines.splice(first..=end, [replacement]);
}

/// Adds `key:` and `yaml` at the end of the mapping whose first key is at (line, column).
pub fn insert_block(lines: &mut Vec<String>, line: usize, column: usize, key: &str, yaml: &str) {
    let first = line.saturating_sub(1);
    let indent = column.saturating_sub(1);
    let end = block_end(lines, first, indent.saturating_sub(1)).min(lines.len().saturating_sub(1));
    let text = format!(
        "{}{key}:\n{}",
        " ".repeat(indent),
        indented(yaml, indent + 2)
    );
    lines.insert(end + 1, text);
}

/// A JUnit XML report, one testsuite per suite file.
fn junit(results: &[CaseResult]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut suites: Vec<&str> = results.iter().map(|r| r.suite.as_str()).collect();
    suites.dedup();
    let failed = |rs: &[&CaseResult]| {
        rs.iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .count()
    };
    let all: Vec<&CaseResult> = results.iter().collect();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"rulehook\" tests=\"{}\" failures=\"{}\">\n",
        results.len(),
        failed(&all)
    );
    for suite in suites {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.suite == suite).collect();
        let time: f64 = cases.iter().map(|c| c.seconds).sum();
        xml.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{time:.6}\">\n",
            esc(suite),
            cases.len(),
            failed(&cases)
        ));
        for case in cases {
            xml.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.6}\"",
                esc(&case.name),
                esc(suite),
                esc(suite),
                case.line,
                case.seconds
            ));
            match &case.outcome {
                Outcome::Failed(details) => {
                    let first = details.lines().next().unwrap_or("");
                    xml.push_str(&format!(
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                        esc(first),
                        esc(details)
                    ));
                }
                _ => xml.push_str("/>\n"),
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.split_inclusive('\n').map(str::to_owned).collect()
    }

    #[test]
    fn replacing_an_expect_block_keeps_the_lines_around_it() {
        let text = "cases:\n  - name: a\n    # keep me\n    expect:\n      old: 1\n      deeper:\n        x: 2\n\n  - name: b\n";
        let mut l = lines(text);
        replace_block(&mut l, 4, 5, "expect", "new: 3\n");
        assert_eq!(
            l.concat(),
            "cases:\n  - name: a\n    # keep me\n    expect:\n      new: 3\n\n  - name: b\n"
        );
    }

    #[test]
    fn inserting_an_expect_block_goes_after_the_case() {
        let text = "cases:\n  - name: a\n    request: {parent: {}}\n  - name: b\n";
        let mut l = lines(text);
        insert_block(&mut l, 2, 5, "expect", "x: 1\n");
        assert_eq!(l.concat(), "cases:\n  - name: a\n    request: {parent: {}}\n    expect:\n      x: 1\n  - name: b\n");
    }
}
