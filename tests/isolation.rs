//! One request must only ever hurt itself: slow bodies, heavy renders, clients that never
//! read, memory, probes and shutdown, each against the real binary over loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::configmap::ConfigMapDir;
use crate::support::{hello_request, http, parse_response, repo, Server};

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Burns render steps without output: `n × n` inner items, all filtered out.
const HEAVY: &str = r#"values:
  n: {path: $.parent.spec.n, default: 0}
sync:
  children:
    - $forEach: "{{ n }}"
      $as: i
      $template:
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "c-{{ i }}"}
        data:
          empty:
            - $forEach: "{{ n }}"
              $includeWhen: "{{ eq item -1 }}"
              $template: x
"#;

/// Answers with `n` ConfigMaps, each holding `text`.
const BIG: &str = r#"values:
  n: {path: $.parent.spec.n, default: 0}
  text: {path: $.parent.spec.text, default: x}
sync:
  children:
    - $forEach: "{{ n }}"
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "c-{{ item }}"}
      data: {text: "{{ text }}"}
"#;

fn rules_with(extra: &[(&str, &str)]) -> ConfigMapDir {
    let hello = std::fs::read_to_string(repo().join("rules/hello.yaml")).unwrap();
    let mut files = vec![("hello.yaml", hello.as_str())];
    files.extend_from_slice(extra);
    ConfigMapDir::new(&files)
}

fn hello(server: &Server) -> (u16, Duration) {
    let started = Instant::now();
    let status = server
        .post_json("/hello/sync", &hello_request(Some("steady"), 1))
        .status;
    (status, started.elapsed())
}

/// Sends a request's head and the first byte of its body, then nothing. From another peer
/// than the tests' own, so the tests' own requests keep their share of connections.
fn stalled_body(addr: &str) -> TcpStream {
    let mut stream = crate::support::from_another_peer(addr).unwrap();
    stream
        .write_all(
            b"POST /hello/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .unwrap();
    stream
}

#[test]
fn slow_bodies_take_no_slot_and_get_408_after_the_body_timeout() {
    let server = Server::start(
        &repo().join("rules"),
        &[
            "--body-timeout",
            "2s",
            "--max-in-flight",
            "8",
            "--max-connections-per-peer",
            "0",
        ],
    );
    let stalled: Vec<TcpStream> = (0..500).map(|_| stalled_body(&server.addr)).collect();
    let opened = Instant::now();
    // For as long as they stay, normal requests are answered, not shed and not held up
    // (bench/isolation.sh measures how fast; here other tests share the CPUs).
    while opened.elapsed() < Duration::from_millis(1500) {
        let (status, took) = hello(&server);
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(1), "hello took {took:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Then each stalled one is told 408 and closed.
    let mut timed_out = 0;
    for mut stream in stalled.into_iter().step_by(50) {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("the server closes it");
        let response = parse_response(&raw).unwrap();
        assert_eq!(response.status, 408, "{}", response.text());
        assert!(response.text().contains("body-timeout"));
        timed_out += 1;
    }
    assert_eq!(timed_out, 10);
    assert!(opened.elapsed() < Duration::from_secs(6));
}

#[test]
fn heavy_renders_leave_probes_and_other_rules_alone_and_stop_at_the_render_timeout() {
    let dir = rules_with(&[("heavy.yaml", HEAVY)]);
    let server = Server::start(
        &dir.path,
        &[
            "--render-timeout",
            "1s",
            "--render-threads",
            "4",
            "--max-render-steps",
            "1000000000",
            "--max-loop-items",
            "100000",
        ],
    );
    let addr = server.addr.clone();
    // Four at once: more than the two threads one rule may use.
    let heavy: Vec<_> = (0..4)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let body = serde_json::to_vec(&json!({"parent": {"spec": {"n": 20000}}})).unwrap();
                let started = Instant::now();
                let r = http(&addr, "POST", "/heavy/sync", &[JSON], &body).unwrap();
                (r.status, r.text(), started.elapsed())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut worst_probe = Duration::ZERO;
    let mut worst_hello = Duration::ZERO;
    while !heavy.iter().all(|h| h.is_finished()) {
        let started = Instant::now();
        assert_eq!(server.get("/healthz").unwrap().status, 200);
        worst_probe = worst_probe.max(started.elapsed());
        let (status, took) = hello(&server);
        assert_eq!(status, 200);
        worst_hello = worst_hello.max(took);
        std::thread::sleep(Duration::from_millis(20));
    }
    // Well under the heavy renders' second: they never waited for them (bench/isolation.sh
    // measures the latencies on a quiet machine).
    assert!(worst_probe < Duration::from_millis(500), "{worst_probe:?}");
    assert!(worst_hello < Duration::from_millis(500), "{worst_hello:?}");
    for h in heavy {
        let (status, text, took) = h.join().unwrap();
        assert_eq!(status, 500, "{text}");
        assert!(
            text.contains("render-timeout") && text.contains("heavy"),
            "{text}"
        );
        assert!(took < Duration::from_millis(1800), "{took:?}");
    }
    let metrics = server.get("/metrics").unwrap().text();
    assert!(
        metrics.contains("rulehook_requests_total{rule=\"heavy\",hook=\"sync\",code=\"500\"} 4")
    );
    // The abandoned renders stopped: the rule's threads are free again at once.
    let started = Instant::now();
    let small = server.post_json("/heavy/sync", &json!({"parent": {"spec": {"n": 10}}}));
    assert_eq!(small.status, 200, "{}", small.text());
    assert!(started.elapsed() < Duration::from_millis(200));
    // 100 × 100 steps: more than the slice an I/O thread gives a render, so it starts over
    // on a render thread, and its answer is the same as a render done in one go.
    let moved = server.post_json("/heavy/sync", &json!({"parent": {"spec": {"n": 100}}}));
    assert_eq!(moved.status, 200, "{}", moved.text());
    assert_eq!(moved.json()["children"].as_array().unwrap().len(), 100);
}

#[test]
fn requests_beyond_max_in_flight_get_429_but_only_once_their_body_has_arrived() {
    let dir = rules_with(&[("heavy.yaml", HEAVY)]);
    let server = Server::start(
        &dir.path,
        &[
            "--max-in-flight",
            "2",
            "--render-timeout",
            "2s",
            "--max-render-steps",
            "1000000000",
            "--max-loop-items",
            "100000",
        ],
    );
    // Stalled bodies hold no slot.
    let _stalled: Vec<TcpStream> = (0..4).map(|_| stalled_body(&server.addr)).collect();
    assert_eq!(hello(&server).0, 200);
    // Two heavy renders do.
    let heavy: Vec<_> = (0..2)
        .map(|_| {
            let addr = server.addr.clone();
            std::thread::spawn(move || {
                let body = serde_json::to_vec(&json!({"parent": {"spec": {"n": 20000}}})).unwrap();
                http(&addr, "POST", "/heavy/sync", &[JSON], &body)
                    .unwrap()
                    .status
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let shed = server.post_json("/hello/sync", &hello_request(None, 0));
    assert_eq!(shed.status, 429, "{}", shed.text());
    assert_eq!(shed.header("retry-after"), Some("1"));
    for h in heavy {
        assert_eq!(h.join().unwrap(), 500);
    }
    assert_eq!(hello(&server).0, 200);
}

/// Opens a connection that sends a request and never reads the answer.
fn non_reader(addr: &str, body: &[u8]) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    // A small receive window, so the answer cannot hide in the kernel's buffers.
    socket.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    let head = format!(
        "POST /big/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream
}

fn metric(server: &Server, name: &str) -> f64 {
    let response = server.get("/metrics").unwrap();
    assert_eq!(response.status, 200, "{:?}", response.headers);
    let text = response.text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[test]
fn answers_nobody_reads_are_bounded_counted_and_dropped_after_the_write_timeout() {
    let dir = rules_with(&[("big.yaml", BIG)]);
    let server = Server::start(
        &dir.path,
        &[
            "--memory-limit",
            "64MiB",
            "--max-output-bytes",
            "8MiB",
            "--write-timeout",
            "2s",
        ],
    );
    let limit = metric(&server, "rulehook_request_memory_limit_bytes");
    assert_eq!(limit, 32.0 * 1024.0 * 1024.0);
    // 40 answers of 3 MB: 120 MB if nothing bounded them.
    let body =
        serde_json::to_vec(&json!({"parent": {"spec": {"n": 300, "text": "t".repeat(10_000)}}}))
            .unwrap();
    let clients: Vec<TcpStream> = (0..40).map(|_| non_reader(&server.addr, &body)).collect();
    std::thread::sleep(Duration::from_millis(800));
    let unsent = metric(&server, "rulehook_unsent_response_bytes");
    assert!(unsent > 0.0, "some answers wait for their clients");
    assert!(unsent <= limit, "{unsent} > {limit}");
    assert!(metric(&server, "rulehook_request_memory_reserved_bytes") <= limit);
    assert_eq!(hello(&server).0, 200, "light hooks still fit");
    // After the write timeout the non-readers are gone, and so is what they held. Renders
    // still queued finish first, each then waiting its own 2 s; on a loaded machine that
    // takes a while, so the bound is generous (the point is that it reaches zero).
    server.wait_until(Duration::from_secs(20), |s| {
        metric(s, "rulehook_unsent_response_bytes") == 0.0
    });
    assert!(metric(&server, "rulehook_slow_readers_dropped_total") >= 1.0);
    drop(clients);
    assert_eq!(hello(&server).0, 200);
}

#[test]
fn bodies_held_at_once_cannot_add_up_past_the_memory_budget() {
    // 16 MiB: 8 MiB for requests, bodies of at most 2 MiB.
    let server = Server::start(&repo().join("rules"), &["--memory-limit", "16MiB"]);
    let too_big = vec![b' '; 2100 * 1024];
    let r = server
        .request("POST", "/hello/sync", &[JSON], &too_big)
        .unwrap();
    assert_eq!(
        r.status, 413,
        "the default body limit follows the memory limit"
    );
    // Thirty 400 KiB bodies, all but their last byte sent: 12 MB if nothing bounded them.
    let mut body = serde_json::to_vec(&hello_request(Some("x"), 1)).unwrap();
    body.pop();
    body.extend(std::iter::repeat_n(b' ', 400 * 1024));
    let mut refused = 0;
    let mut held = Vec::new();
    for _ in 0..30 {
        let mut stream = TcpStream::connect(&server.addr).unwrap();
        let head = format!(
            "POST /hello/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len() + 1
        );
        stream.write_all(head.as_bytes()).unwrap();
        let _ = stream.write_all(&body);
        held.push(stream);
    }
    std::thread::sleep(Duration::from_millis(500));
    let reserved = metric(&server, "rulehook_request_memory_reserved_bytes");
    assert!(reserved <= 8.0 * 1024.0 * 1024.0, "{reserved}");
    for mut stream in held {
        let _ = stream.write_all(b"}");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        match parse_response(&raw).map(|r| r.status) {
            Ok(200) => {}
            Ok(503) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        refused > 0,
        "thirty 400 KiB bodies do not fit in 8 MiB at once"
    );
    assert_eq!(hello(&server).0, 200);
}

/// At the default limit (128 MiB) the largest body is 16 MiB: a rule that reads little of it
/// answers it while the server stays far under the limit, and a rule that would build all
/// of it is refused with 413, not told to retry forever.
#[test]
fn the_largest_body_is_answered_by_what_the_rule_reads_or_refused_for_good() {
    let whole = "name: whole\nvalues:\n  names: {path: \"$..name\", all: true}\nsync:\n  status:\n    n: \"{{ length names }}\"\n";
    let dir = rules_with(&[("whole.yaml", whole)]);
    // Reading 16 MB until the budget refuses it takes a second or two of a debug build; on
    // a busy machine more than the default render timeout, which would answer 500 first.
    let server = Server::start(
        &dir.path,
        &["--memory-limit", "128MiB", "--render-timeout", "60s"],
    );
    let pods = 11_500;
    let body = serde_json::to_vec(&hello_request(Some("big"), pods)).unwrap();
    assert!(
        (15_000_000..16 << 20).contains(&body.len()),
        "{} bytes",
        body.len()
    );
    let r = server
        .request("POST", "/hello/sync", &[JSON], &body)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"]["pods"], pods);
    let peak = crate::support::peak_rss_kib(server.pid());
    assert!(peak < 128 * 1024, "peak RSS {peak} KiB");

    let r = server
        .request("POST", "/whole/sync", &[JSON], &body)
        .unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("one request may hold"), "{}", r.text());
    assert!(r.header("retry-after").is_none());
    assert_eq!(hello(&server).0, 200);
}

#[test]
fn a_printf_precision_from_the_request_never_kills_the_connection() {
    let rule = "values:\n  f: {path: $.parent.spec.format, default: x}\nsync:\n  status:\n    text: \"{{ printf f 1.5 }}\"\n";
    let dir = rules_with(&[("fmt.yaml", rule)]);
    let server = Server::start(&dir.path, &[]);
    let r = server.post_json(
        "/fmt/sync",
        &json!({"parent": {"spec": {"format": "%.65536f"}}}),
    );
    assert!(
        r.status == 500 || r.status == 200,
        "an answer, whatever it is: {}",
        r.status
    );
    if r.status == 500 {
        assert!(r.text().contains("fmt"), "{}", r.text());
    }
    assert_eq!(hello(&server).0, 200);
    assert_eq!(metric(&server, "rulehook_panics_total{rule=\"fmt\"}"), 0.0);
}

#[test]
fn a_panic_in_a_render_is_a_500_naming_the_rule_counted_and_the_server_goes_on() {
    let hello_rule = std::fs::read_to_string(repo().join("rules/hello.yaml")).unwrap();
    let panicky = hello_rule.replace("name: hello", "name: panicky");
    let dir = rules_with(&[("panicky.yaml", panicky.as_str())]);
    // One render thread: it must survive the panics to answer the hello requests after them.
    let server = Server::start(
        &dir.path,
        &["--debug-panic-rule", "panicky", "--render-threads", "1"],
    );
    for _ in 0..3 {
        let r = server.post_json("/panicky/sync", &hello_request(Some("x"), 1));
        assert_eq!(r.status, 500);
        assert!(r.text().contains("rule `panicky` failed"), "{}", r.text());
        assert_eq!(hello(&server).0, 200);
    }
    assert_eq!(
        metric(&server, "rulehook_panics_total{rule=\"panicky\"}"),
        3.0
    );
}

#[test]
fn probes_answer_head_requests() {
    let server = Server::bundled();
    for path in ["/healthz", "/readyz"] {
        let r = server.request("HEAD", path, &[], b"").unwrap();
        assert_eq!(r.status, 200, "HEAD {path}");
        assert!(r.body.is_empty());
    }
}

#[test]
fn sigterm_answers_every_request_sent_before_it() {
    for run in 0..20 {
        let server = Server::bundled();
        let addr = server.addr.clone();
        let stop = Arc::new(AtomicBool::new(false));
        // (sent at, answered with 200) for every request whose bytes went out.
        let log: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::default();
        let body = serde_json::to_vec(&hello_request(Some("bye"), 1)).unwrap();
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let (addr, stop, log, body) = (addr.clone(), stop.clone(), log.clone(), body.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(mut stream) = TcpStream::connect(&addr) else {
                            return; // the listener is closed: nothing was accepted
                        };
                        let head = format!(
                            "POST /hello/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        );
                        if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&body).is_err() {
                            continue;
                        }
                        let sent = Instant::now();
                        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        let mut raw = Vec::new();
                        let _ = stream.read_to_end(&mut raw);
                        let ok = parse_response(&raw).is_ok_and(|r| r.status == 200);
                        log.lock().unwrap().push((sent, ok));
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150));
        let signalled = Instant::now();
        let status = server.terminate();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        assert!(status.success(), "run {run}: {status:?}");
        let log = log.lock().unwrap();
        let before: Vec<_> = log.iter().filter(|(sent, _)| *sent < signalled).collect();
        let lost = before.iter().filter(|(_, ok)| !ok).count();
        assert!(before.len() > 8, "run {run}: the clients were sending");
        assert_eq!(
            lost,
            0,
            "run {run}: {lost} of {} requests sent before SIGTERM got no answer",
            before.len()
        );
    }
}
