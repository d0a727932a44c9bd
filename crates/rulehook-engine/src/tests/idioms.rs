//! The idioms of `docs/rules.md`, "Coming from Python or jsonnet": each rule form gives what
//! the Python next to it gives, and `fail` stands only where it does not run on every call.

use serde_json::{json, Value};

use super::*;

fn pods() -> Value {
    let pod = |name: &str, phase: &str, index: u32| {
        json!({"metadata": {"name": name, "labels": {"job-index": index.to_string()}},
               "spec": {"replicas": index}, "status": {"phase": phase}})
    };
    json!({
        "parent": {"metadata": {"name": "p"}, "spec": {"n": 5, "k": 2, "d": {"a": 1}}},
        "children": {"Pod.v1": {
            "a": pod("a", "Running", 3), "b": pod("b", "Failed", 0), "c": pod("c", "Running", 1)
        }}
    })
}

/// Renders `expr` as the status field `x` of a rule that knows `pods`, `n`, `k` and `d`.
fn eval(expr: &str) -> Value {
    let rule = format!(
        "values:\n  pods: {{ expr: \"{{{{ children.[Pod.v1] }}}}\" }}\n  n: $.parent.spec.n\n  k: $.parent.spec.k\n  d: $.parent.spec.d\nsync:\n  status:\n    x: \"{expr}\"\n"
    );
    render_with(&rule, Hook::Sync, pods()).unwrap()["status"]["x"].clone()
}

#[test]
fn each_python_idiom_has_its_rule_form() {
    // [p["metadata"]["name"] for p in pods]
    assert_eq!(
        eval("{{ pluck pods 'metadata.name' }}"),
        json!(["a", "b", "c"])
    );
    // [p for p in pods if p["status"]["phase"] == "Running"]
    assert_eq!(
        eval("{{ pluck (where pods 'status.phase' 'Running') 'metadata.name' }}"),
        json!(["a", "c"])
    );
    // Counter(p["status"]["phase"] for p in pods)
    assert_eq!(
        eval("{{ countBy pods 'status.phase' }}"),
        json!({"Running": 2, "Failed": 1})
    );
    // sum(p["spec"]["replicas"] for p in pods)
    assert_eq!(eval("{{ sum (pluck pods 'spec.replicas') }}"), json!(4));
    // xs[:k]
    assert_eq!(eval("{{ slice (range n) 0 k }}"), json!([0, 1]));
    // sorted(set(range(n)) - set(seen))
    assert_eq!(eval("{{ without (range n) (list 1 3) }}"), json!([0, 2, 4]));
    // xs.index(x) if x in xs else -1
    assert_eq!(eval("{{ indexOf (range n) 3 }}"), json!(3));
    assert_eq!(eval("{{ indexOf (range n) 9 }}"), json!(-1));
    // d.get(k, "none")
    assert_eq!(eval("{{ default (lookup d 'a') 'none' }}"), json!(1));
    assert_eq!(eval("{{ default (lookup d 'zz') 'none' }}"), json!("none"));
    // A map reads as the list of its values, in key order.
    assert_eq!(
        eval("{{ first (pluck pods 'status.phase') }}"),
        json!("Running")
    );
}

#[test]
fn each_python_idiom_of_order_and_nesting_has_its_rule_form() {
    // xs[::-1]
    assert_eq!(eval("{{ reverse (range n) }}"), json!([4, 3, 2, 1, 0]));
    // sorted(pods, key=lambda p: p["spec"]["replicas"], reverse=True)
    assert_eq!(
        eval("{{ pluck (sortDesc pods 'spec.replicas') 'metadata.name' }}"),
        json!(["a", "c", "b"])
    );
    // [x for xs in xss for x in xs]
    assert_eq!(
        eval("{{ flatten (list (range k) (list 'x')) }}"),
        json!([0, 1, "x"])
    );
}

/// The flatMap example of docs/rules.md, "Coming from Python or jsonnet".
const FLAT_MAP: &str = r#"values:
  # [{"pod": p.metadata.name, "container": c.name, **({"debug": True} if debug else {})}
  #  for p in pods if p.status.phase == "Running"
  #  for c in p.spec.containers]
  containers:
    template:
      - $forEach: "{{ children.[Pod.v1] }}"
        $as: p
        $let: {running: "{{ eq p.status.phase 'Running' }}", debug: "{{ get p 'metadata.annotations.debug' }}"}
        $includeWhen: "{{ running }}"
        $items:
          - $forEach: "{{ p.spec.containers }}"
            $as: c
            pod: "{{ p.metadata.name }}"
            container: "{{ c.name }}"
            debug: {$includeWhen: "{{ eq debug 'true' }}", $template: true}
"#;

#[test]
fn flat_map_with_names_per_item_gives_what_the_python_comprehension_gives() {
    assert!(
        include_str!("../../../../docs/rules.md").contains(FLAT_MAP),
        "the example is not in docs/rules.md"
    );
    let rule = format!("{FLAT_MAP}sync:\n  status:\n    x: \"{{{{ containers }}}}\"\n");
    let pod = |name: &str, phase: &str, debug: Option<&str>, containers: &[&str]| {
        let mut pod = json!({
            "metadata": {"name": name},
            "status": {"phase": phase},
            "spec": {"containers": containers.iter().map(|c| json!({"name": c})).collect::<Vec<_>>()}
        });
        if let Some(debug) = debug {
            pod["metadata"]["annotations"] = json!({"debug": debug});
        }
        pod
    };
    let request = json!({"parent": {}, "children": {"Pod.v1": {
        "a": pod("a", "Running", Some("true"), &["app", "sidecar"]),
        "b": pod("b", "Pending", Some("true"), &["app"]),
        "c": pod("c", "Running", None, &["app"]),
    }}});
    let out = render_with(&rule, Hook::Sync, request).unwrap();
    assert_eq!(
        out["status"]["x"],
        json!([
            {"pod": "a", "container": "app", "debug": true},
            {"pod": "a", "container": "sidecar", "debug": true},
            {"pod": "c", "container": "app"},
        ])
    );
}

#[test]
fn fail_under_include_when_fails_only_when_the_condition_holds() {
    let rule = "values:\n  n: $.parent.spec.n\nsync:\n  children:\n    - $includeWhen: \"{{ gt n 3 }}\"\n      $template: \"{{ fail 'n is too big' }}\"\n";
    let ok = render_with(rule, Hook::Sync, json!({"parent": {"spec": {"n": 2}}})).unwrap();
    assert_eq!(ok["children"], json!([]));
    let error = render_with(rule, Hook::Sync, json!({"parent": {"spec": {"n": 5}}}))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("r.yaml:6:") && error.ends_with("fail: n is too big"),
        "{error}"
    );
}

#[test]
fn fail_inside_an_if_block_or_a_loop_is_allowed() {
    let in_block = "values:\n  n: $.parent.spec.n\nsync:\n  status:\n    s: \"{{#if n}}{{ fail 'set' }}{{/if}}ok\"\n";
    let out = render_with(in_block, Hook::Sync, json!({"parent": {"spec": {}}})).unwrap();
    assert_eq!(out["status"]["s"], "ok");
    let in_loop = "sync:\n  status:\n    l:\n      - $forEach: \"{{ list }}\"\n        $template: \"{{ fail 'never' }}\"\n";
    render_with(in_loop, Hook::Sync, json!({"parent": {}})).unwrap();
}

#[test]
fn fail_that_would_run_on_every_call_is_a_load_error() {
    let always = compile_errors("sync:\n  status:\n    s: \"{{ fail 'boom' }}\"\n");
    assert!(
        always
            .iter()
            .any(|e| e.contains("r.yaml:3:") && e.contains("runs on every call")),
        "{always:?}"
    );
    let in_value = compile_errors(
        "values:\n  v: { expr: \"{{ fail 'boom' }}\" }\nsync:\n  status: { v: \"{{ v }}\" }\n",
    );
    assert!(
        in_value.iter().any(|e| e.contains("runs on every call")),
        "{in_value:?}"
    );
}

#[test]
fn fail_as_another_helpers_argument_is_a_load_error() {
    let errors = compile_errors(
        "values:\n  n: $.parent.spec.n\nsync:\n  children:\n    - $includeWhen: \"{{ n }}\"\n      $template: \"{{ ternary n 1 (fail 'no n') }}\"\n",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("r.yaml:6:") && e.contains("another helper's argument")),
        "{errors:?}"
    );
}
