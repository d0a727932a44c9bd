//! The helpers, called directly with JSON arguments.

use super::*;
use crate::budget;
use serde_json::json;

mod lists;
mod values;

fn call(name: &str, args: &[Option<Value>]) -> Result<Option<Value>, String> {
    let params = args.iter().map(Option::as_ref).collect();
    (lookup(name).unwrap().body.unwrap())(&Args { params }).map_err(|e| e.to_string())
}

fn ok(name: &str, args: &[Value]) -> Value {
    let args: Vec<Option<Value>> = args.iter().cloned().map(Some).collect();
    call(name, &args).unwrap().unwrap()
}

fn err(name: &str, args: &[Option<Value>]) -> String {
    call(name, args).unwrap_err()
}

#[test]
fn default_skips_missing_and_null_but_keeps_falsy_values() {
    assert_eq!(
        call("default", &[None, Some(json!("x"))]).unwrap(),
        Some(json!("x"))
    );
    assert_eq!(
        call("default", &[Some(json!(null)), Some(json!(1))]).unwrap(),
        Some(json!(1))
    );
    assert_eq!(ok("default", &[json!(""), json!("x")]), json!(""));
    assert_eq!(ok("default", &[json!(0), json!(5)]), json!(0));
    assert_eq!(ok("default", &[json!(false), json!(true)]), json!(false));
}

#[test]
fn strings() {
    assert_eq!(ok("split", &[json!("a,b"), json!(",")]), json!(["a", "b"]));
    assert_eq!(ok("join", &[json!(["a", 1]), json!("-")]), json!("a-1"));
    assert_eq!(ok("upper", &[json!("ab")]), json!("AB"));
    assert_eq!(ok("trim", &[json!(" a ")]), json!("a"));
    assert_eq!(
        ok("replace", &[json!("a.b"), json!("."), json!("-")]),
        json!("a-b")
    );
    assert_eq!(
        ok("hasPrefix", &[json!("web-1"), json!("web")]),
        json!(true)
    );
    assert_eq!(ok("hasSuffix", &[json!("web-1"), json!("2")]), json!(false));
    assert_eq!(
        ok("regexMatch", &[json!("web-12"), json!("^web-\\d+$")]),
        json!(true)
    );
    assert_eq!(
        ok("regexCapture", &[json!("web-12"), json!("-(\\d+)$")]),
        json!("12")
    );
    assert_eq!(
        call(
            "regexCapture",
            &[Some(json!("web")), Some(json!("-(\\d+)$"))]
        )
        .unwrap(),
        None
    );
    assert_eq!(
        ok(
            "printf",
            &[
                json!("%s-%03d|%-3s|%x"),
                json!("w"),
                json!(7),
                json!("a"),
                json!(255)
            ]
        ),
        json!("w-007|a  |ff")
    );
}

#[test]
fn printf_rejects_a_mismatched_argument_count() {
    assert!(call("printf", &[Some(json!("%s %s")), Some(json!("a"))]).is_err());
    assert!(call(
        "printf",
        &[Some(json!("%s")), Some(json!("a")), Some(json!("b"))]
    )
    .is_err());
}

#[test]
fn numbers() {
    assert_eq!(ok("toInt", &[json!(" 42 ")]), json!(42));
    assert!(call("toInt", &[Some(json!("4x"))]).is_err());
    assert_eq!(ok("add", &[json!(1), json!(2), json!(3)]), json!(6));
    assert_eq!(ok("sub", &[json!(1), json!(3)]), json!(-2));
    assert_eq!(ok("mul", &[json!(2), json!(1.5)]), json!(3.0));
    assert_eq!(ok("div", &[json!(7), json!(2)]), json!(3));
    assert_eq!(ok("mod", &[json!(-1), json!(3)]), json!(2));
    assert!(call("div", &[Some(json!(1)), Some(json!(0))]).is_err());
    assert!(call("add", &[Some(json!(i64::MAX)), Some(json!(1))]).is_err());
}

#[test]
fn collections() {
    assert_eq!(ok("sort", &[json!([3, 1, 2])]), json!([1, 2, 3]));
    assert_eq!(
        ok("sort", &[json!([{"a": 2}, {"a": 1}]), json!("a")]),
        json!([{"a": 1}, {"a": 2}])
    );
    assert_eq!(ok("unique", &[json!([1, 1, 2])]), json!([1, 2]));
    assert_eq!(ok("keys", &[json!({"b": 1, "a": 2})]), json!(["a", "b"]));
    assert_eq!(ok("values", &[json!({"b": 1, "a": 2})]), json!([2, 1]));
    assert_eq!(ok("min", &[json!([3, 1, 2])]), json!(1));
    assert_eq!(ok("max", &[json!(3), json!(9)]), json!(9));
    assert_eq!(ok("range", &[json!(3)]), json!([0, 1, 2]));
    assert_eq!(
        ok("merge", &[json!({"a": {"x": 1}}), json!({"a": {"y": 2}})]),
        json!({"a": {"x": 1, "y": 2}})
    );
    assert_eq!(ok("length", &[json!("héllo")]), json!(5));
    assert_eq!(call("length", &[None]).unwrap(), Some(json!(0)));
}

#[test]
fn filters_over_observed_objects() {
    let pods = json!([
        {"metadata": {"name": "a", "namespace": "x", "labels": {"app.kubernetes.io/name": "web"}}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
        {"metadata": {"name": "b", "namespace": "y"}, "status": {"phase": "Pending"}},
    ]);
    assert_eq!(
        ok(
            "count",
            &[pods.clone(), json!("status.phase"), json!("Running")]
        ),
        json!(1)
    );
    assert_eq!(
        ok("countBy", &[pods.clone(), json!("status.phase")]),
        json!({"Running": 1, "Pending": 1})
    );
    assert_eq!(
        ok(
            "whereLabel",
            &[pods.clone(), json!("app.kubernetes.io/name")]
        )
        .as_array()
        .unwrap()
        .len(),
        1
    );
    assert_eq!(
        ok(
            "whereCondition",
            &[pods.clone(), json!("Ready"), json!("True")]
        )
        .as_array()
        .unwrap()
        .len(),
        1
    );
    assert_eq!(
        ok("find", &[pods.clone(), json!("b")])["metadata"]["namespace"],
        json!("y")
    );
    assert_eq!(
        call("find", &[Some(pods), Some(json!("b")), Some(json!("x"))]).unwrap(),
        None
    );
}

#[test]
fn regex_escape_makes_a_pattern_that_matches_itself() {
    let escaped = ok("regexEscape", &[json!("a.b*(c)")]);
    assert_eq!(escaped, json!("a\\.b\\*\\(c\\)"));
    assert_eq!(
        ok("regexMatch", &[json!("a.b*(c)"), escaped.clone()]),
        json!(true)
    );
    assert_eq!(ok("regexMatch", &[json!("axb*(c)"), escaped]), json!(false));
    assert!(call("regexEscape", &[Some(json!(1))]).is_err());
}

#[test]
fn from_json_checks_its_budget_first_and_reports_where_the_text_is_wrong() {
    let parsed = ok("fromJson", &[json!(r#" {"a": [1, 2.5, null]} "#)]);
    assert_eq!(parsed, json!({"a": [1, 2.5, null]}));
    assert_eq!(ok("fromJson", &[json!("\"s\"")]), json!("s"));
    let bad = |text: &str| err("fromJson", &[Some(json!(text))]);
    assert_eq!(
        bad("{\"a\": }"),
        "not valid JSON: expected value at line 1 column 7"
    );
    assert_eq!(
        bad("[1]\n x"),
        "not valid JSON: trailing characters at line 2 column 2"
    );
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert_eq!(
        bad(&deep),
        "not valid JSON: recursion limit exceeded at line 1 column 128"
    );
    for text in [
        "0",
        "[0]",
        "[0,0,0]",
        "[null]",
        "{\"\":0}",
        "[[0],[]]",
        "[\"\",true]",
    ] {
        let size = budget::size_within(&serde_json::from_str(text).unwrap(), usize::MAX);
        let bound = text.len() * strings::PARSED_GROWTH + budget::SCALAR;
        assert!(size.unwrap() <= bound, "{text} measures more than {bound}");
    }
    let _meter = budget::install(&crate::Limits {
        max_output_bytes: 1000,
        ..crate::Limits::default()
    });
    let text = json!(format!("[{}]", ["0"; 100].join(",")));
    assert_eq!(
        err("fromJson", &[Some(text)]),
        "the render would build more than 1000 bytes (limit max-output-bytes)",
        "refused before parsing"
    );
    // A helper only checks that its result fits; the render charges what it keeps (see
    // tests::limits::helper_results_kept_by_the_render_count_against_the_output_limit).
    let text = json!(format!("[{}]", ["0"; 70].join(",")));
    ok("fromJson", std::slice::from_ref(&text));
    ok("fromJson", std::slice::from_ref(&text));
}

#[test]
fn lookup_counts_negative_positions_from_the_end_and_gives_missing_when_there_is_none() {
    let m = json!({"a": 1, "n": null});
    assert_eq!(ok("lookup", &[m.clone(), json!("a")]), json!(1));
    assert_eq!(ok("lookup", &[m.clone(), json!("n")]), json!(null));
    let l = json!(["x", "y"]);
    assert_eq!(ok("lookup", &[l.clone(), json!(1)]), json!("y"));
    // Negative positions count from the end, as `slice`'s do; a whole float is whole.
    assert_eq!(ok("lookup", &[l.clone(), json!(-1)]), json!("y"));
    assert_eq!(ok("lookup", &[l.clone(), json!(-2)]), json!("x"));
    assert_eq!(ok("lookup", &[l.clone(), json!(1.0)]), json!("y"));
    for (container, key) in [
        (m.clone(), json!("z")),
        (m, json!(0)),
        (l.clone(), json!(2)),
        (l.clone(), json!(-3)),
        (l.clone(), json!(i64::MIN)),
        (l.clone(), json!(0.5)),
        (l, json!("1")),
        (json!("ab"), json!(0)),
    ] {
        let found = call("lookup", &[Some(container.clone()), Some(key.clone())]);
        assert_eq!(found, Ok(None), "{container} {key}");
    }
    assert_eq!(call("lookup", &[None, Some(json!("a"))]), Ok(None));
}

#[test]
fn fail_stops_the_render_with_the_rules_own_message() {
    assert_eq!(
        err("fail", &[Some(json!("spec.ports is empty"))]),
        "spec.ports is empty"
    );
    assert_eq!(err("fail", &[Some(json!({"a": [1]}))]), r#"{"a":[1]}"#);
    let long = err("fail", &[Some(json!("x".repeat(5000)))]);
    assert!(
        long.len() < 300 && long.ends_with("…(5000 bytes)"),
        "{long}"
    );
    let arity = lookup("fail").map(|h| (h.min_args, h.max_args));
    assert_eq!(arity, Some((1, 1)));
}
