//! `required: true`: a missing required value fails the render where something rendered
//! reads it, with the message naming the value at its place, and nowhere else.

use serde_json::json;

use super::render_with;
use crate::Hook;

const SOURCE: &str = "values:\n  source:\n    path: $.parent.spec.source\n    required: true\n  name: $.parent.metadata.name\n  sourceName:\n    expr: \"{{ concat source '-copy' }}\"\n";

const FAILURE: &str =
    "rule `r` failed at r.yaml:3:11: value `source` is required, but `$.parent.spec.source` matched nothing";

fn render(templates: &str, spec: serde_json::Value) -> Result<serde_json::Value, String> {
    let request = json!({"parent": {"metadata": {"name": "p"}, "spec": spec}});
    render_with(&format!("{SOURCE}{templates}"), Hook::Sync, request).map_err(|e| e.to_string())
}

#[test]
fn a_missing_required_value_fails_wherever_a_rendered_template_reads_it() {
    for templates in [
        "sync:\n  status:\n    s: \"{{ source }}\"\n",
        "sync:\n  status:\n    s: \"from {{ source }}\"\n",
        "sync:\n  status:\n    s: \"{{ default source 'none' }}\"\n",
        "sync:\n  status:\n    s: \"{{#if source}}x{{/if}}\"\n",
        "sync:\n  status:\n    s: \"{{ @root.source }}\"\n",
        "sync:\n  children:\n    - $forEach: \"{{ source }}\"\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: \"{{ item }}\"}\n",
        "sync:\n  children:\n    - $includeWhen: \"{{ exists source }}\"\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: x}\n",
        // A computed value that reads it fails, in turn, where it is read.
        "sync:\n  status:\n    s: \"{{ sourceName }}\"\n",
    ] {
        assert_eq!(render(templates, json!({})), Err(FAILURE.to_owned()), "{templates}");
    }
}

#[test]
fn a_missing_required_value_that_nothing_rendered_reads_fails_nothing() {
    let guarded = "sync:\n  status:\n    name: \"{{ name }}\"\n  children:\n    - $includeWhen: \"{{ parent.spec.copy }}\"\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: \"{{ sourceName }}\"}\n";
    let answer = render(guarded, json!({})).unwrap();
    assert_eq!(answer["status"], json!({"name": "p"}));
    assert_eq!(answer["children"], json!([]));
    // Asked for the child, the value is read, and the call fails naming it.
    assert_eq!(
        render(guarded, json!({"copy": true})),
        Err(FAILURE.to_owned())
    );
    // Present, it is used as ever.
    let answer = render(guarded, json!({"copy": true, "source": "s"})).unwrap();
    assert_eq!(answer["children"][0]["metadata"]["name"], "s-copy");
    // A loop item of the same name is not the value.
    let shadowed = "sync:\n  status:\n    s:\n      - $forEach: \"{{ list 1 }}\"\n        $as: source\n        $template: \"{{ source }}\"\n";
    assert_eq!(
        render(shadowed, json!({})).unwrap()["status"]["s"],
        json!([1])
    );
}

#[test]
fn a_required_computed_value_that_gives_nothing_fails_where_it_is_read() {
    let rule = "values:\n  pick:\n    expr: \"{{ first parent.spec.items }}\"\n    required: true\nsync:\n  children:\n    - $includeWhen: \"{{ parent.spec.items }}\"\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: \"{{ pick }}\"}\n";
    let render = |spec| {
        render_with(rule, Hook::Sync, json!({"parent": {"spec": spec}})).map_err(|e| e.to_string())
    };
    assert_eq!(render(json!({})).unwrap()["children"], json!([]));
    assert_eq!(
        render(json!({"items": [null]})).unwrap_err(),
        "rule `r` failed at r.yaml:3:11: value `pick` is required, but its expression gave nothing"
    );
}
