//! The answer to one call, from a render whose values are computed: written straight into
//! its bytes, checked on what was written, within the answer's size limit.

use crate::budget::Exceeded;
use crate::locate::Pos;
use crate::response::{self, Section};
use crate::rule::{HookError, Rule};
use crate::template::Render;
use crate::Limits;

impl Rule {
    /// The answer's bytes.
    ///
    /// # Errors
    ///
    /// When a template fails, a field is not what Metacontroller reads, or the answer is
    /// longer than [`Limits::max_output_bytes`].
    pub(crate) fn answer_bytes(
        &self,
        section: Section<'_>,
        render: &mut Render,
        limits: &Limits,
    ) -> Result<Vec<u8>, HookError> {
        let body = match section {
            Section::Customize(node, pos) => response::customize(node, pos, render),
            Section::Hook(templates, finalize) => {
                response::written(self.kind, templates, finalize, render)
            }
        }
        .map_err(|f| self.failed(f))?;
        if body.len() > limits.max_output_bytes {
            let limit = limits.max_output_bytes;
            return Err(self.fail(
                Pos { line: 1, column: 1 },
                Exceeded::Bytes { limit }.message(),
            ));
        }
        Ok(body)
    }
}
