//! Engine micro-benchmarks: the costs a hook request pays inside rulehook, without HTTP.
//!
//! - `hello/*`: the README's hello rule on its sample request, render only (the request is
//!   parsed once; each iteration clones the parsed value, outside the timing).
//! - `hello_by_size/*`: the hello rule parsing and rendering, as the server does, requests
//!   observing 0 to 1,000 Pods, beside a JSON-validation floor for the same bytes.
//! - `examples/*`: every example rule on each request of its fixtures, parse and render.
//! - `pods1000/*`: a sync request observing 1,000 realistic Pods (~3 MB of JSON) and a rule
//!   counting them by phase: `serde_json` parsing alone, dropping the parsed request alone,
//!   the render (which consumes, so drops, the request), and parse + `render_body` as the
//!   server does it.
//! - `fanout/*`: one parent fanned out to 1,000 Services with `$forEach`.
//! - `compile/*`: compiling 100 variants of a realistic rule.
//!
//! Run with `cargo bench -p rulehook-engine --bench engine` (add a filter such as
//! `-- pods1000` to pick some). Without `-p`, cargo builds the engine with the features the
//! server's tests ask for, `cross-check` among them, which evaluates every template with
//! handlebars too; the benchmarks refuse to run so.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use rulehook_engine::{Hook, Limits, Rule};
use serde_json::Value;

#[path = "../../../bench/common/mod.rs"]
mod common;

/// The allocator the server runs with (the server's src/main.rs), so that parse and drop cost here what
/// they cost in a hook call.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HELLO_RULE: &str = include_str!("../../../rules/hello.yaml");
const HELLO_REQUEST: &str = include_str!("../../../tests/fixtures/hello-sync-v1.json");

fn compile(label: &str, text: &str) -> Rule {
    Rule::compile(label, text).unwrap_or_else(|d| panic!("{label} does not compile: {d:?}"))
}

fn hello(c: &mut Criterion) {
    let rule = compile("rules/hello.yaml", HELLO_RULE);
    let request: Value = serde_json::from_str(HELLO_REQUEST).expect("the fixture is JSON");
    let limits = Limits::default();
    let mut group = c.benchmark_group("hello");
    group.bench_function("render", |b| {
        b.iter_batched(
            || request.clone(),
            |req| {
                rule.render(Hook::Sync, req, &limits)
                    .expect("hello renders")
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("render_body", |b| {
        b.iter_batched(
            || request.clone(),
            |mut req| {
                rule.render_body(Hook::Sync, &mut req, &limits)
                    .expect("hello renders")
            },
            BatchSize::SmallInput,
        )
    });
    let body = HELLO_REQUEST.as_bytes();
    group.bench_function("parse+render_body", |b| {
        b.iter(|| {
            let mut req: Value = serde_json::from_slice(black_box(body)).expect("JSON");
            rule.render_body(Hook::Sync, &mut req, &limits)
                .expect("hello renders")
        })
    });
    group.finish();
}

/// The hello rule as the server runs it, parse and render, on the sync requests of a parent
/// observing 0, 1, 10, 100 and 1,000 Pods (0.9 KB to 3 MB), beside the floors: checking the
/// same bytes are JSON and nothing more, with serde_json and with the engine's scanner.
fn hello_by_size(c: &mut Criterion) {
    let rule = compile("rules/hello.yaml", HELLO_RULE);
    let limits = Limits::default();
    let mut group = c.benchmark_group("hello_by_size");
    group.sample_size(20);
    for pods in [0, 1, 10, 100, 1000] {
        let body = common::pods_request_body(pods);
        let answer = {
            let mut request = rule.parse_request(&body).expect("JSON");
            rule.render_body(Hook::Sync, &mut request, &limits)
                .expect("hello renders")
        };
        let answer: Value = serde_json::from_slice(&answer).expect("the answer is JSON");
        assert_eq!(answer["status"]["pods"], pods);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("pods{pods}/parse+render_body"), |b| {
            b.iter(|| {
                let mut request = rule.parse_request(black_box(&body)).expect("JSON");
                rule.render_body(Hook::Sync, &mut request, &limits)
                    .expect("hello renders")
            })
        });
        // The server's own path when nothing will name the parent (no access log, no
        // failures page, no answer kept): only what the answer needs is parsed.
        group.bench_function(format!("pods{pods}/answer-parse+render_body"), |b| {
            b.iter(|| {
                let mut request = rule.parse_answer_reads(black_box(&body)).expect("JSON");
                rule.render_body(Hook::Sync, &mut request, &limits)
                    .expect("hello renders")
            })
        });
        group.bench_function(format!("pods{pods}/scan"), |b| {
            b.iter(|| rulehook_engine::is_json(black_box(&body)))
        });
        group.bench_function(format!("pods{pods}/validate"), |b| {
            b.iter(|| {
                serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&body)).expect("JSON")
            })
        });
    }
    group.finish();
}

/// The libraries the examples share (`examples/lib/`, their library search path).
fn shared_libraries(dir: &std::path::Path) -> rulehook_engine::LibrarySet {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("examples/lib/")
        .flatten()
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(rulehook_engine::LIBRARY_SUFFIX))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("a library file");
            (p, text)
        })
        .collect();
    files.sort();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    rulehook_engine::compile_directory(&files).0
}

/// Every example rule on every request of its fixtures, parsed and rendered as the server
/// does: what each controller pays per call.
fn examples(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("examples/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("fixtures").is_dir())
        .collect();
    dirs.sort();
    let libraries = shared_libraries(&root.join("lib"));
    let limits = Limits::default();
    let mut group = c.benchmark_group("examples");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(1));
    for dir in dirs {
        let mut rules: Vec<_> = std::fs::read_dir(&dir)
            .expect("an example")
            .flatten()
            .map(|e| e.path())
            .collect();
        rules.sort();
        let mut fixtures: Vec<_> = std::fs::read_dir(dir.join("fixtures"))
            .expect("fixtures")
            .flatten()
            .map(|e| e.path())
            .collect();
        fixtures.sort();
        for rule_path in &rules {
            let name = rule_path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.ends_with(".yaml")
                || name.ends_with(".test.yaml")
                || ["controller.yaml", "crd.yaml", "example.yaml"].contains(&name)
            {
                continue;
            }
            let text = std::fs::read_to_string(rule_path).expect("a rule file");
            let Ok(rule) = Rule::compile_with(name, &text, &libraries) else {
                continue;
            };
            for fixture in &fixtures {
                let file = fixture.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let hook = if file.starts_with("customize") {
                    Hook::Customize
                } else if file.starts_with("finalize") {
                    Hook::Finalize
                } else {
                    Hook::Sync
                };
                let Ok(raw) = std::fs::read(fixture) else {
                    continue;
                };
                // Compact, as Metacontroller sends it.
                let Ok(request) = serde_json::from_slice::<Value>(&raw) else {
                    continue;
                };
                let body = serde_json::to_vec(&request).expect("JSON");
                let answers = rule
                    .parse_request(&body)
                    .ok()
                    .and_then(|mut r| rule.render_body(hook, &mut r, &limits).ok());
                if answers.is_none() {
                    continue;
                }
                group.bench_function(format!("{}/{file}", rule.name), |b| {
                    b.iter(|| {
                        let mut request = rule.parse_request(black_box(&body)).expect("JSON");
                        rule.render_body(hook, &mut request, &limits)
                            .expect("renders")
                    })
                });
            }
        }
    }
    group.finish();
}

fn pods1000(c: &mut Criterion) {
    let rule = compile("bench/pods.yaml", common::PODS_RULE);
    let body = common::pods_request_body(1000);
    let mb = body.len() as f64 / 1e6;
    assert!(
        (2.8..=3.2).contains(&mb),
        "the 1,000-Pod request should be about 3 MB, not {mb:.2} MB"
    );
    eprintln!("pods1000: request body {} bytes", body.len());
    let request: Value = serde_json::from_slice(&body).expect("JSON");
    let limits = Limits::default();
    let rendered = rule
        .render(Hook::Sync, request.clone(), &limits)
        .expect("the pods rule renders");
    assert_eq!(rendered["status"]["pods"], 1000);
    assert_eq!(rendered["status"]["running"], 250);
    assert_eq!(rendered["status"]["byPhase"]["Failed"], 250);

    let mut group = c.benchmark_group("pods1000");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(6));
    group.throughput(Throughput::Bytes(body.len() as u64));
    // Parse alone: the parsed value is dropped outside the timing (see `drop`).
    group.bench_function("parse", |b| {
        b.iter_with_large_drop(|| serde_json::from_slice::<Value>(black_box(&body)).expect("JSON"))
    });
    group.bench_function("render", |b| {
        b.iter_batched(
            || request.clone(),
            |req| rule.render(Hook::Sync, req, &limits).expect("renders"),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("parse+render_body", |b| {
        b.iter(|| {
            let mut req: Value = serde_json::from_slice(black_box(&body)).expect("JSON");
            rule.render_body(Hook::Sync, &mut req, &limits)
                .expect("renders")
        })
    });
    // What dropping the parsed request costs, since a render consumes (and frees) it.
    group.bench_function("drop", |b| {
        b.iter_batched(|| request.clone(), drop, BatchSize::LargeInput)
    });
    group.finish();
}

fn fanout(c: &mut Criterion) {
    let rule = compile("bench/fanout.yaml", common::FANOUT_RULE);
    let request = common::fanout_request(1000);
    let limits = Limits::default();
    let rendered = rule
        .render(Hook::Sync, request.clone(), &limits)
        .expect("the fan-out rule renders");
    assert_eq!(rendered["children"].as_array().map(Vec::len), Some(1000));
    assert_eq!(
        rendered["children"][999]["metadata"]["name"],
        "storefront-0999"
    );

    let mut group = c.benchmark_group("fanout");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(6));
    group.throughput(Throughput::Elements(1000));
    group.bench_function("services1000/render", |b| {
        b.iter_batched(
            || request.clone(),
            |req| rule.render(Hook::Sync, req, &limits).expect("renders"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("services1000/render_body", |b| {
        b.iter_batched(
            || request.clone(),
            |mut req| {
                rule.render_body(Hook::Sync, &mut req, &limits)
                    .expect("renders")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn compile_rules(c: &mut Criterion) {
    let rules = common::webapp_rules(100);
    for (file, text) in &rules {
        compile(file, text);
    }
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(rules.len() as u64));
    group.bench_function("rules100", |b| {
        b.iter(|| {
            for (file, text) in &rules {
                black_box(Rule::compile(file, black_box(text)).is_ok());
            }
        })
    });
    group.bench_function("hello", |b| {
        b.iter(|| Rule::compile("rules/hello.yaml", black_box(HELLO_RULE)).is_ok())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = hello, hello_by_size, examples, pods1000, fanout, compile_rules
}
fn main() {
    if cfg!(feature = "cross-check") {
        eprintln!(
            "error: the engine was built with `cross-check`, which evaluates every template twice; run `cargo bench -p rulehook-engine --bench engine`"
        );
        std::process::exit(2);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
