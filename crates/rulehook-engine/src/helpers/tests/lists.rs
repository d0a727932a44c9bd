//! The list helpers, and every helper that takes a list reading a map as its values.

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
    assert_eq!(ok("slice", &[m.clone(), json!(1)]), json!([2, 3]));
    assert_eq!(ok("without", &[m.clone(), json!({"z": 2})]), json!([1, 3]));
    assert_eq!(ok("indexOf", &[m.clone(), json!(3)]), json!(2));
    assert_eq!(ok("sum", &[m]), json!(6));
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

#[test]
fn slice_counts_from_the_end_and_clamps_like_python() {
    let l = json!([0, 1, 2, 3, 4]);
    let slice = |args: &[Value]| {
        let mut all = vec![l.clone()];
        all.extend_from_slice(args);
        ok("slice", &all)
    };
    assert_eq!(slice(&[json!(1), json!(3)]), json!([1, 2]));
    assert_eq!(slice(&[json!(-2)]), json!([3, 4]));
    assert_eq!(slice(&[json!(0), json!(-1)]), json!([0, 1, 2, 3]));
    assert_eq!(slice(&[json!(-10), json!(2)]), json!([0, 1]));
    assert_eq!(slice(&[json!(2), json!(100)]), json!([2, 3, 4]));
    assert_eq!(slice(&[json!(3), json!(1)]), json!([]));
    assert_eq!(slice(&[json!(u64::MAX)]), json!([]));
    assert_eq!(slice(&[json!(i64::MIN), json!(i64::MIN)]), json!([]));
    assert_eq!(
        call("slice", &[None, Some(json!(1))]).unwrap(),
        Some(json!([]))
    );
    assert_eq!(
        err("slice", &[Some(l.clone()), Some(json!(1.5))]),
        "argument 2 must be a whole number"
    );
    assert_eq!(
        err("slice", &[Some(l), Some(json!(0)), None]),
        "argument 3 is missing"
    );
}

#[test]
fn without_and_index_of_compare_json_values_with_numbers_by_value() {
    assert_eq!(
        ok(
            "without",
            &[json!([1, 2, 3, 2, {"a": [1]}]), json!([2, {"a": [1]}])]
        ),
        json!([1, 3])
    );
    // Numbers compare by value, deep inside items too, as they do for `unique`.
    assert_eq!(ok("without", &[json!([1, 1.0, 2]), json!([1])]), json!([2]));
    assert_eq!(
        ok(
            "without",
            &[json!([{"a": [1.0]}, {"a": [1.5]}]), json!([{"a": [1]}])]
        ),
        json!([{"a": [1.5]}])
    );
    assert_eq!(ok("indexOf", &[json!([0, 2.0]), json!(2)]), json!(1));
    assert_eq!(
        call("without", &[Some(json!(["a"])), None]).unwrap(),
        Some(json!(["a"]))
    );
    let l = json!(["a", {"k": 1}, "a"]);
    assert_eq!(ok("indexOf", &[l.clone(), json!("a")]), json!(0));
    assert_eq!(ok("indexOf", &[l.clone(), json!({"k": 1})]), json!(1));
    assert_eq!(ok("indexOf", &[l.clone(), json!("z")]), json!(-1));
    assert_eq!(call("indexOf", &[Some(l), None]).unwrap(), Some(json!(-1)));
    assert_eq!(
        call("indexOf", &[None, Some(json!("a"))]).unwrap(),
        Some(json!(-1))
    );
}

#[test]
fn sum_keeps_whole_numbers_whole_and_names_a_bad_item() {
    assert_eq!(ok("sum", &[json!([1, 2, 3])]), json!(6));
    assert_eq!(ok("sum", &[json!([])]), json!(0));
    assert_eq!(call("sum", &[None]).unwrap(), Some(json!(0)));
    assert_eq!(ok("sum", &[json!([1, 2.5])]), json!(3.5));
    assert_eq!(ok("sum", &[json!([2.0])]), json!(2.0));
    // A float anywhere makes the sum a float, so whole numbers before it cannot overflow.
    assert_eq!(
        ok("sum", &[json!([i64::MAX, 1, 0.5])]),
        json!(i64::MAX as f64 + 1.5)
    );
    assert_eq!(
        err("sum", &[Some(json!([i64::MAX, 1]))]),
        "sum overflows a 64-bit integer"
    );
    assert_eq!(
        err("sum", &[Some(json!([1, "2"]))]),
        "the item at index 1 is a string, not a number"
    );
    assert_eq!(
        err("sum", &[Some(json!([1e308, 1e308]))]),
        "the result is not a finite number"
    );
}

#[test]
fn sort_desc_reverses_the_order_and_keeps_equal_items_in_order() {
    assert_eq!(ok("sortDesc", &[json!([1, 3, 2])]), json!([3, 2, 1]));
    let items = json!([
        {"k": 1, "n": "a"}, {"k": 2, "n": "b"}, {"n": "none"}, {"k": 1.0, "n": "c"}
    ]);
    let names = |v: Value| ok("pluck", &[v, json!("n")]);
    assert_eq!(
        names(ok("sortDesc", &[items.clone(), json!("k")])),
        json!(["b", "a", "c", "none"])
    );
    assert_eq!(
        names(ok("sort", &[items, json!("k")])),
        json!(["none", "a", "c", "b"])
    );
    // 1 and 1.0 are equal, so they keep their order either way.
    assert_eq!(ok("sort", &[json!([1.0, 0.5, 1])]), json!([0.5, 1.0, 1]));
    assert_eq!(ok("sortDesc", &[json!([1.0, 2, 1])]), json!([2, 1.0, 1]));
    assert_eq!(ok("sortDesc", &[json!({"a": 1, "b": 2})]), json!([2, 1]));
    assert_eq!(
        err("sortDesc", &[Some(json!([1])), Some(json!(1))]),
        "the sort field must be a string, not a number"
    );
    assert_eq!(call("sortDesc", &[None]), Ok(Some(json!([]))));
}

#[test]
fn reverse_and_flatten_take_a_list_or_a_maps_values() {
    assert_eq!(ok("reverse", &[json!([1, [2], 3])]), json!([3, [2], 1]));
    assert_eq!(ok("reverse", &[json!({"a": 1, "b": 2})]), json!([2, 1]));
    assert_eq!(call("reverse", &[None]), Ok(Some(json!([]))));
    assert_eq!(
        err("reverse", &[Some(json!("abc"))]),
        "cannot reverse a string, only a list or a map's values"
    );
    assert_eq!(
        ok("flatten", &[json!([[1, 2], 3, [], [[4]], {"a": 5}])]),
        json!([1, 2, 3, [4], {"a": 5}])
    );
    assert_eq!(ok("flatten", &[json!({"a": [1], "b": 2})]), json!([1, 2]));
    assert_eq!(call("flatten", &[None]), Ok(Some(json!([]))));
    assert_eq!(
        err("flatten", &[Some(json!(1))]),
        "argument 1 must be a list or a map, not a number"
    );
}

#[test]
fn helpers_that_compare_take_numbers_by_value() {
    assert_eq!(
        ok("unique", &[json!([1, 1.0, 2, [1], [1.0]])]),
        json!([1, 2, [1]])
    );
    assert_eq!(
        ok(
            "countBy",
            &[
                json!([{"p": 80}, {"p": 80.0}, {"p": "80"}, {"p": 1.5}, {"p": true}]),
                json!("p")
            ]
        ),
        json!({"80": 3, "1.5": 1, "true": 1})
    );
    let items = json!([{"p": 80.0}, {"p": 81}]);
    assert_eq!(
        ok("where", &[items.clone(), json!("p"), json!(80)]),
        json!([{"p": 80.0}])
    );
    assert_eq!(
        ok("count", &[items.clone(), json!("p"), json!(81.0)]),
        json!(1)
    );
    // Missing matches only items that lack the field.
    assert_eq!(
        call(
            "where",
            &[Some(json!([{"p": 1}, {}])), Some(json!("p")), None]
        ),
        Ok(Some(json!([{}])))
    );
    assert_eq!(ok("contains", &[json!([1.0]), json!(1)]), json!(true));
    assert_eq!(ok("min", &[json!([2, 1.0, 1])]), json!(1.0));
    assert_eq!(ok("max", &[json!(2.5), json!(3.0)]), json!(3.0));
    assert_eq!(
        ok("eq", &[json!({"a": 80}), json!({"a": 80.0})]),
        json!(true)
    );
    assert_eq!(
        ok("eq", &[json!({"a": 80}), json!({"a": 80, "b": 1})]),
        json!(false)
    );
    assert_eq!(
        call("eq", &[None, Some(json!(null))]),
        Ok(Some(json!(false)))
    );
    assert_eq!(call("ne", &[None, None]), Ok(Some(json!(false))));
    assert_eq!(call("not", &[None]), Ok(Some(json!(true))));
    assert_eq!(call("gt", &[None, Some(json!(1))]), Ok(Some(json!(false))));
    assert_eq!(ok("gte", &[json!("10"), json!(9.5)]), json!(true));
    assert_eq!(
        err("lt", &[Some(json!(1)), Some(json!([1]))]),
        "cannot order a number and a list"
    );
}
