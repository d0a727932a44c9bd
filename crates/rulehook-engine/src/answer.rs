//! The answer to one call, from a render whose values are computed: written straight into
//! its bytes, or built as a value (for the customize hook, for failures, and for
//! [`Rule::render`], which returns one).

use serde_json::Value;

use crate::budget;
use crate::locate::Pos;
use crate::metacontroller::ControllerKind;
use crate::response::{self, Section};
use crate::rule::{HookError, Rule};
use crate::template::Render;
use crate::Limits;

impl Rule {
    /// The answer built as a value.
    pub(crate) fn answer_value(
        &self,
        section: Section<'_>,
        render: &mut Render,
    ) -> Result<Value, HookError> {
        match section {
            Section::Customize(node, pos) => response::customize(node, pos, render),
            Section::Hook(templates, finalize) => match self.kind {
                ControllerKind::Composite => response::composite(templates, finalize, render),
                ControllerKind::Decorator => response::decorator(templates, finalize, render),
            },
        }
        .map_err(|f| self.failed(f))
    }

    /// The answer written straight into its bytes. The customize hook's answer, which is
    /// rare and small, is built as a value and encoded; so is the answer to a call the
    /// writer failed on, whose message must be the one building the answer gives, under a
    /// fresh meter so that the first attempt's charges do not count twice.
    pub(crate) fn answer_bytes(
        &self,
        section: Section<'_>,
        render: &mut Render,
        limits: &Limits,
    ) -> Result<Vec<u8>, HookError> {
        let Section::Hook(templates, finalize) = section else {
            let built = self.answer_value(section, render)?;
            return self.encode(&built, limits);
        };
        let steps = render.steps();
        match response::written(self.kind, templates, finalize, render) {
            Ok(body) if body.len() <= limits.max_output_bytes => return Ok(body),
            // Stopped, or past a limit of its own: trying again would end the same way,
            // after as long again.
            Err(failure) if budget::interrupted() || budget::limit_reached() => {
                return Err(self.failed(failure))
            }
            _ => {}
        }
        render.set_steps(steps);
        let _fresh = budget::install(limits);
        let built = self.answer_value(section, render)?;
        self.encode(&built, limits)
    }

    /// In the engine's own tests, every answer built as a value is also written as bytes,
    /// which must be that value's encoding exactly.
    #[cfg(test)]
    pub(crate) fn written_as_built(
        &self,
        built: &Value,
        section: Section<'_>,
        render: &mut Render,
        steps: u64,
        limits: &Limits,
    ) {
        let Section::Hook(templates, finalize) = section else {
            return;
        };
        let after = render.steps();
        render.set_steps(steps);
        let _fresh = budget::install(limits);
        let written = response::written(self.kind, templates, finalize, render);
        render.set_steps(after);
        let encoded = serde_json::to_vec(built).expect("a value encodes");
        match written {
            Ok(written) => assert!(
                written == encoded,
                "written and built answers differ:\nwritten: {}\nbuilt:   {}",
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&encoded)
            ),
            Err(failure) => panic!("the built answer {built} could not be written: {failure:?}"),
        }
    }

    /// Encodes the answer, charging each piece to the render's budget before it is kept.
    pub(crate) fn encode(&self, response: &Value, limits: &Limits) -> Result<Vec<u8>, HookError> {
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
}
