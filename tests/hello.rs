//! The hello controller, served by the real binary from the bundled `rules/`.

use serde_json::{json, Value};

use crate::support::{hello_request, Server};

fn pod_and_status(server: &Server, request: &Value) -> (Value, Value) {
    let response = server.post_json("/hello/sync", request);
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    let children = body["children"].as_array().unwrap();
    assert_eq!(children.len(), 1, "exactly one child: {body}");
    (children[0].clone(), body["status"].clone())
}

fn echo(pod: &Value) -> &Value {
    &pod["spec"]["containers"][0]["command"]
}

#[test]
fn the_tutorial_flow_create_patch_and_remove_who() {
    let server = Server::bundled();
    let (pod, status) = pod_and_status(&server, &hello_request(Some("Your Name"), 0));
    assert_eq!(
        pod,
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "your-name"},
            "spec": {
                "restartPolicy": "OnFailure",
                "containers": [{"name": "hello", "image": "busybox", "command": ["echo", "Hello, Your Name!"]}]
            }
        })
    );
    assert_eq!(status, json!({"pods": 0}));

    let (pod, status) = pod_and_status(&server, &hello_request(Some("My Name"), 1));
    assert_eq!(echo(&pod), &json!(["echo", "Hello, My Name!"]));
    assert_eq!(status, json!({"pods": 1}));

    let (pod, _) = pod_and_status(&server, &hello_request(None, 1));
    assert_eq!(echo(&pod), &json!(["echo", "Hello, World!"]));
}

#[test]
fn the_status_counts_observed_pods() {
    let server = Server::bundled();
    for n in [0, 1, 1000] {
        let (_, status) = pod_and_status(&server, &hello_request(Some("x"), n));
        assert_eq!(status, json!({"pods": n}), "with {n} pods");
    }
}

#[test]
fn an_absent_pod_type_counts_as_zero() {
    let server = Server::bundled();
    let mut request = hello_request(Some("x"), 3);
    request["children"] = json!({});
    let (_, status) = pod_and_status(&server, &request);
    assert_eq!(status, json!({"pods": 0}));
}

#[test]
fn tricky_values_appear_verbatim() {
    let server = Server::bundled();
    let long = "é".repeat(50_000);
    for who in [
        "\"quoted\" 'single'",
        "line\nbreak\n  hostNetwork: true",
        "{{who}}",
        "{{#each parent}}x{{/each}}",
        "<b>&amp;</b>",
        "ünïcødé ✓ 🚀",
        long.as_str(),
    ] {
        let (pod, _) = pod_and_status(&server, &hello_request(Some(who), 0));
        assert_eq!(echo(&pod), &json!(["echo", format!("Hello, {who}!")]));
        assert!(pod["spec"].get("hostNetwork").is_none());
    }
}

#[test]
fn v2_keys_give_the_same_answer() {
    let server = Server::bundled();
    let mut v2 = hello_request(Some("x"), 0);
    v2["children"]["Pod.v1"] =
        json!({"hello/a": {"metadata": {"name": "a"}}, "hello/b": {"metadata": {"name": "b"}}});
    let (_, status) = pod_and_status(&server, &v2);
    assert_eq!(status, json!({"pods": 2}));
}

#[test]
fn responses_carry_an_etag_and_honour_if_none_match() {
    let server = Server::bundled();
    let request = serde_json::to_vec(&hello_request(Some("x"), 1)).unwrap();
    let first = server
        .request(
            "POST",
            "/hello/sync",
            &[("Content-Type", "application/json")],
            &request,
        )
        .unwrap();
    let tag = first.header("etag").expect("etag").to_owned();
    assert!(tag.starts_with('"') && tag.len() > 10, "{tag}");
    let again = server
        .request(
            "POST",
            "/hello/sync",
            &[
                ("Content-Type", "application/json"),
                ("If-None-Match", &tag),
            ],
            &request,
        )
        .unwrap();
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let other = server
        .request(
            "POST",
            "/hello/sync",
            &[
                ("Content-Type", "application/json"),
                ("If-None-Match", "\"stale\""),
            ],
            &request,
        )
        .unwrap();
    assert_eq!(other.status, 200);
    assert_eq!(other.body, first.body);
}

#[test]
fn health_and_readiness() {
    let server = Server::bundled();
    assert_eq!(server.get("/healthz").unwrap().status, 200);
    let ready = server.get("/readyz").unwrap();
    assert_eq!(ready.status, 200, "{}", ready.text());
    let rules = server.get("/rules").unwrap().json();
    let hello = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "hello")
        .expect("hello listed");
    assert_eq!(hello["hooks"], json!(["sync"]));
    assert!(hello["file"].as_str().unwrap().ends_with("hello.yaml"));
    assert_eq!(hello["hash"].as_str().unwrap().len(), 64);
}
