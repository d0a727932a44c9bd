//! Soak: steady load while the rule directory is swapped every half second, alternating good
//! edits, broken edits, deletions and restores. Every answer must be a 200 with a body some
//! good edit produced, or a 404 while the rule was deleted; memory must not grow.
//!
//! CI runs it briefly; run it longer with
//! `RULEHOOK_SOAK_SECONDS=60 cargo test --release --test tests soak -- --nocapture`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::configmap::ConfigMapDir;
use crate::support::Server;

fn rule(n: u64) -> String {
    format!("values:\n  who: {{path: $.parent.spec.who, default: x}}\nsync:\n  status:\n    n: {n}\n    who: \"{{{{ who }}}}\"\n")
}

const BROKEN: &str = "sync:\n  status:\n    n: \"{{ nope \"\n";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Good(u64),
    Broken,
    Deleted,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[test]
fn soak_with_reloads_loses_no_request() {
    let seconds: u64 = std::env::var("RULEHOOK_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let mut dir = ConfigMapDir::new(&[("soak.yaml", &rule(0)), ("other.yaml", &rule(1000))]);
    let server = Arc::new(Server::start(&dir.path, &[]));
    let start = Instant::now();
    // (time, phase) of every swap, for judging each answer.
    let timeline = Arc::new(Mutex::new(vec![(Duration::ZERO, Phase::Good(0))]));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (server, stop, timeline) = (server.clone(), stop.clone(), timeline.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                let mut count = 0u64;
                let body = format!("{{\"parent\": {{\"spec\": {{\"who\": \"c{c}\"}}}}}}");
                while !stop.load(Ordering::Relaxed) {
                    let sent = start.elapsed();
                    let r = server.request(
                        "POST",
                        "/soak/sync",
                        &[("Content-Type", "application/json")],
                        body.as_bytes(),
                    );
                    let done = start.elapsed();
                    count += 1;
                    let timeline = timeline.lock().unwrap().clone();
                    // Phases that may be in force for this request: any whose window, extended
                    // by the reload latency, overlaps [sent, done].
                    let slack = Duration::from_millis(600);
                    let possible: Vec<Phase> = timeline
                        .iter()
                        .enumerate()
                        .filter(|(i, (at, _))| {
                            let end = timeline.get(i + 1).map_or(done, |n| n.0);
                            *at <= done && end + slack >= sent
                        })
                        .map(|(_, (_, p))| *p)
                        .collect();
                    let ok = match &r {
                        Ok(r) if r.status == 200 => {
                            let v = r.json();
                            let n = v["status"]["n"].as_u64().unwrap_or(u64::MAX);
                            v["status"]["who"] == format!("c{c}").as_str()
                                && timeline.iter().any(|(_, p)| *p == Phase::Good(n))
                        }
                        Ok(r) if r.status == 404 => possible.contains(&Phase::Deleted),
                        _ => false,
                    };
                    if !ok {
                        failures.push(format!("{:?}: {:?}", sent, r.map(|r| (r.status, r.text()))));
                    }
                    let other = server.post_json("/other/sync", &serde_json::json!({"parent": {}}));
                    if other.status != 200 || other.json()["status"]["n"] != 1000 {
                        failures.push(format!("other rule disturbed: {}", other.text()));
                    }
                }
                (count, failures)
            })
        })
        .collect();

    let warmup = Duration::from_secs((seconds / 6).max(1));
    let mut rss_after_warmup = 0;
    let mut n = 0;
    let mut step = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(500));
        if rss_after_warmup == 0 && start.elapsed() >= warmup {
            rss_after_warmup = rss_kib(server.pid());
        }
        let phase = match step % 4 {
            0 => {
                n += 1;
                Phase::Good(n)
            }
            1 => Phase::Broken,
            2 => Phase::Deleted,
            _ => {
                n += 1;
                Phase::Good(n)
            }
        };
        let other = rule(1000);
        match phase {
            Phase::Good(n) => dir.update(&[("soak.yaml", &rule(n)), ("other.yaml", &other)]),
            Phase::Broken => dir.update(&[("soak.yaml", BROKEN), ("other.yaml", &other)]),
            Phase::Deleted => dir.update(&[("other.yaml", &other)]),
        }
        timeline.lock().unwrap().push((start.elapsed(), phase));
        step += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut failures = Vec::new();
    for c in clients {
        let (count, f) = c.join().unwrap();
        total += count;
        failures.extend(f);
    }
    let rss_end = rss_kib(server.pid());
    let growth = rss_end as f64 / rss_after_warmup.max(1) as f64 - 1.0;
    eprintln!(
        "soak: {seconds} s, {step} swaps, {total} requests, {} failed, RSS {rss_after_warmup} KiB after warm-up -> {rss_end} KiB at the end ({:+.1}%)",
        failures.len(),
        growth * 100.0
    );
    assert!(total > 50, "the clients ran: {total}");
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        failures.first()
    );
    if seconds >= 60 {
        assert!(growth < 0.10, "RSS grew {:.1}%", growth * 100.0);
    }
}
