//! Limits and the caller's guard: every render stops at its bounds, naming the limit.

use serde_json::json;

use super::*;
use crate::RenderGuard;

/// A guard that grants memory up to a cap and can be cancelled.
#[derive(Debug, Default)]
struct TestGuard {
    cap: usize,
    granted: std::sync::atomic::AtomicUsize,
    cancelled: std::sync::atomic::AtomicBool,
}

impl RenderGuard for TestGuard {
    fn reserve(&self, bytes: usize) -> bool {
        use std::sync::atomic::Ordering;
        self.granted.fetch_add(bytes, Ordering::Relaxed) + bytes <= self.cap
    }
    fn cancelled(&self) -> bool {
        self.cancelled.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Two nested loops: 10,000 × 10,000 steps, all filtered out, so nothing but a stop ends it.
const ENDLESS: &str = "values:\n  n: $.parent.spec.n\nsync:\n  status:\n    l:\n      - $forEach: \"{{ n }}\"\n        $as: i\n        $template:\n          - $forEach: \"{{ n }}\"\n            $includeWhen: \"{{ eq item -1 }}\"\n            $template: x\n";

#[test]
fn a_loop_over_the_item_limit_fails_and_names_the_limit() {
    let rule = Rule::compile(
        "r.yaml",
        "values:\n  n: $.parent.spec.n\nsync:\n  status:\n    l:\n      - $forEach: \"{{ n }}\"\n        $template: \"{{ item }}\"\n",
    )
    .unwrap();
    let limits = Limits {
        max_loop_items: 5,
        ..Limits::default()
    };
    let err = rule
        .render(Hook::Sync, json!({"parent": {"spec": {"n": 6}}}), &limits)
        .unwrap_err();
    assert!(err.to_string().contains("limit max-loop-items"), "{err}");
    assert!(rule
        .render(Hook::Sync, json!({"parent": {"spec": {"n": 5}}}), &limits)
        .is_ok());
}

#[test]
fn the_output_size_limit_is_enforced() {
    let limits = Limits {
        max_output_bytes: 100,
        ..Limits::default()
    };
    let big = "x".repeat(200);
    let err = hello()
        .render_body(
            Hook::Sync,
            &mut json!({"parent": parent(Some(json!(big)))}),
            &limits,
        )
        .unwrap_err();
    assert!(err.to_string().contains("limit max-output-bytes"), "{err}");
}

#[test]
fn a_cancelled_render_stops_at_its_next_step() {
    let rule = Rule::compile("r.yaml", ENDLESS).unwrap();
    let guard = std::sync::Arc::new(TestGuard {
        cap: usize::MAX,
        ..TestGuard::default()
    });
    let limits = Limits {
        max_steps: u64::MAX,
        guard: Some(guard.clone()),
        ..Limits::default()
    };
    let canceller = {
        let guard = guard.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            guard
                .cancelled
                .store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let started = std::time::Instant::now();
    let err = rule
        .render(
            Hook::Sync,
            json!({"parent": {"spec": {"n": 10_000}}}),
            &limits,
        )
        .unwrap_err();
    canceller.join().unwrap();
    assert!(matches!(err, HookError::Interrupted { .. }), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn a_render_the_guard_refuses_memory_stops_as_interrupted() {
    let rule = Rule::compile(
        "r.yaml",
        "values:\n  n: $.parent.spec.n\nsync:\n  status:\n    l:\n      - $forEach: \"{{ n }}\"\n        $template: \"{{ item }}-some-text\"\n",
    )
    .unwrap();
    let limits = Limits {
        guard: Some(std::sync::Arc::new(TestGuard {
            cap: 128 * 1024,
            ..TestGuard::default()
        })),
        ..Limits::default()
    };
    let small = rule.render(Hook::Sync, json!({"parent": {"spec": {"n": 10}}}), &limits);
    assert!(small.is_ok(), "{small:?}");
    let err = rule
        .render(
            Hook::Sync,
            json!({"parent": {"spec": {"n": 10_000}}}),
            &limits,
        )
        .unwrap_err();
    assert!(matches!(err, HookError::Interrupted { .. }), "{err}");
}

#[test]
fn the_step_budget_bounds_nested_loops_that_emit_nothing() {
    let rule = "sync:\n  status:\n    l:\n      - $forEach: \"{{ range 1000 }}\"\n        $as: a\n        $template:\n          - $forEach: \"{{ range 1000 }}\"\n            $includeWhen: \"{{ false }}\"\n            $template: 1\n";
    let compiled = Rule::compile("r.yaml", rule).unwrap();
    let limits = Limits {
        max_steps: 10_000,
        ..Limits::default()
    };
    let err = compiled
        .render(Hook::Sync, json!({"parent": {}}), &limits)
        .unwrap_err()
        .to_string();
    assert!(err.contains("limit max-render-steps"), "{err}");
}

#[test]
fn helper_results_kept_by_the_render_count_against_the_output_limit() {
    // Each `concat` result fits on its own; fifty of them kept in one list do not.
    let rule = Rule::compile(
        "r.yaml",
        "values:\n  big: $.parent.spec.big\nsync:\n  status:\n    copies:\n      - $forEach: \"{{ range 50 }}\"\n        $template: \"{{ concat big '' }}\"\n",
    )
    .unwrap();
    let limits = Limits {
        max_output_bytes: 1_000_000,
        ..Limits::default()
    };
    let big = "x".repeat(100_000);
    let error = rule
        .render(
            Hook::Sync,
            json!({"parent": {"spec": {"big": big}}}),
            &limits,
        )
        .unwrap_err()
        .to_string();
    assert!(error.contains("limit max-output-bytes"), "{error}");
    // Ten of them fit.
    let ten = rule
        .render(
            Hook::Sync,
            json!({"parent": {"spec": {"big": "x".repeat(10_000)}}}),
            &limits,
        )
        .unwrap();
    assert_eq!(ten["status"]["copies"].as_array().unwrap().len(), 50);
}
