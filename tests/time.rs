//! The time a rule sees as `now`: pinned offline (`render --now`, a suite's `now:`), taken
//! from the clock by the server, kept with each recorded request, and the same on both
//! sides of a `rulehook diff`.

use std::path::Path;

use serde_json::Value;

use crate::record::wait_for_records;
use crate::support::{rulehook, stderr, stdout, Server};

const CLOCK: &str = "values:\n  name: $.parent.metadata.name\nsync:\n  status:\n    seen: \"{{ now }}\"\n  children:\n    - apiVersion: v1\n      kind: ConfigMap\n      metadata:\n        name: \"{{ name }}\"\n      data:\n        at: \"{{ now }}\"\n";

const REQUEST: &str =
    r#"{"parent": {"metadata": {"name": "p", "namespace": "ns"}}, "children": {}}"#;

fn clock_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clock.yaml"), CLOCK).unwrap();
    std::fs::write(dir.path().join("req.json"), REQUEST).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn render_sees_the_time_given_with_now_and_refuses_another_form() {
    let dir = clock_dir();
    let args = ["render", "clock", "req.json", "--rules", "."];
    let pinned = rulehook(
        &[&args[..], &["--now", "2026-01-01T00:00:00Z"]].concat(),
        dir.path(),
    );
    let answer: Value = serde_json::from_str(&stdout(&pinned)).unwrap();
    assert_eq!(answer["status"]["seen"], "2026-01-01T00:00:00Z");

    let clock = rulehook(&args, dir.path());
    let answer: Value = serde_json::from_str(&stdout(&clock)).unwrap();
    let seen = answer["status"]["seen"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(seen).is_ok(), "{seen}: the clock");

    let bad = rulehook(&[&args[..], &["--now", "2026-01-01"]].concat(), dir.path());
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("`2026-01-01` is not a time in RFC 3339 in whole seconds and UTC"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn a_suite_pins_the_time_per_case_or_for_all_and_must_pin_it() {
    let dir = clock_dir();
    write(
        dir.path(),
        "clock.test.yaml",
        "rule: clock\nnow: \"2026-01-01T00:00:00Z\"\ncases:\n  - name: the suite's time\n    requestFile: req.json\n    expectPartial: {status: {seen: \"2026-01-01T00:00:00Z\"}}\n  - name: its own time\n    now: \"2026-06-01T12:00:00Z\"\n    requestFile: req.json\n    expectPartial: {status: {seen: \"2026-06-01T12:00:00Z\"}}\n",
    );
    let out = rulehook(&["test", "clock.test.yaml"], dir.path());
    assert_eq!(
        stdout(&out).lines().last(),
        Some("2 passed, 0 failed"),
        "{}",
        stdout(&out)
    );

    write(
        dir.path(),
        "clock.test.yaml",
        "rule: clock\ncases:\n  - name: unpinned\n    requestFile: req.json\n    expectPartial: {status: {}}\n",
    );
    let out = rulehook(&["test", "clock.test.yaml"], dir.path());
    assert!(
        stdout(&out).contains("rule `clock` reads `now`; pin the time with `now: \"2026-01-01T00:00:00Z\"` on the case or the suite"),
        "{}",
        stdout(&out)
    );
    assert_eq!(out.status.code(), Some(1));

    write(
        dir.path(),
        "clock.test.yaml",
        "rule: clock\ncases:\n  - name: a bad time\n    now: \"2026-01-01T00:00:00+02:00\"\n    requestFile: req.json\n",
    );
    let out = rulehook(&["test", "clock.test.yaml"], dir.path());
    assert!(
        stdout(&out).starts_with("FAIL clock.test.yaml:4:10: `now`: `2026-01-01T00:00:00+02:00` is not a time in RFC 3339"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_recorded_request_keeps_its_time_and_diff_renders_both_sides_at_one_time() {
    let rules = clock_dir();
    let rec = tempfile::tempdir().unwrap();
    let flag = rec.path().display().to_string();
    let server = Server::start(rules.path(), &["--record", &flag]);
    let request: Value = serde_json::from_str(REQUEST).unwrap();
    let answer = server.post_json("/clock/sync", &request);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let files = wait_for_records(rec.path(), |f| !f.is_empty());
    let stored: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(stored["rulehook.now"], answer.json()["status"]["seen"]);

    // Recorded a while ago: diff renders both sides at that time, not at the clock's.
    let mut old = stored.clone();
    old["rulehook.now"] = Value::from("2020-01-01T00:00:00Z");
    std::fs::write(&files[0], serde_json::to_vec(&old).unwrap()).unwrap();
    let new_rules = tempfile::tempdir().unwrap();
    write(
        new_rules.path(),
        "clock.yaml",
        &CLOCK.replace("seen:", "seenAt:"),
    );
    let old_dir = rules.path().display().to_string();
    let new_dir = new_rules.path().display().to_string();
    let out = rulehook(
        &["diff", "--old", &old_dir, "--new", &new_dir, &flag],
        rec.path(),
    );
    let text = stdout(&out);
    assert!(
        text.contains("+ status.seenAt: \"2020-01-01T00:00:00Z\""),
        "{text}"
    );
    assert!(
        !text.contains("ConfigMap"),
        "the time in the child is no change: {text}"
    );
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));

    // A request with no time of its own: one clock reading for both sides.
    let plain = tempfile::tempdir().unwrap();
    write(plain.path(), "req.json", REQUEST);
    let out = rulehook(
        &[
            "diff", "--old", &old_dir, "--new", &old_dir, "--rule", "clock", "req.json",
        ],
        plain.path(),
    );
    assert!(
        stdout(&out).ends_with("1 request: 0 deletions, 0 creations, 0 changes\n"),
        "{}",
        stdout(&out)
    );
}
