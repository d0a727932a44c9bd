//! rulehook: Metacontroller hooks as data.
//!
//! A rule file maps a hook request, through JSONPath values and typed templates, to the
//! response. The pipeline, from the inside out:
//!
//! - [`rulehook_engine`] (its own crate): compile rule text, render requests. Pure: no I/O.
//! - [`ruleset`]: the rules being served, and how a new reading of the files merges in.
//! - [`load`]: the only reader of rule files; every command starts from its
//!   [`load::CompiledRules`].
//! - [`server`]: answers hooks over HTTP from a shared, swappable rule set; `admission`,
//!   [`memory`], `render_pool` and [`connection`] bound what one request may take from it;
//!   [`shutdown`] stops it without losing a request; [`answer_cache`] answers a repeated
//!   request without rendering it again.
//! - [`watch`]: reloads the rule set when its directory changes.
//! - [`log_format`]: text logs that request data cannot forge.
//! - [`log_writer`]: the server's log lines, written off the request path.
//! - `metrics`: Prometheus metrics; [`auth`] and [`tls`]: who may call.
//! - [`controllers`]: Metacontroller manifests generated from rules.
//! - [`fixture`]: hook requests built from `kubectl get` output, as Metacontroller sends them.
//! - [`diff`]: what a rule change does to the answers, object by object; [`record`]: the
//!   requests a server answered, kept for it.
//!
//! The `rulehook` command line is the binary's own (`src/main.rs`), not part of this API.

// The one exception is the counting allocator (`allocation`), which must implement an
// unsafe trait.
#![deny(unsafe_code)]

pub(crate) mod admission;
pub mod allocation;
pub mod answer_cache;
pub mod auth;
pub mod connection;
pub mod controllers;
pub mod diff;
mod digest;
pub mod fixture;
pub mod load;
pub mod log_format;
pub mod log_writer;
pub mod memory;
pub(crate) mod metrics;
pub mod record;
pub(crate) mod render_pool;
pub mod ruleset;
pub mod server;
pub mod shutdown;
pub mod tls;
pub mod watch;

/// Unit tests count allocations as the binary does.
#[cfg(test)]
#[global_allocator]
static GLOBAL: allocation::CountingAlloc = allocation::CountingAlloc;
