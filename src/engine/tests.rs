//! Engine behaviour, from rule text and request JSON to response JSON.

use serde_json::{json, Value};

use super::{Hook, HookError, Limits, Rule};

const HELLO: &str = include_str!("../../rules/hello.yaml");

fn hello() -> Rule {
    Rule::compile("rules/hello.yaml", HELLO).unwrap()
}

fn sync(rule: &Rule, request: Value) -> Result<Value, HookError> {
    rule.render(Hook::Sync, request, &Limits::default())
}

fn parent(who: Option<Value>) -> Value {
    let mut spec = json!({});
    if let Some(who) = who {
        spec["who"] = who;
    }
    json!({"apiVersion": "example.com/v1", "kind": "HelloWorld",
           "metadata": {"name": "your-name", "namespace": "hello"}, "spec": spec})
}

fn compile_errors(text: &str) -> Vec<String> {
    Rule::compile("r.yaml", text)
        .unwrap_err()
        .into_iter()
        .map(|d| d.to_string())
        .collect()
}

#[test]
fn hello_renders_one_pod_and_counts_observed_pods() {
    let request = json!({"parent": parent(Some(json!("Your Name"))),
                         "children": {"Pod.v1": {"your-name": {"metadata": {"name": "your-name"}}}}});
    let response = sync(&hello(), request).unwrap();
    assert_eq!(
        response,
        json!({
            "status": {"pods": 1},
            "children": [{
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "your-name"},
                "spec": {"restartPolicy": "OnFailure",
                         "containers": [{"name": "hello", "image": "busybox",
                                         "command": ["echo", "Hello, Your Name!"]}]}
            }]
        })
    );
}

#[test]
fn the_default_applies_only_when_the_value_is_missing_or_null() {
    let rule = hello();
    let echo = |who: Option<Value>| {
        let r = sync(&rule, json!({"parent": parent(who)})).unwrap();
        r["children"][0]["spec"]["containers"][0]["command"][1].clone()
    };
    assert_eq!(echo(None), json!("Hello, World!"));
    assert_eq!(echo(Some(Value::Null)), json!("Hello, World!"));
    assert_eq!(echo(Some(json!(""))), json!("Hello, !"));
    assert_eq!(echo(Some(json!(false))), json!("Hello, false!"));
    assert_eq!(echo(Some(json!(0))), json!("Hello, 0!"));
}

#[test]
fn an_absent_child_type_counts_as_zero() {
    let r = sync(&hello(), json!({"parent": parent(None)})).unwrap();
    assert_eq!(r["status"], json!({"pods": 0}));
}

#[test]
fn user_values_never_change_the_structure() {
    let rule = hello();
    for who in [
        "x\n  hostNetwork: true",
        "{{who}}",
        "<b>&amp;\"'",
        "}} {{",
        "ünïcødé ✓",
    ] {
        let r = sync(&rule, json!({"parent": parent(Some(json!(who)))})).unwrap();
        let pod = &r["children"][0];
        assert_eq!(
            pod["spec"]["containers"][0]["command"][1],
            json!(format!("Hello, {who}!"))
        );
        assert_eq!(pod["spec"].as_object().unwrap().len(), 2);
    }
}

#[test]
fn a_whole_expression_keeps_its_json_type() {
    let rule = Rule::compile(
        "r.yaml",
        "values:\n  spec: $.parent.spec\nsync:\n  status:\n    n: \"{{ spec.n }}\"\n    b: \"{{ spec.b }}\"\n    o: \"{{ spec.o }}\"\n    l: \"{{ spec.l }}\"\n    s: \"n={{ spec.n }}\"\n",
    )
    .unwrap();
    let r = sync(
        &rule,
        json!({"parent": {"spec": {"n": 3, "b": true, "o": {"k": [1]}, "l": [1, "a"]}}}),
    )
    .unwrap();
    assert_eq!(
        r["status"],
        json!({"n": 3, "b": true, "o": {"k": [1]}, "l": [1, "a"], "s": "n=3"})
    );
}

#[test]
fn a_missing_whole_expression_drops_its_key_and_never_emits_null() {
    let rule = Rule::compile(
        "r.yaml",
        "values:\n  replicas: $.parent.spec.replicas\nsync:\n  children:\n    - apiVersion: apps/v1\n      kind: Deployment\n      metadata: {name: x}\n      spec:\n        replicas: \"{{ replicas }}\"\n",
    )
    .unwrap();
    let r = sync(&rule, json!({"parent": {"spec": {"replicas": null}}})).unwrap();
    assert_eq!(r["children"][0]["spec"], json!({}));
}

#[test]
fn interpolating_a_missing_value_is_a_render_error_with_file_and_line() {
    let rule = Rule::compile(
        "r.yaml",
        "values:\n  who: $.parent.spec.who\nsync:\n  status:\n    greeting: \"Hello, {{ who }}\"\n",
    )
    .unwrap();
    let err = sync(&rule, json!({"parent": {}})).unwrap_err().to_string();
    assert_eq!(
        err,
        "rule `r` failed at r.yaml:5:15: `who` is missing: the request has no such value and it has no default"
    );
}

#[test]
fn unknown_values_and_helpers_are_load_errors() {
    let errors = compile_errors(
        "values:\n  who: $.parent.spec.who\nsync:\n  status:\n    a: \"{{ wh }}\"\n    b: \"{{ lenght children }}\"\n",
    );
    assert_eq!(
        errors,
        [
            "r.yaml:5:8: unknown value `wh`; did you mean `who`?",
            "r.yaml:6:8: unknown helper `lenght`; did you mean `length`?",
        ]
    );
}

#[test]
fn bad_json_path_and_template_syntax_are_reported_together() {
    let errors = compile_errors("values:\n  a: $.[\nsync:\n  status:\n    x: \"{{#if a}}\"\n");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("r.yaml:2:6: bad JSONPath `$.[`"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("r.yaml:5:8: template syntax error"),
        "{errors:?}"
    );
}

#[test]
fn partials_are_rejected_at_load() {
    let errors = compile_errors("sync:\n  status:\n    x: \"{{> other }}\"\n");
    assert_eq!(
        errors,
        ["r.yaml:3:8: partials are not supported; share structure with YAML anchors instead"]
    );
}

#[test]
fn literal_null_in_a_child_is_a_load_error() {
    let errors = compile_errors("sync:\n  children:\n    - apiVersion: v1\n      kind: Pod\n      metadata: {name: a, labels: ~}\n");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("r.yaml:5:"), "{errors:?}");
}

#[test]
fn a_request_without_parent_is_a_bad_request() {
    assert!(matches!(
        sync(&hello(), json!({"children": {}})),
        Err(HookError::BadRequest(_))
    ));
    assert!(matches!(
        sync(&hello(), json!([])),
        Err(HookError::BadRequest(_))
    ));
}

#[test]
fn a_missing_hook_is_named() {
    let err = hello()
        .render(Hook::Customize, json!({"parent": {}}), &Limits::default())
        .unwrap_err();
    assert_eq!(err.to_string(), "rule `hello` has no customize hook");
}

#[test]
fn for_each_over_a_list_a_map_and_a_count() {
    let rule = Rule::compile(
        "r.yaml",
        r#"values:
  names: {path: $.parent.spec.names, default: []}
  data: {path: $.parent.spec.data, default: {}}
  n: {path: $.parent.spec.n, default: 0}
sync:
  status:
    fromList:
      - $forEach: "{{ names }}"
        $template: "{{ index }}:{{ item }}"
    fromMap:
      - $forEach: "{{ data }}"
        $as: v
        $template: "{{ key }}={{ v }}"
    fromCount:
      - $forEach: "{{ n }}"
        $includeWhen: "{{ ne item 1 }}"
        $template: "{{ item }}"
"#,
    )
    .unwrap();
    let r = sync(
        &rule,
        json!({"parent": {"spec": {"names": ["a", "b"], "data": {"x": 1, "y": 2}, "n": 3}}}),
    )
    .unwrap();
    assert_eq!(
        r["status"],
        json!({"fromList": ["0:a", "1:b"], "fromMap": ["x=1", "y=2"], "fromCount": [0, 2]})
    );
}

#[test]
fn a_loop_over_the_item_limit_fails_and_names_the_limit() {
    let rule = Rule::compile(
        "r.yaml",
        "values:\n  n: $.parent.spec.n\nsync:\n  status:\n    l:\n      - $forEach: \"{{ n }}\"\n        $template: \"{{ item }}\"\n",
    )
    .unwrap();
    let limits = Limits {
        max_loop_items: 5,
        ..Limits::default()
    };
    let err = rule
        .render(Hook::Sync, json!({"parent": {"spec": {"n": 6}}}), &limits)
        .unwrap_err();
    assert!(err.to_string().contains("limit max-loop-items"), "{err}");
    assert!(rule
        .render(Hook::Sync, json!({"parent": {"spec": {"n": 5}}}), &limits)
        .is_ok());
}

#[test]
fn the_output_size_limit_is_enforced() {
    let limits = Limits {
        max_output_bytes: 100,
        ..Limits::default()
    };
    let big = "x".repeat(200);
    let err = hello()
        .render_body(
            Hook::Sync,
            json!({"parent": parent(Some(json!(big)))}),
            &limits,
        )
        .unwrap_err();
    assert!(err.to_string().contains("limit max-output-bytes"), "{err}");
}
