//! Each hook's request and response, as Metacontroller sends and reads them.

use serde_json::{json, Value};

use super::*;

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
fn an_absent_child_type_counts_as_zero() {
    let r = sync(&hello(), json!({"parent": parent(None)})).unwrap();
    assert_eq!(r["status"], json!({"pods": 0}));
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
fn decorator_answers_labels_annotations_and_attachments_with_null_deletions() {
    let rule = r#"
kind: decorator
values:
  name: $.object.metadata.name
  replicas: {path: $.object.spec.replicas, default: 1}
sync:
  labels:
    decorated: "true"
    obsolete: null
  annotations:
    count: "{{ replicas }}"
  attachments:
    - $forEach: "{{ replicas }}"
      $as: i
      apiVersion: v1
      kind: Service
      metadata: {name: "{{ name }}-{{ i }}"}
  resyncAfterSeconds: 30
"#;
    let request: Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/decorator-sync.json"
    ))
    .unwrap();
    let r = render_with(rule, Hook::Sync, request).unwrap();
    assert_eq!(r["labels"], json!({"decorated": "true", "obsolete": null}));
    assert_eq!(r["annotations"], json!({"count": "2"}));
    assert_eq!(r["attachments"].as_array().unwrap().len(), 2);
    assert_eq!(r["attachments"][1]["metadata"]["name"], "nginx-1");
    assert_eq!(r["resyncAfterSeconds"], 30);
    let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["annotations", "attachments", "labels", "resyncAfterSeconds"]
    );
}

#[test]
fn finalize_is_used_for_finalizing_syncs_and_reports_finalized() {
    let rule = r#"
sync:
  children:
    - {apiVersion: v1, kind: ConfigMap, metadata: {name: keep}}
finalize:
  children: []
  status: {phase: Terminating}
  finalized: "{{ eq (length children.[ConfigMap.v1]) 0 }}"
"#;
    let observed = json!({"ConfigMap.v1": {"keep": {"metadata": {"name": "keep"}}}});
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"parent": {}, "children": observed, "finalizing": true}),
    )
    .unwrap();
    assert_eq!(
        r,
        json!({"status": {"phase": "Terminating"}, "children": [], "finalized": false})
    );
    let r = render_with(rule, Hook::Finalize, json!({"parent": {}, "children": {}})).unwrap();
    assert_eq!(r["finalized"], json!(true));
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"parent": {}, "children": observed}),
    )
    .unwrap();
    assert_eq!(r["children"].as_array().unwrap().len(), 1);
    assert!(r.get("finalized").is_none());
}

#[test]
fn customize_computes_names_from_the_parent() {
    let rule = r#"
values:
  sourceName: $.parent.spec.sourceName
  sourceNamespace: $.parent.spec.sourceNamespace
customize:
  relatedResources:
    - apiVersion: v1
      resource: configmaps
      namespace: "{{ sourceNamespace }}"
      names: ["{{ sourceName }}"]
    - apiVersion: v1
      resource: namespaces
      labelSelector: {}
"#;
    let r = render_with(
        rule,
        Hook::Customize,
        json!({"parent": {"spec": {"sourceName": "s", "sourceNamespace": "n"}}}),
    )
    .unwrap();
    assert_eq!(
        r,
        json!({"relatedResources": [
            {"apiVersion": "v1", "resource": "configmaps", "namespace": "n", "names": ["s"]},
            {"apiVersion": "v1", "resource": "namespaces", "labelSelector": {}}
        ]})
    );
}

#[test]
fn a_customize_entry_with_unknown_keys_fails() {
    let rule =
        "customize:\n  relatedResources:\n    - {apiVersion: v1, resource: pods, Names: [a]}\n";
    let err = render_with(rule, Hook::Customize, json!({"parent": {}}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown key `Names`"), "{err}");
}

#[test]
fn resync_after_seconds_from_an_expression() {
    let rule = "values:\n  busy: {path: $.parent.spec.busy, default: false}\nsync:\n  resyncAfterSeconds: \"{{ ternary busy 5 0 }}\"\n";
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"parent": {"spec": {"busy": true}}}),
    )
    .unwrap();
    assert_eq!(r["resyncAfterSeconds"], 5);
    assert_eq!(r["children"], json!([]));
}

#[test]
fn children_without_identity_fail_instead_of_being_sent() {
    let rule = "sync:\n  children:\n    - {apiVersion: v1, kind: Pod, metadata: {name: \"{{ when false 'x' }}\"}}\n";
    let err = render_with(rule, Hook::Sync, json!({"parent": {}}))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("children[0] has no `metadata.name` string"),
        "{err}"
    );
}

#[test]
fn nulls_inside_copied_values_never_reach_a_child() {
    let rule = "values:\n  data: $.parent.spec.data\nsync:\n  children:\n    - {apiVersion: v1, kind: ConfigMap, metadata: {name: x}, data: \"{{ data }}\"}\n";
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"parent": {"spec": {"data": {"a": null, "b": "x", "c": [1, null]}}}}),
    )
    .unwrap();
    assert_eq!(r["children"][0]["data"], json!({"b": "x", "c": [1]}));
}

#[test]
fn a_decorator_without_attachments_answers_only_what_it_sets() {
    let rule = "kind: decorator\nvalues:\n  name: $.object.metadata.name\nsync:\n  labels:\n    pod-name: \"{{ name }}\"\n";
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"object": {"metadata": {"name": "p"}}}),
    )
    .unwrap();
    assert_eq!(r, json!({"labels": {"pod-name": "p"}}));
}

/// A guard that grants every request and never stops one.
#[derive(Debug)]
struct Open;

impl crate::RenderGuard for Open {
    fn reserve(&self, _bytes: usize) -> bool {
        true
    }
    fn cancelled(&self) -> bool {
        false
    }
}

#[test]
fn a_parse_for_the_answer_alone_leaves_out_who_the_call_is_about_and_answers_the_same() {
    use crate::metacontroller::Subject;
    let request = json!({"parent": {"kind": "HelloWorld",
                                    "metadata": {"name": "a", "namespace": "ns", "uid": "u"},
                                    "spec": {"who": "x"}},
                         "children": {"Pod.v1": {"p": {"metadata": {"name": "p"}}}}});
    let body = serde_json::to_vec(&request).unwrap();
    let rule = hello();
    let mut whole = rule.parse_request_within(&body, &Open).unwrap();
    let mut lean = rule.parse_answer_reads_within(&body, &Open).unwrap();
    let subject = Subject {
        kind: "HelloWorld".into(),
        namespace: "ns".into(),
        name: "a".into(),
        uid: "u".into(),
    };
    assert_eq!(Subject::of(&whole), subject);
    assert_eq!(
        lean["parent"],
        json!({"metadata": {"name": "a"}, "spec": {"who": "x"}})
    );
    let limits = Limits::default();
    let answer = rule.render_body(Hook::Sync, &mut whole, &limits).unwrap();
    assert_eq!(
        rule.render_body(Hook::Sync, &mut lean, &limits).unwrap(),
        answer
    );

    // What the rule reads itself is built either way.
    let reads_namespace = Rule::compile(
        "r.yaml",
        "sync:\n  status:\n    at: \"{{ parent.metadata.namespace }}\"\n",
    )
    .unwrap();
    let lean = reads_namespace
        .parse_answer_reads_within(&body, &Open)
        .unwrap();
    assert_eq!(lean["parent"], json!({"metadata": {"namespace": "ns"}}));
}

#[test]
fn a_parse_for_the_answer_alone_still_checks_the_shape() {
    let rule = hello();
    for (request, error) in [
        (
            json!({"parent": 5}),
            "`parent` must be an object, not a number",
        ),
        (
            json!({"children": {}}),
            "the request has no `parent` object",
        ),
    ] {
        let body = serde_json::to_vec(&request).unwrap();
        let mut lean = rule.parse_answer_reads_within(&body, &Open).unwrap();
        let err = rule
            .render_body(Hook::Sync, &mut lean, &Limits::default())
            .unwrap_err();
        assert!(err.to_string().contains(error), "{err}");
    }
}
