//! Libraries shared by rules: compiled, imported, used, and refused when they would loop,
//! clash or run past the render limits.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::{Hook, Library, LibrarySet, Limits, Rule};

const ROLLUP: &str = r#"
functions:
  readyNames:
    params: [objects]
    expr: "{{ pluck (where objects 'status.phase' 'Running') 'metadata.name' }}"
  readyCount:
    params: [objects]
    expr: "{{ length (readyNames objects) }}"
"#;

fn set(libraries: &[(&str, &str)]) -> Result<LibrarySet, Vec<String>> {
    let mut set = LibrarySet::new();
    for (file, text) in libraries {
        let library = Library::compile(file, text, &set)
            .map_err(|e| e.into_iter().map(|d| d.to_string()).collect::<Vec<_>>())?;
        set.insert(Arc::new(library));
    }
    Ok(set)
}

fn library_errors(libraries: &[(&str, &str)]) -> Vec<String> {
    set(libraries).expect_err("the libraries fail to load")
}

fn rule_errors(set: &LibrarySet, text: &str) -> Vec<String> {
    Rule::compile_with("r.yaml", text, set)
        .expect_err("the rule fails to load")
        .into_iter()
        .map(|d| d.to_string())
        .collect()
}

fn request() -> Value {
    json!({
        "parent": {"metadata": {"name": "p"}, "status": {"conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
        ]}},
        "children": {"Pod.v1": {
            "a": {"metadata": {"name": "a"}, "status": {"phase": "Running"}},
            "b": {"metadata": {"name": "b"}, "status": {"phase": "Pending"}}
        }}
    })
}

fn render(rule: &Rule) -> Value {
    let now = crate::Now::parse("2026-12-06T00:00:00Z").unwrap();
    rule.render_at(Hook::Sync, request(), Some(&now), &Limits::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_library_is_used_by_two_rules() {
    let libraries = set(&[
        ("rules/rollup.lib.yaml", ROLLUP),
        ("rules/conditions.lib.yaml", DOC_LIBRARY),
    ])
    .unwrap();
    let status_rule = Rule::compile_with(
        "rules/a.yaml",
        r#"
imports: [rollup, conditions]
values:
  observed: {expr: "{{ first (where parent.status.conditions 'type' 'Ready') }}"}
sync:
  status:
    ready: "{{ readyNames children.[Pod.v1] }}"
    conditions:
      - $use: readyCondition
        $with: {ready: "{{ gt (readyCount children.[Pod.v1]) 0 }}", observed: "{{ observed }}"}
"#,
        &libraries,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let answer = render(&status_rule);
    assert_eq!(answer["status"]["ready"], json!(["a"]));
    assert_eq!(
        answer["status"]["conditions"],
        json!([{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}])
    );
    let count_rule = Rule::compile_with(
        "rules/b.yaml",
        r#"
imports: [rollup, conditions]
sync:
  status:
    count: "{{ readyCount children.[Pod.v1] }}"
    condition: {$use: readyCondition, $with: {ready: false, observed: "{{ parent.status.conditions.0 }}"}}
"#,
        &libraries,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let answer = render(&count_rule);
    assert_eq!(answer["status"]["count"], 1);
    assert_eq!(answer["status"]["condition"]["status"], "False");
    assert_eq!(
        answer["status"]["condition"]["lastTransitionTime"],
        "2026-12-06T00:00:00Z"
    );
    assert!(status_rule.reads_now() && count_rule.reads_now());
}

#[test]
fn a_library_imports_another() {
    let libraries = set(&[
        ("labels.lib.yaml", "functions:\n  appLabel:\n    params: [name]\n    expr: \"{{ concat 'app-' name }}\"\n"),
        (
            "names.lib.yaml",
            "imports: [labels]\ntemplates:\n  labels:\n    params: [name]\n    template: {app: \"{{ appLabel name }}\"}\n",
        ),
    ])
    .unwrap();
    let rule = Rule::compile_with(
        "r.yaml",
        "imports: [names]\nsync:\n  status:\n    labels: {$use: labels, $with: {name: \"{{ parent.metadata.name }}\"}}\n",
        &libraries,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(render(&rule)["status"]["labels"], json!({"app": "app-p"}));
}

#[test]
fn a_definition_that_uses_itself_is_refused_with_its_cycle() {
    let errors = library_errors(&[(
        "loop.lib.yaml",
        "functions:\n  a:\n    params: [x]\n    expr: \"{{ b x }}\"\n  b:\n    params: [x]\n    expr: \"{{ a x }}\"\n",
    )]);
    assert!(errors[0].contains("a -> b -> a"), "{errors:?}");
    let errors = library_errors(&[(
        "self.lib.yaml",
        "templates:\n  t:\n    params: [x]\n    template: [{$use: t, $with: {x: \"{{ x }}\"}}]\n",
    )]);
    assert!(errors[0].contains("t -> t"), "{errors:?}");
}

#[test]
fn an_import_cycle_is_refused_with_its_cycle() {
    let files = [
        ("a.lib.yaml", "imports: [b]\nfunctions: {}\n"),
        ("b.lib.yaml", "imports: [a]\nfunctions: {}\n"),
    ];
    let (set, failures) = crate::library::compile_directory(&files);
    assert!(set.is_empty());
    let all: Vec<String> = failures
        .values()
        .flatten()
        .map(ToString::to_string)
        .collect();
    assert!(all.iter().any(|e| e.contains("a -> b -> a")), "{all:?}");
}

#[test]
fn names_that_clash_are_refused_naming_both_places() {
    let errors = library_errors(&[(
        "bad.lib.yaml",
        "functions:\n  length:\n    params: [x]\n    expr: \"{{ x }}\"\n",
    )]);
    assert!(errors[0].contains("helper's name"), "{errors:?}");
    let libraries = set(&[
        (
            "one.lib.yaml",
            "functions:\n  f:\n    params: [x]\n    expr: \"{{ x }}\"\n",
        ),
        (
            "two.lib.yaml",
            "functions:\n  f:\n    params: [x]\n    expr: \"{{ x }}\"\n",
        ),
    ])
    .unwrap();
    let errors = rule_errors(
        &libraries,
        "imports: [one, two]\nsync:\n  status: {a: \"{{ f 1 }}\"}\n",
    );
    assert!(
        errors[0].contains("`one` (one.lib.yaml) and `two` (two.lib.yaml)"),
        "{errors:?}"
    );
    let errors = rule_errors(
        &libraries,
        "imports: [one]\nvalues:\n  f: $.parent\nsync:\n  status: {a: \"{{ f }}\"}\n",
    );
    assert!(errors[0].contains("one.lib.yaml:2:3"), "{errors:?}");
    let errors = rule_errors(
        &libraries,
        "imports: [one]\nsync:\n  status:\n    - $let: {f: \"{{ 1 }}\"}\n      $template: 1\n",
    );
    assert!(
        errors[0].contains(
            "`$let` name `f` is the name of the imported function `f` (one.lib.yaml:2:3)"
        ),
        "{errors:?}"
    );
}

#[test]
fn a_missing_library_is_named() {
    let libraries = set(&[("rollup.lib.yaml", ROLLUP)]).unwrap();
    let errors = rule_errors(&libraries, "imports: [rolup]\nsync:\n  status: {}\n");
    assert_eq!(
        errors,
        ["r.yaml:1:11: library `rolup` is not available; did you mean `rollup`?"]
    );
    let errors: Vec<String> = Rule::compile("r.yaml", "imports: [rollup]\nsync:\n  status: {}\n")
        .unwrap_err()
        .into_iter()
        .map(|d| d.to_string())
        .collect();
    assert!(
        errors[0].contains("needs the libraries of the rule's directory"),
        "{errors:?}"
    );
}

#[test]
fn with_params_are_checked() {
    let libraries = set(&[
        ("rollup.lib.yaml", ROLLUP),
        ("conditions.lib.yaml", DOC_LIBRARY),
    ])
    .unwrap();
    let errors = rule_errors(
        &libraries,
        "imports: [rollup, conditions]\nsync:\n  status:\n    c: {$use: readyCondition, $with: {redy: true}}\n",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("no param `redy`; did you mean `ready`?")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("needs `ready`, `observed`")),
        "{errors:?}"
    );
    let errors = rule_errors(
        &libraries,
        "imports: [rollup, conditions]\nsync:\n  status:\n    c: {$use: readyCondtion, $with: {}}\n    n: \"{{ readyName 1 }}\"\n",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("did you mean `readyCondition`?")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("did you mean `readyNames`?")),
        "{errors:?}"
    );
}

#[test]
fn a_definition_sees_only_its_params_and_now() {
    let errors = library_errors(&[(
        "leak.lib.yaml",
        "functions:\n  f:\n    params: [x]\n    expr: \"{{ parent.metadata.name }}\"\n",
    )]);
    assert!(errors[0].contains("unknown name `parent`"), "{errors:?}");
}

#[test]
fn the_render_limits_hold_inside_a_library_call() {
    let libraries = set(&[(
        "big.lib.yaml",
        "functions:\n  big:\n    params: [n]\n    expr: \"{{ range n }}\"\n",
    )])
    .unwrap();
    let rule = Rule::compile_with(
        "r.yaml",
        "imports: [big]\nsync:\n  status: {a: \"{{ length (big 1000000) }}\"}\n",
        &libraries,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let limits = Limits {
        max_output_bytes: 64 * 1024,
        ..Limits::default()
    };
    let error = rule
        .render(Hook::Sync, request(), &limits)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("in function `big` at big.lib.yaml:4:11"),
        "{error}"
    );
    assert!(error.contains("limit"), "{error}");
}

#[test]
fn every_call_is_charged_to_the_render_work() {
    let libraries = set(&[(
        "id.lib.yaml",
        "functions:\n  same:\n    params: [x]\n    expr: \"{{ x }}\"\n",
    )])
    .unwrap();
    let rule = Rule::compile_with(
        "r.yaml",
        "imports: [id]\nsync:\n  status:\n    a:\n      - $forEach: \"{{ 10000 }}\"\n        $includeWhen: \"{{ same false }}\"\n        $template: 1\n",
        &libraries,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let limits = Limits {
        max_work: 2_000_000,
        ..Limits::default()
    };
    let error = rule
        .render(Hook::Sync, request(), &limits)
        .unwrap_err()
        .to_string();
    assert!(error.contains("limit"), "{error}");
}

/// The example library of docs/rules.md, "Sharing between rules".
const DOC_LIBRARY: &str = r#"# rules/rollup.lib.yaml
functions:
  runningNames:              # called like a helper: {{ runningNames pods }}
    params: [objects]
    expr: "{{ pluck (where objects 'status.phase' 'Running') 'metadata.name' }}"
templates:
  readyCondition:            # put in place with $use
    params: [ready, observed]
    template:
      type: Ready
      status: "{{ ternary ready 'True' 'False' }}"
      lastTransitionTime: "{{ ternary (eq observed.status (ternary ready 'True' 'False')) (default observed.lastTransitionTime now) now }}"
"#;

/// The rule that imports it there.
const DOC_RULE: &str = r#"# rules/web.yaml
imports: [rollup]
sync:
  status:
    running: "{{ runningNames children.[Pod.v1] }}"
    conditions:
      - $use: readyCondition
        $with:
          ready: "{{ gt (length (runningNames children.[Pod.v1])) 0 }}"
          observed: "{{ first (where parent.status.conditions 'type' 'Ready') }}"
"#;

#[test]
fn the_documented_library_renders_as_documented() {
    let docs = include_str!("../../../../docs/rules.md");
    for example in [DOC_LIBRARY, DOC_RULE] {
        assert!(docs.contains(example), "not in docs/rules.md:\n{example}");
    }
    let libraries = set(&[("rules/rollup.lib.yaml", DOC_LIBRARY)]).unwrap();
    let rule = Rule::compile_with("rules/web.yaml", DOC_RULE, &libraries)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let answer = render(&rule);
    assert_eq!(answer["status"]["running"], json!(["a"]));
    // Ready as the parent's status already says: its time stays.
    assert_eq!(
        answer["status"]["conditions"],
        json!([{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}])
    );
}

#[test]
fn definitions_nest_only_so_deep() {
    let mut functions = String::from("functions:\n");
    let mut templates = String::from("templates:\n");
    for i in 0..40 {
        let (call, used) = if i == 39 {
            ("x".to_owned(), "{x: 1}".to_owned())
        } else {
            (
                format!("f{} x", i + 1),
                format!("{{$use: t{}, $with: {{x: 1}}}}", i + 1),
            )
        };
        functions.push_str(&format!(
            "  f{i}:\n    params: [x]\n    expr: \"{{{{ {call} }}}}\"\n"
        ));
        templates.push_str(&format!("  t{i}:\n    params: [x]\n    template: {used}\n"));
    }
    let errors = library_errors(&[("deep.lib.yaml", &functions)]);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("calls functions 33 deep; at most 32")),
        "{errors:?}"
    );
    let errors = library_errors(&[("deep.lib.yaml", &templates)]);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("more than 32 `$use`s deep")),
        "{errors:?}"
    );
}

/// A request observing 200 Pods of about 1 KB each.
fn large_request() -> Value {
    let pods: serde_json::Map<String, Value> = (0..200)
        .map(|i| {
            let name = format!("pod-{i:03}");
            let pod = json!({"metadata": {"name": name}, "data": "x".repeat(1000)});
            (name, pod)
        })
        .collect();
    json!({"parent": {"metadata": {"name": "p"}}, "children": {"Pod.v1": pods}})
}

#[test]
fn arguments_are_read_where_they_are_not_copied() {
    let libraries = set(&[(
        "pick.lib.yaml",
        "functions:\n  firstName:\n    params: [objects]\n    expr: \"{{ get (first objects) 'metadata.name' }}\"\n",
    )])
    .unwrap();
    let limits = Limits {
        max_output_bytes: 64 * 1024,
        ..Limits::default()
    };
    let status_of = |status: &str| {
        let text = format!("imports: [pick]\nsync:\n  status: {{a: \"{status}\"}}\n");
        Rule::compile_with("r.yaml", &text, &libraries)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .render(Hook::Sync, large_request(), &limits)
            .map(|answer| answer["status"].clone())
            .map_err(|e| e.to_string())
    };
    // 200 KB of Pods handed to a function under a 64 KiB build limit: they are not copied.
    assert_eq!(
        status_of("{{ firstName children.[Pod.v1] }}"),
        Ok(json!({"a": "pod-000"}))
    );
    // A copy of them made for the call is still charged, and refused.
    let error = status_of("{{ firstName (reverse children.[Pod.v1]) }}").unwrap_err();
    assert!(error.contains("limit"), "{error}");
}
