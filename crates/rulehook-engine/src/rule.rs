//! A compiled [`Rule`], and one render of it against one request: the values evaluated in
//! order, then the hook's templates (see [`response`](crate::response)).
//!
//! After compiling (`compile.rs`), a render can fail only because of the
//! request (a missing value, a limit), never because of the rule's own text.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use crate::budget;
use crate::diagnostic::Diagnostic;
use crate::locate::Pos;
use crate::metacontroller::{self as mc, ControllerKind, Hook, HookVersion};
use crate::now::{Now, NOW};
use crate::request::{self, Reads};
use crate::required;
use crate::response::{HookTemplates, Section};
use crate::template::{Expr, Failure, Node, Render};
use crate::Limits;

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
    /// Likely mistakes that do not stop the rule from loading, for `check` to show: a
    /// template reading a type of object the rule neither creates nor declares.
    pub warnings: Vec<Diagnostic>,
    /// The library definitions its own templates use, as (library, name): what tells a
    /// directory's unused definitions apart.
    pub library_uses: BTreeSet<(String, String)>,
    pub(crate) values: Vec<NamedValue>,
    pub(crate) sync: Option<HookTemplates>,
    pub(crate) finalize: Option<HookTemplates>,
    /// The customize templates and where they stand in the file.
    pub(crate) customize: Option<(Node, Pos)>,
    pub(crate) types: BTreeSet<(String, String)>,
    /// What of a request the rule reads, with who the call is about.
    pub(crate) reads: Reads,
    /// What of a request the rule reads for its answer alone.
    pub(crate) answer_reads: Reads,
    /// The patterns its templates write literally, compiled at load.
    pub(crate) patterns: Option<std::sync::Arc<crate::pattern::RulePatterns>>,
}

#[derive(Debug)]
pub(crate) struct NamedValue {
    pub(crate) name: String,
    pub(crate) source: Source,
    pub(crate) default: Option<Value>,
    pub(crate) all: bool,
    pub(crate) required: bool,
    pub(crate) pos: Pos,
}

#[derive(Debug)]
pub(crate) enum Source {
    /// A JSONPath query over the request, its text for messages, how its cost grows, and
    /// its member names when it is nothing else (`$.parent.spec.who`), which are looked up
    /// directly.
    Path(
        JsonPath,
        String,
        crate::query_cost::QueryCost,
        Option<Box<[String]>>,
    ),
    /// A whole expression over earlier values.
    Expr(Expr),
    /// A template over earlier values, with everything a response template has.
    Template(Node),
}

/// Why a hook call did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The request does not have the shape of this hook's request.
    #[error(transparent)]
    BadRequest(#[from] crate::request::BadRequest),
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

impl Rule {
    /// Parses a hook request body, building JSON values only for the parts this rule reads
    /// (the rest is checked for syntax and skipped).
    ///
    /// # Errors
    ///
    /// When the body is not JSON, or a part the rule reads nests 128 levels deep or more.
    pub fn parse_request(&self, body: &[u8]) -> Result<Value, serde_json::Error> {
        request::parse(body, &self.reads)
    }

    /// As [`Rule::parse_request`], asking `guard` for the memory of what it builds before
    /// building it: a request is charged what its parse keeps, which for most rules is a
    /// small part of its body.
    ///
    /// # Errors
    ///
    /// [`ReadError::Malformed`] as [`Rule::parse_request`]; [`ReadError::Refused`] when
    /// the guard refuses memory or has cancelled the request.
    pub fn parse_request_within(
        &self,
        body: &[u8],
        guard: &dyn crate::RenderGuard,
    ) -> Result<Value, crate::ReadError> {
        request::parse_within(body, &self.reads, Some(guard))
    }

    /// As [`Rule::parse_request`], building only what the answer needs, as
    /// [`Rule::parse_answer_reads_within`] does.
    ///
    /// # Errors
    ///
    /// As [`Rule::parse_request`].
    pub fn parse_answer_reads(&self, body: &[u8]) -> Result<Value, serde_json::Error> {
        request::parse(body, &self.answer_reads)
    }

    /// As [`Rule::parse_request_within`], building only what the answer needs: the fields
    /// [`Subject::of`](crate::metacontroller::Subject::of) reads are left out unless the
    /// rule reads them itself. The answer is the same; a light call is a tenth cheaper.
    ///
    /// # Errors
    ///
    /// As [`Rule::parse_request_within`].
    pub fn parse_answer_reads_within(
        &self,
        body: &[u8],
        guard: &dyn crate::RenderGuard,
    ) -> Result<Value, crate::ReadError> {
        request::parse_within(body, &self.answer_reads, Some(guard))
    }

    /// Reads a request that is already a JSON value exactly as [`Rule::parse_request`]
    /// reads a body, keeping only what this rule reads: how tools that build requests
    /// themselves (tests, fixtures, diffs) render them as the server would.
    ///
    /// # Errors
    ///
    /// When the request nests deeper than 128 levels, which no body the server accepts does.
    pub fn read_request(&self, request: &Value) -> Result<Value, serde_json::Error> {
        self.parse_request(&serde_json::to_vec(request)?)
    }

    fn reread(&self, request: &Value) -> Result<Value, HookError> {
        self.read_request(request)
            .map_err(|e| HookError::BadRequest(request::BadRequest::NotJson(e.to_string())))
    }

    /// Whether a call to `hook` can be answered. A sync call can be while the rule has a
    /// finalize section only: Metacontroller sends sync with `finalizing: true` then.
    pub fn answers(&self, hook: Hook) -> bool {
        match hook {
            Hook::Sync => self.sync.is_some() || self.finalize.is_some(),
            Hook::Finalize => self.finalize.is_some(),
            Hook::Customize => self.customize.is_some(),
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

    /// Renders the response to one hook request, read as [`Rule::read_request`] reads it:
    /// the answer [`Rule::render_body`] writes, read back as a value, for tools and tests
    /// that look into it.
    ///
    /// # Errors
    ///
    /// [`HookError::BadRequest`] when the request has the wrong shape, [`HookError::NoHook`]
    /// when the rule lacks the hook, [`HookError::Render`] when the rule fails on this
    /// request (with the rule's file and line), and [`HookError::Interrupted`] when the
    /// caller's [`RenderGuard`](crate::RenderGuard) stopped it. Also a render error when the
    /// answer is over [`Limits::max_output_bytes`], or nests deeper than the 128 levels
    /// serde_json reads back.
    ///
    /// # Guarantees
    ///
    /// A successful response never holds a partial result: any failure fails the whole call.
    /// It holds no `null`, except in a decorator's labels and annotations.
    pub fn render(&self, hook: Hook, request: Value, limits: &Limits) -> Result<Value, HookError> {
        self.render_at(hook, request, None, limits)
    }

    /// As [`Rule::render`], with templates seeing `now` as the given time (without one,
    /// `now` is missing).
    ///
    /// # Errors
    ///
    /// As [`Rule::render`].
    pub fn render_at(
        &self,
        hook: Hook,
        request: Value,
        now: Option<&Now>,
        limits: &Limits,
    ) -> Result<Value, HookError> {
        let mut request = self.reread(&request)?;
        let body = self.render_body_at(hook, &mut request, now, limits)?;
        serde_json::from_slice(&body).map_err(|e| {
            self.fail(
                Pos { line: 1, column: 1 },
                format!("the answer cannot be read back: {e}"),
            )
        })
    }

    /// Renders the response to a request from [`Rule::parse_request`] (or
    /// [`Rule::read_request`]) and encodes it as the JSON body to send, within
    /// [`Limits::max_output_bytes`].
    ///
    /// The request is moved into the render rather than copied, and what is left of it stays
    /// in `request` afterwards: freeing a large request takes about as long as rendering it,
    /// so the caller chooses where that cost is paid (a server, after the answer is sent).
    ///
    /// # Errors
    ///
    /// As [`Rule::render`], plus a render error when the body would exceed the limit.
    pub fn render_body(
        &self,
        hook: Hook,
        request: &mut Value,
        limits: &Limits,
    ) -> Result<Vec<u8>, HookError> {
        self.render_body_at(hook, request, None, limits)
    }

    /// As [`Rule::render_body`], with templates seeing `now` as the given time.
    ///
    /// # Errors
    ///
    /// As [`Rule::render_body`].
    pub fn render_body_at(
        &self,
        hook: Hook,
        request: &mut Value,
        now: Option<&Now>,
        limits: &Limits,
    ) -> Result<Vec<u8>, HookError> {
        let _render = self.start_render(limits);
        self.render_inner(hook, request, now, limits, |section, render| {
            self.answer_bytes(section, render, limits)
        })
        .map_err(|e| self.stopped_or(e))
    }

    /// What every value of the rule evaluates to for this request, in file order: the
    /// rule's `print()`, for finding out why a template sees what it sees. `None` is a
    /// missing value. Values are evaluated exactly as a render evaluates them.
    ///
    /// # Errors
    ///
    /// As [`Rule::render`], for the values alone.
    pub fn evaluate_values(
        &self,
        hook: Hook,
        request: Value,
        now: Option<&Now>,
        limits: &Limits,
    ) -> Result<Vec<(String, Option<Value>)>, HookError> {
        let request = self.reread(&request)?;
        let _render = self.start_render(limits);
        let shape = mc::request_shape(self.kind, hook);
        request::check_shape(&request, &shape).map_err(HookError::BadRequest)?;
        let mut scope = Map::new();
        self.evaluate_path_values(&request, &mut scope)?;
        request::into_scope(request, &shape, &self.types, &mut scope);
        insert_now(&mut scope, now);
        let mut render = Render::new(scope, limits);
        self.compute_values(&mut render)
            .map_err(|e| self.stopped_or(e))?;
        let Value::Object(mut scope) = render.into_data() else {
            return Ok(Vec::new());
        };
        Ok(self
            .values
            .iter()
            .map(|v| (v.name.clone(), scope.remove(&v.name)))
            .collect())
    }

    /// Whether any template or computed value reads `now`: its answers then differ from one
    /// call to the next, so they must not be kept and sent again, and a test must pin the
    /// time.
    pub fn reads_now(&self) -> bool {
        self.reads.now
    }

    /// What lasts exactly as long as one render on this thread: its meter, and its table of
    /// patterns with their matching caches.
    fn start_render(
        &self,
        limits: &Limits,
    ) -> (
        budget::Installed,
        crate::pattern::Installed,
        required::Installed,
    ) {
        (
            budget::install(limits),
            crate::pattern::install(self.patterns.clone()),
            required::install(),
        )
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

    /// Renders `request` with `answer`, leaving in its place the scope it was moved into.
    fn render_inner<T>(
        &self,
        hook: Hook,
        request: &mut Value,
        now: Option<&Now>,
        limits: &Limits,
        answer: impl FnOnce(Section<'_>, &mut Render) -> Result<T, HookError>,
    ) -> Result<T, HookError> {
        let shape = mc::request_shape(self.kind, hook);
        request::check_shape(request, &shape).map_err(HookError::BadRequest)?;

        let mut scope = Map::new();
        self.evaluate_path_values(request, &mut scope)?;
        let section = if hook == Hook::Customize {
            let (node, pos) = self.customize.as_ref().ok_or_else(|| self.no_hook(hook))?;
            Section::Customize(node, *pos)
        } else {
            let finalizing = matches!(request.get(mc::FINALIZING), Some(Value::Bool(true)));
            let (templates, finalize) = match hook {
                Hook::Finalize => (self.finalize.as_ref(), true),
                _ if finalizing && self.finalize.is_some() => (self.finalize.as_ref(), true),
                _ => (self.sync.as_ref(), false),
            };
            Section::Hook(templates.ok_or_else(|| self.no_hook(hook))?, finalize)
        };
        request::into_scope(std::mem::take(request), &shape, &self.types, &mut scope);
        insert_now(&mut scope, now);
        let mut render = Render::new(scope, limits);
        let result = self
            .compute_values(&mut render)
            .and_then(|()| answer(section, &mut render));
        *request = render.into_data();
        result
    }

    fn no_hook(&self, hook: Hook) -> HookError {
        HookError::NoHook {
            rule: self.name.clone(),
            hook,
        }
    }

    pub(crate) fn fail(&self, pos: Pos, message: String) -> HookError {
        HookError::Render {
            rule: self.name.clone(),
            file: self.file.clone(),
            pos,
            message,
        }
    }

    /// A template's failure; reading a missing required value is reported as the value's.
    pub(crate) fn failed(&self, failure: Failure) -> HookError {
        match required::take_hit() {
            Some((pos, message)) => self.fail(pos, message),
            None => self.fail(failure.pos, failure.message),
        }
    }
}

/// Templates see the time as a string, when the caller gave one.
fn insert_now(scope: &mut Map<String, Value>, now: Option<&Now>) {
    if let Some(now) = now {
        scope.insert(NOW.to_owned(), Value::String(now.as_str().to_owned()));
    }
}
