//! `rulehook playground`: the real binary on a loopback port, spoken to over real HTTP as
//! its page speaks to it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{free_port, http, repo, Response, BIN};

/// A `rulehook playground` process, killed on drop.
struct Playground {
    child: Child,
    addr: String,
}

impl Playground {
    fn start(extra: &[&str]) -> Playground {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(BIN)
            .arg("playground")
            .arg("--rules")
            .arg(repo().join("rules"))
            .args(["--listen", &addr])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rulehook playground");
        let playground = Playground { child, addr };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if playground.get("/").is_ok_and(|r| r.status == 200) {
                return playground;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the playground did not start");
    }

    fn get(&self, path: &str) -> std::io::Result<Response> {
        http(&self.addr, "GET", path, &[], b"")
    }

    fn post(&self, body: &[u8], headers: &[(&str, &str)]) -> Response {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        http(&self.addr, "POST", "/api/render", &all, body).expect("request")
    }

    /// `POST /api/render` of `rule` and `request` texts, answered 200.
    fn render(&self, rule: &str, request: &str, hook: &str) -> Value {
        let body = json!({"rule": rule, "request": request, "hook": hook});
        let response = self.post(body.to_string().as_bytes(), &[]);
        assert_eq!(response.status, 200, "{}", response.text());
        response.json()
    }
}

impl Drop for Playground {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap()
}

fn hello_rule() -> String {
    text("rules/hello.yaml")
}

fn hello_request() -> String {
    text("tests/fixtures/hello-sync-v1.json")
}

/// The one error diagnostic of an outcome with no answer.
fn only_error(outcome: &Value) -> &Value {
    assert_eq!(outcome["answer"], Value::Null, "{outcome}");
    let errors: Vec<&Value> = outcome["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{outcome}");
    errors[0]
}

/// The 1-based line of `rule` that contains `needle`.
fn line_of(rule: &str, needle: &str) -> u64 {
    let at = rule.lines().position(|l| l.contains(needle)).unwrap();
    u64::try_from(at + 1).unwrap()
}

#[test]
fn the_hello_rule_renders_with_its_values_and_no_change_against_the_saved_rule() {
    let playground = Playground::start(&[]);
    let outcome = playground.render(&hello_rule(), &hello_request(), "sync");
    assert_eq!(outcome["answer"]["status"]["pods"], 1, "{outcome}");
    assert_eq!(
        outcome["answer"]["children"][0]["spec"]["containers"][0]["command"][1],
        "Hello, Your Name!"
    );
    assert_eq!(outcome["values"]["who"], "Your Name");
    assert_eq!(
        outcome["diff"],
        json!({"deleted": [], "created": [], "changed": [], "keys": []})
    );
    assert_eq!(outcome["diagnostics"], json!([]));
    let page = playground.get("/").unwrap();
    assert!(page.text().contains("rulehook playground"));
    let policy = page.header("Content-Security-Policy").unwrap_or_default();
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    let rules = playground.get("/api/rules").unwrap().json();
    let hello = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "hello");
    assert_eq!(hello.unwrap()["text"], hello_rule());
}

#[test]
fn an_edit_shows_what_it_changes_against_the_saved_rule() {
    let playground = Playground::start(&[]);
    let edited = hello_rule().replace("Hello, {{ who }}!", "Hi, {{ who }}!");
    let outcome = playground.render(&edited, &hello_request(), "sync");
    let changed = &outcome["diff"]["changed"][0];
    assert_eq!(changed["object"]["name"], "your-name", "{outcome}");
    assert_eq!(
        changed["fields"][0],
        json!({"change": "changed", "path": "spec.containers[0].command[1]",
               "old": "Hello, Your Name!", "new": "Hi, Your Name!"})
    );
}

#[test]
fn a_yaml_error_is_a_diagnostic_at_its_line_and_no_answer() {
    let playground = Playground::start(&[]);
    let rule = hello_rule().replace("default: World", "default: [World");
    let outcome = playground.render(&rule, &hello_request(), "sync");
    let error = only_error(&outcome);
    assert_eq!(error["source"], "rule");
    // The unclosed list is noticed on the line after it.
    let line = error["line"].as_u64().unwrap();
    let opened = line_of(&rule, "default: [World");
    assert!(line == opened || line == opened + 1, "{outcome}");
    assert!(error["column"].as_u64().unwrap() >= 1);
    assert_eq!(outcome["diff"], Value::Null);
}

#[test]
fn a_render_error_is_a_diagnostic_at_its_place_in_the_rule() {
    let playground = Playground::start(&[]);
    let rule = "name: failing\nvalues:\n  who: $.parent.spec.who\nsync:\n  status:\n    greeting: \"{{#if (eq who 'Your Name')}}{{ fail 'not you' }}{{/if}}\"\n";
    let outcome = playground.render(rule, &hello_request(), "sync");
    let error = only_error(&outcome);
    assert_eq!(error["source"], "rule", "{outcome}");
    assert_eq!(error["line"], 6, "{outcome}");
    assert!(error["column"].as_u64().unwrap() > 1, "{outcome}");
    assert!(
        error["message"].as_str().unwrap().contains("not you"),
        "{outcome}"
    );
    // The values are shown even when the answer fails.
    assert_eq!(outcome["values"]["who"], "Your Name");
}

#[test]
fn kubectl_yaml_objects_are_built_into_the_request_fixture_builds() {
    let playground = Playground::start(&[]);
    let objects = format!(
        "{}\n---\n{}",
        text("tests/fixtures/kubectl/hello-parent.yaml"),
        text("tests/fixtures/kubectl/hello-pods.yaml")
    );
    let outcome = playground.render(&hello_rule(), &objects, "sync");
    assert_eq!(outcome["answer"]["status"]["pods"], 1, "{outcome}");
    assert_eq!(outcome["values"]["name"], "your-name");
    // What the page writes into a test case: the request those objects stand for.
    let body = json!({"rule": hello_rule(), "request": objects, "hook": "sync"}).to_string();
    let built = http(
        &playground.addr,
        "POST",
        "/api/request",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .unwrap()
    .json();
    let pods = &built["request"]["children"]["Pod.v1"];
    assert!(pods["your-name"].is_object(), "{built}");
    assert_eq!(built["request"]["parent"]["spec"]["who"], "Your Name");
    let bad = playground.render(&hello_rule(), "apiVersion: v1\nkind: Pod: x\n", "sync");
    let error = only_error(&bad);
    assert_eq!(
        (error["source"].as_str(), error["line"].as_u64()),
        (Some("request"), Some(2))
    );
}

#[test]
fn another_host_or_another_origin_is_refused() {
    let playground = Playground::start(&[]);
    let body = json!({"rule": hello_rule(), "request": hello_request()}).to_string();
    let foreign = raw_get(&playground.addr, "attacker.example");
    assert!(foreign.starts_with("HTTP/1.1 403"), "{foreign}");
    let cross = playground.post(body.as_bytes(), &[("Origin", "http://attacker.example")]);
    assert_eq!(cross.status, 403, "{}", cross.text());
    let own_origin = format!("http://{}", playground.addr);
    let own = playground.post(body.as_bytes(), &[("Origin", &own_origin)]);
    assert_eq!(own.status, 200, "{}", own.text());
}

/// `GET /` with exactly one `Host` header, as a rebound browser page would send it.
fn raw_get(addr: &str, host: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn a_body_over_the_limit_is_413() {
    // At 16 MiB of memory the largest body is 2 MiB.
    let playground = Playground::start(&["--memory-limit", "16MiB"]);
    let big = "x".repeat(2 * 1024 * 1024 + 1);
    let body = json!({"rule": hello_rule(), "request": big}).to_string();
    let response = playground.post(body.as_bytes(), &[]);
    assert_eq!(response.status, 413, "{}", response.text());
}

#[test]
fn a_render_that_would_blow_the_output_budget_is_a_diagnostic_at_once() {
    let playground = Playground::start(&["--memory-limit", "128MiB"]);
    let mut rule = "name: copies\nvalues:\n  big: $.parent.spec.big\nsync:\n  status:\n".to_owned();
    for i in 0..64 {
        rule.push_str(&format!("    copy{i}: \"{{{{ big }}}}\"\n"));
    }
    let mut request: Value = serde_json::from_str(&hello_request()).unwrap();
    request["parent"]["spec"]["big"] = Value::from("a".repeat(1_150_000));
    let started = Instant::now();
    let outcome = playground.render(&rule, &request.to_string(), "sync");
    let elapsed = started.elapsed();
    let error = only_error(&outcome);
    assert_eq!(error["source"], "rule", "{error}");
    assert!(error["line"].as_u64().unwrap() >= 6, "{error}");
    // Time is a benchmark's matter; this only catches a render that ran to the deadline.
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    // The budget refused the copies before they were made, so the process stayed under its
    // memory limit.
    let peak = crate::support::peak_rss_kib(playground.child.id());
    assert!(peak < 128 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn the_page_is_self_contained() {
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/playground/page.html"),
    )
    .unwrap();
    for remote in ["http://", "https://", "//cdn", "@import"] {
        assert!(!page.contains(remote), "the page fetches `{remote}`");
    }
}

#[test]
fn it_listens_on_loopback_only() {
    let out = crate::support::rulehook(&["playground", "--listen", "0.0.0.0:0"], repo());
    assert_eq!(out.status.code(), Some(2));
    let stderr = crate::support::stderr(&out);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}
