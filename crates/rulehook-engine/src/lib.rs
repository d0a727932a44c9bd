//! The pure rule engine: rule text in, compiled rule out; request JSON in, response JSON out.
//!
//! Nothing here touches the file system, the network, the clock or actix. The server, the
//! watcher and the CLI are thin shells around [`Rule::compile`] and [`Rule::render`].
//!
//! The pipeline is: [`spec`] (the file as written) → [`rule`] (compiled once: JSONPaths
//! parsed, templates parsed and checked) → [`Rule::render`] (per request).

mod budget;
pub mod case;
pub mod clip;
mod compile;
pub mod diagnostic;
mod helpers;
mod json;
pub mod locate;
pub mod metacontroller;
mod request;
mod response;
mod rule;
pub mod schema;
mod spec;
mod template;

#[cfg(test)]
mod tests;

pub use compile::is_rule_name;
pub use diagnostic::Diagnostic;
pub use metacontroller::{ControllerKind, Hook, HookVersion};
pub use request::BadRequest;
pub use rule::{HookError, Rule};

/// Bounds on the work one render may do, so a hostile parent cannot exhaust the server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most items one `$forEach` may produce.
    pub max_loop_items: usize,
    /// Largest response body, in bytes.
    pub max_output_bytes: usize,
    /// Most template evaluations in one render. Bounds nested loops whose items are all
    /// filtered out, which the output size alone would not catch.
    pub max_steps: u64,
    /// The caller's share of process-wide resources for this render, if it has one.
    pub guard: Option<std::sync::Arc<dyn RenderGuard>>,
}

/// Per-request controls the caller hands to a render: a share of the process-wide memory
/// budget, and cancellation (for a wall-clock deadline the engine itself never reads).
pub trait RenderGuard: Send + Sync + std::fmt::Debug {
    /// Asked before the render builds `bytes` more; `false` stops the render.
    fn reserve(&self, bytes: usize) -> bool;
    /// Polled at every step and every charge; `true` stops the render.
    fn cancelled(&self) -> bool;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_loop_items: 10_000,
            // Far above any sane object list, far below what would hurt the server.
            max_output_bytes: 16 * 1024 * 1024,
            max_steps: 1_000_000,
            guard: None,
        }
    }
}

/// The names of every helper templates may use, for documentation and tooling.
pub fn helper_names() -> impl Iterator<Item = &'static str> {
    helpers::names()
}
