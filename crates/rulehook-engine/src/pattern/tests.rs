use super::*;
use crate::Limits;

fn limits(max_output_bytes: usize, max_work: u64) -> Limits {
    Limits {
        max_output_bytes,
        max_work,
        ..Limits::default()
    }
}

#[test]
fn the_cost_per_byte_grows_with_the_positions_a_match_can_be_at() {
    let cost = |text| Pattern::compile(text, Origin::Rule).unwrap().per_byte;
    assert!(cost("^web-[0-9]+$") < 300, "{}", cost("^web-[0-9]+$"));
    assert!(cost("[01]*1[01]{200}") > 200 * POSITION_WORK);
    assert!(cost("(?:ab){1000}") > cost("(?:ab){10}") * 50);
}

#[test]
fn a_request_pattern_compiles_under_a_far_smaller_limit_than_a_rule_pattern() {
    let large = r"\w{5}";
    assert!(Pattern::compile(large, Origin::Rule).is_ok());
    let error = Pattern::compile(large, Origin::Request).unwrap_err();
    assert!(matches!(error, PatternError::Bad(_)), "{error}");
    assert!(error.to_string().contains("(?-u:\\w)"), "{error}");
    assert!(matches!(
        Pattern::compile(&"a".repeat(TEXT_LIMIT + 1), Origin::Rule),
        Err(PatternError::TooLong { .. })
    ));
}

#[test]
fn a_render_compiles_a_request_pattern_once_and_reuses_its_cache() {
    let _meter = budget::install(&limits(16 << 20, u64::MAX / 2));
    let _table = install(None);
    let before = budget::work_left();
    for _ in 0..3 {
        assert_eq!(
            with("^a+$", 3, 1, |re, cache| re
                .search_with(cache, &regex_automata::Input::new("aaa"))
                .is_some()),
            Ok(true)
        );
    }
    let spent = before - budget::work_left();
    assert!(
        (COMPILE_WORK..2 * COMPILE_WORK).contains(&spent),
        "compiled once: {spent}"
    );
    TABLE.with(|t| assert_eq!(t.borrow().as_ref().unwrap().request.len(), 1));
}

#[test]
fn the_rules_own_patterns_are_not_compiled_again() {
    let mut rule = RulePatterns::default();
    rule.add("^web-").unwrap();
    rule.add("^web-").unwrap();
    assert_eq!(rule.patterns.len(), 1);
    let _meter = budget::install(&limits(16 << 20, u64::MAX / 2));
    let _table = install(Some(Arc::new(rule)));
    let before = budget::work_left();
    assert_eq!(
        with("^web-", 5, 1, |re, cache| re
            .search_with(cache, &regex_automata::Input::new("web-1"))
            .is_some()),
        Ok(true)
    );
    assert!(before - budget::work_left() < COMPILE_WORK);
}

#[test]
fn request_patterns_take_memory_from_the_render_and_stop_at_its_limit() {
    let _meter = budget::install(&limits(1 << 20, u64::MAX / 2));
    let _table = install(None);
    let mut compiled = 0;
    let error = loop {
        match with(&format!("^p{compiled}[a-z]+$"), 10, 1, |_, _| ()) {
            Ok(()) => compiled += 1,
            Err(e) => break e,
        }
        assert!(compiled < 1000, "no limit was reached");
    };
    assert!(
        matches!(error, PatternError::Exceeded(Exceeded::Held { .. })),
        "{error}"
    );
    // Each pattern holds its cache's reserve at least: at most 1 MiB / 160 KiB of them.
    assert!((1..=6).contains(&compiled), "{compiled}");
}

#[test]
fn a_search_that_would_pass_the_work_limit_never_starts() {
    let _meter = budget::install(&limits(16 << 20, 1_000_000));
    let mut rule = RulePatterns::default();
    rule.add("[01]*1[01]{200}").unwrap();
    let _table = install(Some(Arc::new(rule)));
    let mut ran = false;
    let result = with("[01]*1[01]{200}", 30_000, 1, |_, _| ran = true);
    assert!(
        matches!(result, Err(PatternError::Exceeded(Exceeded::Work { .. }))),
        "{result:?}"
    );
    assert!(!ran);
}
