//! Engine behaviour, from rule text and request JSON to response JSON, by theme.

mod checks;
mod forms;
mod helpers;
mod hooks;
mod idioms;
mod language;
mod limits;
mod loading;
mod required;
mod reshape;
mod time;
mod work;

use serde_json::{json, Value};

use crate::{Hook, HookError, Limits, Rule};

const HELLO: &str = include_str!("../../../../rules/hello.yaml");

pub(super) fn hello() -> Rule {
    Rule::compile("rules/hello.yaml", HELLO).unwrap()
}

pub(super) fn sync(rule: &Rule, request: Value) -> Result<Value, HookError> {
    rule.render(Hook::Sync, request, &Limits::default())
}

pub(super) fn parent(who: Option<Value>) -> Value {
    let mut spec = json!({});
    if let Some(who) = who {
        spec["who"] = who;
    }
    json!({"apiVersion": "example.com/v1", "kind": "HelloWorld",
           "metadata": {"name": "your-name", "namespace": "hello"}, "spec": spec})
}

pub(super) fn compile_errors(text: &str) -> Vec<String> {
    Rule::compile("r.yaml", text)
        .unwrap_err()
        .into_iter()
        .map(|d| d.to_string())
        .collect()
}

pub(super) fn render_with(rule: &str, hook: Hook, request: Value) -> Result<Value, HookError> {
    Rule::compile("r.yaml", rule)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .render(hook, request, &Limits::default())
}
