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
