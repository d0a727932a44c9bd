//! What rules may take: their share of the memory limit, measured as each compiles.

use rulehook_engine::{CompileGuard, Diagnostic, Rule};

use crate::budget::allocation;
use crate::budget::memory::{Budgets, DEFAULT_MEMORY_LIMIT};

/// What rules may take: their share of the memory limit, and the largest rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleLimits {
    /// What every served rule's compiled form may take together.
    pub memory: usize,
    /// The largest rule file that is read at all: compiling takes up to ~60 times a file's
    /// size on the way, before the share is checked.
    pub max_file_bytes: usize,
}

impl RuleLimits {
    pub fn for_memory(memory_limit: usize) -> RuleLimits {
        let budgets = Budgets::derive(memory_limit);
        RuleLimits {
            memory: budgets.rules,
            max_file_bytes: budgets.max_rule_file,
        }
    }
}

impl Default for RuleLimits {
    fn default() -> Self {
        RuleLimits::for_memory(DEFAULT_MEMORY_LIMIT)
    }
}

/// Stops a compile once what it holds passes what the rules' share has left for it.
pub(super) struct Allowance {
    pub(super) bytes: usize,
    pub(super) share: usize,
}

impl CompileGuard for Allowance {
    fn stop(&self) -> Option<String> {
        let held = allocation::held_now()?;
        (held > self.bytes).then(|| self.message(held))
    }
}

impl Allowance {
    pub(super) fn message(&self, held: usize) -> String {
        format!(
            "the rule needs more than {held} bytes to compile, and the rules' share of memory ({} bytes, memory limit / 8) has {} left beside the other rules; make it smaller, split it, or raise --memory-limit",
            self.share, self.bytes
        )
    }
}

/// Why a file's content does not serve.
pub(super) struct Refused {
    pub(super) errors: Vec<Diagnostic>,
    /// It did not fit in what the rules' share had left; the content itself may be fine.
    pub(super) for_memory: bool,
}

/// Compiles `text` counting what it allocates, stopped by `allowance` between templates and
/// refused when what it held at any moment passes it. Returns the rule and the bytes it
/// keeps.
pub(super) fn compile_within(
    file: &str,
    text: &str,
    libraries: &rulehook_engine::LibrarySet,
    allowance: &Allowance,
) -> Result<(Rule, usize), Refused> {
    let (compiled, measured) =
        allocation::measure(|| Rule::compile_guarded_with(file, text, Some(libraries), allowance));
    let over = measured.peak > allowance.bytes;
    match compiled {
        Ok(rule) if !over => Ok((rule, measured.kept)),
        Ok(_) => Err(Refused {
            errors: vec![Diagnostic::new(
                file,
                1,
                1,
                allowance.message(measured.peak),
            )],
            for_memory: true,
        }),
        Err(errors) => Err(Refused {
            errors,
            for_memory: over,
        }),
    }
}
