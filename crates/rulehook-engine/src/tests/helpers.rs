//! Helpers through the whole engine: compiled in a rule, rendered against a request.

use serde_json::json;

use super::*;

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
