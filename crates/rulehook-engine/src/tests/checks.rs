//! Every check of an answer, by the exact message it gives and the line of the rule it
//! names: what Metacontroller would refuse, or apply forever, fails the call instead.

use serde_json::{json, Value};

use super::*;

/// The error of `rule` (the file `r.yaml`) on `request`.
fn failure(rule: &str, hook: Hook, request: Value) -> String {
    render_with(rule, hook, request).unwrap_err().to_string()
}

/// The error of a composite `rule` on a parent whose `spec.v` is `v`.
fn sync_failure(rule: &str, v: Value) -> String {
    failure(rule, Hook::Sync, json!({"parent": {"spec": {"v": v}}}))
}

/// The error of a decorator `rule` on an object whose `spec.v` is `v`.
fn decorator_failure(rule: &str, v: Value) -> String {
    let rule = format!("kind: decorator\n{rule}");
    failure(&rule, Hook::Sync, json!({"object": {"spec": {"v": v}}}))
}

/// The error of a customize `rule` on a parent whose `spec.v` is `v`.
fn customize_failure(rule: &str, v: Value) -> String {
    failure(rule, Hook::Customize, json!({"parent": {"spec": {"v": v}}}))
}

#[test]
fn a_status_that_is_no_map_fails_naming_what_it_is() {
    let rule = "values:\n  v: $.parent.spec.v\nsync:\n  status: \"{{ v }}\"\n";
    for (v, found) in [
        (json!([1]), "a list"),
        (json!("x"), "a string"),
        (json!(true), "a bool"),
        (json!(-2.5), "a number"),
    ] {
        assert_eq!(
            sync_failure(rule, v),
            format!("rule `r` failed at r.yaml:4:11: status must be a map, not {found}")
        );
    }
}

#[test]
fn children_that_are_no_list_fail_naming_what_they_are() {
    let rule = "values:\n  v: $.parent.spec.v\nsync:\n  children: \"{{ v }}\"\n";
    assert_eq!(
        sync_failure(rule, json!({"a": 1})),
        "rule `r` failed at r.yaml:4:13: children must be a list, not a map"
    );
    assert_eq!(
        sync_failure(rule, json!(7)),
        "rule `r` failed at r.yaml:4:13: children must be a list, not a number"
    );
}

#[test]
fn each_child_needs_an_api_version_a_kind_and_a_name_in_that_order() {
    let rule = "values:\n  v: $.parent.spec.v\nsync:\n  children: \"{{ v }}\"\n";
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}});
    for (second, message) in [
        (json!("x"), "children[1] must be an object, not a string"),
        (json!([pod]), "children[1] must be an object, not a list"),
        (json!(false), "children[1] must be an object, not a bool"),
        (json!({}), "children[1] has no `apiVersion` string"),
        (
            json!({"apiVersion": "", "kind": "Pod", "metadata": {"name": "a"}}),
            "children[1] has no `apiVersion` string",
        ),
        (
            json!({"apiVersion": "v1", "kind": {"a": "Pod"}}),
            "children[1] has no `kind` string",
        ),
        (
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 1}}),
            "children[1] has no `metadata.name` string",
        ),
        (
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": "a"}),
            "children[1] has no `metadata.name` string",
        ),
    ] {
        assert_eq!(
            sync_failure(rule, json!([pod, second])),
            format!("rule `r` failed at r.yaml:4:13: {message}")
        );
    }
}

#[test]
fn a_child_of_a_list_template_is_named_at_the_section() {
    let rule = "values:\n  v: $.parent.spec.v\nsync:\n  children:\n    - {apiVersion: v1, kind: \"{{ v }}\", metadata: {name: a}}\n";
    assert_eq!(
        sync_failure(rule, json!("")),
        "rule `r` failed at r.yaml:4:3: children[0] has no `kind` string"
    );
}

#[test]
fn attachments_are_checked_as_children_are() {
    let rule = "values:\n  v: $.object.spec.v\nsync:\n  attachments: \"{{ v }}\"\n";
    assert_eq!(
        decorator_failure(rule, json!("x")),
        "rule `r` failed at r.yaml:5:16: attachments must be a list, not a string"
    );
    assert_eq!(
        decorator_failure(rule, json!([1])),
        "rule `r` failed at r.yaml:5:16: attachments[0] must be an object, not a number"
    );
    assert_eq!(
        decorator_failure(rule, json!([{"apiVersion": "v1", "kind": "Pod"}])),
        "rule `r` failed at r.yaml:5:16: attachments[0] has no `metadata.name` string"
    );
}

#[test]
fn labels_and_annotations_are_maps_of_strings() {
    let rule = "values:\n  v: $.object.spec.v\nsync:\n  labels: \"{{ v }}\"\n";
    assert_eq!(
        decorator_failure(rule, json!(["a"])),
        "rule `r` failed at r.yaml:5:11: labels must be a map, not a list"
    );
    // A value that is not a string is named at the section, with its key.
    let rule =
        "values:\n  v: $.object.spec.v\nsync:\n  annotations:\n    a: x\n    b: \"{{ v }}\"\n";
    assert_eq!(
        decorator_failure(rule, json!({"c": 1})),
        "rule `r` failed at r.yaml:5:3: annotations.b must be a string, not a map"
    );
    assert_eq!(
        decorator_failure(rule, json!([])),
        "rule `r` failed at r.yaml:5:3: annotations.b must be a string, not a list"
    );
}

#[test]
fn labels_write_numbers_and_bools_as_text_and_keep_null_to_delete_a_key() {
    let rule = "kind: decorator\nvalues:\n  v: $.object.spec.v\nsync:\n  labels:\n    n: \"{{ v.n }}\"\n    b: \"{{ v.b }}\"\n    gone: \"{{ v.gone }}\"\n";
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"object": {"spec": {"v": {"n": 1.5, "b": false, "gone": null}}}}),
    )
    .unwrap();
    assert_eq!(
        r,
        json!({"labels": {"n": "1.5", "b": "false", "gone": null}})
    );
}

#[test]
fn resync_after_seconds_is_a_number_of_seconds() {
    let rule = "values:\n  v: $.parent.spec.v\nsync:\n  resyncAfterSeconds: \"{{ v }}\"\n";
    assert_eq!(
        sync_failure(rule, json!(-1)),
        "rule `r` failed at r.yaml:4:23: resyncAfterSeconds must be a number of seconds, not -1"
    );
    assert_eq!(
        sync_failure(rule, json!("5")),
        "rule `r` failed at r.yaml:4:23: resyncAfterSeconds must be a number of seconds, not \"5\""
    );
}

#[test]
fn finalized_is_true_or_false() {
    let rule = "values:\n  v: $.parent.spec.v\nfinalize:\n  finalized: \"{{ v }}\"\n";
    let finalize = |spec: Value| failure(rule, Hook::Finalize, json!({"parent": {"spec": spec}}));
    assert_eq!(
        finalize(json!({})),
        "rule `r` failed at r.yaml:4:14: finalized must be true or false, not missing"
    );
    assert_eq!(
        finalize(json!({"v": "yes"})),
        "rule `r` failed at r.yaml:4:14: finalized must be true or false, not \"yes\""
    );
}

#[test]
fn related_resources_are_checked_as_metacontroller_parses_them() {
    let rule = "values:\n  v: $.parent.spec.v\ncustomize:\n  relatedResources: \"{{ v }}\"\n";
    assert_eq!(
        customize_failure(rule, json!({})),
        "rule `r` failed at r.yaml:4:21: relatedResources must be a list, not a map"
    );
    let pods = |extra: Value| {
        let mut entry = json!({"apiVersion": "v1", "resource": "pods"});
        entry
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!([{"apiVersion": "v1", "resource": "configmaps"}, entry])
    };
    for (v, message) in [
        (json!([{}, "x"]), "relatedResources[0] has no `apiVersion` string"),
        (json!(["x"]), "relatedResources[0] must be an object"),
        (
            json!([{"apiVersion": "v1", "resource": 1}]),
            "relatedResources[0] has no `resource` string",
        ),
        (
            pods(json!({"Names": ["a"], "labelSelector": {}})),
            "relatedResources[1] has unknown key `Names`; allowed: apiVersion, resource, labelSelector, namespaceSelector, namespace, names",
        ),
        (
            pods(json!({"names": "a"})),
            "relatedResources[1] `names` must be a list of strings",
        ),
        (
            pods(json!({"names": ["a", 1]})),
            "relatedResources[1] `names` must be a list of strings",
        ),
        (
            pods(json!({"names": ["a"], "labelSelector": {}})),
            "relatedResources[1] cannot combine `names` with `labelSelector`",
        ),
        (
            pods(json!({"namespace": "a", "namespaceSelector": {}})),
            "relatedResources[1] cannot combine `namespace` with `namespaceSelector`",
        ),
    ] {
        assert_eq!(
            customize_failure(rule, v),
            format!("rule `r` failed at r.yaml:4:21: {message}")
        );
    }
}

#[test]
fn of_two_fields_that_fail_the_one_written_first_is_reported() {
    // Keys are written in sorted order: children before status, annotations before labels.
    let rule =
        "values:\n  v: $.parent.spec.v\nsync:\n  status: \"{{ v }}\"\n  children: \"{{ v }}\"\n";
    assert_eq!(
        sync_failure(rule, json!("x")),
        "rule `r` failed at r.yaml:5:13: children must be a list, not a string"
    );
    let rule =
        "values:\n  v: $.object.spec.v\nsync:\n  labels: \"{{ v }}\"\n  annotations: \"{{ v }}\"\n";
    assert_eq!(
        decorator_failure(rule, json!("x")),
        "rule `r` failed at r.yaml:6:16: annotations must be a map, not a string"
    );
}

#[test]
fn nulls_inside_copied_values_never_reach_a_related_resource_rule() {
    let rule = "values:\n  v: $.parent.spec.v\ncustomize:\n  relatedResources:\n    - {apiVersion: v1, resource: configmaps, labelSelector: \"{{ v }}\"}\n";
    let r = render_with(
        rule,
        Hook::Customize,
        json!({"parent": {"spec": {"v": {"matchLabels": {"a": "b", "c": null}}}}}),
    )
    .unwrap();
    assert_eq!(
        r,
        json!({"relatedResources": [
            {"apiVersion": "v1", "resource": "configmaps", "labelSelector": {"matchLabels": {"a": "b"}}}
        ]})
    );
}

#[test]
fn children_whose_identity_the_template_guarantees_are_not_read_back() {
    let identified = |children: &str| {
        let rule = format!("values:\n  n: $.parent.spec.n\nsync:\n  children:\n{children}");
        let rule = Rule::compile("r.yaml", &rule).unwrap_or_else(|e| panic!("{e:?}"));
        rule.sync.as_ref().unwrap().children_identified
    };
    let pod = "{apiVersion: v1, kind: Pod, metadata: {name: \"{{ n }}-pod\"}}";
    assert!(identified(&format!("    - {pod}\n")));
    assert!(identified(&format!(
        "    - $forEach: \"{{{{ n }}}}\"\n      $template: {pod}\n"
    )));
    for children in [
        // A name that may be empty, or no string at all.
        "    - {apiVersion: v1, kind: Pod, metadata: {name: \"{{ n }}\"}}\n",
        "    - {apiVersion: v1, kind: Pod, metadata: {name: \"\"}}\n",
        "    - {apiVersion: v1, kind: \"{{ n }}\", metadata: {name: a}}\n",
        "    - {apiVersion: v1, kind: Pod, metadata: \"{{ n }}\"}\n",
        "    - {apiVersion: v1, kind: Pod}\n",
        // Keys that may be replaced, or items that may be anything.
        "    - {$merge: \"{{ n }}\", apiVersion: v1, kind: Pod, metadata: {name: a}}\n",
        "    - {apiVersion: v1, kind: Pod, metadata: {name: a, \"{{ n }}\": b}}\n",
        "    - \"{{ n }}\"\n",
        "    \"{{ n }}\"\n",
    ] {
        assert!(!identified(children), "{children}");
    }
}

#[test]
fn children_whose_identity_the_template_guarantees_are_answered_as_written() {
    let rule = "values:\n  n: $.parent.spec.n\nsync:\n  children:\n    - $forEach: \"{{ n }}\"\n      $template: {apiVersion: v1, kind: Pod, metadata: {name: \"p{{ item }}\"}}\n";
    let r = render_with(rule, Hook::Sync, json!({"parent": {"spec": {"n": 2}}})).unwrap();
    assert_eq!(
        r["children"],
        json!([
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p0"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"}}
        ])
    );
}

#[test]
fn children_seen_identified_as_written_answer_and_the_others_are_still_checked() {
    // No identity guaranteed at load: each child is seen as it is written instead.
    let rule = "values:\n  v: $.parent.spec.v\nsync:\n  children:\n    - {apiVersion: v1, kind: Pod, metadata: {name: a}}\n    - {apiVersion: \"{{ v.api }}\", kind: \"{{ v.kind }}\", metadata: {labels: {x: y}, name: \"{{ v.name }}\"}}\n";
    let children = |v: Value| {
        render_with(rule, Hook::Sync, json!({"parent": {"spec": {"v": v}}}))
            .map(|answer| answer["children"].clone())
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        children(json!({"api": "v1", "kind": "Pod", "name": "b"})).unwrap()[1],
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"x": "y"}, "name": "b"}})
    );
    let at = "rule `r` failed at r.yaml:4:3: children[1]";
    for (v, message) in [
        (
            json!({"api": "", "kind": "Pod", "name": "b"}),
            "has no `apiVersion` string",
        ),
        (
            json!({"api": 1, "kind": "Pod", "name": "b"}),
            "has no `apiVersion` string",
        ),
        (
            json!({"api": "v1", "kind": ["Pod"], "name": "b"}),
            "has no `kind` string",
        ),
        (
            json!({"api": "v1", "kind": "Pod"}),
            "has no `metadata.name` string",
        ),
        (
            json!({"api": "v1", "kind": "Pod", "name": ""}),
            "has no `metadata.name` string",
        ),
        (
            json!({"api": "v1", "kind": "Pod", "name": {"a": "b"}}),
            "has no `metadata.name` string",
        ),
        (
            json!({"api": "v1", "kind": "Pod", "name": null}),
            "has no `metadata.name` string",
        ),
    ] {
        assert_eq!(children(v), Err(format!("{at} {message}")));
    }
}
