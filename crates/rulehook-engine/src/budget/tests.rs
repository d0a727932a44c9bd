use super::*;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn limits(bytes: usize) -> Limits {
    Limits {
        max_output_bytes: bytes,
        ..Limits::default()
    }
}

#[test]
fn charges_past_the_limit_fail_and_the_meter_goes_with_its_guard() {
    {
        let _meter = install(&limits(100));
        assert_eq!(charge(60), Ok(()));
        assert_eq!(charge(41), Err(Exceeded::Bytes { limit: 100 }));
        assert_eq!(charge(40), Ok(()));
    }
    // Outside a render only the generous default applies.
    assert_eq!(charge(1000), Ok(()));
}

#[test]
fn measuring_stops_at_the_room_left() {
    let big = json!({"data": {"blob": "x".repeat(10_000)}, "n": [1, 2, 3]});
    assert!(size_within(&big, 1_000).is_none());
    let size = size_within(&big, usize::MAX).unwrap();
    assert!(size > 10_000 && size < 10_100, "{size}");
    let text = serde_json::to_vec(&big).unwrap().len();
    assert!(
        size.abs_diff(text) < 100,
        "close to the JSON text: {size} vs {text}"
    );
    let _meter = install(&limits(50_000));
    for _ in 0..4 {
        assert_eq!(charge_copy(&big), Ok(()));
    }
    assert!(charge_copy(&big).is_err(), "the fifth copy is over 50,000");
}

#[derive(Debug, Default)]
struct Stingy {
    granted: AtomicUsize,
    cancelled: AtomicBool,
}

/// A meter with no limits of its own, installed with a [`Stingy`] guard.
fn stingy_meter() -> (Arc<Stingy>, Installed) {
    let guard = Arc::new(Stingy::default());
    let meter = install(&Limits {
        guard: Some(guard.clone()),
        ..limits(usize::MAX)
    });
    (guard, meter)
}

impl RenderGuard for Stingy {
    fn reserve(&self, bytes: usize) -> bool {
        self.granted.fetch_add(bytes, Ordering::Relaxed) + bytes <= 2 * GRANT
    }
    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

#[test]
fn the_guard_is_asked_in_grants_and_can_stop_the_render() {
    let (guard, _meter) = stingy_meter();
    assert_eq!(charge(10), Ok(()));
    assert_eq!(guard.granted.load(Ordering::Relaxed), GRANT, "one grant");
    assert_eq!(charge(GRANT), Ok(()));
    assert_eq!(charge(GRANT), Err(Exceeded::Interrupted));
    assert!(interrupted(), "a refusal stops the render for good");
    assert_eq!(charge(1), Err(Exceeded::Interrupted));
}

#[test]
fn cancelling_is_seen_at_the_next_step() {
    let (guard, _meter) = stingy_meter();
    assert!(!interrupted());
    guard.cancelled.store(true, Ordering::Relaxed);
    assert!(interrupted());
}

#[test]
fn a_stop_is_seen_within_a_few_charges_and_before_any_large_work() {
    let (guard, _meter) = stingy_meter();
    assert_eq!(charge(1), Ok(()));
    guard.cancelled.store(true, Ordering::Relaxed);
    let light = (0..POLL_EVERY_CHARGES)
        .map(|_| charge(1))
        .collect::<Vec<_>>();
    assert_eq!(light.last(), Some(&Err(Exceeded::Interrupted)));
    assert!(light.iter().filter(|r| r.is_ok()).count() < POLL_EVERY_CHARGES as usize);

    let (guard, _meter) = stingy_meter();
    assert_eq!(work(1), Ok(()));
    guard.cancelled.store(true, Ordering::Relaxed);
    assert_eq!(
        work(POLL_EVERY_UNITS),
        Err(Exceeded::Interrupted),
        "polled first"
    );
}
