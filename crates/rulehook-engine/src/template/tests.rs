//! The compiled programs where handlebars' meaning is subtle. Every render here is also
//! checked against handlebars itself (see `cross_check`), so each expected value is
//! handlebars' answer as well as the engine's.

use serde_json::{json, Value};

use super::builtins::{compare_numbers, truthy};
use crate::{Hook, Limits, Rule};

/// Renders `template` as the status leaf `v` of a rule whose value `s` is the parent's spec.
fn render(template: &str, spec: Value) -> Result<Value, String> {
    let indented = template.replace('\n', "\n      ");
    let text = format!(
        "values:\n  s: {{path: $.parent.spec, default: {{}}}}\nsync:\n  status:\n    v: |-\n      {indented}\n"
    );
    let rule = Rule::compile("r.yaml", &text).unwrap_or_else(|e| panic!("{e:?}"));
    let request = json!({"parent": {"metadata": {"name": "p"}, "spec": spec}});
    rule.render(Hook::Sync, request, &Limits::default())
        .map(|response| response["status"]["v"].clone())
        .map_err(|e| e.to_string())
}

fn text(template: &str, spec: Value) -> String {
    match render(template, spec) {
        Ok(Value::String(s)) => s,
        other => panic!("{template}: {other:?}"),
    }
}

fn error(template: &str, spec: Value) -> String {
    render(template, spec).unwrap_err()
}

#[test]
fn comparisons_and_not_are_total_over_missing_and_null() {
    // Nothing is greater or smaller than a value that is not there.
    assert_eq!(render("{{ gt s.none 1 }}", json!({})), Ok(json!(false)));
    assert_eq!(render("{{ lte 1 s.none }}", json!({})), Ok(json!(false)));
    assert_eq!(
        render("{{ gte s.null 1 }}", json!({"null": null})),
        Ok(json!(false))
    );
    assert_eq!(text("{{#if (not s.none)}}x{{/if}}", json!({})), "x");
    assert_eq!(
        render("{{ not s.null }}", json!({"null": null})),
        Ok(json!(true))
    );
    // Missing equals only missing, and null only null.
    let spec = json!({"null": null});
    for (template, answer) in [
        ("{{ eq s.none s.gone }}", true),
        ("{{ eq s.none s.null }}", false),
        ("{{ ne s.none s.null }}", true),
        ("{{ eq s.null s.null }}", true),
    ] {
        assert_eq!(
            render(template, spec.clone()),
            Ok(json!(answer)),
            "{template}"
        );
    }
    assert_eq!(
        text("{{#unless (eq s.none 1)}}u{{/unless}}", spec.clone()),
        "u"
    );
    assert_eq!(
        text("{{#if (gt s.none 1)}}big{{else}}small{{/if}}", spec),
        "small"
    );
    // `and` and `or` read a missing argument as false.
    assert_eq!(render("{{ or s.none 1 }}", json!({})), Ok(json!(true)));
    assert_eq!(render("{{ and s.none 1 }}", json!({})), Ok(json!(false)));
}

#[test]
fn ordering_values_of_different_types_is_an_error_naming_both() {
    let spec = json!({"n": 1, "l": [1], "m": {}, "b": true});
    let failure = |template: &str| {
        let message = error(template, spec.clone());
        message
            .split_once(": ")
            .map_or(message.clone(), |(_, m)| m.to_owned())
    };
    assert_eq!(
        failure("{{ gt s.n s.l }}"),
        "gt: cannot order a number and a list"
    );
    assert_eq!(
        failure("{{ lte \"a\" s.b }}"),
        "lte: cannot order a string and a bool"
    );
    assert_eq!(failure("{{ lt s.m s.m }}"), "lt: cannot order two maps");
    assert_eq!(
        failure("{{#if (gte s.l s.l)}}x{{/if}}"),
        "gte: cannot order two lists"
    );
}

#[test]
fn eq_and_ne_compare_numbers_by_value_at_any_depth() {
    assert_eq!(render("{{ eq 80 80.0 }}", json!({})), Ok(json!(true)));
    assert_eq!(
        render("{{ eq (dict 'a' 80) (dict 'a' 80.0) }}", json!({})),
        Ok(json!(true))
    );
    assert_eq!(
        render(
            "{{ ne (list 1 (list 2.0)) (list 1.0 (list 2)) }}",
            json!({})
        ),
        Ok(json!(false))
    );
    assert_eq!(render("{{ eq 1 \"1\" }}", json!({})), Ok(json!(false)));
    assert_eq!(
        text("{{#eq 2 2.0}}same{{else}}different{{/eq}}", json!({})),
        "same"
    );
}

#[test]
fn block_helpers_read_an_empty_map_as_false_unlike_ternary() {
    let spec = json!({"empty": {}, "zero": 0});
    assert_eq!(text("{{#if s.empty}}t{{else}}f{{/if}}", spec.clone()), "f");
    assert_eq!(
        render("{{ ternary s.empty 't' 'f' }}", spec.clone()),
        Ok(json!("t"))
    );
    assert_eq!(text("{{#if s.zero}}t{{else}}f{{/if}}", spec.clone()), "f");
    assert_eq!(
        text("{{#if s.zero includeZero=true}}t{{/if}}", spec.clone()),
        "t"
    );
    assert_eq!(text("{{#unless s.none}}u{{/unless}}", spec), "u");
}

#[test]
fn each_over_a_map_goes_in_key_order_with_first_last_index_and_key() {
    let spec = json!({"m": {"b": 1, "a": 2, "c": 3}});
    assert_eq!(
        text(
            "{{#each s.m}}{{#if @first}}[{{/if}}{{@index}}.{{@key}}={{this}}{{#if @last}}]{{else}},{{/if}}{{/each}}",
            spec.clone()
        ),
        "[0.a=2,1.b=1,2.c=3]"
    );
    assert_eq!(
        text("{{#each s.m as |v k|}}{{k}}{{v}}{{/each}}", spec),
        "a2b1c3"
    );
}

#[test]
fn each_over_a_list_sets_first_and_last_and_no_key() {
    let spec = json!({"xs": ["x", "y"]});
    assert_eq!(
        text(
            "{{#each s.xs as |x i|}}{{i}}{{x}}{{@first}}{{@last}};{{/each}}",
            spec.clone()
        ),
        "0xtruefalse;1yfalsetrue;"
    );
    assert!(error("{{#each s.xs}}{{@key}}{{/each}}", spec)
        .ends_with("`@key` is missing: the request has no such value and it has no default"));
}

#[test]
fn each_with_nothing_to_loop_over_takes_else_or_fails() {
    assert_eq!(
        text("{{#each s.xs}}x{{else}}none{{/each}}", json!({"xs": []})),
        "none"
    );
    assert_eq!(text("{{#each s.xs}}x{{/each}}", json!({"xs": []})), "");
    assert!(error("{{#each s.none}}x{{/each}}", json!({}))
        .ends_with("`s.none` is missing: the request has no such value and it has no default"));
    assert!(error("{{#with s.none}}x{{/with}}", json!({}))
        .ends_with("`s.none` is missing: the request has no such value and it has no default"));
    assert_eq!(text("{{#with s.none}}x{{else}}w{{/with}}", json!({})), "w");
}

#[test]
fn parent_paths_climb_blocks_that_push_a_frame_but_not_if() {
    let spec = json!({"name": "top", "groups": [
        {"name": "g0", "items": [1, 2]},
        {"name": "g1", "items": [3]}
    ]});
    assert_eq!(
        text(
            "{{#each s.groups}}{{#each items}}{{#if true}}{{../name}}{{/if}}:{{this}}@{{@../index}}.{{@index}} {{/each}}{{/each}}",
            spec.clone()
        ),
        "g0:1@0.0 g0:2@0.1 g1:3@1.0 "
    );
    assert_eq!(
        text(
            "{{#each s.groups as |g|}}{{#with g.items}}{{g.name}}{{@index}}{{/with}}{{/each}}",
            spec.clone()
        ),
        "g00g11"
    );
    // More `../` than blocks: handlebars starts from the innermost block.
    assert_eq!(
        text("{{#each s.groups}}{{../../../name}}{{/each}}", spec.clone()),
        "g0g1"
    );
    assert_eq!(text("{{#with s}}{{@root.s.name}}{{/with}}", spec), "top");
}

#[test]
fn values_inside_blocks_are_written_as_handlebars_writes_them() {
    let spec = json!({"xs": [1, "a", [true, null], {"k": 1}], "m": {"k": 1}, "n": null});
    assert_eq!(
        text(
            "{{#if true}}{{s.xs}}|{{s.m}}|{{s.n}}|{{gt 2 1}}{{/if}}",
            spec.clone()
        ),
        "[1, a, [true, ], [object]]|[object]||true"
    );
    assert!(error("{{#if true}}{{s.xs.first}}{{/if}}", spec)
        .ends_with("cannot read `first` from a list; read an item by its position, such as `.0`"));
}

#[test]
fn helpers_called_inside_blocks_by_name_or_computed_name() {
    assert_eq!(text("{{#if true}}{{list}}{{/if}}", json!({})), "[]");
    assert_eq!(
        text("{{#if true}}{{ (lower \"LIST\") }}{{/if}}", json!({})),
        "[]"
    );
    assert_eq!(
        text("{{#if true}}{{ (lower \"TEXT\") }}{{/if}}", json!({})),
        "text"
    );
    // A catalogue helper used as a block writes its value and ignores its body.
    assert_eq!(
        text("{{#default s.none \"d\"}}body{{/default}}", json!({})),
        "d"
    );
    assert!(error("{{#if true}}{{ default s.none }}{{/if}}", json!({}))
        .ends_with("a value used here is missing"));
    assert_eq!(text("{{#gt 2 1}}yes{{else}}no{{/gt}}", json!({})), "yes");
}

#[test]
fn block_helpers_called_for_a_value_give_empty_text() {
    assert_eq!(render("{{ if true }}", json!({})), Ok(json!("")));
    assert_eq!(render("{{ each s }}", json!({})), Ok(json!("")));
    assert!(error("{{ with s.none }}", json!({}))
        .ends_with("`s.none` is missing: the request has no such value and it has no default"));
}

#[test]
fn a_helper_argument_read_from_a_list_by_name_is_an_error_but_a_plain_path_is_missing() {
    let spec = json!({"xs": [1]});
    assert!(error("{{ default s.xs.name 1 }}", spec.clone())
        .ends_with("cannot read `name` from a list; read an item by its position, such as `.0`"));
    assert_eq!(render("{{ s.xs.name }}", spec), Ok(Value::Null));
}

#[test]
fn numbers_compare_exactly_across_whole_and_fractional() {
    let number = |text: &str| serde_json::from_str::<serde_json::Number>(text).unwrap();
    let less = Some(std::cmp::Ordering::Less);
    assert_eq!(
        compare_numbers(
            &number("18446744073709551615"),
            &number("18446744073709551616.0")
        ),
        less
    );
    assert_eq!(
        compare_numbers(&number("9007199254740993"), &number("9007199254740992.0")),
        Some(std::cmp::Ordering::Greater)
    );
    assert_eq!(compare_numbers(&number("-3"), &number("-2.5")), less);
    assert_eq!(
        compare_numbers(
            &number("-9223372036854775808"),
            &number("18446744073709551615")
        ),
        less
    );
    assert_eq!(render("{{ lt \"10\" 9 }}", json!({})), Ok(json!(false)));
    assert_eq!(render("{{ gt \"b\" \"a\" }}", json!({})), Ok(json!(true)));
    // A string that holds no number cannot be ordered against one.
    assert!(
        error("{{ gt \"x\" 1 }}", json!({})).ends_with("gt: cannot order a string and a number")
    );
}

#[test]
fn builtin_truth_is_handlebars_truth() {
    assert!(!truthy(&json!(5e-324), false));
    assert!(truthy(&json!(0), true));
    assert!(!truthy(&json!({}), false));
    assert!(truthy(&json!([0]), false));
}

#[test]
fn calls_the_checker_cannot_see_fail_in_plain_words() {
    // A computed name that names a block helper calls it with no argument.
    assert!(error("{{#if true}}{{ (lower \"IF\") }}{{/if}}", json!({}))
        .ends_with("if: argument 1 is missing"),);
    // Parentheses around a path call it as a helper.
    let message = error("{{ default (s.x) 1 }}", json!({"x": 1}));
    assert!(
        message.ends_with(
            "`s.x` is not a helper; parentheses call a helper, so write the value without them"
        ),
        "{message}"
    );
}

#[test]
fn conditions_are_not_charged_as_if_their_values_were_kept() {
    // 20 loops of 200 conditions that include nothing, under a 4 KiB build limit (each loop
    // must find room for its 3,200 bytes of bookkeeping): a condition's value is read, not
    // kept, so the loops build empty lists and fit.
    let text = "values:\n  n: {path: $.parent.spec.n}\nsync:\n  status:\n    xs:\n      - $forEach: \"{{ 20 }}\"\n        $as: i\n        $template:\n          ys:\n            - $forEach: \"{{ n }}\"\n              $includeWhen: \"{{ eq item -1 }}\"\n              $template: 1\n";
    let rule = Rule::compile("r.yaml", text).unwrap_or_else(|e| panic!("{e:?}"));
    let limits = Limits {
        max_output_bytes: 4096,
        ..Limits::default()
    };
    let request = json!({"parent": {"metadata": {"name": "p"}, "spec": {"n": 200}}});
    let answer = rule
        .render(Hook::Sync, request, &limits)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer["status"]["xs"], json!(vec![json!({"ys": []}); 20]));
}
