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
