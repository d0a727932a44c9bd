//! Repeated requests answered from the answer cache, over HTTP: kept the second time the
//! same bytes come and sent from the third on, with the same answer and ETag, counted as
//! hits, never across a rule change, and not at all with `--answer-cache 0`.

use std::time::Duration;

use crate::support::configmap::ConfigMapDir;
use crate::support::{Response, Server};

fn rule(image: &str) -> String {
    format!(
        "sync:\n  status:\n    pods: \"{{{{ length children.[Pod.v1] }}}}\"\n  children:\n    - apiVersion: v1\n      kind: Pod\n      metadata:\n        name: \"{{{{ parent.metadata.name }}}}\"\n      spec:\n        containers: [{{name: c, image: {image}}}]\n"
    )
}

const REQUEST: &[u8] = br#"{"parent":{"metadata":{"name":"p","namespace":"ns"}},"children":{"Pod.v1":{"p":{"metadata":{"name":"p"}}}}}"#;

fn post(server: &Server, body: &[u8], headers: &[(&str, &str)]) -> Response {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    server.request("POST", "/a/sync", &all, body).unwrap()
}

/// `rulehook_answer_cache_hits_total` and `…_misses_total`.
fn hits_and_misses(server: &Server) -> (u64, u64) {
    let metrics = server.get("/metrics").unwrap().text();
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    (
        value("rulehook_answer_cache_hits_total"),
        value("rulehook_answer_cache_misses_total"),
    )
}

fn image(response: &Response) -> String {
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["children"][0]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_same_bytes_get_the_same_answer_from_the_cache_and_a_304_for_its_etag() {
    let dir = ConfigMapDir::new(&[("a.yaml", &rule("one"))]);
    let server = Server::start(&dir.path, &[]);
    let first = post(&server, REQUEST, &[]);
    // The first sighting is only noted; the second is rendered again, and kept.
    let second = post(&server, REQUEST, &[]);
    assert_eq!(hits_and_misses(&server), (0, 2));
    let third = post(&server, REQUEST, &[]);
    assert_eq!(hits_and_misses(&server), (1, 2));
    for again in [&second, &third] {
        assert_eq!(first.text(), again.text());
        assert_eq!(first.header("etag"), again.header("etag"));
    }

    let tag = third.header("etag").unwrap().to_owned();
    let held = post(&server, REQUEST, &[("If-None-Match", &tag)]);
    assert_eq!(held.status, 304);
    assert_eq!(held.header("etag"), Some(tag.as_str()));
    assert_eq!(hits_and_misses(&server), (2, 2));

    // One byte more (a space) is another request: rendered, with the same answer.
    let mut spaced = REQUEST.to_vec();
    spaced.insert(1, b' ');
    assert_eq!(post(&server, &spaced, &[]).text(), first.text());
    assert_eq!(hits_and_misses(&server), (2, 3));
}

#[test]
fn a_rule_change_is_answered_at_once_for_bytes_the_cache_holds() {
    let mut dir = ConfigMapDir::new(&[("a.yaml", &rule("one"))]);
    let server = Server::start(&dir.path, &[]);
    // Seen, kept, then sent from the cache: the cache holds these bytes.
    for _ in 0..3 {
        assert_eq!(image(&post(&server, REQUEST, &[])), "one");
    }
    assert_eq!(hits_and_misses(&server), (1, 2));
    dir.update(&[("a.yaml", &rule("two"))]);
    server.wait_until(Duration::from_secs(3), |s| {
        image(&post(s, REQUEST, &[])) == "two"
    });
    // And from then on only the new answer. The bytes were seen before the change, so the
    // new answer was kept the first time it was rendered, and every one since is a hit.
    let (hits_before, _) = hits_and_misses(&server);
    for _ in 0..5 {
        assert_eq!(image(&post(&server, REQUEST, &[])), "two");
    }
    let (hits, _) = hits_and_misses(&server);
    assert_eq!(hits - hits_before, 5, "the new answer is kept too");
}

#[test]
fn a_zero_answer_cache_renders_every_request() {
    let dir = ConfigMapDir::new(&[("a.yaml", &rule("one"))]);
    let server = Server::start(&dir.path, &["--answer-cache", "0"]);
    for _ in 0..3 {
        assert_eq!(image(&post(&server, REQUEST, &[])), "one");
    }
    assert_eq!(hits_and_misses(&server), (0, 0));
}

#[test]
fn a_rule_that_reads_the_time_is_rendered_at_every_call_and_never_kept() {
    let clock =
        "sync:\n  status:\n    seen: \"{{ now }}\"\n    name: \"{{ parent.metadata.name }}\"\n";
    let dir = ConfigMapDir::new(&[("a.yaml", clock)]);
    let server = Server::start(&dir.path, &[]);
    for _ in 0..4 {
        let answer = post(&server, REQUEST, &[]);
        assert_eq!(answer.status, 200, "{}", answer.text());
        let seen = answer.json()["status"]["seen"].as_str().unwrap().to_owned();
        let at = humantime::parse_rfc3339(&seen).unwrap();
        let apart = std::time::SystemTime::now()
            .duration_since(at)
            .unwrap_or_default();
        assert!(
            apart < Duration::from_secs(5),
            "{seen} is the time of the call"
        );
    }
    assert_eq!(hits_and_misses(&server), (0, 0), "the cache is not asked");
}
