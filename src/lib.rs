//! rulehook: Metacontroller hooks as data.
//!
//! A rule file maps a hook request, through JSONPath values and typed templates, to the
//! response ([`rulehook_engine`], its own crate, pure: no I/O). Around it, two pipelines
//! (docs/architecture.md draws both) and what they share:
//!
//! - [`supply`]: rule file → served rule. Read the directory, merge into the set serving
//!   now, watch for changes and swap.
//! - [`http`]: request bytes → response bytes. Accept and bound connections, admit a
//!   request, route it, answer it (from the cache or a render), and fail in one place.
//! - [`budget`]: what a request and the rules may take: memory, render threads, the answer
//!   cache.
//! - [`telemetry`]: what the server tells the outside: metrics, logs, recorded requests.
//! - [`offline`]: the tools that never run inside the server: manifests, fixtures, diff.
//!
//! The `rulehook` command line is the binary's own (`src/main.rs`, `src/cli/`), not part
//! of this API.

// The one exception is the counting allocator (`budget::allocation`), which must implement
// an unsafe trait.
#![deny(unsafe_code)]

pub mod budget;
pub mod http;

/// What this binary is: its version and the git commit it was built from (`build.rs`;
/// `unknown` when built from a source tree without git and without `RULEHOOK_COMMIT`).
pub mod build {
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    pub const COMMIT: &str = env!("RULEHOOK_COMMIT");
    /// What `--version` prints after the program's name.
    pub const VERSION_TEXT: &str = concat!(
        env!("CARGO_PKG_VERSION"),
        " (commit ",
        env!("RULEHOOK_COMMIT"),
        ")"
    );
}
/// The one place the time a render sees as `now` is read from the system clock: the engine
/// reads no clock and is handed it.
pub mod clock {
    /// The current time in the form templates see (`2026-12-06T16:20:05Z`); `None` only for
    /// a clock no RFC 3339 time can write (before 1970 or after 9999).
    pub fn now() -> Option<rulehook_engine::Now> {
        let text = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        rulehook_engine::Now::parse(&text).ok()
    }
}
pub mod offline;
pub mod supply;
pub mod telemetry;

/// Unit tests count allocations as the binary does.
#[cfg(test)]
#[global_allocator]
static GLOBAL: budget::allocation::CountingAlloc = budget::allocation::CountingAlloc;
