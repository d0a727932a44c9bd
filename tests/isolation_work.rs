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

/// Matches every pattern a parent lists against its subject (patterns from the request).
const MATCHER: &str = include_str!("fixtures/matcher.yaml");
fn rules() -> ConfigMapDir {
    let hello = std::fs::read_to_string(repo().join("rules/hello.yaml")).unwrap();
    ConfigMapDir::new(&[("hello.yaml", hello.as_str()), ("matcher.yaml", MATCHER)])
}

/// A request with `count` patterns, `pattern(i)` each made new to this request (`salt`), so
/// neither a pattern cache nor the answer cache can help.
fn matcher_request(
    salt: u64,
    subject: &str,
    count: usize,
    pattern: impl Fn(usize) -> String,
) -> Vec<u8> {
    let patterns: Vec<String> = (0..count)
        .map(|i| format!("{}|z{salt}q{}", pattern(i), i % 10))
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
    // 30 KB of subject and 600 matches per request, of 10 patterns new in every request:
    // milliseconds of PikeVM work per match. Each search is priced by the subject's length
    // and the pattern's shape, so the first one already costs more than an I/O thread's
    // slice, and the whole request goes to a render thread.
    let subject: String = (0..30_000)
        .map(|i| if i % 3 == 0 { '1' } else { '0' })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    // One attacker per I/O thread (the harness starts two workers): enough to freeze both
    // before, and light enough to leave the other tests running beside this one their CPU.
    let attackers = attack(&server.addr, 2, &stop, move |n| {
        matcher_request(n, &subject, 600, |i| {
            format!("[01]*1[01]{{{}}}", 10 + i % 10)
        })
    });
    std::thread::sleep(Duration::from_millis(300));
    let (mut probes, mut hellos) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
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
    let attackers = attack(&server.addr, 2, &stop, |n| {
        matcher_request(n, "abc", 300, |i| {
            if i % 2 == 0 {
                format!(r"\w{{12}}[a-z]{{{}}}", i % 50)
            } else {
                format!("^[a-z]{{{}}}[0-9]+$", 1 + i % 40)
            }
        })
    });
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let statuses: Vec<u16> = attackers
        .into_iter()
        .flat_map(|a| a.join().unwrap())
        .collect();
    assert!(statuses.len() >= 2, "{statuses:?}");
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

/// A rule of about `bytes` whose templates compile large: block helpers and nested calls.
fn heavy_rule(name: &str, bytes: usize) -> String {
    let mut text = format!("name: {name}\nvalues:\n  who: {{path: $.parent.metadata.name, default: x}}\nsync:\n  status:\n");
    let mut i = 0;
    loop {
        let entry = format!(
            "    k{i}: \"{{{{#if who}}}}{{{{concat who '-' (lower (toString {i}))}}}}{{{{else}}}}none{{{{/if}}}}\"\n"
        );
        if text.len() + entry.len() > bytes {
            return text;
        }
        text.push_str(&entry);
        i += 1;
    }
}

fn as_refs(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect()
}

fn rules_listing(server: &Server) -> serde_json::Value {
    let listing = server.get("/rules").unwrap();
    assert_eq!(listing.status, 200);
    listing.json()
}

fn file_error(listing: &serde_json::Value, file: &str) -> Option<String> {
    listing["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"].as_str().is_some_and(|f| f.ends_with(file)))
        .and_then(|f| f["error"].as_str().map(str::to_owned))
}

#[test]
fn a_rule_too_large_for_the_rules_share_is_refused_and_its_last_version_serves() {
    // At 8 MiB the rules' share is 1 MiB and a rule file may have 8 KiB.
    let hello = std::fs::read_to_string(repo().join("rules/hello.yaml")).unwrap();
    let heavy = |name: &str| heavy_rule(name, 8_000);
    let first = heavy("first");
    let small = "name: last\nsync:\n  status:\n    n: 1\n";
    let mut files: Vec<(String, String)> = vec![
        ("hello.yaml".into(), hello.clone()),
        ("first.yaml".into(), first.clone()),
        ("zz-last.yaml".into(), small.into()),
    ];
    let mut dir = ConfigMapDir::new(&as_refs(&files));
    let server = Server::start(&dir.path, &["--memory-limit", "8MiB"]);
    let listing = rules_listing(&server);
    let limit = listing["memory"]["limitBytes"].as_u64().unwrap();
    assert_eq!(limit, 1024 * 1024);
    let first_bytes = listing["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "first")
        .map(|r| r["memoryBytes"].as_u64().unwrap())
        .unwrap();
    assert!(
        first_bytes > 50_000,
        "a heavy rule takes {first_bytes} bytes compiled"
    );
    assert!(listing["memory"]["bytes"].as_u64().unwrap() > first_bytes);
    let metrics = server.get("/metrics").unwrap().text();
    assert!(metrics.contains(&format!(
        "rulehook_rule_memory_bytes{{rule=\"first\"}} {first_bytes}"
    )));

    // Twice as many heavy rules as the share holds, then the last file grows heavy too:
    // files are read in path order, so the share is full before it comes.
    let extra = 2 * limit / first_bytes;
    for i in 0..extra {
        files.push((format!("extra{i:03}.yaml"), heavy(&format!("extra{i:03}"))));
    }
    files.retain(|(n, _)| n != "zz-last.yaml");
    files.push(("zz-last.yaml".into(), heavy("last")));
    files.push(("toolarge.yaml".into(), heavy_rule("toolarge", 10_000)));
    dir.update(&as_refs(&files));
    server.wait_until(Duration::from_secs(10), |s| {
        file_error(&rules_listing(s), "zz-last.yaml").is_some()
    });
    let listing = rules_listing(&server);
    let error = file_error(&listing, "zz-last.yaml").unwrap();
    assert!(error.contains("rules' share of memory"), "{error}");
    let served = server.post_json(
        "/last/sync",
        &json!({"parent": {"metadata": {"name": "p"}}}),
    );
    assert_eq!(served.status, 200, "{}", served.text());
    assert_eq!(
        served.json()["status"]["n"],
        1,
        "the last good version serves"
    );
    let error = file_error(&listing, "toolarge.yaml").unwrap();
    assert!(
        error.contains("a rule file may have at most 8192"),
        "{error}"
    );
    let used = listing["memory"]["bytes"].as_u64().unwrap();
    assert!(used <= limit && used > limit / 2, "{used} of {limit}");
    let metrics = server.get("/metrics").unwrap().text();
    assert!(metrics.contains("rulehook_rule_errors{file="), "{metrics}");
}
