//! Hot reload against a directory laid out and updated like a ConfigMap volume.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::configmap::ConfigMapDir;
use crate::support::Server;

fn rule(n: u64) -> String {
    format!("sync:\n  status:\n    n: {n}\n")
}

const BROKEN: &str = "sync:\n  status:\n    n: \"{{ nope }}\"\n";

/// A rule's sync answer to an empty parent, or the HTTP status when it is not 200 (0 when
/// the call itself failed).
pub(crate) fn sync_answer(server: &Server, rule: &str) -> Result<serde_json::Value, u16> {
    let r = server
        .request(
            "POST",
            &format!("/{rule}/sync"),
            &[("Content-Type", "application/json")],
            b"{\"parent\":{}}",
        )
        .map_err(|_| 0u16)?;
    if r.status != 200 {
        return Err(r.status);
    }
    Ok(r.json())
}

/// The `n` a rule currently answers, or the HTTP status when it does not answer 200.
fn answer(server: &Server, rule: &str) -> Result<u64, u16> {
    Ok(sync_answer(server, rule)?["status"]["n"]
        .as_u64()
        .unwrap_or(u64::MAX))
}

fn rules_json(server: &Server) -> Value {
    server.get("/rules").unwrap().json()
}

fn wait_for(server: &Server, rule: &str, want: Result<u64, u16>) -> Duration {
    server.wait_until(Duration::from_secs(3), |s| answer(s, rule) == want)
}

#[test]
fn edits_are_served_within_a_second() {
    let mut dir = ConfigMapDir::new(&[("a.yaml", &rule(0))]);
    let server = Server::start(&dir.path, &[]);
    assert_eq!(answer(&server, "a"), Ok(0));
    let mut latencies = Vec::new();
    for n in 1..=20 {
        let swapped = Instant::now();
        dir.update(&[("a.yaml", &rule(n))]);
        wait_for(&server, "a", Ok(n));
        latencies.push(swapped.elapsed());
    }
    latencies.sort();
    let (median, max) = (
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
    );
    eprintln!("swap-to-new-answer over 20 swaps: median {median:?}, max {max:?}");
    assert!(max < Duration::from_secs(1), "max {max:?}");
}

#[test]
fn a_bad_edit_keeps_the_old_answer_and_a_fix_replaces_it() {
    let mut dir = ConfigMapDir::new(&[("a.yaml", &rule(1)), ("b.yaml", &rule(7))]);
    let server = Server::start(&dir.path, &[]);
    dir.update(&[("a.yaml", BROKEN), ("b.yaml", &rule(7))]);
    server.wait_until(Duration::from_secs(3), |s| {
        rules_json(s)["files"][0]["error"].is_string()
    });
    let listing = rules_json(&server);
    let error = listing["rules"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("a.yaml:3:8: unknown value `nope`"),
        "{error}"
    );
    assert_eq!(
        answer(&server, "a"),
        Ok(1),
        "the last good version keeps serving"
    );
    assert_eq!(answer(&server, "b"), Ok(7), "other rules are untouched");
    assert_eq!(server.get("/readyz").unwrap().status, 200);

    dir.update(&[("a.yaml", &rule(2)), ("b.yaml", &rule(7))]);
    wait_for(&server, "a", Ok(2));
    assert!(rules_json(&server)["rules"][0]["error"].is_null());
}

#[test]
fn a_new_bad_file_is_not_served() {
    let mut dir = ConfigMapDir::new(&[("a.yaml", &rule(1))]);
    let server = Server::start(&dir.path, &[]);
    dir.update(&[("a.yaml", &rule(1)), ("c.yaml", BROKEN)]);
    server.wait_until(Duration::from_secs(3), |s| {
        rules_json(s)["files"].as_array().unwrap().len() == 2
    });
    assert_eq!(answer(&server, "c"), Err(404));
    assert_eq!(answer(&server, "a"), Ok(1));
}

#[test]
fn keys_added_and_removed() {
    let mut dir = ConfigMapDir::new(&[("a.yaml", &rule(1))]);
    let server = Server::start(&dir.path, &[]);
    assert_eq!(answer(&server, "b"), Err(404));
    dir.update(&[("a.yaml", &rule(1)), ("b.yaml", &rule(2))]);
    wait_for(&server, "b", Ok(2));
    dir.update(&[("b.yaml", &rule(2))]);
    wait_for(&server, "a", Err(404));
    assert_eq!(answer(&server, "b"), Ok(2));
}

#[test]
fn a_plain_directory_is_watched_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.yaml");
    std::fs::write(&file, rule(1)).unwrap();
    let server = Server::start(dir.path(), &[]);
    assert_eq!(answer(&server, "a"), Ok(1));
    std::fs::write(&file, rule(2)).unwrap();
    wait_for(&server, "a", Ok(2));
    std::fs::write(dir.path().join("b.yaml"), rule(3)).unwrap();
    wait_for(&server, "b", Ok(3));
    std::fs::remove_file(&file).unwrap();
    wait_for(&server, "a", Err(404));
}

#[test]
fn poll_mode_picks_up_changes() {
    let mut dir = ConfigMapDir::new(&[("a.yaml", &rule(1))]);
    let server = Server::start(
        &dir.path,
        &["--watch", "poll", "--recheck-interval", "200ms"],
    );
    dir.update(&[("a.yaml", &rule(2))]);
    wait_for(&server, "a", Ok(2));
}

#[test]
fn nothing_changes_for_three_seconds_so_nothing_reloads() {
    let mut dir = ConfigMapDir::new(&[("a.yaml", &rule(1))]);
    let server = Server::start(&dir.path, &[]);
    // One real change first: re-reading the files raises access events, and a watcher that
    // reloaded on those would go on reloading forever from here.
    dir.update(&[("a.yaml", &rule(2))]);
    wait_for(&server, "a", Ok(2));
    std::thread::sleep(Duration::from_millis(600));
    let before = rules_json(&server);
    std::thread::sleep(Duration::from_secs(3));
    let after = rules_json(&server);
    assert_eq!(after["reloadChecks"], before["reloadChecks"]);
    assert_eq!(after["generation"], before["generation"]);
}

#[test]
fn a_hundred_swaps_under_load_fail_no_request() {
    let mut dir = ConfigMapDir::new(&[("a.yaml", &rule(0))]);
    let server = Arc::new(Server::start(&dir.path, &[]));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (server, stop, sent) = (server.clone(), stop.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match answer(&server, "a") {
                        Ok(n) if n <= 100 => {}
                        other => failures.push(other),
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                failures
            })
        })
        .collect();
    for n in 1..=100 {
        dir.update(&[("a.yaml", &rule(n))]);
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_for(&server, "a", Ok(100));
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<_> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let sent = sent.load(Ordering::Relaxed);
    eprintln!("100 swaps: {sent} requests, {} failed", failures.len());
    assert!(sent > 100, "the clients ran: {sent}");
    assert_eq!(failures, Vec::<Result<u64, u16>>::new());
}

/// A rule answering with `status.version` and `children` ConfigMaps. Its text up to any
/// child is itself a valid rule with fewer children, as a file caught mid-write would be.
fn rule_with_children(version: u64, children: usize) -> String {
    let mut text = format!("sync:\n  status:\n    version: {version}\n  children:\n");
    for i in 1..=children {
        text.push_str(&format!(
            "    - apiVersion: v1\n      kind: ConfigMap\n      metadata:\n        name: child-{i}\n"
        ));
    }
    text
}

/// `rule_with_children(version, 3)` cut before its third child, as two writes: the first
/// part a valid rule with two children, then the rest.
fn in_two_parts(version: u64) -> (String, String) {
    let mut whole = rule_with_children(version, 3);
    let third = rule_with_children(version, 2).len();
    let rest = whole.split_off(third);
    (whole, rest)
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// The `status.version` a rule answers and how many children, or the HTTP status.
fn version_and_children(server: &Server, rule: &str) -> Result<(u64, usize), u16> {
    let body = sync_answer(server, rule)?;
    let children = body["children"].as_array().map_or(0, Vec::len);
    Ok((
        body["status"]["version"].as_u64().unwrap_or(u64::MAX),
        children,
    ))
}

#[test]
fn a_plain_file_written_in_two_parts_is_never_served_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.yaml");
    std::fs::write(&file, rule_with_children(1, 3)).unwrap();
    let server = Arc::new(Server::start(dir.path(), &[]));
    assert_eq!(version_and_children(&server, "a"), Ok((1, 3)));

    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (server, stop) = (server.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                answers.push(version_and_children(&server, "a"));
                std::thread::sleep(Duration::from_millis(5));
            }
            answers
        })
    };
    for version in 2..=4 {
        let (first, rest) = in_two_parts(version);
        std::fs::write(&file, first).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        append(&file, &rest);
        server.wait_until(Duration::from_secs(5), |s| {
            version_and_children(s, "a") == Ok((version, 3))
        });
    }
    stop.store(true, Ordering::Relaxed);
    let answers = prober.join().unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for answer in &answers {
        *seen.entry(*answer).or_insert(0usize) += 1;
    }
    eprintln!("two-part writes, answers (version, children) and how often: {seen:?}");
    assert!(answers.len() > 100, "the prober ran: {}", answers.len());
    assert!(
        seen.keys().all(|answer| matches!(answer, Ok((_, 3)))),
        "a probe got other than three children: {seen:?}"
    );
}

#[test]
fn a_plain_file_being_written_at_start_up_is_served_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.yaml");
    let (first, rest) = in_two_parts(1);
    std::fs::write(&file, first).unwrap();
    let finishing = {
        let file = file.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            append(&file, &rest);
        })
    };
    let server = Server::start(dir.path(), &[]);
    let first_answer = version_and_children(&server, "a");
    finishing.join().unwrap();
    assert_eq!(first_answer, Ok((1, 3)), "the first answer after start-up");
}

/// The `rulehook_rule_info` series in a metrics text: (rule, sha256) pairs.
fn rule_info(server: &Server) -> Vec<(String, String)> {
    let text = server.get("/metrics").unwrap().text();
    let mut series: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("rulehook_rule_info{"))
        .map(|labels| {
            let label = |name: &str| {
                let start = labels.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                let end = start + labels[start..].find('"').unwrap();
                labels[start..end].to_owned()
            };
            assert!(labels.ends_with("} 1"), "{labels}");
            (label("rule"), label("sha256"))
        })
        .collect();
    series.sort();
    series
}

pub(crate) fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn rule_info_names_the_content_each_rule_is_served_from_and_drops_replaced_series() {
    let (a1, b) = (rule(1), rule(7));
    let mut dir = ConfigMapDir::new(&[("a.yaml", &a1), ("b.yaml", &b)]);
    let server = Server::start(&dir.path, &[]);
    assert_eq!(
        rule_info(&server),
        vec![
            ("a".to_owned(), sha256_hex(&a1)),
            ("b".to_owned(), sha256_hex(&b))
        ]
    );
    let a2 = rule(2);
    dir.update(&[("a.yaml", &a2)]);
    wait_for(&server, "a", Ok(2));
    wait_for(&server, "b", Err(404));
    // The series of a's old content and of b, no longer served, are gone.
    assert_eq!(rule_info(&server), vec![("a".to_owned(), sha256_hex(&a2))]);
}
