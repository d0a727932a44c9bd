//! The template language: values, typed expressions, loops, filters, computed keys.

use serde_json::{json, Value};

use super::*;

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
fn interpolating_null_is_a_render_error_as_concat_of_null_is() {
    let rule = "sync:\n  status:\n    a: \"v={{ parent.spec.x }}\"\n    b: \"{{ concat 'v=' parent.spec.x }}\"\n";
    let request = json!({"parent": {"spec": {"x": null}}});
    let err = render_with(rule, Hook::Sync, request)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "rule `r` failed at r.yaml:3:8: `parent.spec.x` is null and cannot be placed inside a string; `default` can give it a value"
    );
    let with_default = "sync:\n  status:\n    a: \"v={{ default parent.spec.x '' }}\"\n";
    let out = render_with(
        with_default,
        Hook::Sync,
        json!({"parent": {"spec": {"x": null}}}),
    );
    assert_eq!(out.unwrap()["status"]["a"], "v=");
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
fn conditional_values_and_single_quoted_literals() {
    let rule = r#"
values:
  once: {path: $.parent.spec.once, default: false}
  critical: {path: $.parent.spec.critical, default: false}
  ready: {path: $.parent.status.ready, default: false}
sync:
  status:
    restartPolicy: "{{ ternary once 'Never' 'Always' }}"
    priority: "{{ when critical 'system-cluster-critical' }}"
    message: "{{#if ready}}up{{else}}starting{{/if}}"
"#;
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"parent": {"spec": {"once": true}}}),
    )
    .unwrap();
    assert_eq!(
        r["status"],
        json!({"restartPolicy": "Never", "message": "starting"})
    );
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"parent": {"spec": {"critical": true}, "status": {"ready": true}}}),
    )
    .unwrap();
    assert_eq!(
        r["status"],
        json!({"restartPolicy": "Always", "priority": "system-cluster-critical", "message": "up"})
    );
}

#[test]
fn computed_keys_merges_and_subtree_copies() {
    let rule = r#"
values:
  labelKey: $.parent.spec.labelKey
  name: $.parent.metadata.name
  data: $.parent.spec.data
  extra: {path: $.parent.spec.extra, default: {}}
sync:
  children:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        name: "{{ name }}"
        labels:
          "{{ labelKey }}": "{{ name }}"
      data: "{{ merge data extra }}"
"#;
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"parent": {"metadata": {"name": "cm"}, "spec": {"labelKey": "example.com/owner", "data": {"a": "1", "b": "2"}, "extra": {"b": "3"}}}}),
    )
    .unwrap();
    let child = &r["children"][0];
    assert_eq!(
        child["metadata"]["labels"],
        json!({"example.com/owner": "cm"})
    );
    assert_eq!(child["data"], json!({"a": "1", "b": "3"}));
}

#[test]
fn yaml_anchors_and_merge_keys_share_structure() {
    let rule = r#"
values:
  name: $.parent.metadata.name
sync:
  children:
    - &base
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "{{ name }}-a"}
    - <<: *base
      metadata: {name: "{{ name }}-b"}
"#;
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"parent": {"metadata": {"name": "x"}}}),
    )
    .unwrap();
    let names: Vec<&str> = r["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["x-a", "x-b"]);
    assert_eq!(r["children"][1]["kind"], "ConfigMap");
}

#[test]
fn filtering_lookups_and_status_from_children() {
    let rule = r#"
values:
  sourceName: $.parent.spec.source
sync:
  status:
    phases: "{{ countBy children.[Pod.v1] 'status.phase' }}"
    running: "{{ count children.[Pod.v1] 'status.phase' 'Running' }}"
    ready: "{{ length (whereCondition children.[Pod.v1] 'Ready' 'True') }}"
    labelled: "{{ pluck (whereLabel children.[Pod.v1] 'app.kubernetes.io/name' 'web') 'metadata.name' }}"
    firstIP: "{{ get (first (sort children.[Pod.v1] 'metadata.name')) 'status.podIP' }}"
    sourceExists: "{{ exists (find related.[ConfigMap.v1] sourceName) }}"
    sourceData: "{{ get (find related.[ConfigMap.v1] sourceName) 'data' }}"
"#;
    let pod = |name: &str, phase: &str, ready: &str, app: &str| {
        json!({"metadata": {"name": name, "labels": {"app.kubernetes.io/name": app}},
               "status": {"phase": phase, "podIP": format!("10.0.0.{}", name.len()), "conditions": [{"type": "Ready", "status": ready}]}})
    };
    let request = json!({
        "parent": {"spec": {"source": "settings"}},
        "children": {"Pod.v1": {"b": pod("b", "Running", "True", "web"), "a": pod("aa", "Pending", "False", "db"), "c": pod("ccc", "Running", "True", "web")}},
        "related": {"ConfigMap.v1": {"default/settings": {"metadata": {"name": "settings", "namespace": "default"}, "data": {"k": "v"}}}}
    });
    let r = render_with(rule, Hook::Sync, request).unwrap();
    assert_eq!(
        r["status"],
        json!({"phases": {"Running": 2, "Pending": 1}, "running": 2, "ready": 2, "labelled": ["b", "ccc"],
               "firstIP": "10.0.0.2", "sourceExists": true, "sourceData": {"k": "v"}})
    );
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"parent": {"spec": {"source": "nope"}}}),
    )
    .unwrap();
    assert_eq!(r["status"]["sourceExists"], json!(false));
    assert!(r["status"].get("sourceData").is_none());
}

#[test]
fn strings_and_integers_in_templates() {
    let rule = r#"
values:
  ports: $.object.metadata.annotations.ports
  name: $.object.metadata.name
sync:
  labels:
    port: "{{ toInt (first (split ports ':')) }}"
    next: "{{ add (toInt (last (split ports ':'))) 1 }}"
    upper: "{{ upper (trimPrefix name 'web-') }}"
    formatted: "{{ printf '%s-%03d' name 7 }}"
    ordinal: "{{ regexCapture name '-([0-9]+)$' }}"
kind: decorator
"#;
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"object": {"metadata": {"name": "web-12", "annotations": {"ports": "80:8080"}}}}),
    )
    .unwrap();
    assert_eq!(
        r["labels"],
        json!({"port": "80", "next": "8081", "upper": "12", "formatted": "web-12-007", "ordinal": "12"})
    );
}

#[test]
fn computed_values_build_on_path_values_in_file_order() {
    let rule = r#"
values:
  name: $.parent.metadata.name
  dsName:
    expr: "{{ concat name '-dj' }}"
  ds:
    expr: "{{ find children.[DaemonSet.apps/v1] dsName }}"
  phase:
    expr: "{{ get ds 'status.phase' }}"
    default: Pending
sync:
  status:
    name: "{{ dsName }}"
    phase: "{{ phase }}"
"#;
    let request = json!({"parent": {"metadata": {"name": "job"}},
        "children": {"DaemonSet.apps/v1": {"job-dj": {"metadata": {"name": "job-dj"}, "status": {"phase": "Done"}}}}});
    let r = render_with(rule, Hook::Sync, request).unwrap();
    assert_eq!(r["status"], json!({"name": "job-dj", "phase": "Done"}));
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"parent": {"metadata": {"name": "job"}}}),
    )
    .unwrap();
    assert_eq!(r["status"], json!({"name": "job-dj", "phase": "Pending"}));
}

#[test]
fn a_required_value_that_is_missing_fails_the_call() {
    let rule = "values:\n  source:\n    path: $.parent.spec.sourceName\n    required: true\ncustomize:\n  relatedResources:\n    - {apiVersion: v1, resource: secrets, names: [\"{{ source }}\"]}\n";
    let err = render_with(rule, Hook::Customize, json!({"parent": {"spec": {}}}))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "rule `r` failed at r.yaml:3:11: value `source` is required, but `$.parent.spec.sourceName` matched nothing");
    let ok = render_with(
        rule,
        Hook::Customize,
        json!({"parent": {"spec": {"sourceName": "s"}}}),
    )
    .unwrap();
    assert_eq!(ok["relatedResources"][0]["names"], json!(["s"]));
}

#[test]
fn paths_index_lists_and_name_keys_as_handlebars_does() {
    let rule = Rule::compile(
        "paths.yaml",
        r#"
values:
  spec: $.parent.spec
sync:
  status:
    first: "{{ spec.items.[0] }}"
    second: "{{ spec.items.1.name }}"
    beyond: "{{ spec.items.9 }}"
    byNumber: "{{ spec.byNumber.[0] }}"
    dotted: "{{ spec.[a.b] }}"
    text: "{{ spec.items.1.name }}/{{ spec.byNumber.0 }}"
"#,
    )
    .unwrap();
    let spec = json!({"items": ["x", {"name": "y"}], "byNumber": {"0": "zero"}, "a.b": 3});
    let r = sync(
        &rule,
        json!({"parent": {"metadata": {"name": "p"}, "spec": spec}}),
    )
    .unwrap();
    assert_eq!(
        r["status"],
        json!({"first": "x", "second": "y", "byNumber": "zero", "dotted": 3, "text": "y/zero"})
    );
}

#[test]
fn fail_inside_a_string_points_at_its_call_where_the_text_allows() {
    // The leaf `v`, written from column 8 of line 5.
    let failed_at = |leaf: &str| {
        let rule = format!("values:\n  ok: $.parent.spec.ok\nsync:\n  status:\n    v: {leaf}\n");
        let rule = Rule::compile("r.yaml", &rule).unwrap_or_else(|e| panic!("{e:?}"));
        sync(&rule, json!({"parent": {"spec": {"ok": false}}}))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        failed_at(r#""{{#if ok}}fine{{else}}{{ fail 'no' }}{{/if}}""#),
        "rule `r` failed at r.yaml:5:31: fail: no"
    );
    // Of two, the one whose message it is.
    assert_eq!(
        failed_at(
            r#"'é{{#if ok}}{{else}}{{ fail "two" }}{{/if}}{{#if ok}}{{else}}{{ fail "one" }}{{/if}}'"#
        ),
        "rule `r` failed at r.yaml:5:28: fail: two"
    );
    // Not where the text before the call is not the value's own: an escape, a line break.
    assert_eq!(
        failed_at(r#""\t{{#if ok}}{{else}}{{ fail 'no' }}{{/if}}""#),
        "rule `r` failed at r.yaml:5:8: fail: no"
    );
    assert_eq!(
        failed_at("|\n      {{#if ok}}{{else}}{{ fail 'no' }}{{/if}}"),
        "rule `r` failed at r.yaml:6:25: fail: no"
    );
    assert_eq!(
        failed_at("|\n      x\n      {{#if ok}}{{else}}{{ fail 'no' }}{{/if}}"),
        "rule `r` failed at r.yaml:6:7: fail: no"
    );
    // A whole-expression leaf fails where it stands.
    assert_eq!(
        failed_at("[{$includeWhen: \"{{ not ok }}\", $template: \"{{ fail 'no' }}\"}]"),
        "rule `r` failed at r.yaml:5:51: fail: no"
    );
}
