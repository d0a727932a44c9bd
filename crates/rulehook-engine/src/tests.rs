//! Engine behaviour, from rule text and request JSON to response JSON.

use serde_json::{json, Value};

use super::{Hook, HookError, Limits, Rule};

const HELLO: &str = include_str!("../../../rules/hello.yaml");

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
            &mut json!({"parent": parent(Some(json!(big)))}),
            &limits,
        )
        .unwrap_err();
    assert!(err.to_string().contains("limit max-output-bytes"), "{err}");
}

/// A guard that grants memory up to a cap and can be cancelled.
#[derive(Debug, Default)]
struct TestGuard {
    cap: usize,
    granted: std::sync::atomic::AtomicUsize,
    cancelled: std::sync::atomic::AtomicBool,
}

impl super::RenderGuard for TestGuard {
    fn reserve(&self, bytes: usize) -> bool {
        use std::sync::atomic::Ordering;
        self.granted.fetch_add(bytes, Ordering::Relaxed) + bytes <= self.cap
    }
    fn cancelled(&self) -> bool {
        self.cancelled.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Two nested loops: 10,000 × 10,000 steps, all filtered out, so nothing but a stop ends it.
const ENDLESS: &str = "values:\n  n: $.parent.spec.n\nsync:\n  status:\n    l:\n      - $forEach: \"{{ n }}\"\n        $as: i\n        $template:\n          - $forEach: \"{{ n }}\"\n            $includeWhen: \"{{ eq item -1 }}\"\n            $template: x\n";

#[test]
fn a_cancelled_render_stops_at_its_next_step() {
    let rule = Rule::compile("r.yaml", ENDLESS).unwrap();
    let guard = std::sync::Arc::new(TestGuard {
        cap: usize::MAX,
        ..TestGuard::default()
    });
    let limits = Limits {
        max_steps: u64::MAX,
        guard: Some(guard.clone()),
        ..Limits::default()
    };
    let canceller = {
        let guard = guard.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            guard
                .cancelled
                .store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let started = std::time::Instant::now();
    let err = rule
        .render(
            Hook::Sync,
            json!({"parent": {"spec": {"n": 10_000}}}),
            &limits,
        )
        .unwrap_err();
    canceller.join().unwrap();
    assert!(matches!(err, HookError::Interrupted { .. }), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn a_render_the_guard_refuses_memory_stops_as_interrupted() {
    let rule = Rule::compile(
        "r.yaml",
        "values:\n  n: $.parent.spec.n\nsync:\n  status:\n    l:\n      - $forEach: \"{{ n }}\"\n        $template: \"{{ item }}-some-text\"\n",
    )
    .unwrap();
    let limits = Limits {
        guard: Some(std::sync::Arc::new(TestGuard {
            cap: 128 * 1024,
            ..TestGuard::default()
        })),
        ..Limits::default()
    };
    let small = rule.render(Hook::Sync, json!({"parent": {"spec": {"n": 10}}}), &limits);
    assert!(small.is_ok(), "{small:?}");
    let err = rule
        .render(
            Hook::Sync,
            json!({"parent": {"spec": {"n": 10_000}}}),
            &limits,
        )
        .unwrap_err();
    assert!(matches!(err, HookError::Interrupted { .. }), "{err}");
}

fn render_with(rule: &str, hook: Hook, request: Value) -> Result<Value, HookError> {
    Rule::compile("r.yaml", rule)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .render(hook, request, &Limits::default())
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
    let request: Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/decorator-sync.json")).unwrap();
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
fn the_step_budget_bounds_nested_loops_that_emit_nothing() {
    let rule = "sync:\n  status:\n    l:\n      - $forEach: \"{{ range 1000 }}\"\n        $as: a\n        $template:\n          - $forEach: \"{{ range 1000 }}\"\n            $includeWhen: \"{{ false }}\"\n            $template: 1\n";
    let compiled = Rule::compile("r.yaml", rule).unwrap();
    let limits = Limits {
        max_steps: 10_000,
        ..Limits::default()
    };
    let err = compiled
        .render(Hook::Sync, json!({"parent": {}}), &limits)
        .unwrap_err()
        .to_string();
    assert!(err.contains("limit max-render-steps"), "{err}");
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
fn a_computed_value_cannot_use_one_written_below_it() {
    let errors = compile_errors(
        "values:\n  a:\n    expr: \"{{ b }}\"\n  b:\n    expr: \"{{ 1 }}\"\nsync:\n  status: {}\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("r.yaml:3:11: unknown value `b`"),
        "{errors:?}"
    );
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

#[test]
fn value_names_cannot_shadow_request_keys_or_helpers() {
    for name in ["children", "controller", "this", "length"] {
        let errors = compile_errors(&format!("values:\n  {name}: $.x\nsync:\n  status: {{}}\n"));
        assert_eq!(
            errors,
            [format!(
                "r.yaml:2:3: value name `{name}` is already used by templates; pick another"
            )]
        );
    }
}
