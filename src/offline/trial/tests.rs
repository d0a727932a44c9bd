use super::*;

const HELLO: &str = "name: hello
values:
  name: $.parent.metadata.name
  who:
    path: $.parent.spec.who
    default: World
sync:
  status:
    pods: \"{{ length children.[Pod.v1] }}\"
    greeting: \"Hello, {{ who }}!\"
  children:
    - apiVersion: v1
      kind: Pod
      metadata: {name: \"{{ name }}\"}
controller:
  spec:
    parentResource: {apiVersion: example.com/v1, resource: helloworlds}
";

fn try_it(rule: &str, request: &str, saved: Option<&Rule>) -> Outcome {
    let limits = Limits::default();
    let lookup = |_: &str| saved;
    let input = Input {
        rule,
        request,
        hook: Hook::Sync,
        now: None,
        limits: &limits,
        max_rule_bytes: 128 * 1024,
        saved: &lookup,
    };
    run(&input).unwrap()
}

fn places(outcome: &Outcome) -> Vec<(Source, usize, usize)> {
    outcome
        .diagnostics
        .iter()
        .map(|d| (d.source, d.line, d.column))
        .collect()
}

#[test]
fn a_json_hook_request_is_answered_with_the_values() {
    let outcome = try_it(
        HELLO,
        r#"{"parent": {"metadata": {"name": "a"}, "spec": {"who": "You"}}, "children": {}}"#,
        None,
    );
    let answer = outcome.answer.unwrap();
    assert_eq!(answer["status"]["greeting"], "Hello, You!");
    assert_eq!(outcome.values["who"], "You");
    assert!(outcome.diff.is_none() && outcome.diagnostics.is_empty());
}

#[test]
fn kubectl_objects_are_the_parent_then_its_children() {
    let objects = "apiVersion: example.com/v1
kind: HelloWorld
metadata: {name: a, namespace: n}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: n}
";
    let outcome = try_it(HELLO, objects, None);
    let answer = outcome.answer.as_ref();
    assert!(answer.is_some(), "{:?}", outcome.diagnostics);
    assert_eq!(answer.unwrap()["status"]["pods"], 1);
    assert_eq!(outcome.values["who"], "World");
}

#[test]
fn a_rule_that_does_not_compile_gives_its_places_and_no_answer() {
    let outcome = try_it("sync:\n  statuz: {}\n", "{}", None);
    assert!(outcome.answer.is_none());
    assert_eq!(places(&outcome), [(Source::Rule, 2, 3)]);
}

#[test]
fn malformed_json_is_placed_in_the_request() {
    let outcome = try_it(HELLO, "{\"parent\":\n  {,}}", None);
    assert_eq!(places(&outcome), [(Source::Request, 2, 4)]);
}

#[test]
fn an_edit_is_compared_with_the_saved_rule_of_its_name() {
    let saved = Rule::compile("hello.yaml", HELLO).unwrap();
    let edited = HELLO.replace("Hello,", "Hi,");
    let request = r#"{"parent": {"metadata": {"name": "a"}, "spec": {}}, "children": {}}"#;
    let diff = try_it(&edited, request, Some(&saved)).diff.unwrap();
    assert_eq!(diff.keys[0].key, "status");
    assert_eq!(
        diff.keys[0].fields[0].to_string(),
        r#"  ~ status.greeting: "Hello, World!" → "Hi, World!""#
    );
}

#[test]
fn a_request_of_the_wrong_shape_is_a_request_problem() {
    let outcome = try_it(HELLO, r#"{"parent": 1}"#, None);
    assert_eq!(places(&outcome), [(Source::Request, 1, 1)]);
    assert!(outcome.diagnostics[0].message.starts_with("bad request"));
}

#[test]
fn a_saved_rule_that_fails_gives_no_diff_and_a_warning_at_the_name() {
    let failing = HELLO.replace(
        "greeting: \"Hello, {{ who }}!\"",
        "greeting: \"{{#if (eq who 'World')}}{{ fail 'saved fails' }}{{/if}}\"",
    );
    let saved = Rule::compile("hello.yaml", &failing).unwrap();
    let request = r#"{"parent": {"metadata": {"name": "a"}, "spec": {}}, "children": {}}"#;
    let outcome = try_it(HELLO, request, Some(&saved));
    assert!(outcome.answer.is_some() && outcome.diff.is_none());
    let warning = &outcome.diagnostics[0];
    assert_eq!(
        (warning.source, warning.line, warning.severity),
        (Source::Rule, 1, Severity::Warning)
    );
    assert!(
        warning.message.contains("saved fails"),
        "{}",
        warning.message
    );
}

#[test]
fn a_saved_rule_named_by_the_input_answers_without_a_diff() {
    let saved = Rule::compile("hello.yaml", HELLO).unwrap();
    let limits = Limits::default();
    let lookup = |name: &str| (name == "hello").then_some(&saved);
    let request =
        r#"{"parent": {"metadata": {"name": "a"}, "spec": {"who": "Ada"}}, "children": {}}"#;
    let input = |rule| Input {
        rule,
        request,
        hook: Hook::Sync,
        now: None,
        limits: &limits,
        max_rule_bytes: 0,
        saved: &lookup,
    };
    let outcome = run_saved(&input("hello")).unwrap();
    assert_eq!(outcome.answer.unwrap()["status"]["greeting"], "Hello, Ada!");
    assert!(outcome.diff.is_none() && outcome.diagnostics.is_empty());
    let missing = run_saved(&input("nope")).unwrap();
    assert!(missing.answer.is_none());
    assert!(missing.diagnostics[0]
        .message
        .contains("no rule named `nope`"));
}
