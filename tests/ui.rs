//! `serve --ui`: the read-only page on the hook server, its render API behind the hooks'
//! credentials.

use serde_json::{json, Value};

use crate::support::{repo, Response, Server};

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn render_body(rule: &str, request: &str) -> Vec<u8> {
    json!({"rule": rule, "request": request, "hook": "sync"})
        .to_string()
        .into_bytes()
}

fn hello_request() -> String {
    std::fs::read_to_string(repo().join("tests/fixtures/hello-sync-v1.json")).unwrap()
}

fn render(server: &Server, body: &[u8], auth: Option<&str>) -> Response {
    let mut headers = vec![JSON];
    if let Some(auth) = auth {
        headers.push(("Authorization", auth));
    }
    server
        .request("POST", "/ui/api/render", &headers, body)
        .expect("request")
}

#[test]
fn without_the_flag_there_is_no_page_and_no_render_api() {
    let server = Server::bundled();
    assert_eq!(server.get("/ui").unwrap().status, 404);
    let body = render_body("hello", &hello_request());
    assert_eq!(render(&server, &body, None).status, 404);
}

#[test]
fn with_a_token_the_render_api_takes_it_and_answers_with_a_loaded_rule() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let server = Server::start(
        &repo().join("rules"),
        &["--ui", "--auth-token-file", token.to_str().unwrap()],
    );
    // The page holds no data: it asks for the token its API calls then carry.
    let page = server.get("/ui").unwrap();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("id=\"token\""));
    assert!(page
        .header("Content-Security-Policy")
        .is_some_and(|p| p.contains("connect-src 'self'")));
    let body = render_body("hello", &hello_request());
    assert_eq!(render(&server, &body, None).status, 401);
    assert_eq!(render(&server, &body, Some("Bearer wrong")).status, 401);
    let answered = render(&server, &body, Some("Bearer s3cret-token"));
    assert_eq!(answered.status, 200, "{}", answered.text());
    let outcome: Value = answered.json();
    assert_eq!(
        outcome["answer"]["children"][0]["spec"]["containers"][0]["command"][1],
        "Hello, Your Name!",
        "{outcome}"
    );
    assert_eq!(outcome["diff"], Value::Null);
    // kubectl YAML, as the page's request editor takes it.
    let parent = "apiVersion: example.com/v1\nkind: HelloWorld\nmetadata:\n  name: ada\n  namespace: hello\nspec:\n  who: Ada\n";
    let outcome: Value = render(
        &server,
        &render_body("hello", parent),
        Some("Bearer s3cret-token"),
    )
    .json();
    assert_eq!(
        outcome["answer"]["children"][0]["spec"]["containers"][0]["command"][1], "Hello, Ada!",
        "{outcome}"
    );
    let missing: Value = render(
        &server,
        &render_body("nope", parent),
        Some("Bearer s3cret-token"),
    )
    .json();
    assert_eq!(missing["answer"], Value::Null);
    let message = missing["diagnostics"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("no rule named `nope`"), "{missing}");
    // What the page lists stays behind the token too.
    assert_eq!(server.get("/rules").unwrap().status, 401);
}

#[test]
fn the_last_failed_calls_are_listed_with_the_object_each_was_about() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("picky.yaml"),
        "sync:\n  children:\n    - $includeWhen: \"{{ parent.spec.broken }}\"\n      $template: \"{{ fail 'spec.broken is set' }}\"\n",
    )
    .unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let server = Server::start(
        &rules,
        &["--ui", "--auth-token-file", token.to_str().unwrap()],
    );
    let auth = ("Authorization", "Bearer s3cret-token");
    let parent = |broken: bool| {
        json!({"controller": {}, "parent": {"apiVersion": "example.com/v1", "kind": "Picky",
            "metadata": {"name": "p1", "namespace": "team", "uid": "u-1"},
            "spec": {"broken": broken}}, "children": {}})
        .to_string()
    };
    let call = |body: String, headers: &[(&str, &str)]| {
        let mut all = vec![JSON];
        all.extend_from_slice(headers);
        server
            .request("POST", "/picky/sync", &all, body.as_bytes())
            .unwrap()
            .status
    };
    assert_eq!(call(parent(false), &[auth]), 200);
    assert_eq!(call(parent(true), &[auth]), 500);
    // Refused credentials say nothing about a rule, and are not kept.
    assert_eq!(call(parent(true), &[]), 401);
    let listed = |headers: &[(&str, &str)]| {
        server
            .request("GET", "/ui/api/failures", headers, b"")
            .unwrap()
    };
    assert_eq!(listed(&[]).status, 401);
    let failures: Value = listed(&[auth]).json();
    let failures = failures.as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let failed = &failures[0];
    assert_eq!(failed["rule"], "picky");
    assert_eq!(failed["status"], 500);
    assert_eq!(failed["parent"], "team/p1");
    assert_eq!(failed["kind"], "Picky");
    assert_eq!(failed["uid"], "u-1");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .ends_with("fail: spec.broken is set"),
        "{failed}"
    );
}
