//! Work is charged by what it costs, before it is done: a render stops at its work limit
//! however the work is spread over steps, and the step that would pass it never starts.

use serde_json::{json, Value};

use super::*;

fn limits(max_work: u64) -> Limits {
    Limits {
        max_work,
        max_steps: u64::MAX,
        ..Limits::default()
    }
}

fn status_rule(value: &str) -> Rule {
    let text = format!(
        "values:\n  a: {{path: $.parent.spec.a, default: []}}\n  s: {{path: $.parent.spec.s, default: ''}}\n  p: {{path: $.parent.spec.p, default: ''}}\nsync:\n  status:\n    v: \"{value}\"\n"
    );
    Rule::compile("r.yaml", &text).unwrap_or_else(|e| panic!("{e:?}"))
}

fn request(spec: Value) -> Value {
    json!({"parent": {"metadata": {"name": "p"}, "spec": spec}})
}

fn work_error(rule: &Rule, spec: Value, max_work: u64) -> String {
    let started = std::time::Instant::now();
    let error = rule
        .render(Hook::Sync, request(spec), &limits(max_work))
        .unwrap_err()
        .to_string();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "stopped only after {:?}",
        started.elapsed()
    );
    error
}

#[test]
fn nested_each_blocks_charge_every_item_and_stop_at_the_work_limit() {
    // 5,000² items that write nothing: no step and no byte would count them.
    let rule = status_rule("x{{#each a}}{{#each ../a}}{{/each}}{{/each}}");
    let items: Vec<u32> = (0..5000).collect();
    let error = work_error(&rule, json!({"a": items}), 100_000_000);
    assert!(error.contains("units of work"), "{error}");
    // A small one renders, and `@index` and friends still work with the inserted call.
    let small =
        status_rule("{{#each a}}{{@index}}:{{this}}{{#if @last}}.{{else}},{{/if}}{{/each}}");
    let response = small
        .render(
            Hook::Sync,
            request(json!({"a": [1, 2, 3]})),
            &limits(100_000_000),
        )
        .unwrap();
    assert_eq!(response["status"]["v"], "0:1,1:2,2:3.");
}

#[test]
fn linear_helpers_in_a_loop_add_up_to_the_limit() {
    // Each indexOf reads the whole list: quadratic in all.
    let rule = status_rule("{{#each a}}{{indexOf ../a this}}{{/each}}");
    let items: Vec<String> = (0..3000).map(|i| format!("item-{i}")).collect();
    let error = work_error(&rule, json!({"a": items}), 50_000_000);
    assert!(error.contains("units of work"), "{error}");
}

#[test]
fn comparing_large_values_is_charged_by_their_size() {
    let rule = status_rule("{{eq a a}}");
    let big: Vec<String> = (0..20_000).map(|i| format!("value-{i}")).collect();
    let error = work_error(&rule, json!({"a": big}), 100_000);
    assert!(error.contains("units of work"), "{error}");
    let fine = rule
        .render(Hook::Sync, request(json!({"a": [1]})), &limits(100_000))
        .unwrap();
    assert_eq!(fine["status"]["v"], true);
}

#[test]
fn a_regex_over_a_long_subject_is_refused_before_it_runs() {
    // The PikeVM keeps ~200 threads per byte for this pattern: milliseconds per call.
    let rule = status_rule("{{regexMatch s '[01]*1[01]{200}'}}");
    let subject: String = (0..30_000)
        .map(|i| if i % 3 == 0 { '1' } else { '0' })
        .collect();
    let error = work_error(&rule, json!({"s": subject}), 10_000_000);
    assert!(error.contains("units of work"), "{error}");
}

#[test]
fn request_patterns_are_charged_and_bad_ones_name_the_pattern_problem() {
    let rule = status_rule("{{regexMatch s p}}");
    let ok = rule
        .render(
            Hook::Sync,
            request(json!({"s": "web-1", "p": "^web-[0-9]+$"})),
            &limits(u64::MAX / 2),
        )
        .unwrap();
    assert_eq!(ok["status"]["v"], true);
    let error = rule
        .render(
            Hook::Sync,
            request(json!({"s": "x", "p": "\\w{5}"})),
            &limits(u64::MAX / 2),
        )
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("from the request may compile to 64 KiB"),
        "{error}"
    );
}

#[test]
fn a_bad_literal_pattern_is_a_load_error_at_its_line() {
    let errors = Rule::compile(
        "r.yaml",
        "sync:\n  status:\n    v: \"{{regexMatch 'a' '(unclosed'}}\"\n",
    )
    .unwrap_err();
    assert_eq!(errors[0].line, 3, "{errors:?}");
    assert!(
        errors[0]
            .message
            .contains("regexMatch: bad regular expression"),
        "{errors:?}"
    );
}

#[test]
fn jsonpath_shapes_whose_cost_multiplies_are_load_errors() {
    for query in ["$..a..b", "$.parent.spec.a[?$.parent.spec.a[*]]"] {
        let text =
            format!("values:\n  v: {{path: \"{query}\", all: true}}\nsync:\n  status: {{}}\n");
        let errors = Rule::compile("r.yaml", &text).unwrap_err();
        assert!(errors[0].message.contains("refused"), "{query}: {errors:?}");
    }
    // JSONPath's match() is not available: its pattern would compile for every node.
    let text = "values:\n  v: {path: \"$.a[?match(@.b, 'x')]\", all: true}\nsync:\n  status: {}\n";
    assert!(Rule::compile("r.yaml", text).is_err());
}

#[test]
fn a_wide_jsonpath_is_charged_by_the_request_size() {
    let text = "values:\n  names: {path: \"$..name\", all: true, default: []}\nsync:\n  status:\n    n: \"{{ length names }}\"\n";
    let rule = Rule::compile("r.yaml", text).unwrap();
    let items: Vec<Value> = (0..5000)
        .map(|i| json!({"name": format!("n{i}")}))
        .collect();
    let error = work_error(&rule, json!({"items": items}), 50_000);
    assert!(error.contains("units of work"), "{error}");
}

#[test]
fn a_compile_its_guard_stops_fails_with_the_guards_reason_alone() {
    struct StopAfter(std::cell::Cell<usize>);
    impl crate::CompileGuard for StopAfter {
        fn stop(&self) -> Option<String> {
            self.0.set(self.0.get() + 1);
            (self.0.get() > 3).then(|| "the rule is too large".to_owned())
        }
    }
    let mut text = String::from("sync:\n  status:\n");
    for i in 0..10 {
        text.push_str(&format!("    k{i}: \"{{{{ nope{i} }}}}\"\n"));
    }
    let guard = StopAfter(std::cell::Cell::new(0));
    let errors = Rule::compile_guarded("r.yaml", &text, &guard).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        (errors[0].line, errors[0].message.as_str()),
        (1, "the rule is too large")
    );
    assert_eq!(
        guard.0.get(),
        4,
        "the guard is not asked again once it said stop"
    );
    // Unstopped, the same text has its ten real errors.
    assert_eq!(Rule::compile("r.yaml", &text).unwrap_err().len(), 10);
}
