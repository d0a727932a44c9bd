//! Helpers through the whole engine: compiled in a rule, rendered against a request.

use serde_json::json;

use super::*;

/// Why a sync of `rule` with `request` fails.
fn failure(rule: &str, request: Value) -> String {
    render_with(rule, Hook::Sync, request)
        .unwrap_err()
        .to_string()
}

#[test]
fn lookup_gives_missing_for_an_absent_key_and_still_works_inside_strings() {
    let rule = r#"
values:
  m: $.parent.spec.m
  k: $.parent.spec.k
  items: $.parent.spec.items
sync:
  status:
    found: "{{ exists (lookup m k) }}"
    value: "{{ default (lookup m k) 'none' }}"
    whole: "{{ lookup m k }}"
    text: "a={{lookup m 'a'}}"
    each: "{{#each items}}{{lookup ../m this}};{{/each}}"
"#;
    let request = |k: &str| {
        let spec = json!({"m": {"a": "x", "b": "y"}, "k": k, "items": ["b", "a"]});
        json!({"parent": {"spec": spec}})
    };
    let r = render_with(rule, Hook::Sync, request("zz")).unwrap();
    assert_eq!(
        r["status"],
        json!({"found": false, "value": "none", "text": "a=x", "each": "y;x;"})
    );
    let r = render_with(rule, Hook::Sync, request("b")).unwrap();
    assert_eq!(r["status"]["found"], json!(true));
    assert_eq!(r["status"]["whole"], json!("y"));
}

#[test]
fn fail_answers_with_the_rules_message_file_and_line() {
    let rule = r#"
values:
  ports: $.parent.spec.ports
sync:
  status:
    port: "{{#if ports}}{{ports.[0]}}{{else}}{{fail 'spec.ports is empty'}}{{/if}}"
"#;
    let r = render_with(
        rule,
        Hook::Sync,
        json!({"parent": {"spec": {"ports": [80]}}}),
    );
    assert_eq!(r.unwrap()["status"]["port"], json!("80"));
    assert_eq!(
        failure(rule, json!({"parent": {"spec": {}}})),
        "rule `r` failed at r.yaml:6:11: fail: spec.ports is empty"
    );
}

#[test]
fn a_map_reads_as_its_values_in_key_order() {
    let rule = r#"
values:
  zones: $.parent.spec.replicasByZone
sync:
  status:
    total: "{{ sum zones }}"
    order: "{{ join zones ',' }}"
    largest: "{{ max zones }}"
    lastTwo: "{{ slice zones -2 }}"
"#;
    let request = json!({"parent": {"spec": {"replicasByZone": {"c": 1, "a": 3, "b": 2}}}});
    let r = render_with(rule, Hook::Sync, request).unwrap();
    assert_eq!(
        r["status"],
        json!({"total": 6, "order": "3,2,1", "largest": 3, "lastTwo": [2, 1]})
    );
}

#[test]
fn concat_with_a_missing_or_null_argument_fails_naming_its_path() {
    let rule = r#"
values:
  x: $.parent.spec.x
sync:
  status:
    name: "{{ concat 'web-' x }}"
"#;
    let with_x = |x: Value| json!({"parent": {"spec": {"x": x}}});
    let r = render_with(rule, Hook::Sync, with_x(json!(1))).unwrap();
    assert_eq!(r["status"]["name"], json!("web-1"));
    assert_eq!(
        failure(rule, json!({"parent": {"spec": {}}})),
        "rule `r` failed at r.yaml:6:11: `x` is missing: the request has no such value and it has no default"
    );
    let rule = r#"
sync:
  status:
    name: "{{ concat 'web-' parent.spec.n }}"
    fallback: "{{ concat 'web-' (default parent.spec.gone 'none') }}"
"#;
    let err = failure(rule, with_x(json!(1)));
    assert!(
        err.ends_with(
            "`parent.spec.n` is missing: the request has no such value and it has no default"
        ),
        "{err}"
    );
    let request = json!({"parent": {"spec": {"n": null}}});
    let err = failure(rule, request);
    assert!(
        err.ends_with("`parent.spec.n` is null: concat needs a value; `default` can give one"),
        "{err}"
    );
}

#[test]
fn ordering_a_number_and_a_list_fails_naming_both_types() {
    let rule = r#"
sync:
  status:
    big: "{{ gt parent.spec.replicas parent.spec.ports }}"
"#;
    let request = json!({"parent": {"spec": {"replicas": 3, "ports": [80]}}});
    assert_eq!(
        failure(rule, request),
        "rule `r` failed at r.yaml:4:10: gt: cannot order a number and a list"
    );
}
