//! Operational isolation: credentials that would silently turn authentication off, log lines
//! that request data could forge, rule links that leave the rule directory, a rule directory
//! that goes away and comes back, and one loader shared by every command.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{free_port, Server, BIN};

/// Starts `rulehook serve` and waits for it to exit; `None` when it is still running (and so
/// serving) after `timeout`. Returns the exit success and stderr.
fn serve_exits(rules: &Path, extra: &[&str], timeout: Duration) -> Option<(bool, String)> {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--rules")
        .arg(rules)
        .args(["--listen", &addr, "--workers", "1", "--log", "warn"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rulehook");
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            return Some((status.success(), stderr));
        }
        let serving =
            crate::support::http(&addr, "GET", "/healthz", &[], b"").is_ok_and(|r| r.status == 200);
        if serving {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_basic_auth_file_of_only_comments_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, "# meta:secret\n\n   \n# nobody yet\n").unwrap();
    let rules = crate::support::repo().join("rules");
    let outcome = serve_exits(
        &rules,
        &["--basic-auth-file", users.to_str().unwrap()],
        Duration::from_secs(10),
    );
    let (success, stderr) = outcome.expect("the server started with no user at all");
    assert!(!success);
    assert!(stderr.contains("no `user:password` line"), "{stderr}");
    assert!(stderr.contains(users.to_str().unwrap()), "{stderr}");

    // One real user among the comments is fine.
    std::fs::write(&users, "# ops\nmeta:secret\n").unwrap();
    let server = Server::start(&rules, &["--basic-auth-file", users.to_str().unwrap()]);
    assert_eq!(server.get("/rules").unwrap().status, 401);
}

/// A hello sync whose parent's namespace and name carry line breaks and ANSI escapes.
fn hostile_hello() -> serde_json::Value {
    let mut request = crate::support::hello_request(Some("world"), 1);
    request["parent"]["metadata"]["name"] =
        serde_json::Value::from("evil\nFORGED name line \u{1b}[31mred\u{7}");
    request["parent"]["metadata"]["namespace"] =
        serde_json::Value::from("ns\r\nFORGED namespace line\u{9b}2J");
    request
}

#[test]
fn text_logs_escape_control_characters_and_cut_long_values() {
    let rules = crate::support::repo().join("rules");
    let (server, log) = Server::start_logged(&rules, &["--log-format", "text", "--log", "info"]);
    assert_eq!(
        server.post_json("/hello/sync", &hostile_hello()).status,
        200
    );
    let forged_path = server
        .request("POST", "/x%0aFORGED%1b[31m/sync", &[], b"{}")
        .unwrap();
    assert_eq!(forged_path.status, 404);
    let long_rule = "a".repeat(500);
    let long = server
        .request("POST", &format!("/{long_rule}/sync"), &[], b"{}")
        .unwrap();
    assert_eq!(long.status, 404);
    log.wait_for("hook request", 3, Duration::from_secs(5));

    let bytes = log.bytes();
    let text = log.text();
    let raw = bytes
        .iter()
        .position(|&b| (b < 0x20 && b != b'\n') || b == 0x7f);
    assert_eq!(raw, None, "a raw control byte in the log:\n{text}");
    assert!(
        !text.contains('\u{9b}'),
        "a raw C1 control in the log:\n{text}"
    );
    for line in text.lines() {
        assert!(
            line.starts_with(|c: char| c.is_ascii_digit()),
            "a line that does not start with a timestamp: {line:?}"
        );
    }
    let requests: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("hook request"))
        .collect();
    assert!(requests[0].contains("FORGED name line"), "{}", requests[0]);
    assert!(requests[1].contains("FORGED"), "{}", requests[1]);
    assert!(
        !text.contains(&long_rule[..201]),
        "a 500-character value was logged whole:\n{text}"
    );
    assert!(
        requests[2].contains(&format!("{}…(500 bytes)", &long_rule[..200])),
        "{}",
        requests[2]
    );
}

fn rule(n: u64) -> String {
    format!("sync:\n  status:\n    n: {n}\n")
}

/// The status a rule answers a minimal sync with.
fn status_of(server: &Server, rule: &str) -> u16 {
    server
        .request(
            "POST",
            &format!("/{rule}/sync"),
            &[("Content-Type", "application/json")],
            b"{\"parent\":{}}",
        )
        .map_or(0, |r| r.status)
}

fn rules_json(server: &Server) -> serde_json::Value {
    server.get("/rules").unwrap().json()
}

/// The `/rules` entry of the file whose label ends with `name`.
fn file_entry(server: &Server, name: &str) -> Option<serde_json::Value> {
    rules_json(server)["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"].as_str().unwrap().ends_with(name))
        .cloned()
}

/// Reload checks counted over `window`, once the watcher has settled.
fn reload_checks_over(server: &Server, window: Duration) -> u64 {
    let before = rules_json(server)["reloadChecks"].as_u64().unwrap();
    std::thread::sleep(window);
    let after = rules_json(server)["reloadChecks"].as_u64().unwrap();
    after - before
}

#[test]
fn a_link_out_of_the_rule_directory_is_refused_without_quoting_its_target() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("passwd");
    std::fs::write(&secret, "root:*:0:0:topsecret:/root:/bin/sh\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), rule(1)).unwrap();
    std::os::unix::fs::symlink(&secret, dir.path().join("passwd.yaml")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("etc.yaml")).unwrap();

    let (server, log) = Server::start_logged(dir.path(), &["--log-format", "text"]);
    assert_eq!(status_of(&server, "a"), 200);
    assert_eq!(status_of(&server, "passwd"), 404);
    assert_eq!(status_of(&server, "etc"), 404);
    for name in ["passwd.yaml", "etc.yaml"] {
        let entry = file_entry(&server, name).expect("the refused link is listed");
        let error = entry["error"].as_str().expect("with an error");
        assert!(error.contains("outside the rule directory"), "{error}");
        assert!(
            !error.contains("root:"),
            "the target's content leaked: {error}"
        );
    }
    log.wait_for("outside the rule directory", 2, Duration::from_secs(5));
    let text = log.text();
    assert!(
        !text.contains("topsecret") && !text.contains("root:"),
        "{text}"
    );
}

#[test]
fn a_link_whose_target_is_deleted_stops_serving_and_nothing_spins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("store")).unwrap();
    let target = dir.path().join("store/b.rule");
    std::fs::write(&target, rule(2)).unwrap();
    std::os::unix::fs::symlink("store/b.rule", dir.path().join("b.yaml")).unwrap();
    std::fs::write(dir.path().join("a.yaml"), rule(1)).unwrap();

    let server = Server::start(dir.path(), &["--recheck-interval", "1s"]);
    assert_eq!(
        status_of(&server, "b"),
        200,
        "a link within the directory serves"
    );
    std::fs::remove_file(&target).unwrap();
    server.wait_until(Duration::from_secs(5), |s| status_of(s, "b") == 404);
    assert!(
        file_entry(&server, "b.yaml").is_none(),
        "gone like a deleted file"
    );
    assert_eq!(status_of(&server, "a"), 200);

    let checks = reload_checks_over(&server, Duration::from_secs(3));
    eprintln!("reload checks in 3 s with a dangling link: {checks}");
    // The 1 s backstop alone makes 3; a retry loop makes 30.
    assert!(checks <= 5, "{checks} reload checks in 3 s");
}

#[test]
fn a_rule_directory_deleted_and_recreated_is_watched_again() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("rules");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.yaml"), rule(1)).unwrap();
    let (server, log) = Server::start_logged(&dir, &["--log-format", "text", "--log", "info"]);
    assert_eq!(status_of(&server, "a"), 200);

    std::fs::remove_dir_all(&dir).unwrap();
    let missing = "cannot read the rule directory";
    log.wait_for(missing, 1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(3));
    let errors = log.count(missing);
    eprintln!("lines about the missing directory in 3 s: {errors}");
    assert!(errors <= 2, "{errors} lines in 3 s:\n{}", log.text());
    assert_eq!(status_of(&server, "a"), 200, "the last rules keep serving");

    std::fs::create_dir(&dir).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let created = Instant::now();
    std::fs::write(dir.join("b.yaml"), rule(2)).unwrap();
    server.wait_until(Duration::from_secs(4), |s| status_of(s, "b") == 200);
    let took = created.elapsed();
    eprintln!("a new file in the recreated directory served after {took:?}");
    // Typically 1.0 to 1.2 s, the new plain file's quiet period (1 s) and a reload; the bound
    // leaves room for a slow connection on a busy machine.
    assert!(took < Duration::from_secs(3), "{took:?}");

    // And the watch is live again: with the directory readable, only an event (not the 30 s
    // re-check) can load a new file within the deadline.
    std::fs::write(dir.join("c.yaml"), rule(3)).unwrap();
    server.wait_until(Duration::from_secs(3), |s| status_of(s, "c") == 200);
}

/// `rulehook check DIR`: its problem lines and its file count.
fn check(dir: &Path) -> (Vec<String>, usize) {
    let out = Command::new(BIN).arg("check").arg(dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
    let summary = lines.pop().unwrap_or_default();
    let files = summary
        .rsplit(" in ")
        .next()
        .unwrap_or(&summary)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no file count in {summary:?}"));
    lines.sort();
    (lines, files)
}

#[test]
fn check_and_serve_load_a_tricky_directory_alike() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.yaml"), rule(9)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    std::fs::write(at("good.yaml"), rule(1)).unwrap();
    std::fs::write(at("bad.yaml"), "sync:\n  status:\n    n: \"{{ nope }}\"\n").unwrap();
    std::fs::write(
        at("manifest.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rules\n",
    )
    .unwrap();
    std::fs::write(at("hello.test.yaml"), "rule: good\ncases: []\n").unwrap();
    std::fs::write(at(".hidden.yaml"), "nope: 1\n").unwrap();
    std::fs::create_dir(at("folder.yaml")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("x.yaml"), at("out.yaml")).unwrap();
    std::os::unix::fs::symlink("good.yaml", at("alias.yml")).unwrap();

    let (mut problems, files) = check(dir.path());
    let server = Server::start(dir.path(), &[]);
    let listing = rules_json(&server);
    let served_files = listing["files"].as_array().unwrap();
    let mut served_problems: Vec<String> = served_files
        .iter()
        .filter_map(|f| f["error"].as_str())
        .flat_map(|e| e.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    served_problems.sort();
    problems.retain(|l| !l.is_empty());
    assert_eq!(problems, served_problems, "check and serve disagree");
    assert_eq!(files, served_files.len(), "{listing:#}");
    // A link within the directory is a rule of its own name.
    assert_eq!(status_of(&server, "good"), 200);
    assert_eq!(status_of(&server, "alias"), 200);
    assert_eq!(status_of(&server, "out"), 404);
    assert_eq!(status_of(&server, "manifest"), 404);
    assert!(
        problems.iter().any(|p| p.contains("bad.yaml")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("out.yaml")),
        "{problems:?}"
    );
    assert!(
        !problems.iter().any(|p| p.contains("manifest")),
        "{problems:?}"
    );
}

#[test]
fn a_rule_named_by_its_file_keeps_every_dot_but_the_extensions() {
    let hello = std::fs::read_to_string(crate::support::repo().join("rules/hello.yaml")).unwrap();
    let unnamed: String = hello
        .lines()
        .filter(|l| !l.starts_with("name:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir =
        crate::support::configmap::ConfigMapDir::new(&[("dots.in.name.yaml", unnamed.as_str())]);
    let server = Server::start(&dir.path, &[]);
    let request = crate::support::hello_request(Some("dots"), 1);
    assert_eq!(server.post_json("/dots.in.name/sync", &request).status, 200);
    assert_eq!(server.post_json("/dots/sync", &request).status, 404);
}

#[test]
fn json_logs_cut_long_values_from_the_request_too() {
    let rules = crate::support::repo().join("rules");
    let (server, log) = Server::start_logged(&rules, &["--log-format", "json", "--log", "info"]);
    let long_rule = "b".repeat(500);
    let r = server
        .request("POST", &format!("/{long_rule}/sync"), &[], b"{}")
        .unwrap();
    assert_eq!(r.status, 404);
    log.wait_for("hook request", 1, Duration::from_secs(5));
    let text = log.text();
    assert!(!text.contains(&long_rule[..201]), "logged whole:\n{text}");
    assert!(text.contains("…(500 bytes)"), "{text}");
}

#[test]
fn every_access_log_line_is_written_off_the_request_path_and_drops_would_be_counted() {
    let rules = crate::support::repo().join("rules");
    let (server, log) = Server::start_logged(&rules, &["--log-format", "json", "--log", "info"]);
    let request = crate::support::hello_request(Some("log"), 1);
    let per_thread = 250;
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..per_thread {
                    assert_eq!(server.post_json("/hello/sync", &request).status, 200);
                }
            });
        }
    });
    // One line per request, written by the log thread, none lost at the default buffer.
    log.wait_for("\"hook request\"", 4 * per_thread, Duration::from_secs(10));
    assert_eq!(log.count("\"hook request\""), 4 * per_thread);
    let metrics = server.get("/metrics").unwrap().text();
    assert!(
        metrics.contains("\nrulehook_log_lines_dropped_total 0\n"),
        "{metrics}"
    );
}

#[test]
fn a_failed_call_names_its_object_in_the_access_log_and_the_warning() {
    let lines = log_of_a_failed_call("info", "hook request");
    let find = |message: &str| {
        lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no `{message}` line in {lines:?}"))
    };
    for line in [find("hook request"), find("rule failed")] {
        assert_eq!(line["parent"], "team-a/s1", "{line}");
        assert_eq!(line["kind"], "Strict", "{line}");
        assert_eq!(line["uid"], "0f3c-77", "{line}");
        assert_eq!(line["rule"], "strict", "{line}");
    }
    assert_eq!(find("hook request")["status"], 500);
    let warning = find("rule failed");
    assert!(
        warning["error"].as_str().unwrap().contains("strict.yaml:3"),
        "{warning}"
    );
}

/// With no access log the server does not keep who a call is about, yet a failure still
/// names it.
#[test]
fn a_failed_call_names_its_object_in_the_warning_with_no_access_log() {
    let lines = log_of_a_failed_call("warn", "rule failed");
    assert!(lines.iter().all(|l| l["message"] != "hook request"));
    let warning = lines
        .iter()
        .find(|l| l["message"] == "rule failed")
        .expect("a `rule failed` line");
    assert_eq!(warning["parent"], "team-a/s1", "{warning}");
    assert_eq!(warning["uid"], "0f3c-77", "{warning}");
}

/// The JSON log lines of a server at `level` once it has answered 500 to a call whose
/// rule fails, and written its `wait_for` line.
fn log_of_a_failed_call(level: &str, wait_for: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    // Fails on a render: a number that is not one.
    std::fs::write(
        dir.path().join("strict.yaml"),
        "sync:\n  status:\n    n: \"{{ toInt parent.spec.why }}\"\n",
    )
    .unwrap();
    let (server, log) = Server::start_logged(dir.path(), &["--log-format", "json", "--log", level]);
    let request = serde_json::json!({
        "parent": {
            "apiVersion": "example.com/v1",
            "kind": "Strict",
            "metadata": {"name": "s1", "namespace": "team-a", "uid": "0f3c-77"},
            "spec": {"why": "no way"}
        }
    });
    assert_eq!(server.post_json("/strict/sync", &request).status, 500);
    log.wait_for(&format!("\"{wait_for}\""), 1, Duration::from_secs(5));
    log.text()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
