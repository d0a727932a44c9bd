//! Test cases for rules: the suite file as written, and how a response is compared with an
//! expectation. Used by `rulehook test`; pure, like the rest of the engine.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::locate::{Locator, Pos};
use crate::now::Now;

/// The shape of a `now:` for editors; [`Now::parse`] also checks that the date exists.
const NOW_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$";

/// A test suite file, `*.test.yaml`, kept beside the rules it tests.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SuiteSpec {
    /// The rule every case tests unless it names its own: a rule name from the suite's
    /// directory, or a path (relative to the suite) to a rule file.
    pub rule: Option<String>,
    /// The hook every case calls unless it names its own. Defaults to `sync`.
    pub hook: Option<super::Hook>,
    /// The time templates see as `now` in every case that does not pin its own: RFC 3339
    /// in whole seconds and UTC, such as `2026-01-01T00:00:00Z`. A case whose rule reads
    /// `now` fails unless one of them pins it, so that it gives the same answer every run.
    #[schemars(pattern(NOW_PATTERN))]
    pub now: Option<String>,
    /// The cases, run in order.
    pub cases: Vec<CaseSpec>,
}

/// One request and what its answer must be.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CaseSpec {
    /// What the case checks, in words.
    pub name: String,
    /// Overrides the suite's rule.
    pub rule: Option<String>,
    /// Overrides the suite's hook.
    pub hook: Option<super::Hook>,
    /// Overrides the suite's `now`: the time templates see.
    #[schemars(pattern(NOW_PATTERN))]
    pub now: Option<String>,
    /// The hook request, inline.
    pub request: Option<Value>,
    /// The hook request from a JSON or YAML file, relative to the suite.
    pub request_file: Option<String>,
    /// Instead of a request: the parent (for a decorator, the object) as `kubectl get -o yaml`
    /// or `-o json` prints it, relative to the suite. The request is built as `rulehook
    /// fixture` builds it, with the controller from the rule.
    pub parent_file: Option<String>,
    /// With `parentFile`: files of observed children (for a decorator, attachments), each one
    /// object, a `kind: List` or several YAML documents, relative to the suite.
    pub children_files: Option<Vec<String>>,
    /// With `parentFile`: files of related objects, relative to the suite.
    pub related_files: Option<Vec<String>>,
    /// A JSON merge patch (RFC 7386) applied to the request; `null` removes a field.
    pub patch: Option<Value>,
    /// The whole response, exactly.
    pub expect: Option<Value>,
    /// Only these fields must match; lists must have the same length and match in order.
    pub expect_partial: Option<Value>,
    /// The call must fail with a message containing this text.
    pub expect_error: Option<String>,
}

impl SuiteSpec {
    /// The time each case pins (its own `now`, else the suite's), or the first `now` that is
    /// not a time, with its place in the file.
    ///
    /// # Errors
    ///
    /// A `now` not written as RFC 3339 in whole seconds and UTC, at its line and column.
    pub fn times(&self, locator: &Locator) -> Result<Vec<Option<Now>>, (Pos, String)> {
        let read = |text: &Option<String>, at: &str| {
            text.as_deref()
                .map(|t| Now::parse(t).map_err(|why| (locator.value(at), format!("`now`: {why}"))))
                .transpose()
        };
        let suite = read(&self.now, "now")?;
        self.cases
            .iter()
            .enumerate()
            .map(|(i, case)| Ok(read(&case.now, &format!("cases[{i}].now"))?.or(suite.clone())))
            .collect()
    }
}

/// Where the actual response first differs from the expected one.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// A JSONPath to the first difference, e.g. `$.children[0].spec.replicas`.
    pub path: String,
    /// `None` when the expectation has nothing there.
    pub expected: Option<Value>,
    /// `None` when the response has nothing there.
    pub actual: Option<Value>,
}

/// Compares `actual` with `expected`: the first difference, if any. See [`differences`].
pub fn compare(expected: &Value, actual: &Value, partial: bool) -> Option<Mismatch> {
    differences(expected, actual, partial).into_iter().next()
}

/// Most differences one comparison reports; a wholly different answer would otherwise
/// print one line per leaf.
pub const MAX_DIFFERENCES: usize = 50;

/// Every place where `actual` differs from `expected`, in document order, at most
/// [`MAX_DIFFERENCES`]. With `partial`, keys the expectation leaves out are ignored. Lists
/// are compared item by item, in order; when their lengths differ, each missing or extra
/// item is a difference of its own.
pub fn differences(expected: &Value, actual: &Value, partial: bool) -> Vec<Mismatch> {
    let mut out = Vec::new();
    walk(expected, actual, partial, &mut "$".to_owned(), &mut out);
    out
}

fn walk(
    expected: &Value,
    actual: &Value,
    partial: bool,
    path: &mut String,
    out: &mut Vec<Mismatch>,
) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let len = path.len();
                push_key(path, key);
                match a.get(key) {
                    Some(av) => walk(ev, av, partial, path, out),
                    None => push(out, path, Some(ev), None),
                }
                path.truncate(len);
            }
            if !partial {
                for (key, av) in a.iter().filter(|(k, _)| !e.contains_key(*k)) {
                    let mut at = path.clone();
                    push_key(&mut at, key);
                    push(out, &at, None, Some(av));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for i in 0..e.len().max(a.len()) {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                match (e.get(i), a.get(i)) {
                    (Some(ev), Some(av)) => walk(ev, av, partial, path, out),
                    (ev, av) => push(out, path, ev, av),
                }
                path.truncate(len);
            }
        }
        _ if numbers_equal(expected, actual) => {}
        _ if expected == actual => {}
        _ => push(out, path, Some(expected), Some(actual)),
    }
}

fn push(out: &mut Vec<Mismatch>, path: &str, expected: Option<&Value>, actual: Option<&Value>) {
    if out.len() < MAX_DIFFERENCES {
        out.push(Mismatch {
            path: path.to_owned(),
            expected: expected.cloned(),
            actual: actual.cloned(),
        });
    }
}

/// `1` and `1.0` are the same number to a reader of YAML.
fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => false,
    }
}

fn push_key(path: &mut String, key: &str) {
    if crate::json::is_identifier(key) {
        path.push('.');
        path.push_str(key);
    } else {
        path.push_str(&format!("[{}]", Value::String(key.to_owned())));
    }
}

/// Applies a JSON merge patch (RFC 7386).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else { return };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_difference_is_named_by_path() {
        let e = json!({"children": [{"spec": {"replicas": 2}}]});
        let a = json!({"children": [{"spec": {"replicas": 3}}]});
        let m = compare(&e, &a, false).unwrap();
        assert_eq!(m.path, "$.children[0].spec.replicas");
        assert_eq!((m.expected, m.actual), (Some(json!(2)), Some(json!(3))));
    }

    #[test]
    fn partial_ignores_unnamed_keys_but_not_list_lengths() {
        let a = json!({"status": {"pods": 1}, "children": [{"a": 1, "b": 2}, {"a": 3}]});
        assert_eq!(compare(&json!({"status": {"pods": 1}}), &a, true), None);
        assert_eq!(
            compare(&json!({"children": [{"a": 1}, {"a": 3}]}), &a, true),
            None
        );
        let m = compare(&json!({"children": [{"a": 1}]}), &a, true).unwrap();
        assert_eq!(m.path, "$.children[1]");
        assert_eq!(m.expected, None);
        let m = compare(&json!({"status": {"pods": 1}}), &a, false).unwrap();
        assert_eq!(m.path, "$.children");
    }

    #[test]
    fn keys_that_are_not_names_are_bracketed() {
        let m = compare(&json!({"Pod.v1": 1}), &json!({"Pod.v1": 2}), false).unwrap();
        assert_eq!(m.path, "$[\"Pod.v1\"]");
    }

    #[test]
    fn a_case_pins_its_own_time_or_the_suites_and_a_bad_one_is_placed() {
        let text = "rule: r\nnow: \"2026-01-01T00:00:00Z\"\ncases:\n  - name: a\n  - name: b\n    now: \"2026-01-02T00:00:00Z\"\n";
        let suite: SuiteSpec = serde_yaml_ng::from_str(text).unwrap();
        let times = suite.times(&Locator::new(text)).unwrap();
        let shown: Vec<String> = times.iter().flatten().map(Now::to_string).collect();
        assert_eq!(shown, ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]);

        let text = "rule: r\ncases:\n  - name: a\n    now: 2026-01-01 00:00\n";
        let suite: SuiteSpec = serde_yaml_ng::from_str(text).unwrap();
        let (pos, why) = suite.times(&Locator::new(text)).unwrap_err();
        assert_eq!((pos.line, pos.column), (4, 10));
        assert!(
            why.starts_with("`now`: `2026-01-01 00:00` is not a time in RFC 3339"),
            "{why}"
        );
    }

    #[test]
    fn merge_patch_adds_replaces_and_removes() {
        let mut v = json!({"spec": {"who": "a", "keep": 1}});
        merge_patch(&mut v, &json!({"spec": {"who": null, "new": [1]}}));
        assert_eq!(v, json!({"spec": {"keep": 1, "new": [1]}}));
    }
}
