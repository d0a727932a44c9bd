//! Work and memory that one step can spend: regular expressions over long subjects, patterns
//! taken from the request. Against the real binary over loopback: probes and other rules
//! stay fast while the worst of these run, and memory stays under the limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::configmap::ConfigMapDir;
use crate::support::{hello_request, http, peak_rss_kib, repo, Server};

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Matches every pattern a parent lists against its subject: patterns from the request, as
/// a rule that lets each parent bring its own patterns would.
const MATCHER: &str = r#"values:
  subject: {path: $.parent.spec.subject, default: ""}
  patterns: {path: $.parent.spec.patterns, default: []}
sync:
  status:
    matched:
      - $forEach: "{{ patterns }}"
        $template: "{{ regexMatch subject item }}"
"#;

fn rules() -> ConfigMapDir {
    let hello = std::fs::read_to_string(repo().join("rules/hello.yaml")).unwrap();
    ConfigMapDir::new(&[("hello.yaml", hello.as_str()), ("matcher.yaml", MATCHER)])
}

/// A request with `count` patterns, each distinct in this request and across requests
/// (`salt`), so neither a pattern cache nor the answer cache can help.
fn matcher_request(
    salt: u64,
    subject: &str,
    count: usize,
    pattern: impl Fn(usize) -> String,
) -> Vec<u8> {
    let patterns: Vec<String> = (0..count)
        .map(|i| format!("{}|z{salt}q{i}", pattern(i)))
        .collect();
    serde_json::to_vec(&json!({
        "parent": {"metadata": {"name": format!("m{salt}")},
                   "spec": {"subject": subject, "patterns": patterns}},
    }))
    .unwrap()
}

/// Attackers that send `body(n)` for the n-th request, on `threads` connections at once,
/// until stopped; returns the statuses they got.
fn attack(
    addr: &str,
    threads: usize,
    stop: &Arc<AtomicBool>,
    body: impl Fn(u64) -> Vec<u8> + Send + Sync + 'static,
) -> Vec<std::thread::JoinHandle<Vec<u16>>> {
    let body = Arc::new(body);
    (0..threads)
        .map(|t| {
            let (addr, stop, body) = (addr.to_owned(), stop.clone(), body.clone());
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                let mut n = t as u64 * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let r = http(&addr, "POST", "/matcher/sync", &[JSON], &body(n));
                    statuses.push(r.map_or(0, |r| r.status));
                }
                statuses
            })
        })
        .collect()
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

#[test]
fn regex_work_on_every_io_thread_leaves_probes_and_other_rules_fast() {
    let dir = rules();
    let server = Server::start(&dir.path, &[]);
    // 30 KB of subject and 600 patterns per request: each search is priced by the subject's
    // length and the pattern's shape, so the first one already costs more than an I/O
    // thread's slice, and the whole request goes to a render thread.
    let subject: String = (0..30_000)
        .map(|i| if i % 3 == 0 { '1' } else { '0' })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let attackers = attack(&server.addr, 4, &stop, move |n| {
        matcher_request(n, &subject, 600, |i| {
            format!("[01]*1[01]{{{}}}", 10 + i % 20)
        })
    });
    std::thread::sleep(Duration::from_millis(300));
    let (mut probes, mut hellos) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        let t = Instant::now();
        assert_eq!(server.get("/healthz").unwrap().status, 200);
        probes.push(t.elapsed());
        let t = Instant::now();
        let hello = server.post_json("/hello/sync", &hello_request(Some("steady"), 1));
        assert_eq!(hello.status, 200, "{}", hello.text());
        hellos.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let statuses: Vec<u16> = attackers
        .into_iter()
        .flat_map(|a| a.join().unwrap())
        .collect();
    assert!(!statuses.is_empty());
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 429 | 500 | 503)),
        "{statuses:?}"
    );
    let (probe, hello) = (p99(probes), p99(hellos));
    assert!(probe < Duration::from_millis(100), "/healthz p99 {probe:?}");
    assert!(hello < Duration::from_millis(100), "hello p99 {hello:?}");
}

#[test]
fn patterns_from_the_request_stay_inside_the_memory_limit() {
    let dir = rules();
    let server = Server::start(&dir.path, &["--memory-limit", "128MiB"]);
    // 300 distinct patterns that compile near the old 1 MiB cap (Unicode classes are
    // large), and 300 small ones that compile: the first kind is refused at the request
    // limit, the second is charged to the render until its share runs out.
    let stop = Arc::new(AtomicBool::new(false));
    let attackers = attack(&server.addr, 4, &stop, |n| {
        matcher_request(n, "abc", 300, |i| {
            if i % 2 == 0 {
                format!(r"\w{{12}}[a-z]{{{}}}", i % 50)
            } else {
                format!("^[a-z]{{{}}}[0-9]+$", 1 + i % 40)
            }
        })
    });
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::Relaxed);
    let statuses: Vec<u16> = attackers
        .into_iter()
        .flat_map(|a| a.join().unwrap())
        .collect();
    assert!(statuses.len() >= 4, "{statuses:?}");
    let peak_mib = peak_rss_kib(server.pid()) / 1024;
    assert!(peak_mib < 128, "peak RSS {peak_mib} MiB");
    // The failures name what was refused.
    let refused = server.request(
        "POST",
        "/matcher/sync",
        &[JSON],
        &matcher_request(7, "abc", 2, |_| r"\w{12}".to_owned()),
    );
    let refused = refused.unwrap();
    assert_eq!(refused.status, 500, "{}", refused.text());
    assert!(
        refused.text().contains("may compile to 64 KiB"),
        "{}",
        refused.text()
    );
    assert!(
        refused.text().contains("matcher.yaml"),
        "{}",
        refused.text()
    );
    // And the small ones alone are answered.
    let fine = server.request(
        "POST",
        "/matcher/sync",
        &[JSON],
        &matcher_request(8, "abc1", 3, |i| format!("^[a-z]{{{}}}[0-9]+$", i + 1)),
    );
    let fine = fine.unwrap();
    assert_eq!(fine.status, 200, "{}", fine.text());
    assert_eq!(
        fine.json()["status"]["matched"],
        json!([false, false, true])
    );
}
