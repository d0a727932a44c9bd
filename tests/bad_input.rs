//! Every kind of bad input gets its own status and a message that says what is wrong.

use std::time::Duration;

use crate::support::configmap::ConfigMapDir;
use crate::support::{hello_request, Server};

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn post(server: &Server, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let r = server.request("POST", path, headers, body).unwrap();
    (r.status, r.text())
}

#[test]
fn the_bad_input_table() {
    let server = Server::start(
        &crate::support::repo().join("rules"),
        &["--max-body", "1MiB"],
    );
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge_string = format!(
        "{{\"parent\": {{\"spec\": {{\"who\": \"{}\"}}}}}}",
        "x".repeat(2 << 20)
    );
    type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "empty body",
            b"".to_vec(),
            vec![JSON],
            400,
            "malformed JSON",
        ),
        (
            "not JSON",
            b"hello".to_vec(),
            vec![JSON],
            400,
            "malformed JSON",
        ),
        (
            "truncated JSON",
            b"{\"parent\":".to_vec(),
            vec![JSON],
            400,
            "malformed JSON",
        ),
        (
            "deep nesting",
            deep.into_bytes(),
            vec![JSON],
            400,
            "recursion limit",
        ),
        (
            "not an object",
            b"[1,2]".to_vec(),
            vec![JSON],
            422,
            "must be a JSON object",
        ),
        (
            "no parent",
            b"{\"children\":{}}".to_vec(),
            vec![JSON],
            422,
            "no `parent` object",
        ),
        (
            "children as a list",
            b"{\"parent\":{},\"children\":[]}".to_vec(),
            vec![JSON],
            422,
            "`children` must map",
        ),
        (
            "huge string over the body limit",
            huge_string.into_bytes(),
            vec![JSON],
            413,
            "over the limit",
        ),
        (
            "wrong content type",
            b"{}".to_vec(),
            vec![("Content-Type", "text/plain")],
            415,
            "unsupported content type",
        ),
    ];
    for (what, body, headers, status, message) in cases {
        let (got, text) = post(&server, "/hello/sync", &headers, &body);
        assert_eq!(got, status, "{what}: {text}");
        assert!(text.contains(message), "{what}: {text}");
    }
    let (got, text) = post(&server, "/nope/sync", &[JSON], b"{}");
    assert_eq!((got, text.trim()), (404, "no rule named `nope` is loaded"));
    let (got, text) = post(&server, "/hello/explode", &[JSON], b"{}");
    assert_eq!(got, 404, "{text}");
    let (got, text) = post(&server, "/hello/customize", &[JSON], b"{\"parent\":{}}");
    assert_eq!(
        (got, text.trim()),
        (404, "rule `hello` has no customize hook")
    );
    let get = server.get("/hello/sync").unwrap();
    assert_eq!(get.status, 405);
    assert_eq!(get.header("allow"), Some("POST"));
    let bad_etag = server
        .request(
            "POST",
            "/hello/sync",
            &[JSON, ("If-None-Match", "not-a-valid-etag")],
            &serde_json::to_vec(&hello_request(Some("x"), 0)).unwrap(),
        )
        .unwrap();
    assert_eq!(bad_etag.status, 200, "a bad If-None-Match is just a miss");
    // Names of rules that are not loaded never become metric labels.
    let metrics = server.get("/metrics").unwrap().text();
    assert!(
        metrics
            .contains("rulehook_requests_total{rule=\"(unknown)\",hook=\"sync\",code=\"404\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("rule=\"nope\""), "{metrics}");
    // The server is still fine after all of that.
    let ok = server.post_json("/hello/sync", &hello_request(Some("x"), 0));
    assert_eq!(ok.status, 200);
}

#[test]
fn a_rule_that_fails_at_render_answers_500_with_file_and_line() {
    let dir = ConfigMapDir::new(&[(
        "greet.yaml",
        "values:\n  who: $.parent.spec.who\nsync:\n  children:\n    - apiVersion: v1\n      kind: ConfigMap\n      metadata:\n        name: \"hello-{{ who }}\"\n",
    )]);
    let server = Server::start(&dir.path, &[]);
    let response = server.post_json("/greet/sync", &serde_json::json!({"parent": {"spec": {}}}));
    assert_eq!(response.status, 500);
    let text = response.text();
    assert!(text.contains("greet.yaml:8:15:"), "{text}");
    assert!(text.contains("`who` is missing"), "{text}");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[test]
fn sigterm_finishes_in_flight_requests_and_refuses_new_ones() {
    use std::io::{Read, Write};
    let server = Server::bundled();
    let body = serde_json::to_vec(&hello_request(Some("drain"), 0)).unwrap();
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /hello/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let addr = server.addr.clone();
    let pid = server.pid();
    let waiter = std::thread::spawn(move || server.terminate());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        crate::support::http(&addr, "GET", "/healthz", &[], b"").is_err(),
        "new connections are refused while draining"
    );
    stream.write_all(rest).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let response = crate::support::parse_response(&raw).unwrap();
    assert_eq!(response.status, 200, "pid {pid}: {}", response.text());
    assert!(response.text().contains("Hello, drain!"));
    let status = waiter.join().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_hook_the_rule_lacks_is_404_whatever_the_body() {
    let server = Server::bundled();
    for body in [&b"{}"[..], b"not even JSON", b""] {
        let (status, text) = post(&server, "/hello/customize", &[JSON], body);
        assert_eq!(status, 404, "{text}");
        assert!(text.contains("has no customize hook"), "{text}");
    }
}

#[test]
fn a_rule_whose_file_failed_to_load_is_a_404_that_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hello.yaml"),
        std::fs::read(crate::support::repo().join("rules/hello.yaml")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "sync:\n  status: {a: \"{{ nope }}\"}\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), &[]);
    let (status, text) = post(&server, "/broken/sync", &[JSON], b"{}");
    assert_eq!(status, 404, "{text}");
    assert!(
        text.contains("broken.yaml has errors") && text.contains("GET /rules"),
        "{text}"
    );
    let (status, text) = post(&server, "/absent/sync", &[JSON], b"{}");
    assert_eq!(status, 404);
    assert_eq!(text.trim(), "no rule named `absent` is loaded");
}

/// The routes other than hooks are passed over in one test by every hook path: each still
/// answers as its own route, and every path that is not one of them reaches the hook
/// dispatcher, with its 404 or 405.
#[test]
fn every_route_answers_as_its_own_beside_the_hook_paths() {
    let server = Server::bundled();
    let hello = serde_json::to_vec(&hello_request(Some("x"), 0)).unwrap();
    let cases: &[(&str, &str, u16)] = &[
        ("GET", "/healthz", 200),
        ("HEAD", "/healthz", 200),
        ("POST", "/healthz", 405),
        ("GET", "/readyz", 200),
        ("GET", "/rules", 200),
        ("GET", "/metrics", 200),
        // A route made with `route` alone has no 405 of its own, as before.
        ("POST", "/metrics", 404),
        // The page is off unless `--ui`.
        ("GET", "/ui", 404),
        ("POST", "/hello/sync", 200),
        ("GET", "/hello/sync", 405),
        ("POST", "/hello/sync/", 404),
        ("POST", "/rules/sync", 404),
        ("GET", "/a/b/c", 404),
        ("GET", "/nope", 404),
    ];
    for &(method, path, status) in cases {
        let r = server.request(method, path, &[JSON], &hello).unwrap();
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
    }
}
