//! The template forms beyond one item per element: names bound per item (`$let`), items
//! spliced into a list (`$items`), and conditional entries of an object. The rules here are
//! the examples of docs/rules.md, rendered.

use serde_json::{json, Value};

use super::*;

/// The language reference, whose examples of these forms are the rules tested here.
const DOCS: &str = include_str!("../../../../docs/rules.md");

#[test]
fn the_documented_examples_are_the_ones_tested() {
    for example in [LET, ITEMS, CONDITIONAL, SPLICED_ENV] {
        assert!(DOCS.contains(example), "not in docs/rules.md:\n{example}");
    }
}

/// What the rule answers for a parent named `web` with this spec: the field `field` of its
/// sync response, or the error.
fn answer(rule: &str, spec: Value, field: &str) -> Result<Value, String> {
    let rule = Rule::compile("r.yaml", rule).unwrap_or_else(|e| panic!("{e:?}"));
    sync(
        &rule,
        json!({"parent": {"metadata": {"name": "web"}, "spec": spec}}),
    )
    .map(|r| r[field].clone())
    .map_err(|e| e.to_string())
}

fn status(rule: &str, spec: Value) -> Result<Value, String> {
    answer(rule, spec, "status")
}

fn children(rule: &str, spec: Value) -> Result<Value, String> {
    answer(rule, spec, "children")
}

/// The load errors of a rule whose `status` is `status`, with the values `v` and `host`:
/// what `status` holds starts at line 6.
fn status_errors(status: &str) -> Vec<String> {
    compile_errors(&format!(
        "values:\n  v: $.parent.spec.v\n  host: $.parent.spec.host\nsync:\n  status:\n{status}"
    ))
}

/// Whether the rule's children are known at load to pass the identity check.
fn children_identified(rule: &str) -> bool {
    let rule = Rule::compile("r.yaml", rule).unwrap_or_else(|e| panic!("{e:?}"));
    rule.sync.as_ref().is_some_and(|s| s.children_identified)
}

const LET: &str = r#"values:
  servers: {path: $.parent.spec.servers, default: []}
sync:
  status:
    endpoints:
      - $forEach: "{{ servers }}"
        $as: server
        $let:
          port: "{{ default server.port 80 }}"
          address: "{{ concat server.host ':' port }}"
        $includeWhen: "{{ ne port 0 }}"
        name: "{{ server.host }}"
        address: "{{ address }}"
"#;

#[test]
fn let_binds_names_per_item_in_written_order_before_the_condition() {
    let spec =
        json!({"servers": [{"host": "a", "port": 8080}, {"host": "b"}, {"host": "c", "port": 0}]});
    assert_eq!(
        status(LET, spec),
        Ok(json!({"endpoints": [
            {"name": "a", "address": "a:8080"},
            {"name": "b", "address": "b:80"},
        ]}))
    );
}

#[test]
fn a_missing_let_binds_missing_and_a_null_one_null() {
    let rule = r#"values:
  spec: $.parent.spec
sync:
  status:
    l:
      - $let: {x: "{{ spec.x }}"}
        $template:
          exists: "{{ exists x }}"
          x: "{{ x }}"
"#;
    assert_eq!(
        status(rule, json!({})),
        Ok(json!({"l": [{"exists": false}]}))
    );
    assert_eq!(
        status(rule, json!({"x": null})),
        Ok(json!({"l": [{"exists": false}]}))
    );
    assert_eq!(
        status(rule, json!({"x": 0})),
        Ok(json!({"l": [{"exists": true, "x": 0}]}))
    );
}

#[test]
fn let_names_are_visible_in_nested_loops_and_gone_after_the_item() {
    let rule = r#"values:
  n: {path: $.parent.spec.n, default: 0}
sync:
  status:
    l:
      - $forEach: "{{ n }}"
        $as: i
        $let: {row: "{{ concat 'r' i }}"}
        $template:
          - $forEach: "{{ n }}"
            $as: j
            # An inner name may take the place of an outer one, and its value sees the outer.
            $let: {row: "{{ concat row 'c' j }}"}
            $template: "{{ row }}"
"#;
    assert_eq!(
        status(rule, json!({"n": 2})),
        Ok(json!({"l": [["r0c0", "r0c1"], ["r1c0", "r1c1"]]}))
    );
    // After its item, a name is unknown.
    assert_eq!(
        status_errors(
            "    l:\n      - $let: {a: \"{{ 1 }}\"}\n        $template: 1\n      - \"{{ a }}\"\n"
        ),
        ["r.yaml:9:9: unknown value `a`; did you mean `v`?"]
    );
}

#[test]
fn let_refuses_a_later_name_a_shadowing_name_and_text_that_is_no_expression() {
    let errors = status_errors(
        r#"    l:
      - $forEach: "{{ v }}"
        $let:
          x: "{{ concat ordinal 1 }}"
          ordinal: "{{ index }}"
          v: "{{ 1 }}"
          item: "{{ 2 }}"
          length: "{{ 3 }}"
          plain: index
          "a-b": "{{ 4 }}"
        $template: "{{ x }}"
"#,
    );
    assert_eq!(
        errors,
        [
            "r.yaml:9:14: `ordinal` is defined later in this `$let`; move it above `x`",
            "r.yaml:11:11: `$let` name `v` would hide the value or built-in name `v`; pick another",
            "r.yaml:12:11: `$let` name `item` is already this item's loop name; pick another, or rename the loop's with `$as`, `$index` or `$key`",
            "r.yaml:13:11: `$let` name `length` is a helper's name; pick another",
            "r.yaml:14:18: `$let` value `plain` needs one whole expression: write \"{{ index }}\"",
            "r.yaml:15:11: `$let` name `a-b` must be letters, digits and `_`",
        ]
    );
}

#[test]
fn each_let_is_a_step_of_the_render() {
    let steps_needed = |lets: &str| {
        let text = format!(
            "sync:\n  status:\n    l:\n      - $forEach: \"{{{{ range 10 }}}}\"\n{lets}        $template: 1\n"
        );
        let rule = Rule::compile("r.yaml", &text).unwrap();
        (1..1000)
            .find(|&max_steps| {
                let limits = Limits {
                    max_steps,
                    ..Limits::default()
                };
                rule.render(Hook::Sync, json!({"parent": {}}), &limits)
                    .is_ok()
            })
            .unwrap()
    };
    let with_lets = steps_needed("        $let: {a: \"{{ item }}\", b: \"{{ a }}\"}\n");
    assert_eq!(with_lets - steps_needed(""), 20);
}

const ITEMS: &str = r#"values:
  name: $.parent.metadata.name
  claimTemplates: {path: $.parent.spec.claimTemplates, default: []}
  replicas: {path: $.parent.spec.replicas, default: 1}
sync:
  children:
    - $forEach: "{{ claimTemplates }}"
      $as: claim
      $items:
        - $forEach: "{{ replicas }}"
          $as: ordinal
          apiVersion: v1
          kind: PersistentVolumeClaim
          metadata: {name: "{{ claim.metadata.name }}-{{ name }}-{{ ordinal }}"}
"#;

#[test]
fn items_splice_a_list_template_once_per_element() {
    let spec = json!({"replicas": 2, "claimTemplates": [
        {"metadata": {"name": "data"}}, {"metadata": {"name": "logs"}}
    ]});
    let pvc = |name: &str| json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}});
    assert_eq!(
        children(ITEMS, spec),
        Ok(json!([
            pvc("data-web-0"),
            pvc("data-web-1"),
            pvc("logs-web-0"),
            pvc("logs-web-1"),
        ]))
    );
    assert!(children_identified(ITEMS));
    // The controller manifest learns the spliced children's type too.
    let rule = Rule::compile("r.yaml", ITEMS).unwrap();
    assert_eq!(
        rule.child_types,
        [("v1".to_owned(), "PersistentVolumeClaim".to_owned())]
    );
}

#[test]
fn items_from_an_expression_splice_its_list_and_are_checked_as_children() {
    let rule = r#"values:
  extra: $.parent.spec.extra
  groups: {path: $.parent.spec.groups, default: []}
sync:
  status:
    l:
      - first
      - $items: "{{ extra }}"
      - $forEach: "{{ groups }}"
        $includeWhen: "{{ item.on }}"
        $items: "{{ item.names }}"
      - last
  children:
    - $items: "{{ extra }}"
"#;
    assert_eq!(
        status(
            rule,
            json!({"groups": [{"on": true, "names": ["a", null, "b"]}, {"on": false, "names": ["c"]}]})
        ),
        Ok(json!({"l": ["first", "a", "b", "last"]}))
    );
    assert!(!children_identified(rule));
    let err = status(rule, json!({"extra": {"a": 1}})).unwrap_err();
    assert_eq!(
        err,
        "rule `r` failed at r.yaml:14:15: `$items` needs a list to splice, not a map; wrap one item in `list`, or use `$template` for a single item"
    );
    let err = children(rule, json!({"extra": ["x"]})).unwrap_err();
    assert!(err.contains("children[0]"), "{err}");
}

const SPLICED_ENV: &str = r#"env:
  - {name: MODE, value: fast}
  - $items: "{{ parent.spec.extraEnv }}"        # every item of the parent's list
"#;

#[test]
fn items_from_an_expression_splice_nothing_for_missing_or_null() {
    let rule = format!(
        "sync:\n  status:\n    {}",
        SPLICED_ENV.replace('\n', "\n    ")
    );
    let mode = json!({"name": "MODE", "value": "fast"});
    let extra = json!({"name": "EXTRA", "value": "1"});
    assert_eq!(
        status(&rule, json!({"extraEnv": [extra]})),
        Ok(json!({"env": [mode, extra]}))
    );
    assert_eq!(status(&rule, json!({})), Ok(json!({"env": [mode]})));
    assert_eq!(
        status(&rule, json!({"extraEnv": null})),
        Ok(json!({"env": [mode]}))
    );
}

#[test]
fn items_refuse_a_template_or_keys_beside_them() {
    let errors = status_errors(
        r#"    l:
      - $items: [1]
        $template: 2
      - $items: [1]
        name: x
      - $items: {a: 1}
      - $items: extra
"#,
    );
    assert_eq!(
        errors,
        [
            "r.yaml:7:9: `$items` cannot stand beside `$template`; keep `$items` to splice a list of items, or `$template` for one item",
            "r.yaml:10:9: `name` cannot stand beside `$items`; move it into the items, or drop `$items` to write one item",
            "r.yaml:11:18: `$items` needs a list of item templates, or one whole expression such as \"{{ items }}\" that gives a list",
            "r.yaml:12:17: `$items` needs one whole expression: write \"{{ extra }}\"",
        ]
    );
}

const CONDITIONAL: &str = r#"values:
  spec: $.parent.spec
sync:
  children:
    - apiVersion: v1
      kind: Pod
      metadata:
        name: "{{ parent.metadata.name }}"
        labels:
          $includeWhen: "{{ spec.team }}"
          team: "{{ spec.team }}"
      spec:
        containers: [{name: app, image: busybox}]
        volumes:
          $includeWhen: "{{ spec.cache }}"
          $let: {size: "{{ default spec.cache.size '1Gi' }}"}
          $template:
            - name: cache
              emptyDir: {sizeLimit: "{{ size }}"}
"#;

#[test]
fn a_conditional_entry_is_left_out_when_its_condition_is_falsy() {
    let pod = |metadata: Value, spec: Value| json!([{"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}]);
    let containers = json!([{"name": "app", "image": "busybox"}]);
    assert_eq!(
        children(CONDITIONAL, json!({})),
        Ok(pod(
            json!({"name": "web"}),
            json!({"containers": containers})
        ))
    );
    assert_eq!(
        children(CONDITIONAL, json!({"team": "db", "cache": {}})),
        Ok(pod(
            json!({"name": "web", "labels": {"team": "db"}}),
            json!({"containers": containers, "volumes": [{"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}}]})
        ))
    );
    // The same through the value-building path: a template value.
    let rule = r#"values:
  spec: $.parent.spec
  built:
    template:
      a: {$includeWhen: "{{ spec.on }}", $template: "{{ spec.on }}"}
      b: {$includeWhen: "{{ not spec.on }}", $merge: "{{ spec }}", extra: 1}
      c:
        $merge: "{{ spec }}"
        on: {$includeWhen: "{{ false }}", $template: 5}
sync:
  status: "{{ built }}"
"#;
    assert_eq!(
        status(rule, json!({"on": 2})),
        Ok(json!({"a": 2, "c": {"on": 2}}))
    );
    assert_eq!(
        status(rule, json!({"on": 0})),
        Ok(json!({"b": {"on": 0, "extra": 1}, "c": {"on": 0}}))
    );
    // And in a decorator's labels, which keep their nulls.
    let labels = "kind: decorator\nvalues:\n  team: $.object.spec.team\nsync:\n  labels:\n    old: null\n    team: {$includeWhen: \"{{ team }}\", $template: \"{{ team }}\"}\n";
    let answer = |spec: Value| {
        render_with(
            labels,
            Hook::Sync,
            json!({"object": {"metadata": {"name": "p"}, "spec": spec}}),
        )
        .map(|r| r["labels"].clone())
        .map_err(|e| e.to_string())
    };
    assert_eq!(answer(json!({})), Ok(json!({"old": null})));
    assert_eq!(
        answer(json!({"team": "db"})),
        Ok(json!({"old": null, "team": "db"}))
    );
}

#[test]
fn a_conditional_entry_refuses_list_directives_and_a_condition_that_is_no_expression() {
    let errors = status_errors(
        r#"    a: {$includeWhen: host, $template: 1}
    b: {$includeWhen: "{{ host }}", $forEach: "{{ host }}", $template: 1}
    c: {$let: {x: "{{ host }}"}, y: 1}
    d: {$forEach: "{{ host }}", y: 1}
    e: {$includWhen: "{{ host }}", y: 1}
    f:
      $includeWhen: "{{ host }}"
      $items: [1]
"#,
    );
    assert_eq!(
        errors,
        [
            "r.yaml:6:23: `$includeWhen` needs one whole expression: write \"{{ host }}\"",
            "r.yaml:7:37: `$forEach` belongs to list items: an object's entry stands at most once; make the value a list whose item has `$forEach`",
            "r.yaml:8:9: `$let` in an object needs `$includeWhen` beside it, which makes the entry conditional; add it, or put the entry in a list item",
            "r.yaml:9:9: `$forEach` belongs to list items: an object's entry stands at most once; make the value a list whose item has `$forEach`",
            "r.yaml:10:9: unknown directive `$includWhen`; did you mean `$includeWhen`?",
            "r.yaml:13:7: `$items` belongs to list items: an object's entry stands at most once; make the value a list whose item has `$items`",
        ]
    );
}

#[test]
fn directives_name_their_key_and_the_fix() {
    let errors = status_errors(
        r#"    l:
      - $forEach: items
        $template: 1
      - $includeWhen: "x-{{ host }}"
        $template: 1
      - $forEach: 3
        $template: 1
    m: {$merge: parent.spec, a: 1}
"#,
    );
    assert_eq!(
        errors,
        [
            "r.yaml:7:19: `$forEach` needs one whole expression: write \"{{ items }}\"",
            "r.yaml:9:23: `$includeWhen` needs one whole expression, such as \"{{ items }}\" or \"{{ eq a b }}\"",
            "r.yaml:11:19: `$forEach` needs one whole expression: write \"{{ 3 }}\"",
            "r.yaml:13:17: `$merge` needs one whole expression: write \"{{ parent.spec }}\"",
        ]
    );
}

#[test]
fn check_reports_unknown_names_and_wrong_arities_in_lets_and_items() {
    let errors = status_errors(
        r#"    l:
      - $let: {a: "{{ nope }}", b: "{{ concat }}"}
        $items: "{{ lenght a }}"
"#,
    );
    assert_eq!(
        errors,
        [
            "r.yaml:7:19: unknown value `nope`; define it under `values:` (known: parent, children, related, controller, finalizing, now, host, v)",
            "r.yaml:7:36: helper `concat` takes at least 1 arguments, not 0",
            "r.yaml:8:17: unknown helper `lenght`; did you mean `length`?",
        ]
    );
}

#[test]
fn a_dollar_key_that_is_no_directive_nor_close_to_one_is_an_ordinary_key() {
    // A CRD's schema, for one, has `$ref` and `$schema`.
    let rule =
        "sync:\n  status:\n    schema: {$ref: '#/a', $schema: x, $merge: \"{{ parent.spec }}\"}\n";
    assert_eq!(
        status(rule, json!({"a": 1})),
        Ok(json!({"schema": {"$ref": "#/a", "$schema": "x", "a": 1}}))
    );
}
