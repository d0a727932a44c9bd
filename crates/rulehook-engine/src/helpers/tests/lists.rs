//! Every helper that takes a list reading a map as its values.

use super::*;

#[test]
fn list_helpers_read_a_map_as_its_values_in_key_order() {
    let m = json!({"b": 2, "a": 1, "c": 3});
    let of = |name: &str| ok(name, std::slice::from_ref(&m));
    assert_eq!(of("first"), json!(1));
    assert_eq!(of("last"), json!(3));
    assert_eq!(ok("sort", &[json!({"x": 3, "y": 1})]), json!([1, 3]));
    assert_eq!(ok("unique", &[json!({"x": 1, "y": 1})]), json!([1]));
    assert_eq!(ok("join", &[m.clone(), json!(",")]), json!("1,2,3"));
    assert_eq!(of("min"), json!(1));
    assert_eq!(of("max"), json!(3));
    assert_eq!(of("count"), json!(3));
    assert_eq!(of("length"), json!(3));
    let pods = json!({
        "y/b": {"metadata": {"name": "b", "namespace": "y", "labels": {"app": "web"}}, "status": {"phase": "Pending"}},
        "x/a": {"metadata": {"name": "a", "namespace": "x", "labels": {"app": "web"}}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
    });
    let names = |v: Value| ok("pluck", &[v, json!("metadata.name")]);
    assert_eq!(names(pods.clone()), json!(["a", "b"]));
    let running = ok(
        "where",
        &[pods.clone(), json!("status.phase"), json!("Running")],
    );
    assert_eq!(names(running), json!(["a"]));
    let ready = ok("whereCondition", &[pods.clone(), json!("Ready")]);
    assert_eq!(names(ready), json!(["a"]));
    let web = ok("whereLabel", &[pods.clone(), json!("app"), json!("web")]);
    assert_eq!(names(web), json!(["a", "b"]));
    let annotated = ok("whereAnnotation", &[pods.clone(), json!("app")]);
    assert_eq!(annotated, json!([]));
    let conditioned = ok("whereExists", &[pods.clone(), json!("status.conditions")]);
    assert_eq!(names(conditioned), json!(["a"]));
    assert_eq!(
        ok("countBy", &[pods.clone(), json!("status.phase")]),
        json!({"Pending": 1, "Running": 1})
    );
    assert_eq!(
        ok("find", &[pods, json!("b"), json!("y")])["status"]["phase"],
        json!("Pending")
    );
    assert_eq!(
        err("first", &[Some(json!("ab"))]),
        "argument 1 must be a list or a map, not a string"
    );
}
