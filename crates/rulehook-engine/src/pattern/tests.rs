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
    // A small pattern holds what it measures (a few KiB), not its worst case: many fit.
    assert!(compiled > 10, "{compiled}");
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

#[test]
fn a_cache_never_grows_past_what_was_held_for_it() {
    let _meter = budget::install(&limits(64 << 20, u64::MAX / 2));
    let texts = [
        r"\w{15}",
        r"(\w+)-(\d+)-(\w*)",
        "(?:a|b|[0-9]){2000}",
        r"((\w)(\w)(\w)(\w)(\w))+$",
        "[01]*1[01]{200}",
    ];
    let mut rule = RulePatterns::default();
    for text in texts {
        rule.add(text).unwrap();
    }
    let rule = Arc::new(rule);
    let _table = install(Some(rule.clone()));
    let binary: String = (0..30_000)
        .map(|i| if i % 7 < 3 { '1' } else { '0' })
        .collect();
    let letters: String = (0..30_000)
        .map(|i| (b'a' + (i * 7 % 26) as u8) as char)
        .collect();
    for text in texts {
        let pattern = &rule.patterns[rule.index[text]];
        for subject in [&binary, &letters] {
            let grown = with(text, subject.len(), 2, |re, cache| {
                let mut caps = re.create_captures();
                re.search_captures_with(cache, &regex_automata::Input::new(subject), &mut caps);
                cache.memory_usage()
            })
            .unwrap();
            assert!(
                grown <= pattern.cache_bound,
                "{text}: cache {grown} > bound {}",
                pattern.cache_bound
            );
        }
    }
}

#[test]
fn a_light_render_with_two_rule_patterns_fits_an_io_thread_slice() {
    // The slice lets a render build 256 KiB; its patterns' caches hold what they measure.
    let _meter = budget::install(&limits(256 << 10, 1_000_000));
    let mut rule = RulePatterns::default();
    rule.add("^web-[0-9]+$").unwrap();
    rule.add("^db-").unwrap();
    let _table = install(Some(Arc::new(rule)));
    for _ in 0..10 {
        for (text, subject) in [("^web-[0-9]+$", "web-12"), ("^db-", "db-main")] {
            let found = with(text, subject.len(), 1, |re, cache| {
                re.search_with(cache, &regex_automata::Input::new(subject))
                    .is_some()
            });
            assert_eq!(found, Ok(true), "{text}");
        }
    }
}

#[test]
fn a_request_pattern_holds_no_full_dfa_and_the_rules_own_does() {
    // catset's pattern, built from a parent's name in every render: the rule's copy of it
    // holds a full DFA besides what both hold.
    let text = "^(.+)-web-(0|[1-9][0-9]*)$";
    let request = Pattern::compile(text, Origin::Request).unwrap();
    let rule = Pattern::compile(text, Origin::Rule).unwrap();
    assert!(
        request.memory() < rule.memory(),
        "request {} rule {}",
        request.memory(),
        rule.memory()
    );
}
