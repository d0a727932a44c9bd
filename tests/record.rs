//! `serve --record DIR`: the requests answered with 200, one file per distinct request, Secret
//! data redacted, within the per-rule caps.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{hello_request, repo, Server};

/// The recorded files under `dir`, sorted.
pub fn recorded(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for rule in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for hook in std::fs::read_dir(rule.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            for file in std::fs::read_dir(hook.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if !file.file_name().to_string_lossy().starts_with('.') {
                    files.push(file.path());
                }
            }
        }
    }
    files.sort();
    files
}

/// Polls until `check` holds on the recorded files; panics after a few seconds.
pub fn wait_for_records(dir: &Path, check: impl Fn(&[PathBuf]) -> bool) -> Vec<PathBuf> {
    let start = Instant::now();
    loop {
        let files = recorded(dir);
        if check(&files) {
            return files;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "records never matched: {files:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn record_flag(dir: &Path) -> String {
    dir.display().to_string()
}

#[test]
fn one_file_per_distinct_request_named_by_its_hash() {
    let rec = tempfile::tempdir().unwrap();
    let flag = record_flag(rec.path());
    let server = Server::start(&repo().join("rules"), &["--record", &flag]);
    let first = hello_request(Some("Ada"), 1);
    assert_eq!(server.post_json("/hello/sync", &first).status, 200);
    assert_eq!(server.post_json("/hello/sync", &first).status, 200);
    let other = hello_request(Some("Grace"), 1);
    assert_eq!(server.post_json("/hello/sync", &other).status, 200);
    // Not answered with 200: not recorded.
    assert_eq!(server.post_json("/nosuch/sync", &first).status, 404);
    let refused = server.post_json("/hello/sync", &json!({"parent": 1}));
    assert_ne!(refused.status, 200);

    let files = wait_for_records(rec.path(), |f| f.len() >= 2);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(recorded(rec.path()), files, "one file per distinct request");
    for file in &files {
        assert!(file.starts_with(rec.path().join("hello/sync")), "{file:?}");
        let stem = file.file_stem().unwrap().to_str().unwrap();
        assert_eq!(stem.len(), 64, "{stem}");
        let stored: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let who = stored["parent"]["spec"]["who"].as_str().unwrap();
        assert!(who == "Ada" || who == "Grace", "{who}");
    }
    let metrics = server.get("/metrics").unwrap().text();
    assert!(
        metrics.contains("rulehook_records_dropped_total 0"),
        "{metrics}"
    );
}

#[test]
fn secret_data_is_redacted_and_everything_else_stored_as_sent() {
    let rec = tempfile::tempdir().unwrap();
    let flag = record_flag(rec.path());
    let server = Server::start(&repo().join("rules"), &["--record", &flag]);
    let mut request = hello_request(Some("Ada"), 1);
    request["related"] = json!({
        "Secret.v1": {"db": {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "hello"},
            "data": {"password": "aHVudGVyMg=="},
            "stringData": {"token": "plain-t0k3n"},
        }},
        "ConfigMap.v1": {"settings": {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "hello"},
            "data": {"mode": "visible"},
        }},
    });
    assert_eq!(server.post_json("/hello/sync", &request).status, 200);
    let files = wait_for_records(rec.path(), |f| !f.is_empty());
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(!text.contains("aHVudGVyMg=="), "{text}");
    assert!(!text.contains("plain-t0k3n"), "{text}");
    let stored: Value = serde_json::from_str(&text).unwrap();
    let secret = &stored["related"]["Secret.v1"]["db"];
    assert_eq!(secret["data"], json!({"password": "<redacted>"}));
    assert_eq!(secret["stringData"], json!({"token": "<redacted>"}));
    assert_eq!(secret["metadata"]["name"], "db");
    assert_eq!(
        stored["related"]["ConfigMap.v1"]["settings"]["data"],
        json!({"mode": "visible"})
    );
}

#[test]
fn each_rule_keeps_its_newest_files_within_the_cap() {
    let rec = tempfile::tempdir().unwrap();
    let flag = record_flag(rec.path());
    let server = Server::start(
        &repo().join("rules"),
        &["--record", &flag, "--record-max-files", "2"],
    );
    for who in ["a", "b", "c", "d"] {
        let request = hello_request(Some(who), 1);
        assert_eq!(server.post_json("/hello/sync", &request).status, 200);
    }
    // The writer trims the oldest file after writing a new one: a file listed a moment ago
    // may be gone when it is read.
    let who = |file: &PathBuf| {
        let stored: Value = serde_json::from_slice(&std::fs::read(file).ok()?).unwrap();
        Some(stored["parent"]["spec"]["who"].as_str().unwrap().to_owned())
    };
    let kept = |files: &[PathBuf]| {
        let mut kept: Vec<String> = files.iter().filter_map(who).collect();
        kept.sort();
        kept
    };
    let files = wait_for_records(rec.path(), |f| kept(f).contains(&"d".to_owned()));
    // Once the last is written, the cap holds: the two newest, and nothing older.
    let settled = wait_for_records(rec.path(), |f| kept(f).len() <= 2);
    assert_eq!(kept(&settled), ["c", "d"], "first seen: {files:?}");
}
