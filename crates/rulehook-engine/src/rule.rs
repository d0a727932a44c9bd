//! Stage 2 and 3 of the pipeline: a [`RuleSpec`] compiled into a [`Rule`], and a rule
//! rendered against one request.
//!
//! After compiling, a render can fail only because of the request (a missing value, a limit),
//! never because of the rule's own text.
//!
//! This file is long: it holds the compiler as well as the render orchestration and the
//! response checks; moving the compiler and the response builders out is the engine's next
//! restructuring step.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use super::budget;
use super::clip::clip_json;
use super::diagnostic::Diagnostic;
use super::helpers;
use super::locate::{join_key, Locator, Pos};
use super::request::{self, Hook, Reads, COMPOSITE_MAPS, DECORATOR_MAPS};
use super::spec::{ControllerKind, HookSpec, HookVersion, RuleSpec, ValueSpec};
use super::template::{is_identifier, Compiler, Failure, Names, Node, NullPolicy, Render};
use super::Limits;

/// A compiled rule, ready to render any number of requests.
#[derive(Debug)]
pub struct Rule {
    pub name: String,
    /// Where the name is set (or the file's start when it comes from the file name).
    pub name_pos: Pos,
    /// The file label it was compiled from, used in every error message.
    pub file: String,
    pub kind: ControllerKind,
    pub hook_version: HookVersion,
    /// Controller-manifest overrides, passed through as written.
    pub controller: Option<Value>,
    /// `(apiVersion, kind)` of every child or attachment template that names them literally.
    pub child_types: Vec<(String, String)>,
    values: Vec<NamedValue>,
    sync: Option<HookTemplates>,
    finalize: Option<HookTemplates>,
    /// The customize templates and where they stand in the file.
    customize: Option<(Node, Pos)>,
    types: BTreeSet<(String, String)>,
    /// The request keys the rule reads.
    reads: Reads,
}

#[derive(Debug)]
struct NamedValue {
    name: String,
    source: Source,
    default: Option<Value>,
    all: bool,
    required: bool,
    pos: Pos,
}

#[derive(Debug)]
enum Source {
    /// A JSONPath query over the request, and its text for messages.
    Path(JsonPath, String),
    /// A whole expression over earlier values.
    Expr(super::template::Expr),
}

#[derive(Debug, Default)]
struct HookTemplates {
    children: Option<Node>,
    status: Option<Node>,
    resync_after_seconds: Option<Node>,
    finalized: Option<Node>,
    labels: Option<Node>,
    annotations: Option<Node>,
    attachments: Option<Node>,
    pos: Pos,
}

/// Why a hook call did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The request does not have the shape of this hook's request.
    #[error("{0}")]
    BadRequest(String),
    /// The rule has no section for this hook.
    #[error("rule `{rule}` has no {hook} hook")]
    NoHook { rule: String, hook: Hook },
    /// The rule failed on this request.
    #[error("rule `{rule}` failed at {file}:{pos}: {message}")]
    Render {
        rule: String,
        file: String,
        pos: Pos,
        message: String,
    },
    /// The caller's guard stopped the render (deadline or memory budget).
    #[error("rule `{rule}` was stopped at {file}:{pos} by the server (deadline or memory budget)")]
    Interrupted {
        rule: String,
        file: String,
        pos: Pos,
    },
}

/// Names every template sees, besides the rule's values.
const COMPOSITE_NAMES: &[&str] = &["parent", "children", "related", "controller", "finalizing"];
const DECORATOR_NAMES: &[&str] = &[
    "object",
    "attachments",
    "related",
    "controller",
    "finalizing",
];
const CUSTOMIZE_NAMES: &[&str] = &["parent", "controller"];

impl Rule {
    /// Compiles rule text. `file` only labels diagnostics; nothing is read.
    ///
    /// # Errors
    ///
    /// Every problem found, each with its line and column.
    pub fn compile(file: &str, text: &str) -> Result<Rule, Vec<Diagnostic>> {
        let locator = Locator::new(text);
        let spec = RuleSpec::parse(file, text, &locator)?;
        let mut diagnostics = Vec::new();
        let rule = compile_spec(file, spec, &locator, &mut diagnostics);
        if diagnostics.is_empty() {
            Ok(rule)
        } else {
            diagnostics.sort_by_key(|d| (d.line, d.column));
            diagnostics.dedup();
            Err(diagnostics)
        }
    }

    /// Parses a hook request body, building JSON values only for the top-level keys this
    /// rule reads (the rest is checked for syntax and skipped).
    ///
    /// # Errors
    ///
    /// When the body is not JSON, or nests deeper than 128 levels anywhere.
    pub fn parse_request(&self, body: &[u8]) -> Result<Value, serde_json::Error> {
        request::parse(body, &self.reads)
    }

    /// `composite` or `decorator`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ControllerKind::Composite => "composite",
            ControllerKind::Decorator => "decorator",
        }
    }

    /// The hooks this rule answers.
    pub fn hooks(&self) -> Vec<Hook> {
        let mut hooks = Vec::new();
        if self.sync.is_some() {
            hooks.push(Hook::Sync);
        }
        if self.finalize.is_some() {
            hooks.push(Hook::Finalize);
        }
        if self.customize.is_some() {
            hooks.push(Hook::Customize);
        }
        hooks
    }

    /// Renders the response to one hook request.
    ///
    /// # Errors
    ///
    /// [`HookError::BadRequest`] when the request has the wrong shape, [`HookError::NoHook`]
    /// when the rule lacks the hook, and [`HookError::Render`] when the rule fails on this
    /// request (with the rule's file and line).
    ///
    /// # Guarantees
    ///
    /// A successful response never holds a partial result: any failure fails the whole call.
    /// Children and attachments hold no `null`.
    pub fn render(&self, hook: Hook, request: Value, limits: &Limits) -> Result<Value, HookError> {
        self.render_keeping(hook, request, limits).0
    }

    /// As [`Rule::render`], but also hands back what the request became, for the caller to
    /// drop where it costs nothing: freeing a large parsed request takes about as long as
    /// rendering it, and need not delay the answer.
    pub fn render_keeping(
        &self,
        hook: Hook,
        request: Value,
        limits: &Limits,
    ) -> (Result<Value, HookError>, Value) {
        let _meter = budget::install(limits);
        let mut leftovers = request;
        let result = self
            .render_inner(hook, &mut leftovers, limits)
            .map_err(|e| self.stopped_or(e));
        (result, leftovers)
    }

    /// A failure caused by the caller's guard (deadline, memory) says so, whatever the
    /// step that noticed it reported.
    fn stopped_or(&self, error: HookError) -> HookError {
        match error {
            HookError::Render { pos, .. } if budget::interrupted() => HookError::Interrupted {
                rule: self.name.clone(),
                file: self.file.clone(),
                pos,
            },
            other => other,
        }
    }

    /// Renders `request`, leaving in its place the scope it was moved into.
    fn render_inner(
        &self,
        hook: Hook,
        request: &mut Value,
        limits: &Limits,
    ) -> Result<Value, HookError> {
        let (subject, maps) = match (hook, self.kind) {
            (Hook::Customize, _) => ("parent", &[][..]),
            (_, ControllerKind::Composite) => ("parent", COMPOSITE_MAPS),
            (_, ControllerKind::Decorator) => ("object", DECORATOR_MAPS),
        };
        request::check_shape(request, subject, maps).map_err(HookError::BadRequest)?;

        let mut scope = Map::new();
        self.evaluate_values(request, &mut scope)?;
        if hook == Hook::Customize {
            let (node, pos) = self.customize.as_ref().ok_or_else(|| self.no_hook(hook))?;
            request::into_scope(
                std::mem::take(request),
                &["parent", "controller"],
                &[],
                &self.types,
                &mut scope,
            );
            let mut render = Render::new(scope, limits);
            let result = self
                .compute_values(&mut render)
                .and_then(|()| self.customize_response(node, *pos, &mut render));
            *request = render.into_data();
            return result;
        }

        let finalizing = matches!(request.get("finalizing"), Some(Value::Bool(true)));
        let (templates, finalize) = match hook {
            Hook::Finalize => (self.finalize.as_ref(), true),
            _ if finalizing && self.finalize.is_some() => (self.finalize.as_ref(), true),
            _ => (self.sync.as_ref(), false),
        };
        let templates = templates.ok_or_else(|| self.no_hook(hook))?;
        request::into_scope(
            std::mem::take(request),
            &[subject, "controller"],
            maps,
            &self.types,
            &mut scope,
        );
        let mut render = Render::new(scope, limits);
        let result = self
            .compute_values(&mut render)
            .and_then(|()| match self.kind {
                ControllerKind::Composite => {
                    self.composite_response(templates, finalize, &mut render)
                }
                ControllerKind::Decorator => {
                    self.decorator_response(templates, finalize, &mut render)
                }
            });
        *request = render.into_data();
        result
    }

    /// Renders and serializes, enforcing the output size limit.
    ///
    /// # Errors
    ///
    /// As [`Rule::render`], plus a render error when the body exceeds the limit.
    pub fn render_body(
        &self,
        hook: Hook,
        request: Value,
        limits: &Limits,
    ) -> Result<Vec<u8>, HookError> {
        self.render_body_keeping(hook, request, limits).0
    }

    /// As [`Rule::render_body`], handing back the request's remains as
    /// [`Rule::render_keeping`] does.
    pub fn render_body_keeping(
        &self,
        hook: Hook,
        request: Value,
        limits: &Limits,
    ) -> (Result<Vec<u8>, HookError>, Value) {
        let _meter = budget::install(limits);
        let mut leftovers = request;
        let body = self
            .render_inner(hook, &mut leftovers, limits)
            .and_then(|response| self.encode(&response, limits))
            .map_err(|e| self.stopped_or(e));
        (body, leftovers)
    }

    /// Encodes the answer, charging each piece to the render's budget before it is kept.
    fn encode(&self, response: &Value, limits: &Limits) -> Result<Vec<u8>, HookError> {
        let mut out = budget::MeteredBytes::default();
        if let Err(e) = serde_json::to_writer(&mut out, response) {
            let message = out.exceeded.map_or_else(|| e.to_string(), |x| x.message());
            return Err(self.fail(Pos { line: 1, column: 1 }, message));
        }
        let body = out.bytes;
        if body.len() > limits.max_output_bytes {
            return Err(self.fail(
                Pos { line: 1, column: 1 },
                format!(
                    "the response is {} bytes, over the limit of {} (limit max-output-bytes)",
                    body.len(),
                    limits.max_output_bytes
                ),
            ));
        }
        Ok(body)
    }

    fn no_hook(&self, hook: Hook) -> HookError {
        HookError::NoHook {
            rule: self.name.clone(),
            hook,
        }
    }

    fn fail(&self, pos: Pos, message: String) -> HookError {
        HookError::Render {
            rule: self.name.clone(),
            file: self.file.clone(),
            pos,
            message,
        }
    }

    fn failed(&self, failure: Failure) -> HookError {
        self.fail(failure.pos, failure.message)
    }

    /// Evaluates the JSONPath values, which read the request as Metacontroller sent it.
    fn evaluate_values(
        &self,
        request: &Value,
        scope: &mut Map<String, Value>,
    ) -> Result<(), HookError> {
        for value in &self.values {
            let Source::Path(query, text) = &value.source else {
                continue;
            };
            let nodes = query.query(request).all();
            for node in &nodes {
                budget::charge_copy(node).map_err(|e| self.fail(value.pos, e.message()))?;
            }
            let found = if value.all {
                let list: Vec<Value> = nodes
                    .into_iter()
                    .filter(|v| !v.is_null())
                    .cloned()
                    .collect();
                (!list.is_empty()).then_some(Value::Array(list))
            } else {
                match nodes.as_slice() {
                    [] => None,
                    [one] => Some((*one).clone()).filter(|v| !v.is_null()),
                    many => {
                        return Err(self.fail(
                            value.pos,
                            format!(
                                "value `{}` ({text}) matched {} nodes; add `all: true` to collect them as a list",
                                value.name,
                                many.len()
                            ),
                        ))
                    }
                }
            };
            match found.or_else(|| value.default.clone()) {
                Some(v) => {
                    scope.insert(value.name.clone(), v);
                }
                None if value.required => return Err(self.missing(value)),
                None => {}
            }
        }
        Ok(())
    }

    /// Evaluates the computed values, in file order, once the scope is built.
    fn compute_values(&self, render: &mut Render) -> Result<(), HookError> {
        for value in &self.values {
            let Source::Expr(expr) = &value.source else {
                continue;
            };
            let found = render
                .expr(expr)
                .map_err(|f| self.failed(f))?
                .filter(|v| !v.is_null());
            match found.or_else(|| value.default.clone()) {
                Some(v) => render.set(&value.name, v),
                None if value.required => return Err(self.missing(value)),
                None => {}
            }
        }
        Ok(())
    }

    fn missing(&self, value: &NamedValue) -> HookError {
        let from = match &value.source {
            Source::Path(_, text) => format!("`{text}` matched nothing"),
            Source::Expr(_) => "its expression gave nothing".to_owned(),
        };
        self.fail(
            value.pos,
            format!("value `{}` is required, but {from}", value.name),
        )
    }

    fn composite_response(
        &self,
        t: &HookTemplates,
        finalize: bool,
        render: &mut Render,
    ) -> Result<Value, HookError> {
        let mut out = Map::new();
        if let Some(status) = self.render_object(t.status.as_ref(), "status", t.pos, render)? {
            out.insert("status".to_owned(), status);
        }
        let children = self.render_objects(t.children.as_ref(), "children", t.pos, render)?;
        out.insert("children".to_owned(), Value::Array(children));
        self.common_fields(t, finalize, render, &mut out)?;
        Ok(Value::Object(out))
    }

    fn decorator_response(
        &self,
        t: &HookTemplates,
        finalize: bool,
        render: &mut Render,
    ) -> Result<Value, HookError> {
        let mut out = Map::new();
        for (key, node) in [("labels", &t.labels), ("annotations", &t.annotations)] {
            if let Some(map) = self.render_object(node.as_ref(), key, t.pos, render)? {
                out.insert(
                    key.to_owned(),
                    string_map(map, key).map_err(|m| self.fail(t.pos, m))?,
                );
            }
        }
        if let Some(status) = self.render_object(t.status.as_ref(), "status", t.pos, render)? {
            out.insert("status".to_owned(), status);
        }
        // Only when the rule has attachments: a decorator without them answers just what it
        // sets, as hand-written decorators do.
        if t.attachments.is_some() {
            let attachments =
                self.render_objects(t.attachments.as_ref(), "attachments", t.pos, render)?;
            out.insert("attachments".to_owned(), Value::Array(attachments));
        }
        self.common_fields(t, finalize, render, &mut out)?;
        Ok(Value::Object(out))
    }

    fn common_fields(
        &self,
        t: &HookTemplates,
        finalize: bool,
        render: &mut Render,
        out: &mut Map<String, Value>,
    ) -> Result<(), HookError> {
        if let Some(node) = &t.resync_after_seconds {
            match render.node(node).map_err(|f| self.failed(f))? {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f >= 0.0) => {
                    out.insert("resyncAfterSeconds".to_owned(), Value::Number(n));
                }
                Some(other) => {
                    return Err(self.fail(
                        node_pos(node, t.pos),
                        format!(
                            "resyncAfterSeconds must be a number of seconds, not {}",
                            clip_json(&other)
                        ),
                    ))
                }
            }
        }
        if finalize {
            let finalized = match &t.finalized {
                None => true,
                Some(node) => match render.node(node).map_err(|f| self.failed(f))? {
                    Some(Value::Bool(b)) => b,
                    other => {
                        return Err(self.fail(
                            node_pos(node, t.pos),
                            format!(
                                "finalized must be true or false, not {}",
                                other.map_or("missing".to_owned(), |v| clip_json(&v))
                            ),
                        ))
                    }
                },
            };
            out.insert("finalized".to_owned(), Value::Bool(finalized));
        }
        Ok(())
    }

    fn render_object(
        &self,
        node: Option<&Node>,
        what: &str,
        hook_pos: Pos,
        render: &mut Render,
    ) -> Result<Option<Value>, HookError> {
        let Some(node) = node else { return Ok(None) };
        match render.node(node).map_err(|f| self.failed(f))? {
            None | Some(Value::Null) => Ok(None),
            Some(mut v @ Value::Object(_)) => {
                if !matches!(what, "labels" | "annotations") {
                    strip_nulls(&mut v);
                }
                Ok(Some(v))
            }
            Some(other) => Err(self.fail(
                node_pos(node, hook_pos),
                format!(
                    "{what} must be a map, not {}",
                    super::template::type_name(&other)
                ),
            )),
        }
    }

    /// Renders a list of Kubernetes objects and checks each can be applied.
    fn render_objects(
        &self,
        node: Option<&Node>,
        what: &str,
        hook_pos: Pos,
        render: &mut Render,
    ) -> Result<Vec<Value>, HookError> {
        let Some(node) = node else {
            return Ok(Vec::new());
        };
        let pos = node_pos(node, hook_pos);
        let list = match render.node(node).map_err(|f| self.failed(f))? {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(list)) => list,
            Some(other) => {
                return Err(self.fail(
                    pos,
                    format!(
                        "{what} must be a list, not {}",
                        super::template::type_name(&other)
                    ),
                ))
            }
        };
        let mut list = list;
        for (i, object) in list.iter_mut().enumerate() {
            strip_nulls(object);
            check_object(object).map_err(|m| self.fail(pos, format!("{what}[{i}] {m}")))?;
        }
        Ok(list)
    }

    fn customize_response(
        &self,
        node: &Node,
        section: Pos,
        render: &mut Render,
    ) -> Result<Value, HookError> {
        let pos = node_pos(node, section);
        let list = match render.node(node).map_err(|f| self.failed(f))? {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list,
            Some(other) => {
                return Err(self.fail(
                    pos,
                    format!(
                        "relatedResources must be a list, not {}",
                        super::template::type_name(&other)
                    ),
                ))
            }
        };
        for (i, entry) in list.iter().enumerate() {
            check_related(entry)
                .map_err(|m| self.fail(pos, format!("relatedResources[{i}] {m}")))?;
        }
        Ok(serde_json::json!({ "relatedResources": list }))
    }
}

fn node_pos(node: &Node, fallback: Pos) -> Pos {
    match node {
        Node::Expr(e) => e.pos,
        Node::Text(t) => t.pos,
        _ => fallback,
    }
}

/// Removes every `null` map entry and list item, however deep: a value copied from the
/// request (`data: "{{ source.data }}"`) may hold nulls, and a null in a child makes
/// Metacontroller update it forever.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => {
            items.retain(|v| !v.is_null());
            items.iter_mut().for_each(strip_nulls);
        }
        _ => {}
    }
}

/// What Metacontroller needs of a child to apply it.
fn check_object(object: &Value) -> Result<(), String> {
    let Value::Object(map) = object else {
        return Err(format!(
            "must be an object, not {}",
            super::template::type_name(object)
        ));
    };
    let non_empty = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    for key in ["apiVersion", "kind"] {
        if !non_empty(map.get(key)) {
            return Err(format!("has no `{key}` string"));
        }
    }
    if !non_empty(object.pointer("/metadata/name")) {
        return Err("has no `metadata.name` string".to_owned());
    }
    Ok(())
}

/// A related-resource rule, which Metacontroller parses strictly.
fn check_related(entry: &Value) -> Result<(), String> {
    const KEYS: &[&str] = &[
        "apiVersion",
        "resource",
        "labelSelector",
        "namespaceSelector",
        "namespace",
        "names",
    ];
    let Value::Object(map) = entry else {
        return Err("must be an object".to_owned());
    };
    if let Some(key) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "has unknown key `{key}`; allowed: {}",
            KEYS.join(", ")
        ));
    }
    for key in ["apiVersion", "resource"] {
        if !map.get(key).is_some_and(Value::is_string) {
            return Err(format!("has no `{key}` string"));
        }
    }
    if let Some(names) = map.get("names") {
        if !names
            .as_array()
            .is_some_and(|n| n.iter().all(Value::is_string))
        {
            return Err("`names` must be a list of strings".to_owned());
        }
        if map.contains_key("labelSelector") {
            return Err("cannot combine `names` with `labelSelector`".to_owned());
        }
    }
    if map.contains_key("namespace") && map.contains_key("namespaceSelector") {
        return Err("cannot combine `namespace` with `namespaceSelector`".to_owned());
    }
    Ok(())
}

/// Labels and annotations: string values, numbers and bools written as text, null kept to
/// delete the key.
fn string_map(map: Value, what: &str) -> Result<Value, String> {
    let Value::Object(map) = map else {
        return Ok(map);
    };
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        let v = match v {
            Value::String(_) | Value::Null => v,
            Value::Bool(b) => Value::String(b.to_string()),
            Value::Number(n) => Value::String(n.to_string()),
            other => {
                return Err(format!(
                    "{what}.{} must be a string, not {}",
                    super::clip::clip(&k),
                    super::template::type_name(&other)
                ))
            }
        };
        out.insert(k, v);
    }
    Ok(Value::Object(out))
}

fn compile_spec(
    file: &str,
    spec: RuleSpec,
    locator: &Locator,
    diagnostics: &mut Vec<Diagnostic>,
) -> Rule {
    let name = rule_name(file, spec.name.as_deref(), locator, diagnostics);
    let name_pos = if spec.name.is_some() {
        locator.value("name")
    } else {
        Pos { line: 1, column: 1 }
    };
    let base: &[&str] = match spec.kind {
        ControllerKind::Composite => COMPOSITE_NAMES,
        ControllerKind::Decorator => DECORATOR_NAMES,
    };
    let mut types = BTreeSet::new();
    let value_scope: Vec<&str> = base.iter().chain(["parent"].iter()).copied().collect();
    let mut reads = Reads::minimal();
    let values = compile_values(
        file,
        &spec,
        locator,
        diagnostics,
        &value_scope,
        &mut types,
        &mut reads,
    );
    let names_for = |builtins: &[&str]| {
        Names::new(
            builtins
                .iter()
                .map(|s| (*s).to_owned())
                .chain(values.iter().map(|v| v.name.clone())),
        )
    };
    let mut child_types = Vec::new();
    if spec.sync.is_none() && spec.finalize.is_none() && spec.customize.is_none() {
        diagnostics.push(Diagnostic::at(
            file,
            locator.value(""),
            "the rule has no hook: add `sync`, `finalize` or `customize`",
        ));
    }
    let mut hook =
        |section: &str, hook_spec: Option<&HookSpec>, diagnostics: &mut Vec<Diagnostic>| {
            let hook_spec = hook_spec?;
            let mut compiler = Compiler {
                file,
                locator,
                diagnostics,
                names: names_for(base),
                types: &mut types,
                reads: &mut reads,
            };
            Some(compile_hook(
                section,
                spec.kind,
                hook_spec,
                &mut compiler,
                &mut child_types,
            ))
        };
    let sync = hook("sync", spec.sync.as_ref(), diagnostics);
    let finalize = hook("finalize", spec.finalize.as_ref(), diagnostics);
    let customize = spec.customize.as_ref().map(|c| {
        let mut compiler = Compiler {
            file,
            locator,
            diagnostics,
            names: names_for(CUSTOMIZE_NAMES),
            types: &mut types,
            reads: &mut reads,
        };
        let node = compiler.node(
            &c.related_resources,
            "customize.relatedResources",
            NullPolicy::Drop,
        );
        (node, locator.value("customize.relatedResources"))
    });
    child_types.sort();
    child_types.dedup();
    Rule {
        name,
        name_pos,
        file: file.to_owned(),
        kind: spec.kind,
        hook_version: spec.hook_version.unwrap_or_default(),
        controller: spec.controller,
        child_types,
        values,
        sync,
        finalize,
        customize,
        types,
        reads,
    }
}

/// A rule name is a URL path segment, so it must be a DNS label: no `/`, no `..`.
fn rule_name(
    file: &str,
    explicit: Option<&str>,
    locator: &Locator,
    diagnostics: &mut Vec<Diagnostic>,
) -> String {
    let name = match explicit {
        Some(n) => n.to_owned(),
        None => {
            // Everything up to the last extension: `dots.in.name.yaml` is `dots.in.name`.
            let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
            base.rsplit_once('.')
                .map_or(base, |(stem, _)| stem)
                .to_owned()
        }
    };
    if !is_rule_name(&name) {
        let pos = if explicit.is_some() {
            locator.value("name")
        } else {
            locator.value("")
        };
        diagnostics.push(Diagnostic::at(
            file,
            pos,
            format!("rule name `{}` must be lowercase letters, digits, `-` and `.`, each `.`-separated part starting and ending with a letter or digit (at most 63)", super::clip::clip(&name)),
        ));
    }
    name
}

/// A DNS subdomain of at most 63 characters, as Kubernetes names are: `.`-separated labels
/// of lowercase letters, digits and `-`, each starting and ending with a letter or digit. So
/// a name never holds `/` or `..` and can stand in a URL path as it is.
pub fn is_rule_name(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let label = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| ok_char(c) || c == '-')
            && l.starts_with(ok_char)
            && l.ends_with(ok_char)
    };
    name.len() <= 63 && name.split('.').all(label)
}

fn compile_values(
    file: &str,
    spec: &RuleSpec,
    locator: &Locator,
    diagnostics: &mut Vec<Diagnostic>,
    builtins: &[&str],
    types: &mut BTreeSet<(String, String)>,
    reads: &mut Reads,
) -> Vec<NamedValue> {
    // In file order, so a computed value sees exactly the computed values above it.
    let mut entries: Vec<(&String, &ValueSpec)> = spec.values.iter().collect();
    entries.sort_by_key(|(name, _)| {
        let p = locator.key(&join_key("values", name));
        (p.line, p.column)
    });
    let path_names: Vec<String> = entries
        .iter()
        .filter(|(_, v)| {
            matches!(v, ValueSpec::Path(_)) || matches!(v, ValueSpec::Full(f) if f.expr.is_none())
        })
        .map(|(n, _)| (*n).clone())
        .collect();
    let mut computed_names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (name, value) in entries {
        let path = join_key("values", name);
        let key_pos = locator.key(&path);
        if !is_identifier(name) {
            diagnostics.push(Diagnostic::at(
                file,
                key_pos,
                format!("value name `{name}` must be letters, digits and `_`"),
            ));
            continue;
        }
        // Request keys, `this` and helpers already mean something in templates.
        let reserved = request::REQUEST_KEYS.contains(&name.as_str()) || name == "this";
        if reserved || helpers::lookup(name).is_some() {
            diagnostics.push(Diagnostic::at(
                file,
                key_pos,
                format!("value name `{name}` is already used by templates; pick another"),
            ));
            continue;
        }
        let (path_text, expr_text, default, all, required) = match value {
            ValueSpec::Path(p) => (Some(p.clone()), None, None, false, false),
            ValueSpec::Full(f) => (
                f.path.clone(),
                f.expr.clone(),
                f.default.clone(),
                f.all,
                f.required,
            ),
        };
        let source = match (path_text, expr_text) {
            (Some(text), None) => {
                reads.query(&text);
                let at = if matches!(value, ValueSpec::Path(_)) {
                    path.clone()
                } else {
                    join_key(&path, "path")
                };
                compile_path(file, &text, locator.value(&at), diagnostics)
                    .map(|q| Source::Path(q, text))
            }
            (None, Some(text)) => {
                let at = join_key(&path, "expr");
                let mut compiler = Compiler {
                    file,
                    locator,
                    diagnostics: &mut *diagnostics,
                    names: Names::new(
                        builtins
                            .iter()
                            .map(|s| (*s).to_owned())
                            .chain(path_names.iter().cloned())
                            .chain(computed_names.iter().cloned()),
                    ),
                    types: &mut *types,
                    reads: &mut *reads,
                };
                if all {
                    compiler.diagnostics.push(Diagnostic::at(
                        file,
                        locator.key(&join_key(&path, "all")),
                        "`all` only applies to `path`",
                    ));
                }
                compiler
                    .expr_at(&Value::String(text), &at)
                    .map(Source::Expr)
            }
            (Some(_), Some(_)) => {
                diagnostics.push(Diagnostic::at(
                    file,
                    key_pos,
                    format!("value `{name}` has both `path` and `expr`; keep one"),
                ));
                None
            }
            (None, None) => {
                diagnostics.push(Diagnostic::at(
                    file,
                    key_pos,
                    format!("value `{name}` needs a `path` or an `expr`"),
                ));
                None
            }
        };
        computed_names.push(name.clone());
        if let Some(source) = source {
            let pos = match &source {
                Source::Path(..) if matches!(value, ValueSpec::Full(_)) => {
                    locator.value(&join_key(&path, "path"))
                }
                Source::Path(..) => locator.value(&path),
                Source::Expr(e) => e.pos,
            };
            out.push(NamedValue {
                name: name.clone(),
                source,
                default,
                all,
                required,
                pos,
            });
        }
    }
    out
}

fn compile_path(
    file: &str,
    source: &str,
    pos: Pos,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<JsonPath> {
    match JsonPath::parse(source) {
        Ok(query) => Some(query),
        Err(e) => {
            let hint = if source.trim_start().starts_with('$') {
                String::new()
            } else {
                format!(
                    "; a JSONPath starts with `$`, e.g. `$.{}`",
                    source.trim_start_matches('.')
                )
            };
            diagnostics.push(Diagnostic::at(
                file,
                pos,
                format!("bad JSONPath `{source}`: {}{hint}", e.message()),
            ));
            None
        }
    }
}

fn compile_hook(
    section: &str,
    kind: ControllerKind,
    spec: &HookSpec,
    compiler: &mut Compiler,
    child_types: &mut Vec<(String, String)>,
) -> HookTemplates {
    let pos = compiler.locator.value(section);
    let allowed: &[&str] = match (kind, section) {
        (ControllerKind::Composite, "finalize") => {
            &["children", "status", "resyncAfterSeconds", "finalized"]
        }
        (ControllerKind::Composite, _) => &["children", "status", "resyncAfterSeconds"],
        (ControllerKind::Decorator, "finalize") => &[
            "labels",
            "annotations",
            "status",
            "attachments",
            "resyncAfterSeconds",
            "finalized",
        ],
        (ControllerKind::Decorator, _) => &[
            "labels",
            "annotations",
            "status",
            "attachments",
            "resyncAfterSeconds",
        ],
    };
    let fields: [(&str, &Option<Value>); 7] = [
        ("children", &spec.children),
        ("status", &spec.status),
        ("resyncAfterSeconds", &spec.resync_after_seconds),
        ("finalized", &spec.finalized),
        ("labels", &spec.labels),
        ("annotations", &spec.annotations),
        ("attachments", &spec.attachments),
    ];
    let mut t = HookTemplates {
        pos,
        ..HookTemplates::default()
    };
    for (key, value) in fields {
        let Some(value) = value else { continue };
        let path = join_key(section, key);
        if !allowed.contains(&key) {
            let kind_name = match kind {
                ControllerKind::Composite => "a composite",
                ControllerKind::Decorator => "a decorator",
            };
            compiler.diagnostics.push(Diagnostic::at(
                compiler.file,
                compiler.locator.key(&path),
                format!(
                    "`{key}` is not part of {kind_name} {section} response; allowed: {}",
                    allowed.join(", ")
                ),
            ));
            continue;
        }
        let nulls = if matches!(key, "labels" | "annotations") {
            NullPolicy::Keep
        } else {
            NullPolicy::Drop
        };
        if matches!(key, "children" | "attachments") {
            collect_child_types(value, child_types);
        }
        let node = compiler.node(value, &path, nulls);
        match key {
            "children" => t.children = Some(node),
            "status" => t.status = Some(node),
            "resyncAfterSeconds" => t.resync_after_seconds = Some(node),
            "finalized" => t.finalized = Some(node),
            "labels" => t.labels = Some(node),
            "annotations" => t.annotations = Some(node),
            _ => t.attachments = Some(node),
        }
    }
    t
}

/// Literal `apiVersion`/`kind` pairs of child templates, for generating controller manifests.
fn collect_child_types(value: &Value, out: &mut Vec<(String, String)>) {
    let Value::Array(items) = value else { return };
    for item in items {
        let template = item.get("$template").unwrap_or(item);
        let api = template.get("apiVersion").and_then(Value::as_str);
        let kind = template.get("kind").and_then(Value::as_str);
        if let (Some(api), Some(kind)) = (api, kind) {
            if !api.contains("{{") && !kind.contains("{{") {
                out.push((api.to_owned(), kind.to_owned()));
            }
        }
    }
}
