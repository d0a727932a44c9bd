use super::*;

fn read(file: &str, text: &str) -> FileRead {
    FileRead {
        file: file.to_owned(),
        content: ReadResult::Text(text.to_owned()),
    }
}

fn status(n: u64) -> String {
    format!("sync:\n  status:\n    n: {n}\n")
}

const BAD: &str = "sync:\n  status:\n    n: \"{{ nope }}\"\n";

fn served_n(set: &RuleSet, name: &str) -> Option<u64> {
    let rule = &set.get(name)?.rule;
    let r = rule
        .render(
            rulehook_engine::Hook::Sync,
            serde_json::json!({"parent": {}}),
            &Default::default(),
        )
        .ok()?;
    r["status"]["n"].as_u64()
}

#[test]
fn a_bad_edit_keeps_the_last_good_rule_and_records_the_error() {
    let now = SystemTime::now();
    let (set, _) = RuleSet::default().update(vec![read("r/a.yaml", &status(1))], now);
    let (set, report) = set.update(vec![read("r/a.yaml", BAD)], now);
    assert_eq!(served_n(&set, "a"), Some(1));
    assert_eq!(report.errors.len(), 1);
    assert_eq!(set.files()["r/a.yaml"].errors.len(), 1);
    let (set, report) = set.update(vec![read("r/a.yaml", &status(2))], now);
    assert_eq!(served_n(&set, "a"), Some(2));
    assert!(report.errors.is_empty());
}

#[test]
fn a_new_bad_file_is_not_served_and_others_are_untouched() {
    let now = SystemTime::now();
    let (set, report) = RuleSet::default().update(
        vec![read("r/a.yaml", &status(1)), read("r/b.yaml", BAD)],
        now,
    );
    assert_eq!(served_n(&set, "a"), Some(1));
    assert!(set.get("b").is_none());
    assert_eq!(report.errors.len(), 1);
}

#[test]
fn unchanged_content_is_not_a_change() {
    let now = SystemTime::now();
    let (set, _) = RuleSet::default().update(
        vec![read("r/a.yaml", &status(1)), read("r/b.yaml", BAD)],
        now,
    );
    let (next, report) = set.update(
        vec![read("r/a.yaml", &status(1)), read("r/b.yaml", BAD)],
        now,
    );
    assert!(!report.changed);
    assert_eq!(next.generation, set.generation);
    assert!(Arc::ptr_eq(next.get("a").unwrap(), set.get("a").unwrap()));
}

#[test]
fn a_deleted_file_stops_serving() {
    let now = SystemTime::now();
    let (set, _) = RuleSet::default().update(
        vec![read("r/a.yaml", &status(1)), read("r/b.yaml", &status(2))],
        now,
    );
    let (set, report) = set.update(vec![read("r/a.yaml", &status(1))], now);
    assert!(report.changed);
    assert!(set.get("b").is_none());
    assert_eq!(served_n(&set, "a"), Some(1));
}

#[test]
fn a_duplicate_name_stays_with_the_file_that_had_it() {
    let now = SystemTime::now();
    let named = |n: u64| format!("name: x\n{}", status(n));
    let (set, _) = RuleSet::default().update(vec![read("r/b.yaml", &named(1))], now);
    let (set, report) = set.update(
        vec![read("r/a.yaml", &named(2)), read("r/b.yaml", &named(1))],
        now,
    );
    assert_eq!(served_n(&set, "x"), Some(1));
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0]
        .to_string()
        .starts_with("r/a.yaml:1:7: rule name `x` is already defined by r/b.yaml"));
}

#[test]
fn an_unreadable_file_keeps_its_rule_and_shows_the_error_once() {
    let now = SystemTime::now();
    let (set, _) = RuleSet::default().update(vec![read("r/a.yaml", &status(1))], now);
    let unreadable = || FileRead {
        file: "r/a.yaml".to_owned(),
        content: ReadResult::Unreadable("cannot be read: permission denied".to_owned()),
    };
    let (set, report) = set.update(vec![unreadable()], now);
    assert!(report.changed);
    assert_eq!(served_n(&set, "a"), Some(1));
    assert_eq!(set.errors().count(), 1);
    let (again, report) = set.update(vec![unreadable()], now);
    assert!(!report.changed, "the same error is not a new change");
    assert_eq!(again.generation, set.generation);
}

#[test]
fn a_refused_file_serves_nothing() {
    let now = SystemTime::now();
    let (set, _) = RuleSet::default().update(vec![read("r/a.yaml", &status(1))], now);
    let refused = FileRead {
        file: "r/a.yaml".to_owned(),
        content: ReadResult::Refused("links outside the rule directory".to_owned()),
    };
    let (set, report) = set.update(vec![refused], now);
    assert!(report.changed);
    assert!(set.get("a").is_none());
    assert_eq!(report.errors.len(), 1);
}

#[test]
fn a_transient_read_keeps_the_previous_state() {
    let now = SystemTime::now();
    let (set, _) = RuleSet::default().update(vec![read("r/a.yaml", &status(1))], now);
    let transient = FileRead {
        file: "r/a.yaml".to_owned(),
        content: ReadResult::Transient("dangling link".to_owned()),
    };
    let (set, report) = set.update(vec![transient], now);
    assert_eq!(served_n(&set, "a"), Some(1));
    assert_eq!(report.transient.len(), 1);
    assert!(!report.changed);
}

#[test]
fn a_settling_file_keeps_serving_its_last_version_and_says_when_to_look_again() {
    let now = SystemTime::now();
    let (set, _) = RuleSet::default().update(vec![read("r/a.yaml", &status(1))], now);
    let settling = |file: &str, ms: u64| FileRead {
        file: file.to_owned(),
        content: ReadResult::Settling(Duration::from_millis(ms)),
    };
    let (set, report) = set.update(
        vec![settling("r/a.yaml", 700), settling("r/b.yaml", 300)],
        now,
    );
    assert_eq!(served_n(&set, "a"), Some(1));
    assert!(
        set.get("b").is_none(),
        "a new file is not served before it is quiet"
    );
    assert!(!report.changed);
    assert_eq!(report.settling, ["r/a.yaml", "r/b.yaml"]);
    assert_eq!(report.quiet_in, Some(Duration::from_millis(300)));
    assert!(report.transient.is_empty());
}

/// A rule whose compiled form takes tens of kilobytes.
fn sizeable(n: usize) -> String {
    let mut text = String::from("sync:\n  status:\n");
    for i in 0..n {
        text.push_str(&format!(
            "    k{i}: \"{{{{#if parent}}}}x{i}{{{{/if}}}}\"\n"
        ));
    }
    text
}

#[test]
fn rules_are_held_to_their_share_and_one_that_does_not_fit_keeps_its_last_version() {
    let now = SystemTime::now();
    let (alone, _) = RuleSet::default().update(vec![read("r/a.yaml", &sizeable(100))], now);
    let a = alone.get("a").unwrap().memory;
    assert!(a > 10_000, "measured {a} bytes");
    // Room for a little more than two such rules.
    let limits = RuleLimits {
        memory: a * 5 / 2,
        max_file_bytes: usize::MAX,
    };
    let reads = vec![
        read("r/a.yaml", &sizeable(100)),
        read("r/b.yaml", &status(1)),
    ];
    let (set, report) = RuleSet::with_limits(limits).update(reads, now);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(set.limits(), limits, "carried to the next set");
    // b grows past what is left beside a: refused, and its first version serves.
    let reads = vec![
        read("r/a.yaml", &sizeable(100)),
        read("r/b.yaml", &sizeable(200)),
    ];
    let (set, report) = set.update(reads, now);
    assert_eq!(served_n(&set, "b"), Some(1));
    assert_eq!(report.errors.len(), 1);
    assert!(
        report.errors[0].message.contains("rules' share of memory"),
        "{:?}",
        report.errors
    );
    assert!(set.memory() <= limits.memory);
    // Once a goes, b fits.
    let (set, report) = set.update(vec![read("r/b.yaml", &sizeable(200))], now);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(set.get("b").map(|r| r.memory > a), Some(true));
}

#[test]
fn two_libraries_of_one_name_load_neither_and_the_rule_keeps_its_last_good_version() {
    let now = SystemTime::now();
    let lib =
        |n: u64| format!("functions:\n  n:\n    params: []\n    expr: \"{{{{ add 0 {n} }}}}\"\n");
    let rule = "imports: [shared]\nsync:\n  status:\n    n: \"{{ n }}\"\n";
    let (set, report) = RuleSet::default().update(
        vec![read("r/a.yaml", rule), read("lib/shared.lib.yaml", &lib(1))],
        now,
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(served_n(&set, "a"), Some(1));

    let (set, report) = set.update(
        vec![
            read("r/a.yaml", rule),
            read("r/shared.lib.yaml", &lib(2)),
            read("lib/shared.lib.yaml", &lib(1)),
        ],
        now,
    );
    assert_eq!(served_n(&set, "a"), Some(1));
    let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert!(
        messages.iter().any(|m| m.starts_with(
            "r/shared.lib.yaml:1:1: the library `shared` is also defined by lib/shared.lib.yaml"
        )),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("r/a.yaml:1:1: cannot load: the library `shared` it imports is defined by r/shared.lib.yaml and by lib/shared.lib.yaml")),
        "{messages:?}"
    );
}
