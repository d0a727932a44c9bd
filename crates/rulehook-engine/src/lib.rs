//! The pure rulehook engine: rule text in, compiled rule out; hook request in, hook response
//! out.
//!
//! Nothing here touches the file system, the network, the clock, threads or actix: the
//! server, the file watcher and the CLI of the `rulehook` crate are thin shells around
//! [`Rule::compile`] and [`Rule::render`] / [`Rule::render_body`].
//!
//! ```
//! use rulehook_engine::{Hook, Limits, Rule};
//!
//! let rule = Rule::compile("hello.yaml", r#"
//! values:
//!   who: { path: "$.parent.spec.who", default: World }
//! sync:
//!   status: { greeting: "Hello, {{ who }}!" }
//! "#).expect("the rule compiles");
//! let request = serde_json::json!({ "parent": { "metadata": { "name": "a" }, "spec": {} } });
//! let response = rule.render(Hook::Sync, request, &Limits::default()).expect("it renders");
//! assert_eq!(response["status"]["greeting"], "Hello, World!");
//! ```
//!
//! The public API is small on purpose:
//!
//! - [`Rule`]: compile once ([`Diagnostic`]s with file:line:column on failure), render many
//!   times under [`Limits`], optionally with a caller's [`RenderGuard`]; a failed render is a
//!   [`HookError`] naming the rule's file and line.
//! - [`metacontroller`]: the hook protocol's vocabulary ([`Hook`], [`ControllerKind`],
//!   [`HookVersion`], request and response keys, type and object keys).
//! - [`suite`]: test-suite files and how a response is compared with an expectation.
//! - [`schema`]: the JSON Schemas of rule files and test suites.
//!
//! Inside, a rule goes through `spec` (the file as written) → `compile` (JSONPaths parsed,
//! templates compiled and checked, once) → `rule` and `response` (per request), with the
//! templates in `template/` and the helpers in `helpers/`. `docs/architecture.md` at the repository root draws the
//! whole pipeline.

mod answer;
mod budget;
mod clip;
mod compile;
mod compile_hook;
mod controller_section;
mod diagnostic;
mod helpers;
mod json;
mod library;
mod locate;
pub mod metacontroller;
mod now;
mod pattern;
mod query_cost;
mod request;
mod required;
mod response;
mod rule;
mod rule_name;
pub mod schema;
mod spec;
mod status_time;
pub mod suite;
mod template;
mod values;
mod written;

#[cfg(test)]
mod tests;

pub use clip::{clip, QUOTED_CHARS};
pub use diagnostic::{suggest, Diagnostic};
pub use library::{
    compile_directory, imports_of, library_name, Library, LibrarySet, LIBRARY_SUFFIX,
};
pub use locate::{Locator, Pos};
pub use metacontroller::{ControllerKind, Hook, HookVersion};
pub use now::Now;
pub use request::{is_json, BadRequest, ReadError};
pub use rule::{HookError, Rule};
pub use rule_name::is_rule_name;

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
    /// Work units (about a nanosecond of the costliest work each) one render may spend. Each
    /// step, and each helper whose cost grows with its input, charges its work before it
    /// starts, so a step that would pass this limit never runs: a deadline that is only
    /// checked between steps then bounds the render in time.
    pub max_work: u64,
    /// The caller's share of process-wide resources for this render, if it has one.
    pub guard: Option<std::sync::Arc<dyn RenderGuard>>,
}

/// Asked as a rule compiles, between its templates, whether to go on: how a caller bounds
/// the memory a rule may take while it is being built.
pub trait CompileGuard {
    /// `Some(why)` stops the compile; the rule then fails to load with `why` as its error.
    fn stop(&self) -> Option<String>;
}

/// The guard of a compile that nothing bounds.
pub struct Unbounded;

impl CompileGuard for Unbounded {
    fn stop(&self) -> Option<String> {
        None
    }
}

/// Per-request controls the caller hands to a render: a share of the process-wide memory
/// budget, and cancellation (for a wall-clock deadline the engine itself never reads).
pub trait RenderGuard: Send + Sync + std::fmt::Debug {
    /// Asked before the render builds `bytes` more; `false` stops the render.
    fn reserve(&self, bytes: usize) -> bool;
    /// Polled at every step and every charge; `true` stops the render.
    fn cancelled(&self) -> bool;
}

impl Limits {
    pub const DEFAULT_MAX_LOOP_ITEMS: usize = 10_000;
    /// Far above any sane object list, far below what would hurt the server.
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;
    pub const DEFAULT_MAX_STEPS: u64 = 1_000_000;
    /// Five seconds of work, the server's default render timeout.
    pub const DEFAULT_MAX_WORK: u64 = 5_000_000_000;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_loop_items: Limits::DEFAULT_MAX_LOOP_ITEMS,
            max_output_bytes: Limits::DEFAULT_MAX_OUTPUT_BYTES,
            max_steps: Limits::DEFAULT_MAX_STEPS,
            max_work: Limits::DEFAULT_MAX_WORK,
            guard: None,
        }
    }
}

/// The names of every helper templates may use, for documentation and tooling.
pub fn helper_names() -> impl Iterator<Item = &'static str> {
    helpers::names()
}
