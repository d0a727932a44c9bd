//! Reshaping data without string tricks: values built by templates, and `$merge` (object
//! spread) at any depth.

use serde_json::json;

use super::*;

fn pods_parent() -> serde_json::Value {
    json!({
        "metadata": {"name": "job", "namespace": "ns"},
        "spec": {
            "parallelism": 2,
            "template": {
                "metadata": {"labels": {"app": "work"}, "annotations": {"a": "b"}},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {"disk": "ssd"},
                    "containers": [
                        {"name": "main", "image": "busybox", "env": [{"name": "X", "value": "1"}]},
                        {"name": "side", "image": "envoy"}
                    ]
                }
            }
        }
    })
}

#[test]
fn a_template_value_maps_and_filters_a_list_for_later_values_and_templates() {
    let rule = "
values:
  pods: { path: '$.children[\"Pod.v1\"]', default: {} }
  phases:
    template:
      - $forEach: '{{ pods }}'
        $includeWhen: '{{ ne item.status.phase \"Succeeded\" }}'
        $template: { name: '{{ item.metadata.name }}', phase: '{{ item.status.phase }}' }
  active: { expr: '{{ length phases }}' }
sync:
  status:
    active: '{{ active }}'
    names:
      - $forEach: '{{ phases }}'
        $template: '{{ item.name }}'
";
    let request = json!({
        "parent": {"metadata": {"name": "p"}},
        "children": {"Pod.v1": {
            "a": {"metadata": {"name": "a"}, "status": {"phase": "Running"}},
            "b": {"metadata": {"name": "b"}, "status": {"phase": "Succeeded"}},
            "c": {"metadata": {"name": "c"}, "status": {"phase": "Pending"}}
        }}
    });
    let out = render_with(rule, Hook::Sync, request).unwrap();
    assert_eq!(out["status"], json!({"active": 2, "names": ["a", "c"]}));
}

#[test]
fn a_template_value_sees_only_the_values_above_it() {
    let errors = compile_errors(
        "values:\n  early:\n    template: { n: '{{ late }}' }\n  late: { expr: '{{ 1 }}' }\nsync:\n  status: { n: '{{ early.n }}' }\n",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("r.yaml:3:") && e.contains("`late`")),
        "{errors:?}"
    );
}

#[test]
fn a_value_with_two_sources_is_a_load_error() {
    let errors = compile_errors(
        "values:\n  v: { expr: '{{ 1 }}', template: [1] }\nsync:\n  status: { v: '{{ v }}' }\n",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("r.yaml:2:") && e.contains("`expr` and `template`")),
        "{errors:?}"
    );
}

#[test]
fn merge_copies_an_object_with_changes_and_keeps_fields_the_rule_never_names() {
    let rule = "
values:
  template: $.parent.spec.template
  name: $.parent.metadata.name
sync:
  children:
    - $forEach: '{{ range 2 }}'
      $as: n
      apiVersion: v1
      kind: Pod
      $merge: '{{ template }}'
      metadata:
        $merge: '{{ template.metadata }}'
        name: '{{ name }}-{{ n }}'
        annotations: null
      spec:
        $merge: '{{ template.spec }}'
        containers:
          - $forEach: '{{ template.spec.containers }}'
            $as: c
            $merge: '{{ c }}'
            env:
              - $forEach: '{{ c.env }}'
                $template: '{{ item }}'
              - name: INDEX
                value: '{{ toString n }}'
";
    let out = render_with(rule, Hook::Sync, json!({"parent": pods_parent()})).unwrap();
    let children = out["children"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    let pod = &children[1];
    assert_eq!(
        pod["metadata"],
        json!({"name": "job-1", "labels": {"app": "work"}})
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    assert_eq!(pod["spec"]["nodeSelector"], json!({"disk": "ssd"}));
    assert_eq!(
        pod["spec"]["containers"],
        json!([
            {"name": "main", "image": "busybox",
             "env": [{"name": "X", "value": "1"}, {"name": "INDEX", "value": "1"}]},
            {"name": "side", "image": "envoy", "env": [{"name": "INDEX", "value": "1"}]}
        ])
    );
}

#[test]
fn merge_of_missing_or_null_starts_empty_and_own_missing_keys_keep_merged_ones() {
    let rule = "
values:
  base: { path: $.parent.spec.base }
  extra: { path: $.parent.spec.extra }
sync:
  status:
    fromMissing: { $merge: '{{ base }}', a: 1 }
    kept: { $merge: '{{ extra }}', b: '{{ base }}' }
";
    let request =
        json!({"parent": {"metadata": {"name": "p"}, "spec": {"extra": {"b": 2, "c": 3}}}});
    let out = render_with(rule, Hook::Sync, request).unwrap();
    assert_eq!(out["status"]["fromMissing"], json!({"a": 1}));
    assert_eq!(out["status"]["kept"], json!({"b": 2, "c": 3}));
}

#[test]
fn merge_of_a_non_object_fails_with_file_and_line() {
    let rule = "values:\n  base: $.parent.spec.base\nsync:\n  status:\n    s:\n      $merge: '{{ base }}'\n      a: 1\n";
    let request = json!({"parent": {"metadata": {"name": "p"}, "spec": {"base": [1, 2]}}});
    let error = render_with(rule, Hook::Sync, request)
        .unwrap_err()
        .to_string();
    assert!(error.contains("r.yaml:6:"), "{error}");
    assert!(
        error.contains("`$merge` needs a map, not a list"),
        "{error}"
    );
}

#[test]
fn merge_stands_inside_template_but_not_beside_it() {
    let inside = "sync:\n  status:\n    l:\n      - $forEach: '{{ list (dict \"a\" 1) }}'\n        $template: { $merge: '{{ item }}', b: 2 }\n";
    let out = render_with(inside, Hook::Sync, json!({"parent": {}})).unwrap();
    assert_eq!(out["status"]["l"], json!([{"a": 1, "b": 2}]));
    let beside = "sync:\n  status:\n    l:\n      - $forEach: '{{ list 1 }}'\n        $merge: '{{ item }}'\n        $template: { b: 2 }\n";
    let errors = compile_errors(beside);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("`$merge` cannot stand beside `$template`")),
        "{errors:?}"
    );
}

#[test]
fn a_computed_key_may_replace_a_merged_key_but_not_an_own_key() {
    let rule = "values:\n  k: $.parent.spec.k\nsync:\n  status:\n    s: { $merge: '{{ dict \"x\" 1 }}', '{{ k }}': 2 }\n    t: { a: 1, '{{ k }}': 2 }\n";
    let replaced = render_with(
        &rule.replace("    t: { a: 1, '{{ k }}': 2 }\n", ""),
        Hook::Sync,
        json!({"parent": {"spec": {"k": "x"}}}),
    )
    .unwrap();
    assert_eq!(replaced["status"]["s"], json!({"x": 2}));
    let error = render_with(rule, Hook::Sync, json!({"parent": {"spec": {"k": "a"}}}))
        .unwrap_err()
        .to_string();
    assert!(error.contains("both give `a`"), "{error}");
}
