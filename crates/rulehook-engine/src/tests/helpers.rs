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
fn the_documented_examples_of_helpers_give_what_the_docs_say() {
    let rule = r#"
values:
  replicas: {path: $.parent.spec.replicas, default: 1}
  phase: $.parent.spec.phase
sync:
  status:
    eqBlock: "{{#eq phase 'Running'}}up{{else}}down{{/eq}}"
    eq: "{{ eq 80 80.0 }}"
    eqDeep: "{{ eq (dict 'port' 80) (dict 'port' 80.0) }}"
    eqMissing: "{{ eq parent.spec.none parent.spec.gone }}"
    gtMissing: "{{ gt parent.spec.none 3 }}"
    gtText: "{{ gt '10' 9 }}"
    notMissing: "{{ not parent.spec.none }}"
    andMany: "{{ and true 1 'x' }}"
    orMany: "{{ or false 0 'x' }}"
    block: "{{#if (gt replicas 3)}}big{{else}}small{{/if}}"
    unless: "{{#unless (eq replicas 1)}}many{{else}}one{{/unless}}"
    toInt: "{{ toInt '42' }}"
    toIntHex: "{{ toInt 'ff' 16 }}"
    toIntPrefixed: "{{ toInt '0x1F' 16 }}"
    toIntBinary: "{{ toInt '0b101' 2 }}"
    sha256: "{{ sha256 'hello' }}"
    md5: "{{ md5 'hello' }}"
    toJson: "{{ toJson (dict 'n' 2.0 'f' 2.5) }}"
    toString: "{{ toString 2.0 }}"
    fromJsonMissing: "{{ default (fromJson parent.metadata.annotations.ports) 'none' }}"
    range: "{{ range 3.0 }}"
    lookupLast: "{{ lookup (list 'a' 'b' 'c') -1 }}"
    lookupOut: "{{ default (lookup (list 'a') 5) 'none' }}"
    reverse: "{{ reverse (list 1 2 3) }}"
    sortDesc: "{{ sortDesc (list 2 3 1) }}"
    sortDescByField: "{{ pluck (sortDesc (list (dict 'n' 'a' 'r' 1) (dict 'n' 'b' 'r' 2) (dict 'n' 'c' 'r' 1)) 'r') 'n' }}"
    flatten: "{{ flatten (list (list 1 2) 3 (list (list 4))) }}"
    unique: "{{ unique (list 1 1.0 2) }}"
    without: "{{ without (list 1 2 3) (list 2.0) }}"
    indexOf: "{{ indexOf (list 'a' 'b') 'b' }}"
    countBy: "{{ countBy (list (dict 'p' 80) (dict 'p' 80.0) (dict 'p' 443)) 'p' }}"
    concat: "{{ concat 'web-' 1 }}"
"#;
    let spec = json!({"replicas": 5, "phase": "Running"});
    let request = json!({"parent": {"metadata": {"name": "p"}, "spec": spec}});
    let r = render_with(rule, Hook::Sync, request).unwrap();
    assert_eq!(
        r["status"],
        json!({
            "eqBlock": "up",
            "eq": true,
            "eqDeep": true,
            "eqMissing": true,
            "gtMissing": false,
            "gtText": true,
            "notMissing": true,
            "andMany": true,
            "orMany": true,
            "block": "big",
            "unless": "many",
            "toInt": 42,
            "toIntHex": 255,
            "toIntPrefixed": 31,
            "toIntBinary": 5,
            "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            "md5": "5d41402abc4b2a76b9719d911017c592",
            "toJson": "{\"f\":2.5,\"n\":2}",
            "toString": "2",
            "fromJsonMissing": "none",
            "range": [0, 1, 2],
            "lookupLast": "c",
            "lookupOut": "none",
            "reverse": [3, 2, 1],
            "sortDesc": [3, 2, 1],
            "sortDescByField": ["b", "a", "c"],
            "flatten": [1, 2, 3, [4]],
            "unique": [1, 2],
            "without": [1, 3],
            "indexOf": 1,
            "countBy": {"80": 2, "443": 1},
            "concat": "web-1",
        })
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
