//! The request editor's text as the JSON body Metacontroller would send: a hook request as
//! it is, or `kubectl get -o yaml` objects built into one as `rulehook fixture` builds it.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::{reserve, Input, Note, Severity, Source, Stop, OBJECT_BYTES_PER_TEXT_BYTE};
use crate::offline::fixture::{self, objects, Options, Parts};
use rulehook_engine::Rule;

/// What the request editor's text is called in messages.
const REQUEST_FILE: &str = "request";

/// What the top of a JSON text says it is, read without building it.
#[derive(Deserialize)]
struct Shape {
    parent: Option<serde::de::IgnoredAny>,
    object: Option<serde::de::IgnoredAny>,
}

/// The request as the JSON body Metacontroller would send, and notes on how it was built.
pub(super) fn request_body<'a>(
    input: &Input<'a>,
    rule: &Rule,
) -> Result<(Cow<'a, [u8]>, Vec<Note>), Stop> {
    let text = input.request;
    if text.trim_start().starts_with('{') {
        let shape: Shape = serde_json::from_str(text).map_err(|e| {
            Stop::Note(Note::error(
                Source::Request,
                e.line(),
                e.column(),
                format!("not JSON: {e}"),
            ))
        })?;
        if shape.parent.is_some() || shape.object.is_some() {
            return Ok((Cow::Borrowed(text.as_bytes()), Vec::new()));
        }
    }
    reserve(input, text.len().saturating_mul(OBJECT_BYTES_PER_TEXT_BYTE))?;
    let documents = documents(text)?;
    let first = documents.iter().find(|d| !d.is_null());
    if first.is_some_and(|d| d.get("parent").is_some() || d.get("object").is_some()) {
        if documents.len() > 1 {
            return Err(Stop::Note(Note::request(
                "a hook request is one document; remove the others",
            )));
        }
        let body = serde_json::to_vec(first.unwrap_or(&Value::Null))
            .map_err(|e| Stop::Note(Note::request(e.to_string())))?;
        return Ok((Cow::Owned(body), Vec::new()));
    }
    from_objects(input, rule, documents)
}

/// Every YAML document in `text` (JSON is YAML too).
fn documents(text: &str) -> Result<Vec<Value>, Stop> {
    let parsed: Result<Vec<Value>, _> = serde_yaml_ng::Deserializer::from_str(text)
        .map(Value::deserialize)
        .collect();
    parsed.map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        Stop::Note(Note::error(
            Source::Request,
            line,
            column,
            format!("neither a hook request nor kubectl objects: {e}"),
        ))
    })
}

/// The request Metacontroller would send for kubectl objects: the first is the parent, the
/// rest its children, as `rulehook fixture` builds it.
fn from_objects<'a>(
    input: &Input<'a>,
    rule: &Rule,
    documents: Vec<Value>,
) -> Result<(Cow<'a, [u8]>, Vec<Note>), Stop> {
    let failed = |e: fixture::FixtureError| Stop::Note(Note::request(e.to_string()));
    let mut objects = objects::from_documents(REQUEST_FILE, documents)
        .map_err(failed)?
        .into_iter();
    let Some(parent) = objects.next() else {
        return Err(Stop::Note(Note::request(
            "no request: paste a hook request, or the parent and its children as `kubectl get -o yaml` prints them",
        )));
    };
    let parts = Parts {
        controller: None,
        parent,
        children: objects.collect(),
        related: Vec::new(),
    };
    let options = Options {
        hook: input.hook,
        finalizing: false,
        hook_version: None,
    };
    let built = fixture::from_objects(rule, options, parts).map_err(failed)?;
    let notes = built
        .notes
        .into_iter()
        .map(|n| Note {
            severity: Severity::Warning,
            ..Note::request(n.trim_start_matches("note: "))
        })
        .collect();
    let body =
        serde_json::to_vec(&built.request).map_err(|e| Stop::Note(Note::request(e.to_string())))?;
    Ok((Cow::Owned(body), notes))
}
