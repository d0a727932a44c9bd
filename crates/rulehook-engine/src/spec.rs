//! Stage 1 of the pipeline: the rule file exactly as written.
//!
//! These types hold no logic. Templates stay free-form JSON here; [`super::rule`] compiles
//! them. Parsing reports *every* unknown key (with a suggestion) rather than stopping at the
//! first, because `rulehook check` promises the whole list.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::diagnostic::{check_keys, Diagnostic};
use super::locate::{join_index, join_key, Locator};
use crate::metacontroller::{self as mc, ControllerKind, HookVersion};

/// One rule file.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSpec {
    /// The rule's name, which is its URL path segment. Defaults to the file name without
    /// its extension.
    pub name: Option<String>,
    /// Libraries of the rule's directory whose functions and templates it uses, by name
    /// (the file name without `.lib.yaml`).
    #[serde(default)]
    pub imports: Vec<String>,
    /// Which Metacontroller controller calls this rule.
    #[serde(default)]
    pub kind: ControllerKind,
    /// The hook version the controller is configured with. Rules work under both; this only
    /// feeds `rulehook controllers`.
    pub hook_version: Option<HookVersion>,
    /// Named values read from the request with JSONPath.
    #[serde(default)]
    pub values: BTreeMap<String, ValueSpec>,
    /// The sync hook.
    pub sync: Option<HookSpec>,
    /// The finalize hook, also used for a sync call with `finalizing: true`.
    pub finalize: Option<HookSpec>,
    /// The customize hook.
    pub customize: Option<CustomizeSpec>,
    /// Overrides for the generated CompositeController or DecoratorController.
    pub controller: Option<Value>,
}

/// A value: a bare JSONPath, or a JSONPath with options.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ValueSpec {
    /// A bare JSONPath query.
    Path(String),
    /// A JSONPath query with a default or `all`.
    Full(FullValueSpec),
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FullValueSpec {
    /// An RFC 9535 JSONPath query against the whole request.
    pub path: Option<String>,
    /// Or a value computed from other values: one whole `"{{ expression }}"`. It may use
    /// the path values and the computed values written above it.
    pub expr: Option<String>,
    /// Or a value built by a template, with everything a response template has (`$forEach`,
    /// `$includeWhen`, `$merge`, computed keys, typed expressions). It may use the path
    /// values and the computed values written above it.
    pub template: Option<Value>,
    /// Used when the query matches nothing or matches `null`.
    pub default: Option<Value>,
    /// Collect every match into a list instead of expecting at most one.
    #[serde(default)]
    pub all: bool,
    /// Fail the call (HTTP 500, naming the value) when the value is missing, instead of
    /// leaving out the keys that use it.
    #[serde(default)]
    pub required: bool,
}

/// The templates of one hook. Which fields are allowed depends on the controller kind and
/// the hook; [`super::rule`] checks that.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HookSpec {
    /// Composite: the complete list of desired children. Items may use `$forEach`,
    /// `$as`, `$index`, `$key`, `$let`, `$includeWhen`, `$template` and `$items`.
    pub children: Option<Value>,
    /// The status to write: a map template, or one whole expression.
    pub status: Option<Value>,
    /// Ask for another sync after this many seconds: a number or `"{{ expression }}"`.
    pub resync_after_seconds: Option<Value>,
    /// Finalize only: whether clean-up is done; a bool or `"{{ expression }}"`. Defaults to true.
    pub finalized: Option<Value>,
    /// Decorator: labels to set; a `null` value deletes the label.
    pub labels: Option<Value>,
    /// Decorator: annotations to set; a `null` value deletes the annotation.
    pub annotations: Option<Value>,
    /// Decorator: the complete list of desired attachments.
    pub attachments: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CustomizeSpec {
    /// Rules selecting related objects: each with `apiVersion`, `resource`, and
    /// `labelSelector`, `namespaceSelector`, `namespace` or `names`.
    pub related_resources: Value,
}

/// Keys allowed at each level of a rule file. Kept beside the types they mirror; a unit test
/// checks the two agree.
pub(crate) const RULE_KEYS: &[&str] = &[
    "name",
    "imports",
    "kind",
    "hookVersion",
    "values",
    "sync",
    "finalize",
    "customize",
    "controller",
];
pub(crate) const VALUE_KEYS: &[&str] = &["path", "expr", "template", "default", "all", "required"];
/// A `sync` or `finalize` section: what either kind of controller may answer; which keys
/// suit which kind and hook is checked when the rule compiles.
pub(crate) fn hook_keys() -> Vec<&'static str> {
    let mut keys = mc::COMPOSITE_RESPONSE_KEYS.to_vec();
    for key in mc::DECORATOR_RESPONSE_KEYS {
        if !keys.contains(key) {
            keys.push(key);
        }
    }
    keys
}
pub(crate) const CUSTOMIZE_KEYS: &[&str] = mc::CUSTOMIZE_RESPONSE_KEYS;

impl RuleSpec {
    /// Parses rule text. `file` only labels diagnostics.
    ///
    /// # Errors
    ///
    /// Every problem found: a syntax error alone, or every unknown key, or the first type
    /// error (serde stops there).
    pub fn parse(file: &str, text: &str, locator: &Locator) -> Result<RuleSpec, Vec<Diagnostic>> {
        let tree = parse_tree(file, text)?;
        let unknown = unknown_keys(file, &tree, locator);
        if !unknown.is_empty() {
            return Err(unknown);
        }
        serde_json::from_value::<RuleSpec>(tree).map_err(|_| {
            // serde_json's own errors carry no position; the YAML deserializer's do.
            vec![typed_error(file, text)]
        })
    }
}

/// YAML text to a JSON tree, with `<<` merge keys applied.
pub(crate) fn parse_tree(file: &str, text: &str) -> Result<Value, Vec<Diagnostic>> {
    let yaml_error = |e: serde_yaml_ng::Error| vec![yaml_diagnostic(file, text, &e)];
    let mut yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(yaml_error)?;
    yaml.apply_merge().map_err(yaml_error)?;
    if yaml.is_null() {
        return Err(vec![Diagnostic::new(file, 1, 1, "the rule file is empty")]);
    }
    let mut unportable = Vec::new();
    find_unportable(&yaml, "", &mut unportable);
    if !unportable.is_empty() {
        let locator = Locator::new(text);
        let lines: Vec<&str> = text.lines().collect();
        return Err(unportable
            .into_iter()
            .map(|(path, message)| {
                let mut pos = locator.value(&path);
                // The parser places `{{ x }}` at its inner map; the mistake starts one earlier.
                let line = lines.get(pos.line.wrapping_sub(1)).copied().unwrap_or("");
                if pos.column >= 2 && line.get(pos.column - 2..pos.column) == Some("{{") {
                    pos.column -= 1;
                }
                Diagnostic::at(file, pos, message)
            })
            .collect());
    }
    serde_json::to_value(yaml).map_err(|e| {
        vec![Diagnostic::new(
            file,
            1,
            1,
            format!("the rule file cannot be read as JSON-compatible data: {e}"),
        )]
    })
}

/// YAML that has no JSON form: tags (`!custom x`, which would silently become a map) and
/// `.inf`/`.nan` (which would become null). Each is reported at its path.
fn find_unportable(value: &serde_yaml_ng::Value, path: &str, found: &mut Vec<(String, String)>) {
    use serde_yaml_ng::Value as Yaml;
    match value {
        Yaml::Tagged(tagged) => found.push((
            path.to_owned(),
            format!(
                "YAML tags such as `{}` are not supported; remove the tag, or quote the value if the `!` belongs to it",
                tagged.tag
            ),
        )),
        Yaml::Number(n) if n.as_f64().is_some_and(|f| !f.is_finite()) => found.push((
            path.to_owned(),
            format!("`{n}` is not a JSON number; quote it if you mean the text"),
        )),
        Yaml::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                find_unportable(item, &join_index(path, i), found);
            }
        }
        Yaml::Mapping(map) => {
            // `a: {{ x }}` unquoted is a YAML flow map whose key is a map.
            if map.keys().any(|k| matches!(k, Yaml::Mapping(_))) {
                found.push((
                    path.to_owned(),
                    "a value that starts with `{{` must be quoted: YAML reads `{{ x }}` as a map; write \"{{ x }}\"".to_owned(),
                ));
                return;
            }
            for (key, item) in map {
                let key = match key {
                    Yaml::String(k) => k.clone(),
                    other => serde_yaml_ng::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                find_unportable(item, &join_key(path, &key), found);
            }
        }
        _ => {}
    }
}

/// A YAML syntax error at its real place, with the fix when the mistake is a common one.
fn yaml_diagnostic(file: &str, text: &str, e: &serde_yaml_ng::Error) -> Diagnostic {
    let (mut line, mut column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let mut message = yaml_message(e);
    let lines: Vec<&str> = text.lines().collect();
    let at = |line: usize| lines.get(line.wrapping_sub(1)).copied().unwrap_or("");
    if quote_inside_template(at(line)) {
        message = format!(
            "{message}: a `\"` inside a template ends the double-quoted YAML string; quote strings inside the template with single quotes (`'a'`), or the whole value with single quotes"
        );
    } else if message.contains("cannot start any token")
        && at(line).chars().nth(column - 1) == Some('\t')
    {
        message = "a tab in the indentation: YAML indents with spaces only".to_owned();
    } else if let Some(key) = duplicate_key(&message) {
        // The parser points at the first occurrence; the mistake is the later one.
        let first = line;
        let indent = column - 1;
        if let Some(again) = (first + 1..=lines.len()).find(|&l| {
            let text = at(l);
            text.len() > indent
                && text[..indent].trim().is_empty()
                && text[indent..]
                    .strip_prefix(key.as_str())
                    .is_some_and(|rest| rest.trim_start().starts_with(':'))
        }) {
            line = again;
        }
        message = format!("duplicate key `{key}` (first at line {first}); remove one");
    } else if message.starts_with("did not find expected key")
        || message.starts_with("mapping values are not allowed")
    {
        message = format!("{message}: check this line's indentation against the lines above");
    }
    column = column.max(1);
    Diagnostic::new(file, line, column, message)
}

/// Whether `line` holds a double-quoted string with a template in it that a `"` ends before
/// the template closes: `name: "{{ default x "a" }}"`.
fn quote_inside_template(line: &str) -> bool {
    let Some((_, quoted)) = line.split_once('"') else {
        return false;
    };
    match (quoted.find("{{"), quoted.find('"')) {
        (Some(open), Some(quote)) if open < quote => quoted[open..]
            .find("}}")
            .is_some_and(|close| open + close > quote),
        _ => false,
    }
}

/// The key of serde_yaml_ng's `duplicate entry with key "k"` message.
fn duplicate_key(message: &str) -> Option<String> {
    let rest = message.split("duplicate entry with key \"").nth(1)?;
    Some(rest.split('"').next()?.to_owned())
}

/// serde_yaml_ng appends " at line L column C" to messages; the diagnostic already says it.
fn yaml_message(e: &serde_yaml_ng::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

fn typed_error(file: &str, text: &str) -> Diagnostic {
    match serde_yaml_ng::from_str::<RuleSpec>(text) {
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            Diagnostic::new(file, line, column, yaml_message(&e))
        }
        Ok(_) => Diagnostic::new(file, 1, 1, "the rule does not have the expected shape"),
    }
}

fn unknown_keys(file: &str, tree: &Value, locator: &Locator) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(root) = tree.as_object() else {
        return vec![Diagnostic::at(
            file,
            locator.value(""),
            "a rule file must be a mapping with `sync`, `finalize` or `customize`",
        )];
    };
    check_keys(file, "", root, RULE_KEYS, locator, &mut out);
    if let Some(Value::Object(values)) = root.get("values") {
        for (name, spec) in values {
            if let Value::Object(map) = spec {
                let path = join_key("values", name);
                check_keys(file, &path, map, VALUE_KEYS, locator, &mut out);
            }
        }
    }
    for hook in ["sync", "finalize"] {
        if let Some(Value::Object(map)) = root.get(hook) {
            check_keys(file, hook, map, &hook_keys(), locator, &mut out);
        }
    }
    if let Some(Value::Object(map)) = root.get("customize") {
        check_keys(file, "customize", map, CUSTOMIZE_KEYS, locator, &mut out);
    }
    if let Some(Value::Object(map)) = root.get("controller") {
        let decorator = root.get("kind").and_then(Value::as_str) == Some("decorator");
        crate::controller_section::check_controller_keys(file, map, decorator, locator, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuleSpec, Vec<Diagnostic>> {
        RuleSpec::parse("r.yaml", text, &Locator::new(text))
    }

    #[test]
    fn every_unknown_key_is_reported_with_a_suggestion() {
        let errs = parse("nmae: x\nsync:\n  childern: []\n  stauts: {}\n").unwrap_err();
        let text: Vec<String> = errs.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            text,
            [
                "r.yaml:1:1: unknown key `nmae` in the rule; did you mean `name`?",
                "r.yaml:3:3: unknown key `childern` in sync; did you mean `children`?",
                "r.yaml:4:3: unknown key `stauts` in sync; did you mean `status`?",
            ]
        );
    }

    #[test]
    fn yaml_syntax_errors_carry_a_position() {
        let errs = parse("sync:\n  children: [\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].line >= 2, "{}", errs[0]);
    }

    #[test]
    fn yes_and_no_stay_strings() {
        let spec = parse("values:\n  a: {path: $.x, default: yes}\n").unwrap();
        match &spec.values["a"] {
            ValueSpec::Full(full) => assert_eq!(full.default, Some(Value::from("yes"))),
            ValueSpec::Path(_) => panic!("expected the full form"),
        }
    }

    #[test]
    fn known_key_lists_match_the_types() {
        // Each list must accept exactly what serde accepts: a document with every key parses.
        let doc = serde_json::json!({
            "name": "x", "imports": [], "kind": "composite", "hookVersion": "v2", "values": {},
            "sync": {}, "finalize": {}, "customize": {"relatedResources": []}, "controller": {},
        });
        assert_eq!(doc.as_object().unwrap().len(), RULE_KEYS.len());
        assert!(RULE_KEYS.iter().all(|k| doc.get(k).is_some()));
        serde_json::from_value::<RuleSpec>(doc).unwrap();
        let hook: serde_json::Map<String, Value> = hook_keys()
            .iter()
            .map(|k| ((*k).to_owned(), Value::from(1)))
            .collect();
        serde_json::from_value::<HookSpec>(Value::Object(hook)).unwrap();
        let value = serde_json::json!({"path": "$", "expr": "{{ x }}", "template": [], "default": 1, "all": true, "required": true});
        assert_eq!(value.as_object().unwrap().len(), VALUE_KEYS.len());
        serde_json::from_value::<FullValueSpec>(value).unwrap();
    }

    #[test]
    fn common_yaml_mistakes_are_reported_where_they_are_with_the_fix() {
        let first = |text: &str| parse(text).unwrap_err()[0].to_string();
        assert_eq!(
            first("values:\n  n: $.x\nsync:\n  status:\n    a: {{ n }}\n"),
            "r.yaml:5:8: a value that starts with `{{` must be quoted: YAML reads `{{ x }}` as a map; write \"{{ x }}\""
        );
        assert_eq!(
            first("sync:\n  status:\n\ta: 1\n"),
            "r.yaml:3:1: a tab in the indentation: YAML indents with spaces only"
        );
        assert_eq!(
            first("sync:\n  status:\n    a: 1\n    b: 2\n    a: 3\n"),
            "r.yaml:5:5: duplicate key `a` (first at line 3); remove one"
        );
        let indent = first("sync:\n  status:\n    a: 1\n   b: 2\n");
        assert!(
            indent.starts_with("r.yaml:4:4: ")
                && indent.ends_with("check this line's indentation against the lines above"),
            "{indent}"
        );
    }
}
