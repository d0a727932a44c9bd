//! Rules that share a library: both answer with it, and a change to the library reaches
//! both, while a broken or missing library leaves each on its last good version.

use std::time::Duration;

use crate::support::configmap::ConfigMapDir;
use crate::support::{rulehook, stderr, stdout, Server};

fn library(prefix: &str) -> String {
    format!("functions:\n  label:\n    params: [n]\n    expr: \"{{{{ concat '{prefix}' n }}}}\"\ntemplates:\n  counted:\n    params: [n]\n    template: {{label: \"{{{{ label n }}}}\"}}\n")
}

pub(crate) const BROKEN: &str =
    "functions:\n  label:\n    params: [n]\n    expr: \"{{ nope n }}\"\n";

const A: &str = "imports: [shared]\nsync:\n  status: {a: \"{{ label 'a' }}\"}\n";
const B: &str = "imports: [shared]\nsync:\n  status:\n    b: {$use: counted, $with: {n: b}}\n";

pub(crate) fn answer(server: &Server, rule: &str) -> Option<String> {
    let answer = crate::reload::sync_answer(server, rule).ok()?;
    Some(answer["status"].to_string())
}

fn files(lib: &str) -> Vec<(&'static str, String)> {
    vec![
        ("shared.lib.yaml", lib.to_owned()),
        ("a.yaml", A.to_owned()),
        ("b.yaml", B.to_owned()),
    ]
}

fn update(dir: &mut ConfigMapDir, files: &[(&'static str, String)]) {
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    dir.update(&borrowed);
}

#[test]
fn two_rules_share_a_library_and_follow_its_changes() {
    let first = files(&library("x-"));
    let borrowed: Vec<(&str, &str)> = first.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let mut dir = ConfigMapDir::new(&borrowed);
    let server = Server::start(&dir.path, &[]);
    assert_eq!(answer(&server, "a").as_deref(), Some(r#"{"a":"x-a"}"#));
    assert_eq!(
        answer(&server, "b").as_deref(),
        Some(r#"{"b":{"label":"x-b"}}"#)
    );
    assert!(
        answer(&server, "shared").is_none(),
        "a library is not a rule"
    );

    update(&mut dir, &files(&library("y-")));
    server.wait_until(Duration::from_secs(3), |s| {
        answer(s, "a").as_deref() == Some(r#"{"a":"y-a"}"#)
            && answer(s, "b").as_deref() == Some(r#"{"b":{"label":"y-b"}}"#)
    });

    // A broken library keeps each rule that imports it on its last good version.
    update(&mut dir, &files(BROKEN));
    server.wait_until(Duration::from_secs(3), |s| {
        s.get("/rules").unwrap().text().contains("shared")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(answer(&server, "a").as_deref(), Some(r#"{"a":"y-a"}"#));
    assert_eq!(
        answer(&server, "b").as_deref(),
        Some(r#"{"b":{"label":"y-b"}}"#)
    );

    // So does a library that disappears.
    let without: Vec<(&'static str, String)> = files(BROKEN).into_iter().skip(1).collect();
    update(&mut dir, &without);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(answer(&server, "a").as_deref(), Some(r#"{"a":"y-a"}"#));

    update(&mut dir, &files(&library("z-")));
    server.wait_until(Duration::from_secs(3), |s| {
        answer(s, "b").as_deref() == Some(r#"{"b":{"label":"z-b"}}"#)
    });
}

#[test]
fn check_reports_a_broken_library_and_every_rule_it_stops() {
    let temp = tempfile::tempdir().unwrap();
    for (name, text) in files(BROKEN) {
        std::fs::write(temp.path().join(name), text).unwrap();
    }
    let out = rulehook(&["check", "."], temp.path());
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("shared.lib.yaml:4:11: unknown helper `nope`"),
        "{text}"
    );
    for rule in ["a.yaml", "b.yaml"] {
        assert!(
            text.contains(&format!("{rule}:1:1: cannot load: the library `shared`")),
            "{text}"
        );
    }

    for (name, text) in files(&library("x-")) {
        std::fs::write(temp.path().join(name), text).unwrap();
    }
    let out = rulehook(&["check", "."], temp.path());
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    // A definition no rule uses is a warning.
    std::fs::remove_file(temp.path().join("b.yaml")).unwrap();
    let out = rulehook(&["check", "."], temp.path());
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains(
            "shared.lib.yaml:6:3: warning: `counted` is never used by a rule of this directory"
        ),
        "{text}"
    );
    assert!(!text.contains("`label` is never used"), "{text}");
}

#[test]
fn test_render_and_controllers_read_a_directory_with_a_library() {
    let temp = tempfile::tempdir().unwrap();
    // What `controllers` needs to know of each rule.
    let controller =
        "controller: {spec: {parentResource: {apiVersion: example.com/v1, resource: things}}}\n";
    for (name, text) in files(&library("x-")) {
        let text = if name.ends_with(".lib.yaml") {
            text
        } else {
            text + controller
        };
        std::fs::write(temp.path().join(name), text).unwrap();
    }
    let suite = "rule: b\ncases:\n  - name: the template from the library\n    request: {parent: {}}\n    expect:\n      status: {b: {label: x-b}}\n      children: []\n";
    std::fs::write(temp.path().join("b.test.yaml"), suite).unwrap();
    std::fs::write(temp.path().join("request.json"), "{\"parent\": {}}").unwrap();

    let out = rulehook(&["test", "."], temp.path());
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("1 passed"), "{}", stdout(&out));

    for rule in ["a", "a.yaml"] {
        let out = rulehook(
            &["render", rule, "request.json", "--rules", "."],
            temp.path(),
        );
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains("x-a"), "{}", stdout(&out));
    }

    let out = rulehook(
        &[
            "controllers",
            "--rules",
            ".",
            "--base-url",
            "http://rulehook",
        ],
        temp.path(),
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let manifests = stdout(&out);
    assert!(manifests.contains("name: a-controller"), "{manifests}");
    assert!(!manifests.contains("shared"), "{manifests}");
}

#[test]
fn rules_and_metrics_name_every_library_a_rule_reaches_with_its_hash() {
    let shared = library("x-");
    let outer = "imports: [shared]\nfunctions:\n  twice:\n    params: [n]\n    expr: \"{{ label (label n) }}\"\n";
    let c = "imports: [outer]\nsync:\n  status: {c: \"{{ twice 'c' }}\"}\n";
    let dir = ConfigMapDir::new(&[
        ("shared.lib.yaml", shared.as_str()),
        ("outer.lib.yaml", outer),
        ("a.yaml", A),
        ("c.yaml", c),
        ("plain.yaml", "sync:\n  status: {}\n"),
    ]);
    let server = Server::start(&dir.path, &[]);
    assert_eq!(answer(&server, "c").as_deref(), Some(r#"{"c":"x-x-c"}"#));
    let sha = |text: &str| {
        use sha2::Digest;
        sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let listing = server.get("/rules").unwrap().json();
    let libraries_of = |rule: &str| {
        listing["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == rule)
            .map(|r| r["libraries"].clone())
            .unwrap()
    };
    let shared_entry = serde_json::json!({
        "name": "shared", "file": dir.path.join("shared.lib.yaml"), "sha256": sha(&shared),
    });
    let outer_entry = serde_json::json!({
        "name": "outer", "file": dir.path.join("outer.lib.yaml"), "sha256": sha(outer),
    });
    assert_eq!(libraries_of("a"), serde_json::json!([shared_entry]));
    assert_eq!(
        libraries_of("c"),
        serde_json::json!([outer_entry, shared_entry])
    );
    assert_eq!(libraries_of("plain"), serde_json::json!([]));

    let metrics = server.get("/metrics").unwrap().text();
    let mut series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("rulehook_library_info{"))
        .collect();
    series.sort_unstable();
    assert_eq!(
        series,
        [
            format!(
                r#"rulehook_library_info{{library="outer",sha256="{}"}} 1"#,
                sha(outer)
            ),
            format!(
                r#"rulehook_library_info{{library="shared",sha256="{}"}} 1"#,
                sha(&shared)
            ),
        ]
    );
    assert!(metrics.contains(r#"rulehook_rule_info{rule="c",sha256=""#));
}

#[test]
fn test_names_the_place_in_the_library_where_a_case_failed() {
    let temp = tempfile::tempdir().unwrap();
    let shared = "functions:\n  bump:\n    params: [n]\n    expr: \"{{ add n 1 }}\"\ntemplates:\n  counted:\n    params: [n]\n    template:\n      size: \"{{ add n 1 }}\"\n";
    let rules = [
        ("shared.lib.yaml", shared),
        ("t.yaml", "imports: [shared]\nsync:\n  status:\n    t: {$use: counted, $with: {n: b}}\n"),
        ("f.yaml", "imports: [shared]\nsync:\n  status: {f: \"{{ bump 'a' }}\"}\n"),
        ("t.test.yaml", "rule: t\ncases:\n- name: in a template\n  request: {parent: {}}\n  expect: {status: {}}\n"),
        ("f.test.yaml", "rule: f\ncases:\n- name: in a function\n  request: {parent: {}}\n  expect: {status: {}}\n"),
    ];
    for (name, text) in rules {
        std::fs::write(temp.path().join(name), text).unwrap();
    }
    let out = rulehook(&["test", "."], temp.path());
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.contains("0 passed, 2 failed"), "{text}");
    assert!(
        text.contains("t.yaml:4:15: in template `counted` at ./shared.lib.yaml:9:13: add:"),
        "{text}"
    );
    assert!(
        text.contains("f.yaml:3:15: in function `bump` at ./shared.lib.yaml:4:11: add:"),
        "{text}"
    );
}
