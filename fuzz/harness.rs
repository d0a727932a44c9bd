//! The fuzzing harness, shared by the libFuzzer targets in `fuzz_targets/` and by the
//! regression test that replays every saved input (`tests/fuzz_regressions.rs`).
//!
//! Each function must return normally for every input: a panic, a stack overflow or an
//! endless loop is a bug.

use std::sync::OnceLock;

use rulehook_engine::{helper_names, Hook, HookError, Limits, Rule};
use serde_json::{json, Map, Number, Value};

const HELLO: &str = include_str!("../rules/hello.yaml");
const LOOPS: &str = include_str!("loops.yaml");

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        vec![
            Rule::compile("hello.yaml", HELLO).expect("hello compiles"),
            Rule::compile("loops.yaml", LOOPS).expect("loops compiles"),
        ]
    })
}

/// Small limits keep each run fast; the code paths are the same.
fn limits() -> Limits {
    Limits {
        max_loop_items: 200,
        max_output_bytes: 1 << 20,
        max_steps: 20_000,
        ..Limits::default()
    }
}

fn render_all(request: &Value) {
    for rule in rules() {
        for hook in [Hook::Sync, Hook::Finalize, Hook::Customize] {
            same_answer_from_what_the_rule_reads(rule, hook, request);
        }
    }
}

/// Renders `request` whole, and as the server reads it (only what the rule reads): an
/// answer to the whole request must be the answer to what the rule reads, byte for byte.
/// The reverse need not hold: a part the rule never reads may have a shape the whole
/// request's check refuses.
fn same_answer_from_what_the_rule_reads(rule: &Rule, hook: Hook, request: &Value) {
    let whole = rule.render_body(hook, &mut request.clone(), &limits());
    let Ok(whole) = whole else { return };
    let read = rule
        .read_request(request)
        .map(|mut read| rule.render_body(hook, &mut read, &limits()));
    match read {
        Ok(Ok(answer)) => assert!(
            answer == whole,
            "rule {}: the answer to what it reads differs from the answer to the whole request\nwhole: {}\nread:  {}",
            rule.name,
            String::from_utf8_lossy(&whole),
            String::from_utf8_lossy(&answer)
        ),
        Ok(Err(e)) => panic!("rule {}: the whole request renders, what it reads fails: {e}", rule.name),
        // Nested deeper than any body the server reads (serde_json's limit of 128).
        Err(e) => assert!(
            e.to_string().contains("recursion limit"),
            "rule {}: a request cannot be read back: {e}",
            rule.name
        ),
    }
}

/// Arbitrary bytes as a hook request body, as the server would parse them.
pub fn sync_request(data: &[u8]) {
    // The scanner that checks what no rule reads accepts exactly what serde_json accepts.
    let accepted = serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok();
    assert_eq!(
        rulehook_engine::is_json(data),
        accepted,
        "the scanner and serde_json disagree on {:?}",
        String::from_utf8_lossy(data)
    );
    if let Ok(request) = serde_json::from_slice::<Value>(data) {
        render_all(&request);
    }
    // The server's own parser, which skips what a rule does not read, with and without who
    // the call is about: the answers are the same.
    for rule in rules() {
        let Ok(request) = rule.parse_request(data) else {
            continue;
        };
        let answer = rule.render_body(Hook::Sync, &mut { request }, &limits());
        let lean = rule
            .parse_answer_reads(data)
            .expect("a body one parse reads, the other reads too");
        let lean_answer = rule.render_body(Hook::Sync, &mut { lean }, &limits());
        // A failure too must be the same, message and all: it is what the caller is told.
        let told = |answer: Result<Vec<u8>, _>| answer.map_err(|e: HookError| e.to_string());
        assert_eq!(
            told(answer),
            told(lean_answer),
            "rule {}: the lean parse answers differently",
            rule.name
        );
    }
}

/// Arbitrary bytes as a rule file: compile, and render when it compiles.
pub fn rule_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rule) = Rule::compile("fuzz.yaml", text) else {
        return;
    };
    let request = json!({
        "parent": {"metadata": {"name": "p", "namespace": "n"}, "spec": {"who": "x", "n": 3, "items": [1, "a", {"b": null}]}},
        "children": {"Pod.v1": {"a": {"metadata": {"name": "a"}, "status": {"phase": "Running"}}}},
        "object": {"metadata": {"name": "o"}},
        "related": {},
    });
    for hook in [Hook::Sync, Hook::Finalize, Hook::Customize] {
        same_answer_from_what_the_rule_reads(&rule, hook, &request);
    }
}

/// A JSON value built from structured fuzz input: deep nesting, long strings, odd numbers.
#[derive(Debug, arbitrary::Arbitrary)]
pub enum FuzzValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Long(u16, char),
    List(Vec<FuzzValue>),
    Map(Vec<(String, FuzzValue)>),
    Deep(u8, Box<FuzzValue>),
}

impl FuzzValue {
    fn into_json(self, depth: usize) -> Value {
        if depth > 100 {
            return Value::Null;
        }
        match self {
            FuzzValue::Null => Value::Null,
            FuzzValue::Bool(b) => Value::Bool(b),
            FuzzValue::Int(i) => Value::from(i),
            FuzzValue::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            FuzzValue::Str(s) => Value::String(s),
            FuzzValue::Long(n, c) => Value::String(std::iter::repeat_n(c, n as usize).collect()),
            FuzzValue::List(items) => {
                Value::Array(items.into_iter().map(|v| v.into_json(depth + 1)).collect())
            }
            FuzzValue::Map(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_json(depth + 1)))
                    .collect::<Map<String, Value>>(),
            ),
            FuzzValue::Deep(levels, inner) => {
                let mut v = inner.into_json(depth + levels as usize);
                for _ in 0..levels.min(100) {
                    v = json!([v]);
                }
                v
            }
        }
    }
}

/// Where structured values go in an otherwise valid request.
#[derive(Debug, arbitrary::Arbitrary)]
pub struct StructuredInput {
    pub who: FuzzValue,
    pub spec: Vec<(String, FuzzValue)>,
    pub name: FuzzValue,
    pub pods: Vec<(String, FuzzValue)>,
}

/// A valid hello-shaped request whose values come from the fuzzer.
pub fn structured(input: StructuredInput) {
    let mut spec: Map<String, Value> = input
        .spec
        .into_iter()
        .map(|(k, v)| (k, v.into_json(0)))
        .collect();
    spec.insert("who".to_owned(), input.who.into_json(0));
    let pods: Map<String, Value> = input
        .pods
        .into_iter()
        .map(|(k, v)| {
            (
                k.clone(),
                json!({"metadata": {"name": k}, "status": v.into_json(0)}),
            )
        })
        .collect();
    let request = json!({
        "controller": {},
        "parent": {"metadata": {"name": input.name.into_json(0), "namespace": "n"}, "spec": spec},
        "children": {"Pod.v1": pods},
        "related": {},
        "finalizing": false,
    });
    render_all(&request);
}

/// One compiled rule per helper and number of arguments its arity allows (0 to 4), with
/// the helper's result as a whole value and inside a string. Block helpers need a block.
fn helper_rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut rules = Vec::new();
        for name in helper_names().filter(|n| !matches!(*n, "if" | "unless" | "each" | "with")) {
            for arity in 0..=4 {
                let args: Vec<String> = (0..arity).map(|i| format!("a{i}")).collect();
                let call = format!("{name} {}", args.join(" "));
                for leaf in [format!("{{{{ {call} }}}}"), format!("<{{{{ {call} }}}}>")] {
                    let text = format!(
                        "name: h\nvalues:\n  a0: $.parent.a0\n  a1: $.parent.a1\n  a2: $.parent.a2\n  a3: $.parent.a3\nsync:\n  status:\n    out: {}\n",
                        serde_json::to_string(&leaf).expect("a string")
                    );
                    if let Ok(rule) = Rule::compile("helpers.yaml", &text) {
                        rules.push(rule);
                    }
                }
            }
        }
        assert!(rules.len() > 100, "every helper compiles with some arity");
        rules
    })
}

/// A helper call: which helper and arity, and its arguments (`None` is a missing value).
#[derive(Debug, arbitrary::Arbitrary)]
pub struct HelperCall {
    pub which: u16,
    pub args: [Option<FuzzValue>; 4],
}

/// Calls one helper with arbitrary arguments, through a render, under small limits.
pub fn helper_call(input: HelperCall) {
    let rules = helper_rules();
    let rule = &rules[usize::from(input.which) % rules.len()];
    let mut parent = Map::new();
    parent.insert("metadata".to_owned(), json!({"name": "p"}));
    for (i, arg) in input.args.into_iter().enumerate() {
        if let Some(arg) = arg {
            parent.insert(format!("a{i}"), arg.into_json(0));
        }
    }
    let request = json!({"parent": parent, "children": {}});
    let _ = rule.render_body(Hook::Sync, &mut { request }, &limits());
}
