//! One try of a rule being written (the playground): the rule's text and a request's text
//! in; the answer, the values, what changed against the saved rule, and every problem at its
//! line and column out. Pure: the caller reads the clock and the saved rules, and hands in
//! the limits and the memory guard every step is charged to.
//!
//! A rule or request that fails is not an error here but a [`Note`]: the person writing the
//! rule wants to see why, where, while they type. Only the guard stops a try (memory refused,
//! or the deadline passed: [`Stopped`]), for the caller to answer as the server would.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde_json::{Map, Value};

mod request_text;
#[cfg(test)]
mod tests;

use crate::offline::diff::{compare_in, AnswerDiff};
use request_text::request_body;
use rulehook_engine::metacontroller::Subject;
use rulehook_engine::{Hook, HookError, Limits, Now, ReadError, RenderGuard, Rule};

/// The label rule diagnostics carry; the page shows only their lines and columns.
const RULE_FILE: &str = "edited.yaml";

/// Compiling takes up to ~60 times a rule file's size on the way (as the rules' share
/// assumes, `budget::memory`): reserved before the compile starts.
const COMPILE_BYTES_PER_TEXT_BYTE: usize = 60;

/// A YAML or kubectl text parsed into values takes up to ~16 times its size (maps of short
/// keys), plus the request built from it: reserved before parsing.
pub(super) const OBJECT_BYTES_PER_TEXT_BYTE: usize = 16;

/// Reading an answer's bytes back into a value takes up to ~4 times their size.
const VALUE_BYTES_PER_ANSWER_BYTE: usize = 4;

/// What to try.
pub struct Input<'a> {
    pub rule: &'a str,
    /// A hook request (JSON or YAML), or `kubectl get -o yaml` objects: the parent first,
    /// then its children.
    pub request: &'a str,
    pub hook: Hook,
    /// The time templates see as `now`.
    pub now: Option<&'a Now>,
    /// The engine's limits, with the guard every render and parse is charged to.
    pub limits: &'a Limits,
    /// The largest rule text, as for a rule file.
    pub max_rule_bytes: usize,
    /// The saved rule of a name, whose answer the edited rule's is compared with.
    pub saved: &'a dyn Fn(&str) -> Option<&'a Rule>,
}

/// The answer to one try: the JSON `POST /api/render` returns.
#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    /// The hook response, or `null` when the rule or the request failed.
    pub answer: Option<Value>,
    /// Every value of the rule for this request, as `rulehook render --values` prints them.
    pub values: Map<String, Value>,
    /// Against the saved rule of the same name, if there is one and it answers.
    pub diff: Option<AnswerDiff>,
    pub diagnostics: Vec<Note>,
}

/// One problem, at its line and column of the rule or of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub source: Source,
    pub line: usize,
    pub column: usize,
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Rule,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Note {
    pub(super) fn error(
        source: Source,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Note {
        Note {
            source,
            line: line.max(1),
            column: column.max(1),
            severity: Severity::Error,
            message: message.into(),
        }
    }

    /// A problem with the request as a whole, which has no better place than its start.
    pub(super) fn request(message: impl Into<String>) -> Note {
        Note::error(Source::Request, 1, 1, message)
    }
}

/// The guard stopped the try: it refused memory, or was cancelled at its deadline. The
/// caller answers as the server would (503, 413 or the render timeout).
#[derive(Debug)]
pub struct Stopped;

/// A step that either goes on, or ends the try with the outcome so far.
pub(super) enum Stop {
    Stopped,
    /// A problem to show; nothing after it can be tried.
    Note(Note),
}

impl From<Stopped> for Stop {
    fn from(_: Stopped) -> Stop {
        Stop::Stopped
    }
}

/// Tries `input`.
///
/// # Errors
///
/// [`Stopped`] when the guard refused memory or was cancelled; every other failure is a
/// note.
pub fn run(input: &Input<'_>) -> Result<Outcome, Stopped> {
    let mut outcome = Outcome::default();
    let rule = match compile(input) {
        Ok(Ok(rule)) => rule,
        Ok(Err(notes)) => {
            outcome.diagnostics = notes;
            return Ok(outcome);
        }
        Err(refused) => return Err(refused),
    };
    outcome
        .diagnostics
        .extend(rule.warnings.iter().map(|w| Note {
            source: Source::Rule,
            line: w.line,
            column: w.column,
            severity: Severity::Warning,
            message: w.message.clone(),
        }));
    match try_rule(input, &rule, &mut outcome, true) {
        Ok(()) => Ok(outcome),
        Err(Stop::Stopped) => Err(Stopped),
        Err(Stop::Note(note)) => {
            outcome.diagnostics.push(note);
            Ok(outcome)
        }
    }
}

/// Tries the request of `input` on the saved rule named by `input.rule`, as `serve --ui`
/// shows a loaded rule's answer: nothing is compiled, and there is no diff.
///
/// # Errors
///
/// [`Stopped`] when the guard refused memory or was cancelled.
pub fn run_saved(input: &Input<'_>) -> Result<Outcome, Stopped> {
    let mut outcome = Outcome::default();
    let Some(rule) = (input.saved)(input.rule) else {
        let name = rulehook_engine::clip(input.rule);
        let note = Note::error(
            Source::Rule,
            1,
            1,
            format!("no rule named `{name}` is loaded"),
        );
        outcome.diagnostics.push(note);
        return Ok(outcome);
    };
    match try_rule(input, rule, &mut outcome, false) {
        Ok(()) => Ok(outcome),
        Err(Stop::Stopped) => Err(Stopped),
        Err(Stop::Note(note)) => {
            outcome.diagnostics.push(note);
            Ok(outcome)
        }
    }
}

/// The hook request the request text stands for, as the page writes it into a test case.
#[derive(Debug, Default, Serialize)]
pub struct Built {
    /// `null` when the rule or the request has an error.
    pub request: Option<Value>,
    pub diagnostics: Vec<Note>,
}

/// The request `input`'s text stands for: itself when it is a hook request, else the one
/// built from its objects for the rule (which must compile for that).
///
/// # Errors
///
/// [`Stopped`] when the guard refused memory.
pub fn request(input: &Input<'_>) -> Result<Built, Stopped> {
    let rule = match compile(input)? {
        Ok(rule) => rule,
        Err(diagnostics) => {
            return Ok(Built {
                request: None,
                diagnostics,
            })
        }
    };
    let built = request_body(input, &rule).and_then(|(body, notes)| {
        reserve(
            input,
            body.len().saturating_mul(VALUE_BYTES_PER_ANSWER_BYTE),
        )?;
        serde_json::from_slice(&body)
            .map(|request| (request, notes))
            .map_err(|e| Stop::Note(Note::request(format!("malformed JSON: {e}"))))
    });
    match built {
        Ok((request, diagnostics)) => Ok(Built {
            request: Some(request),
            diagnostics,
        }),
        Err(Stop::Stopped) => Err(Stopped),
        Err(Stop::Note(note)) => Ok(Built {
            request: None,
            diagnostics: vec![note],
        }),
    }
}

/// The compiled rule, or every problem of its text.
fn compile(input: &Input<'_>) -> Result<Result<Rule, Vec<Note>>, Stopped> {
    if input.rule.len() > input.max_rule_bytes {
        let note = Note::error(
            Source::Rule,
            1,
            1,
            format!(
                "the rule is {} bytes; a rule file may have at most {}, so split it",
                input.rule.len(),
                input.max_rule_bytes
            ),
        );
        return Ok(Err(vec![note]));
    }
    reserve(
        input,
        input.rule.len().saturating_mul(COMPILE_BYTES_PER_TEXT_BYTE),
    )?;
    Ok(Rule::compile(RULE_FILE, input.rule).map_err(|diagnostics| {
        diagnostics
            .into_iter()
            .map(|d| Note::error(Source::Rule, d.line, d.column, d.message))
            .collect()
    }))
}

/// Renders `rule` on the request into `outcome`; with `compare`, diffs its answer with the
/// saved rule of its name.
fn try_rule(
    input: &Input<'_>,
    rule: &Rule,
    outcome: &mut Outcome,
    compare: bool,
) -> Result<(), Stop> {
    let (body, notes) = request_body(input, rule)?;
    outcome.diagnostics.extend(notes);
    let (request, charged) = parse(input, rule, &body)?;
    // Evaluating the values reads a copy of the request, which it writes out (at most the
    // body) and reads again (as much as the parse kept).
    reserve(input, body.len().saturating_add(charged.saturating_mul(2)))?;
    outcome.values = values(input, rule, request.clone())?;
    let answer = answer(input, rule, request)?;
    if let Some(saved) = compare.then(|| (input.saved)(&rule.name)).flatten() {
        let (edited, notes) = (rule, &mut outcome.diagnostics);
        outcome.diff = compare_with_saved(input, edited, saved, &body, &answer, notes)?;
    }
    outcome.answer = Some(answer);
    Ok(())
}

/// The request as `rule` reads it, charged to the guard as the server charges it, and what
/// it was charged.
fn parse(input: &Input<'_>, rule: &Rule, body: &[u8]) -> Result<(Value, usize), Stop> {
    let guard = Counted {
        inner: match &input.limits.guard {
            Some(guard) => guard.as_ref(),
            None => &Unguarded,
        },
        granted: AtomicUsize::new(0),
    };
    let parsed = rule.parse_request_within(body, &guard);
    let charged = guard.granted.load(Ordering::Relaxed);
    parsed.map(|value| (value, charged)).map_err(|e| match e {
        ReadError::Malformed(e) => Stop::Note(Note::error(
            Source::Request,
            e.line(),
            e.column(),
            format!("malformed JSON: {e}"),
        )),
        ReadError::Refused { .. } => Stop::Stopped,
    })
}

/// The rule's values, as `render --values` prints them; missing ones as `~missing`.
fn values(input: &Input<'_>, rule: &Rule, request: Value) -> Result<Map<String, Value>, Stop> {
    let values = rule
        .evaluate_values(input.hook, request, input.now, input.limits)
        .map_err(|e| stop(input, rule, e))?;
    Ok(values
        .into_iter()
        .map(|(name, value)| (name, value.unwrap_or_else(|| Value::from("~missing"))))
        .collect())
}

/// The hook response, read back as a value.
fn answer(input: &Input<'_>, rule: &Rule, mut request: Value) -> Result<Value, Stop> {
    let body = rule
        .render_body_at(input.hook, &mut request, input.now, input.limits)
        .map_err(|e| stop(input, rule, e))?;
    drop(request);
    reserve(
        input,
        body.len().saturating_mul(VALUE_BYTES_PER_ANSWER_BYTE),
    )?;
    serde_json::from_slice(&body).map_err(|e| {
        Stop::Note(Note::error(
            Source::Rule,
            1,
            1,
            format!("the answer cannot be read back: {e}"),
        ))
    })
}

/// What the edited rule's answer changes against the saved rule's. A saved rule that fails
/// on this request has nothing to compare with: a warning at the edited rule's name says
/// why.
fn compare_with_saved(
    input: &Input<'_>,
    edited: &Rule,
    saved: &Rule,
    body: &[u8],
    answer: &Value,
    notes: &mut Vec<Note>,
) -> Result<Option<AnswerDiff>, Stop> {
    let saved_answer = parse(input, saved, body).and_then(|(request, _)| {
        let subject = Subject::of(&request);
        self::answer(input, saved, request).map(|a| (a, subject))
    });
    match saved_answer {
        Ok((old, subject)) => Ok(Some(compare_in(&subject.namespace, &old, answer))),
        Err(Stop::Stopped) => Err(Stop::Stopped),
        Err(Stop::Note(note)) => {
            notes.push(Note {
                severity: Severity::Warning,
                message: format!(
                    "no diff: the saved rule `{}` fails on this request: {}",
                    saved.name, note.message
                ),
                ..Note::error(
                    Source::Rule,
                    edited.name_pos.line,
                    edited.name_pos.column,
                    "",
                )
            });
            Ok(None)
        }
    }
}

/// Where a failed render is shown: a render error at its place in the rule, a request of
/// the wrong shape at the request's start.
fn stop(input: &Input<'_>, rule: &Rule, error: HookError) -> Stop {
    match error {
        HookError::Render { pos, message, .. } => {
            Stop::Note(Note::error(Source::Rule, pos.line, pos.column, message))
        }
        // Only a guard stops a render: memory refused, or its deadline passed.
        HookError::Interrupted { .. } => Stop::Stopped,
        HookError::BadRequest(e) => Stop::Note(Note::request(format!("bad request: {e}"))),
        e @ HookError::NoHook { .. } => Stop::Note(Note::error(
            Source::Rule,
            rule.name_pos.line,
            rule.name_pos.column,
            format!("{e}; add a `{}:` section or pick another hook", input.hook),
        )),
    }
}

/// Reserves `bytes` from the guard before they are spent.
pub(super) fn reserve(input: &Input<'_>, bytes: usize) -> Result<(), Stopped> {
    match &input.limits.guard {
        Some(guard) if !guard.reserve(bytes) => Err(Stopped),
        _ => Ok(()),
    }
}

/// The caller's guard, counting what it grants.
#[derive(Debug)]
struct Counted<'a> {
    inner: &'a dyn RenderGuard,
    granted: AtomicUsize,
}

impl RenderGuard for Counted<'_> {
    fn reserve(&self, bytes: usize) -> bool {
        let granted = self.inner.reserve(bytes);
        if granted {
            self.granted.fetch_add(bytes, Ordering::Relaxed);
        }
        granted
    }

    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

/// The guard of a try nothing bounds (unit tests).
#[derive(Debug)]
struct Unguarded;

impl RenderGuard for Unguarded {
    fn reserve(&self, _: usize) -> bool {
        true
    }

    fn cancelled(&self) -> bool {
        false
    }
}
