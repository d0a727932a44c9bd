//! Limits, load shedding, slow clients, and what a rule can never do.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::configmap::ConfigMapDir;
use crate::support::{hello_request, Server};

const JSON: (&str, &str) = ("Content-Type", "application/json");

const FANOUT: &str = "values:\n  n: {path: $.parent.spec.n, default: 0}\n  text: {path: $.parent.spec.text, default: x}\nsync:\n  children:\n    - $forEach: \"{{ n }}\"\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: \"c-{{ item }}\"}\n      data: {text: \"{{ text }}\"}\n";

fn fanout(server: &Server, n: u64, text: &str) -> (u16, String) {
    let r = server.post_json(
        "/fanout/sync",
        &json!({"parent": {"spec": {"n": n, "text": text}}}),
    );
    (r.status, r.text())
}

#[test]
fn render_limits_are_configurable_and_named_in_the_error() {
    let dir = ConfigMapDir::new(&[("fanout.yaml", FANOUT)]);
    let server = Server::start(
        &dir.path,
        &[
            "--max-loop-items",
            "50",
            "--max-output-bytes",
            "20000",
            "--max-render-steps",
            "500",
        ],
    );
    assert_eq!(fanout(&server, 50, "x").0, 200);
    let (status, text) = fanout(&server, 51, "x");
    assert_eq!(status, 500);
    assert!(
        text.contains("limit max-loop-items") && text.contains("fanout.yaml:6:"),
        "{text}"
    );
    let (status, text) = fanout(&server, 10, &"y".repeat(3000));
    assert_eq!(status, 500);
    assert!(text.contains("limit max-output-bytes"), "{text}");

    let defaults = Server::start(&dir.path, &[]);
    assert_eq!(
        fanout(&defaults, 10_000, "x").0,
        200,
        "10,000 items is the default cap"
    );
    let (status, text) = fanout(&defaults, 10_001, "x");
    assert_eq!(status, 500, "{text}");
}

#[test]
fn the_render_step_budget_is_a_500_naming_the_limit() {
    let dir = ConfigMapDir::new(&[("fanout.yaml", FANOUT)]);
    let server = Server::start(&dir.path, &["--max-render-steps", "100"]);
    let (status, text) = fanout(&server, 200, "x");
    assert_eq!(status, 500);
    assert!(text.contains("limit max-render-steps"), "{text}");
}

#[test]
fn five_hundred_idle_connections_do_not_hold_up_a_real_request() {
    let server = Server::bundled();
    let mut idle = Vec::new();
    // From another peer: this client alone could not hold 500 (--max-connections-per-peer).
    for i in 0..500 {
        let mut s = crate::support::from_another_peer(&server.addr).unwrap();
        // Half of them trickle a partial request, slowloris style.
        if i % 2 == 0 {
            s.write_all(b"POST /hello/sync HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
        }
        idle.push(s);
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let r = server.post_json("/hello/sync", &hello_request(Some("busy"), 0));
        assert_eq!(r.status, 200);
        slowest = slowest.max(started.elapsed());
    }
    assert!(slowest < Duration::from_millis(100), "slowest {slowest:?}");
    drop(idle);
}

#[test]
fn slow_clients_are_cut_off_by_the_client_timeout() {
    let server = Server::start(
        &crate::support::repo().join("rules"),
        &["--client-timeout", "300ms"],
    );
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(b"POST /hello/sync HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut raw = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut raw);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the server closed the connection"
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(raw.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
}

#[test]
fn rules_cannot_read_files_or_the_environment_or_include_templates() {
    let attempts = [
        (
            "partial",
            "sync:\n  status:\n    x: \"{{> /etc/passwd }}\"\n",
            "partials are not supported",
        ),
        (
            "partial-block",
            "sync:\n  status:\n    x: \"{{#> layout }}x{{/layout}}\"\n",
            "partials are not supported",
        ),
        (
            "env",
            "sync:\n  status:\n    x: \"{{ env 'HOME' }}\"\n",
            "unknown helper `env`",
        ),
        (
            "file",
            "sync:\n  status:\n    x: \"{{ readFile '/etc/passwd' }}\"\n",
            "unknown helper `readFile`",
        ),
        (
            "log",
            "sync:\n  status:\n    x: \"{{ log 'x' }}\"\n",
            "unknown helper `log`",
        ),
        (
            "decorator",
            "sync:\n  status:\n    x: \"{{* inline }}\"\n",
            "not supported",
        ),
        (
            "name",
            "name: ../../etc\nsync:\n  status: {}\n",
            "must be lowercase letters",
        ),
    ];
    for (what, text, expected) in attempts {
        let errors = rulehook_engine::Rule::compile("r.yaml", text).unwrap_err();
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(all.iter().any(|e| e.contains(expected)), "{what}: {all:?}");
    }
}

#[test]
fn path_tricks_do_not_reach_a_rule() {
    let server = Server::bundled();
    for path in [
        "/../hello/sync",
        "/%2e%2e/sync",
        "/hello%2Fsync/sync",
        "/.%2F/sync",
        "/hello/sync/extra",
    ] {
        let r = server
            .request(
                "POST",
                path,
                &[JSON],
                &serde_json::to_vec(&hello_request(None, 0)).unwrap(),
            )
            .unwrap();
        assert_ne!(r.status, 200, "{path}");
    }
}
