//! Helpers through the whole engine: compiled in a rule, rendered against a request.

use serde_json::json;

use super::*;

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
    let err = render_with(rule, Hook::Sync, json!({"parent": {"spec": {}}})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "rule `r` failed at r.yaml:6:46: fail: spec.ports is empty"
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
