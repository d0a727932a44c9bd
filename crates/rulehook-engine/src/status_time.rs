//! A load-time warning: a status field that writes `now` on every call. Each write of a
//! fresh time changes the parent's status, which makes Metacontroller sync again, and again.
//!
//! A use of `now` counts as conditional, and is not warned about, when it stands in an item
//! under `$includeWhen` or `$forEach`, in a `{{#if}}` (or any other block), or among the
//! arguments of a helper that chooses between its arguments (`ternary`, `when`, `default`,
//! `if`, `unless`): those write it only when something says so.

use handlebars::template::{HelperTemplate, Parameter, TemplateElement};
use handlebars::{PathSeg, Template};
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::locate::{join_index, join_key, Locator};
use crate::now::NOW;

/// Helpers that write an argument only when a condition (or a missing value) says so.
const CHOOSING_HELPERS: [&str; 5] = ["ternary", "when", "default", "if", "unless"];

/// A warning for every leaf under `status` (at `path` in the rule file) that writes `now`
/// on every call.
pub(crate) fn unconditional_now(
    file: &str,
    status: &Value,
    path: &str,
    locator: &Locator,
    warnings: &mut Vec<Diagnostic>,
) {
    match status {
        Value::String(leaf) if writes_now_always(leaf) => warnings.push(Diagnostic::at(
            file,
            locator.value(path),
            "`now` is written into the status on every call: each new time changes the status and makes Metacontroller sync again, forever; write it only when something changed, as a condition's `lastTransitionTime: \"{{ ternary (eq observed.status ready) (default observed.lastTransitionTime now) now }}\"` does (docs/rules.md, \"The time\")",
        )),
        Value::Object(map) => {
            for (key, value) in map {
                unconditional_now(file, value, &join_key(path, key), locator, warnings);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let guarded = item.as_object().is_some_and(|item| {
                    item.contains_key("$includeWhen") || item.contains_key("$forEach")
                });
                if !guarded {
                    unconditional_now(file, item, &join_index(path, i), locator, warnings);
                }
            }
        }
        _ => {}
    }
}

/// Whether a template leaf writes `now` whatever the request holds.
fn writes_now_always(leaf: &str) -> bool {
    if !leaf.contains(NOW) || !leaf.contains("{{") {
        return false;
    }
    let Ok(template) = Template::compile(leaf) else {
        return false; // the compile reports it
    };
    template.elements.iter().any(|element| match element {
        TemplateElement::Expression(call) | TemplateElement::HtmlExpression(call) => {
            call_reads_now(call)
        }
        _ => false, // text, or a block: written only when the block says so
    })
}

/// Whether evaluating `call` always reads `now`.
fn call_reads_now(call: &HelperTemplate) -> bool {
    if call.params.is_empty() && call.hash.is_empty() {
        return names_now(&call.name);
    }
    let helper = match &call.name {
        Parameter::Name(name) => Some(name.as_str()),
        Parameter::Path(path) => first_name(path),
        _ => None,
    };
    if helper.is_some_and(|h| CHOOSING_HELPERS.contains(&h)) {
        return false;
    }
    call.params.iter().any(|param| match param {
        Parameter::Subexpression(sub) => match &*sub.element {
            TemplateElement::Expression(inner) => call_reads_now(inner),
            _ => false,
        },
        other => names_now(other),
    })
}

fn names_now(param: &Parameter) -> bool {
    matches!(param, Parameter::Path(path) if first_name(path) == Some(NOW))
}

fn first_name(path: &handlebars::Path) -> Option<&str> {
    match path {
        handlebars::Path::Relative((segments, _)) => match segments.first() {
            Some(PathSeg::Named(name)) => Some(name.as_str()),
            _ => None,
        },
        handlebars::Path::Local(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_written_on_every_call_is_told_from_now_written_on_a_condition() {
        for always in [
            "{{ now }}",
            "at {{ now }}",
            "{{ concat 'at ' now }}",
            "{{ upper (concat now '') }}",
            "{{ ternary ok 'a' 'b' }} {{ now }}",
        ] {
            assert!(writes_now_always(always), "{always}");
        }
        for conditional in [
            "{{ ternary changed now old }}",
            "{{ default observed now }}",
            "{{ when changed now }}",
            "{{#if changed}}{{ now }}{{/if}}",
            "{{ nowhere }}",
            "{{ parent.now }}",
            "now",
        ] {
            assert!(!writes_now_always(conditional), "{conditional}");
        }
    }
}
