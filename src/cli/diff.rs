//! `rulehook diff`: what a rule change would do to the objects Metacontroller manages. Every
//! request is rendered with the old and the new rules, and the two answers compared by
//! [`rulehook::offline::diff::compare`]: objects deleted, created and changed, and status changes.
//! Each side is loaded as `serve` loads it, libraries first, so a library edit shows in the
//! answers of every rule that imports it.
//!
//! Exit codes: 0 when nothing would be deleted, 1 when something would, 2 on errors (a rule
//! of the new set that does not compile, a new render that fails, an unreadable request).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;

use super::{exit, request_file};
use rulehook::offline::diff::{compare_in, AnswerDiff};
use rulehook::supply::load::CompiledRules;
use rulehook::supply::ruleset::RuleSet;
use rulehook::telemetry::record::NOW_KEY;
use rulehook_engine::metacontroller::subject_name;
use rulehook_engine::{is_rule_name, Hook, Limits, Now};

mod git;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The rule directory as it is now.
    #[arg(long, conflicts_with = "old_git", required_unless_present = "old_git")]
    pub old: Option<PathBuf>,
    /// Instead of `--old`: the `--new` directory as it is at this git revision.
    #[arg(long, value_name = "REV")]
    pub old_git: Option<String>,
    /// The rule directory with the change.
    #[arg(long)]
    pub new: PathBuf,
    /// Request files (JSON or YAML), or directories of them (walked for `*.json` and
    /// `*.yaml`), such as one written by `serve --record`.
    #[arg(value_name = "REQUEST")]
    pub requests: Vec<PathBuf>,
    /// The rule for requests whose directory does not name one (`DIR/<rule>/<hook>/`).
    #[arg(long)]
    pub rule: Option<String>,
    /// The hook for requests whose directory does not name one.
    #[arg(long, default_value = "sync", value_parser = clap::builder::PossibleValuesParser::new(Hook::ALL.map(Hook::as_str)))]
    pub hook: String,
    /// `text` for people, `json` for one machine-readable document.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: Output,
    /// The library search path of both sides: `--old-git` takes these directories as they
    /// are now.
    #[command(flatten)]
    pub libraries: super::LibraryPath,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// One request and what the rule change does to its answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestReport {
    request: String,
    parent: String,
    rule: Option<String>,
    hook: String,
    #[serde(flatten)]
    diff: AnswerDiff,
    /// Why the old rules gave no answer: everything the new rules answer is then created.
    #[serde(skip_serializing_if = "Option::is_none")]
    old_error: Option<String>,
    /// Why there is no comparison: this counts as an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    requests: usize,
    deletions: usize,
    creations: usize,
    changes: usize,
    errors: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    requests: Vec<RequestReport>,
    /// Problems outside any one request (rules of the new set that do not compile).
    errors: Vec<String>,
    /// Problems of the old rules, which do not fail the comparison.
    warnings: Vec<String>,
    summary: Summary,
}

pub fn run(args: &Args) -> ExitCode {
    let report = match diff(args) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::usage();
        }
    };
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Output::Text => print_text(&report),
    }
    let s = &report.summary;
    if s.errors > 0 {
        exit::usage()
    } else if s.deletions > 0 {
        exit::problems()
    } else {
        exit::ok()
    }
}

fn diff(args: &Args) -> Result<Report, String> {
    let hook = Hook::parse(&args.hook).ok_or("unknown hook")?;
    if !args.new.is_dir() {
        return Err(format!("{}: not a directory", args.new.display()));
    }
    // Kept until the end: the old rules may live in a temporary checkout.
    let (_checkout, old_dir) = match (&args.old, &args.old_git) {
        (Some(dir), _) => (None, dir.clone()),
        (None, Some(rev)) => {
            let checkout = git::rules_at(&args.new, rev)?;
            let dir = checkout.path().to_path_buf();
            (Some(checkout), dir)
        }
        (None, None) => return Err("give --old DIR or --old-git REV".to_owned()),
    };
    let old =
        CompiledRules::from_dir(&old_dir, &args.libraries.libraries).map_err(|e| e.to_string())?;
    let new =
        CompiledRules::from_dir(&args.new, &args.libraries.libraries).map_err(|e| e.to_string())?;
    let problems = |c: &CompiledRules| -> Vec<String> {
        let errors = c.report.errors.iter().map(ToString::to_string);
        let transient = c
            .report
            .transient
            .iter()
            .map(|t| format!("{t}: cannot be read"));
        errors.chain(transient).collect()
    };
    let mut report = Report {
        requests: Vec::new(),
        errors: problems(&new),
        warnings: problems(&old),
        summary: Summary::default(),
    };
    let files = request_files(&args.requests).map_err(|e| e.to_string())?;
    // Read once: every request not recorded with a time of its own is rendered at this one.
    let now = rulehook::clock::now();
    for file in files {
        let request = compare_one(
            &file,
            args.rule.as_deref(),
            hook,
            (&old.rules, &new.rules),
            now.as_ref(),
        );
        let s = &mut report.summary;
        s.requests += 1;
        s.deletions += request.diff.deleted.len();
        s.creations += request.diff.created.len();
        s.changes += request.diff.changes();
        s.errors += usize::from(request.error.is_some());
        report.requests.push(request);
    }
    report.summary.errors += report.errors.len();
    Ok(report)
}

/// A request file and, when its directory says so, its rule and hook.
#[derive(Debug, PartialEq, Eq)]
struct RequestFile {
    path: PathBuf,
    recorded: Option<(String, Hook)>,
}

/// The request files named, directories walked in name order.
fn request_files(paths: &[PathBuf]) -> std::io::Result<Vec<RequestFile>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out
        .into_iter()
        .map(|path| RequestFile {
            recorded: recorded_as(&path),
            path,
        })
        .collect())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // `.`-prefixed: hidden files, and files `serve --record` is still writing.
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else if (name.ends_with(".json") || name.ends_with(".yaml"))
            && !name.ends_with(".test.yaml")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// `<rule>/<hook>/<sha256>.json`, as `serve --record` writes it: the rule and the hook.
fn recorded_as(path: &Path) -> Option<(String, Hook)> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".json")?;
    let hashed = stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit());
    let hook_dir = path.parent()?;
    let hook = Hook::parse(hook_dir.file_name()?.to_str()?)?;
    let rule = hook_dir.parent()?.file_name()?.to_str()?;
    (hashed && is_rule_name(rule)).then(|| (rule.to_owned(), hook))
}

fn compare_one(
    file: &RequestFile,
    rule: Option<&str>,
    hook: Hook,
    (old, new): (&RuleSet, &RuleSet),
    now: Option<&Now>,
) -> RequestReport {
    let (rule, hook) = match &file.recorded {
        Some((rule, hook)) => (Some(rule.as_str()), *hook),
        None => (rule, hook),
    };
    let mut report = RequestReport {
        request: file.path.display().to_string(),
        parent: String::new(),
        rule: rule.map(str::to_owned),
        hook: hook.to_string(),
        diff: AnswerDiff::default(),
        old_error: None,
        error: None,
    };
    let request = match request_file::read_path(&file.path) {
        Ok(request) => request,
        Err(e) => {
            report.error = Some(e.to_string());
            return report;
        }
    };
    report.parent = subject_name(&request);
    let Some(rule) = rule else {
        report.error =
            Some("no rule: give --rule, or a directory written by `serve --record`".to_owned());
        return report;
    };
    let Some(new_rule) = new.get(rule) else {
        report.error = Some(format!("no rule named `{rule}` in the new rules"));
        return report;
    };
    // Both sides see one time, so that time never shows as a change.
    let now = recorded_now(&request).or_else(|| now.cloned());
    let answer = |rule: &rulehook_engine::Rule| {
        rule.render_at(hook, request.clone(), now.as_ref(), &Limits::default())
            .map_err(|e| e.to_string())
    };
    let new_answer = match answer(&new_rule.rule) {
        Ok(answer) => answer,
        Err(e) => {
            report.error = Some(format!("the new rules fail: {e}"));
            return report;
        }
    };
    let old_answer = match old.get(rule) {
        None => {
            report.old_error = Some(format!("no rule named `{rule}` in the old rules"));
            Value::Null
        }
        Some(old_rule) => answer(&old_rule.rule).unwrap_or_else(|e| {
            report.old_error = Some(e);
            Value::Null
        }),
    };
    let namespace = report.parent.split_once('/').map_or("", |(ns, _)| ns);
    report.diff = compare_in(namespace, &old_answer, &new_answer);
    report
}

/// The time a rule saw when `serve --record` kept this request.
fn recorded_now(request: &Value) -> Option<Now> {
    Now::parse(request.get(NOW_KEY)?.as_str()?).ok()
}

fn print_text(report: &Report) {
    for warning in &report.warnings {
        eprintln!("warning: old rules: {warning}");
    }
    for error in &report.errors {
        eprintln!("error: {error}");
    }
    for request in &report.requests {
        let parent = if request.parent.is_empty() {
            "(no parent)"
        } else {
            &request.parent
        };
        println!("== {parent} ({})", request.request);
        if let Some(error) = &request.error {
            println!("error: {error}");
            continue;
        }
        if let Some(old_error) = &request.old_error {
            println!("note: no old answer: {old_error}");
        }
        let diff = &request.diff;
        for id in &diff.deleted {
            println!("deleted {id}");
        }
        for id in &diff.created {
            println!("created {id}");
        }
        for change in &diff.changed {
            println!("changed {}", change.object);
            for field in &change.fields {
                println!("{field}");
            }
        }
        for key in &diff.keys {
            println!("changed {}", key.key);
            for field in &key.fields {
                println!("{field}");
            }
        }
        if diff.is_empty() {
            println!("no changes");
        }
    }
    let s = &report.summary;
    if s.errors > 0 {
        println!("{}", super::counted(s.errors, "error"));
    }
    println!(
        "{}: {}, {}, {}",
        super::counted(s.requests, "request"),
        super::counted(s.deletions, "deletion"),
        super::counted(s.creations, "creation"),
        super::counted(s.changes, "change")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_request_names_its_rule_and_hook_by_its_directories() {
        let hash = "a".repeat(64);
        let recorded = PathBuf::from(format!("rec/hello/sync/{hash}.json"));
        assert_eq!(
            recorded_as(&recorded),
            Some(("hello".to_owned(), Hook::Sync))
        );
        assert_eq!(recorded_as(Path::new("fixtures/sync/req.json")), None);
        let bad_hook = PathBuf::from(format!("rec/hello/other/{hash}.json"));
        assert_eq!(recorded_as(&bad_hook), None);
        let bad_rule = PathBuf::from(format!("rec/Hello_/sync/{hash}.json"));
        assert_eq!(recorded_as(&bad_rule), None);
    }
}
