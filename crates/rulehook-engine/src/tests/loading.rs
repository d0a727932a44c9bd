//! Problems in rule text are load errors, reported with file, line and column.

use super::*;

#[test]
fn unknown_values_and_helpers_are_load_errors() {
    let errors = compile_errors(
        "values:\n  who: $.parent.spec.who\nsync:\n  status:\n    a: \"{{ wh }}\"\n    b: \"{{ lenght children }}\"\n",
    );
    assert_eq!(
        errors,
        [
            "r.yaml:5:8: unknown value `wh`; did you mean `who`?",
            "r.yaml:6:8: unknown helper `lenght`; did you mean `length`?",
        ]
    );
}

#[test]
fn bad_json_path_and_template_syntax_are_reported_together() {
    let errors = compile_errors("values:\n  a: $.[\nsync:\n  status:\n    x: \"{{#if a}}\"\n");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("r.yaml:2:6: bad JSONPath `$.[`"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("r.yaml:5:8: template syntax error"),
        "{errors:?}"
    );
}

#[test]
fn partials_are_rejected_at_load() {
    let errors = compile_errors("sync:\n  status:\n    x: \"{{> other }}\"\n");
    assert_eq!(
        errors,
        ["r.yaml:3:8: partials are not supported; share structure with YAML anchors instead"]
    );
}

#[test]
fn literal_null_in_a_child_is_a_load_error() {
    let errors = compile_errors("sync:\n  children:\n    - apiVersion: v1\n      kind: Pod\n      metadata: {name: a, labels: ~}\n");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("r.yaml:5:"), "{errors:?}");
}

#[test]
fn a_computed_value_cannot_use_one_written_below_it() {
    let errors = compile_errors(
        "values:\n  a:\n    expr: \"{{ b }}\"\n  b:\n    expr: \"{{ 1 }}\"\nsync:\n  status: {}\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("r.yaml:3:11: unknown value `b`"),
        "{errors:?}"
    );
}

#[test]
fn value_names_cannot_shadow_request_keys_or_helpers() {
    for name in ["children", "controller", "this", "length"] {
        let errors = compile_errors(&format!("values:\n  {name}: $.x\nsync:\n  status: {{}}\n"));
        assert_eq!(
            errors,
            [format!(
                "r.yaml:2:3: value name `{name}` is already used by templates; pick another"
            )]
        );
    }
}

#[test]
fn the_controller_section_is_checked_key_by_key_and_a_misspelt_resource_is_named() {
    let errors = compile_errors(
        "sync:\n  children: [{apiVersion: apps/v1, kind: Deployment, metadata: {name: a}}]\ncontroller:\n  metdata: {name: x}\n  spec:\n    parentResource: {apiVersion: x/v1, resources: xs}\n    childResources:\n      - {apiVersion: apps/v1, resource: deployments, updateStratgy: {method: InPlace}}\n",
    );
    assert_eq!(
        errors,
        [
            "r.yaml:4:3: unknown key `metdata` in controller; did you mean `metadata`?",
            "r.yaml:6:40: unknown key `resources` in controller.spec.parentResource; did you mean `resource`?",
            "r.yaml:8:54: unknown key `updateStratgy` in controller.spec.childResources[0]; did you mean `updateStrategy`?",
        ]
    );
    let typo = compile_errors(
        "sync:\n  children: [{apiVersion: apps/v1, kind: Deployment, metadata: {name: a}}]\ncontroller:\n  spec:\n    parentResource: {apiVersion: x/v1, resource: xs}\n    childResources: [{apiVersion: apps/v1, resource: deployment}]\n",
    );
    assert_eq!(typo.len(), 1, "{typo:?}");
    assert!(
        typo[0].starts_with("r.yaml:6:54: `deployment` is not a resource this rule creates; did you mean `deployments`?"),
        "{typo:?}"
    );
}

#[test]
fn reading_a_type_the_rule_neither_creates_nor_declares_is_a_warning() {
    let rule = Rule::compile(
        "r.yaml",
        "sync:\n  status:\n    n: \"{{ length children.[Deployments.apps/v1] }}\"\n    ok: \"{{ length children.[Deployment.apps/v1] }}\"\n  children:\n    - {apiVersion: apps/v1, kind: Deployment, metadata: {name: a}}\n",
    )
    .expect("a warning does not stop the rule from loading");
    let warnings: Vec<String> = rule.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("r.yaml:3:8: `children.[Deployments.apps/v1]` names a type")
            && warnings[0].ends_with("did you mean `Deployment.apps/v1`?"),
        "{warnings:?}"
    );
}
