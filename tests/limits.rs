//! What one render may build, and what its errors may quote: amplification, helpers that
//! grow strings, computed keys, long values in messages, nesting.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::configmap::ConfigMapDir;
use crate::support::{peak_rss_kib, repo, Server};

/// A globalconfigmap request whose answer would be `namespaces` copies of a `blob`-sized
/// ConfigMap.
fn amplification(namespaces: usize, blob: usize) -> Value {
    let related: serde_json::Map<String, Value> = (0..namespaces)
        .map(|i| {
            let name = format!("ns-{i:04}");
            (
                name.clone(),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            )
        })
        .collect();
    json!({
        "controller": {},
        "parent": {
            "apiVersion": "examples.metacontroller.io/v1alpha1",
            "kind": "GlobalConfigMap",
            "metadata": {"name": "big"},
            "spec": {"sourceName": "big", "sourceNamespace": "global"},
        },
        "children": {"ConfigMap.v1": {}},
        "related": {
            "ConfigMap.v1": {"global/big": {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "big", "namespace": "global"},
                "data": {"blob": "x".repeat(blob)},
            }},
            "Namespace.v1": related,
        },
        "finalizing": false,
    })
}

#[test]
fn an_answer_that_would_be_gigabytes_fails_fast_naming_the_limit() {
    let libraries = repo().join("examples/lib");
    let server = Server::start(
        &repo().join("examples/globalconfigmap"),
        &["--libraries", libraries.to_str().unwrap()],
    );
    let request = amplification(1500, 1 << 20);
    let body = serde_json::to_vec(&request).unwrap();
    assert!(body.len() > 1_000_000);
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let (addr, body) = (server.addr.clone(), body.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                let r = crate::support::http(
                    &addr,
                    "POST",
                    "/globalconfigmap/sync",
                    &[("Content-Type", "application/json")],
                    &body,
                )
                .unwrap();
                (r.status, r.text(), started.elapsed())
            })
        })
        .collect();
    for call in calls {
        let (status, text, took) = call.join().unwrap();
        assert_eq!(status, 500, "{text}");
        assert!(text.contains("limit max-output-bytes"), "{text}");
        assert!(text.contains("globalconfigmap.yaml:"), "{text}");
        // Building the answer would take tens of seconds; refusing it, well under this even
        // on a busy 2-CPU machine with the test build's cross-check doubling every
        // template's evaluation.
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
    // Four 1.5 GB answers were refused before they were built.
    let peak_mib = peak_rss_kib(server.pid()) / 1024;
    assert!(peak_mib < 128, "peak RSS {peak_mib} MiB");
    // A small source still copies into every namespace.
    let r = server.post_json("/globalconfigmap/sync", &amplification(50, 100));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["children"].as_array().unwrap().len(), 50);
}

fn rule_server(name: &str, rule: &str, flags: &[&str]) -> (ConfigMapDir, Server) {
    let dir = ConfigMapDir::new(&[(&format!("{name}.yaml"), rule)]);
    let server = Server::start(&dir.path, flags);
    (dir, server)
}

#[test]
fn helpers_that_grow_strings_are_charged_before_they_allocate() {
    let rule = "values:\n  s: $.parent.spec.s\n  a: $.parent.spec.a\n  b: $.parent.spec.b\nsync:\n  status:\n    out: \"{{ length (replace s a b) }}\"\n";
    let (_dir, server) = rule_server("grow", rule, &[]);
    // 30,000 × 30,000 characters: a 900 MB string.
    let s = "a".repeat(30_000);
    let started = Instant::now();
    let r = server.post_json(
        "/grow/sync",
        &json!({"parent": {"spec": {"s": s, "a": "a", "b": "b".repeat(30_000)}}}),
    );
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.text().contains("limit max-output-bytes"), "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(peak_rss_kib(server.pid()) / 1024 < 64);
    // The same helper on sane input.
    let r = server.post_json(
        "/grow/sync",
        &json!({"parent": {"spec": {"s": "a-b-c", "a": "-", "b": "--"}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"]["out"], 7);
}

#[test]
fn a_computed_key_never_replaces_another_key_whatever_the_order() {
    let rule = r#"values:
  k: $.parent.spec.k
sync:
  children:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        "{{ k }}": from-the-parent
        name: fixed-name
        labels:
          app: trusted
          "{{ k }}": x
"#;
    let (_dir, server) = rule_server("keys", rule, &[]);
    for k in ["name", "namespace", "app"] {
        let r = server.post_json("/keys/sync", &json!({"parent": {"spec": {"k": k}}}));
        if k == "namespace" {
            // No other key called `namespace`: the child goes where the parent says.
            assert_eq!(r.status, 200, "{}", r.text());
            continue;
        }
        assert_eq!(r.status, 500, "k = {k}: {}", r.text());
        let text = r.text();
        assert!(
            text.contains(&format!("the key `{k}`")) && text.contains("the computed key `{{ k }}`"),
            "{text}"
        );
    }
    let r = server.post_json("/keys/sync", &json!({"parent": {"spec": {"k": "team"}}}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["children"][0]["metadata"]["name"], "fixed-name");
}

#[test]
fn values_quoted_in_errors_are_cut_short() {
    let rule = "values:\n  port: $.parent.metadata.annotations.port\nsync:\n  status:\n    port: \"{{ toInt port }}\"\n";
    // Room for a 5 MB body.
    let (_dir, server) = rule_server("port", rule, &["--memory-limit", "256MiB"]);
    let huge = "9".repeat(100).to_owned() + &"x".repeat(5_000_000);
    let r = server.post_json(
        "/port/sync",
        &json!({"parent": {"metadata": {"annotations": {"port": huge}}}}),
    );
    assert_eq!(r.status, 500);
    let text = r.text();
    assert!(text.len() < 1_000, "a {} byte answer", text.len());
    assert!(text.contains("…(5000100 bytes)"), "{text}");
}

#[test]
fn maps_and_lists_cannot_be_placed_inside_a_string() {
    let rule = "values:\n  v: $.parent.spec.v\nsync:\n  status:\n    text: \"value: {{ v }}\"\n    json: \"value: {{ toJson v }}\"\n";
    let (_dir, server) = rule_server("interp", rule, &[]);
    let r = server.post_json(
        "/interp/sync",
        &json!({"parent": {"spec": {"v": {"a": 1}}}}),
    );
    assert_eq!(r.status, 500);
    assert!(
        r.text()
            .contains("a map cannot be placed inside a string; use `toJson`"),
        "{}",
        r.text()
    );
    let r = server.post_json("/interp/sync", &json!({"parent": {"spec": {"v": 5}}}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["status"],
        json!({"text": "value: 5", "json": "value: 5"})
    );
}

#[test]
fn nesting_up_to_127_levels_is_read_and_128_is_refused() {
    let server = Server::bundled();
    let nested = |levels: usize| {
        // The request object, `parent` and `spec` are three levels.
        let mut deep = json!(1);
        for _ in 0..levels - 2 {
            deep = json!([deep]);
        }
        json!({"parent": {"metadata": {"name": "x"}, "spec": deep}, "children": {}})
    };
    assert_eq!(server.post_json("/hello/sync", &nested(127)).status, 200);
    let r = server.post_json("/hello/sync", &nested(128));
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn yaml_tags_and_infinities_are_load_errors_at_their_place() {
    let dir = ConfigMapDir::new(&[(
        "tagged.yaml",
        "name: tagged\nsync:\n  status:\n    a: !custom x\n    b: .inf\n    c: [1, .nan]\n",
    )]);
    let out = std::process::Command::new(crate::support::BIN)
        .arg("check")
        .arg(&dir.path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("tagged.yaml:4:") && text.contains("YAML tags such as `!custom`"),
        "{text}"
    );
    assert!(
        text.contains("tagged.yaml:5:8: `.inf` is not a JSON number"),
        "{text}"
    );
    assert!(
        text.contains("tagged.yaml:6:12: `.nan` is not a JSON number"),
        "{text}"
    );
    assert!(!text.contains("null is not allowed"), "{text}");
}
