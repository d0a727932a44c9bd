//! The time as a render input: templates and computed values see `now` when the caller
//! gives it, JSONPath values never do, and a compiled rule says whether it reads it.

use serde_json::{json, Value};

use super::compile_errors;
use crate::{Hook, Limits, Now, Rule};

fn at(time: &str) -> Now {
    Now::parse(time).unwrap()
}

fn render_at(rule: &Rule, request: Value, now: Option<&Now>) -> Value {
    rule.render_at(Hook::Sync, request, now, &Limits::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

const CLOCK: &str = r#"
values:
  stamp: {expr: "{{ concat 'at ' now }}"}
  fromRequest: {path: $.now, default: none}
sync:
  status:
    now: "{{ now }}"
    stamp: "{{ stamp }}"
    fromRequest: "{{ fromRequest }}"
"#;

#[test]
fn templates_and_computed_values_see_the_time_the_caller_gives() {
    let rule = Rule::compile("r.yaml", CLOCK).unwrap();
    assert!(rule.reads_now());
    let request = json!({"parent": {}});
    let answer = render_at(&rule, request.clone(), Some(&at("2026-12-06T16:20:05Z")));
    assert_eq!(
        answer["status"],
        json!({"now": "2026-12-06T16:20:05Z", "stamp": "at 2026-12-06T16:20:05Z", "fromRequest": "none"}),
        "a JSONPath reads the request as sent, which holds no time"
    );
    let later = render_at(&rule, request, Some(&at("2026-12-06T16:20:06Z")));
    assert_eq!(later["status"]["now"], "2026-12-06T16:20:06Z");
}

#[test]
fn without_a_time_now_is_missing() {
    let rule = Rule::compile("r.yaml", "sync:\n  status:\n    now: \"{{ now }}\"\n").unwrap();
    assert_eq!(
        render_at(&rule, json!({"parent": {}}), None)["status"],
        json!({})
    );
}

#[test]
fn a_rule_reads_now_only_when_a_template_or_computed_value_names_it() {
    let reads = |text: &str| Rule::compile("r.yaml", text).unwrap().reads_now();
    assert!(!reads(
        "sync:\n  status:\n    name: \"{{ parent.metadata.name }}\"\n"
    ));
    assert!(!reads(
        "values:\n  now2: $.now\nsync:\n  status:\n    a: \"{{ now2 }}\"\n"
    ));
    assert!(reads(
        "values:\n  t: {expr: \"{{ now }}\"}\nsync:\n  status: {}\n"
    ));
    assert!(reads("sync:\n  status:\n    t: \"x {{ now }}\"\n"));
    assert!(
        reads("sync:\n  status:\n    all: \"{{ toJson this }}\"\n"),
        "the whole scope holds the time"
    );
    assert!(reads(
        "customize:\n  relatedResources:\n    - $includeWhen: \"{{ now }}\"\n      apiVersion: v1\n      resource: configmaps\n"
    ));
}

#[test]
fn a_value_cannot_be_named_now() {
    let errors = compile_errors("values:\n  now: $.parent.x\nsync:\n  status: {}\n");
    assert_eq!(
        errors,
        ["r.yaml:2:3: value name `now` is already used by templates; pick another"]
    );
}

/// The `metav1.Condition` idiom of docs/rules.md ("The time"), as written there.
const CONDITION: &str = r#"values:
  observed:            # this condition as the parent's status holds it, if it does
    expr: "{{ first (where parent.status.conditions 'type' 'Ready') }}"
  ready:
    expr: "{{ ternary (gt (count children.[Pod.v1] 'status.phase' 'Running') 0) 'True' 'False' }}"
sync:
  status:
    conditions:
      - type: Ready
        status: "{{ ready }}"
        reason: "{{ ternary (eq ready 'True') 'PodRunning' 'NoPodRunning' }}"
        lastTransitionTime: "{{ ternary (eq observed.status ready) (default observed.lastTransitionTime now) now }}"
"#;

fn condition_request(observed: Option<(&str, &str)>, running: bool) -> Value {
    let conditions: Vec<Value> = observed
        .map(|(status, since)| json!({"type": "Ready", "status": status, "lastTransitionTime": since}))
        .into_iter()
        .collect();
    let phase = if running { "Running" } else { "Pending" };
    json!({
        "parent": {"metadata": {"name": "p"}, "status": {"conditions": conditions}},
        "children": {"Pod.v1": {"p": {"metadata": {"name": "p"}, "status": {"phase": phase}}}},
    })
}

#[test]
fn a_condition_keeps_its_transition_time_until_its_status_flips() {
    assert!(
        include_str!("../../../../docs/rules.md").contains(CONDITION),
        "the idiom is not in docs/rules.md as tested here"
    );
    let rule = Rule::compile("r.yaml", CONDITION).unwrap();
    assert!(
        !rule.warnings.iter().any(|w| w.message.contains("`now`")),
        "{:?}",
        rule.warnings
    );
    let (first, second) = (at("2026-01-01T00:00:00Z"), at("2026-01-01T00:05:00Z"));
    let transition = |request: Value, now: &Now| {
        let answer = render_at(&rule, request, Some(now));
        let condition = &answer["status"]["conditions"][0];
        (
            condition["status"].as_str().unwrap().to_owned(),
            condition["lastTransitionTime"].as_str().unwrap().to_owned(),
        )
    };
    // No condition observed yet: it starts now.
    let (status, since) = transition(condition_request(None, true), &first);
    assert_eq!(
        (status.as_str(), since.as_str()),
        ("True", "2026-01-01T00:00:00Z")
    );
    // Observed with the same status: the time it was set stays, whatever the time now.
    let same = condition_request(Some(("True", &since)), true);
    assert_eq!(
        transition(same, &second),
        ("True".to_owned(), "2026-01-01T00:00:00Z".to_owned())
    );
    // The status flips: the transition is now.
    let flipped = condition_request(Some(("True", &since)), false);
    assert_eq!(
        transition(flipped, &second),
        ("False".to_owned(), "2026-01-01T00:05:00Z".to_owned())
    );
}

#[test]
fn check_warns_about_a_status_that_writes_now_on_every_call() {
    let rule = Rule::compile(
        "r.yaml",
        "sync:\n  status:\n    observedAt: \"{{ now }}\"\n    items:\n      - $includeWhen: \"{{ parent.spec.x }}\"\n        at: \"{{ now }}\"\n  children:\n    - apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: c}\n      data: {at: \"{{ now }}\"}\n",
    )
    .unwrap();
    let warnings: Vec<String> = rule.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("r.yaml:3:17: `now` is written into the status on every call: each new time changes the status and makes Metacontroller sync again"),
        "{warnings:?}"
    );
}
