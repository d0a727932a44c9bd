//! One case: build its request, render it with the rule it names, and hold the answer up to
//! its expectation (`expect`, `expectPartial` or `expectError`).

use std::path::Path;

use serde_json::Value;

use rulehook_engine::metacontroller::describe_object;
use rulehook_engine::suite::{
    differences, merge_patch, CaseSpec, Mismatch, SuiteSpec, MAX_DIFFERENCES,
};
use rulehook_engine::{Hook, Limits, Now, Rule};

use super::objects::{from_object_files, has_object_files};
use super::rules::SuiteRules;
use super::update::Edit;
use super::Outcome;
use crate::cli::request_file;

/// Runs one case; under `--update`, also says how to rewrite its expectation.
pub fn run_case(
    suite: &SuiteSpec,
    case: &CaseSpec,
    now: Option<&Now>,
    index: usize,
    dir: &Path,
    rules: &mut SuiteRules,
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
    let hook = case.hook.or(suite.hook).unwrap_or(Hook::Sync);
    let request = match build_request(case, dir, &loaded.rule, hook) {
        Ok(r) => r,
        Err(e) => return (Outcome::Failed(e), None),
    };
    if now.is_none() && loaded.rule.reads_now() {
        return (
            Outcome::Failed(format!(
                "rule `{}` reads `now`; pin the time with `now: \"2026-01-01T00:00:00Z\"` on the case or the suite, so that the case gives the same answer on every run",
                loaded.rule.name
            )),
            None,
        );
    }
    let result = loaded
        .rule
        .render_at(hook, request, now, &Limits::default())
        .map_err(|e| e.to_string());

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
    let found = differences(expected, &response, partial);
    match found.first() {
        None => (Outcome::Passed, None),
        Some(_) if update && !partial => (
            Outcome::Updated,
            Some(Edit {
                case: index,
                value: response,
            }),
        ),
        Some(_) => (Outcome::Failed(describe(&found)), None),
    }
}

fn build_request(case: &CaseSpec, dir: &Path, rule: &Rule, hook: Hook) -> Result<Value, String> {
    let mut request = match (&case.request, &case.request_file) {
        _ if has_object_files(case) => from_object_files(case, dir, rule, hook)?,
        (Some(_), Some(_)) => return Err("give `request` or `requestFile`, not both".to_owned()),
        (Some(r), None) => r.clone(),
        (None, Some(file)) => {
            request_file::read_path(&dir.join(file)).map_err(|e| e.to_string())?
        }
        (None, None) => {
            return Err("the case has no `request`, `requestFile` or `parentFile`".to_owned())
        }
    };
    if let Some(patch) = &case.patch {
        merge_patch(&mut request, patch);
    }
    Ok(request)
}

/// Every difference, one block each; an item a list lacks or has too many of is shown by
/// what it is (`Deployment web-canary`) rather than as one long line of JSON.
fn describe(found: &[Mismatch]) -> String {
    let show = |v: &Option<Value>, whole_item: bool| match v {
        None => "(nothing)".to_owned(),
        Some(v) if whole_item => match describe_object(v) {
            Some(identity) => identity,
            None => serde_json::to_string(v).unwrap_or_default(),
        },
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    };
    let mut blocks: Vec<String> = found
        .iter()
        .map(|m| {
            let whole_item = m.expected.is_none() || m.actual.is_none();
            format!(
                "at {}\n  expected: {}\n  actual:   {}",
                m.path,
                show(&m.expected, whole_item),
                show(&m.actual, whole_item)
            )
        })
        .collect();
    if found.len() == MAX_DIFFERENCES {
        blocks.push(format!("(the first {MAX_DIFFERENCES} differences)"));
    }
    blocks.join("\n")
}
