//! Integration tests: each starts the real `rulehook` binary on a loopback port and speaks
//! real HTTP to it, or runs its offline commands.

mod support;

mod answer_cache;
mod architecture;
mod bad_input;
mod connections;
mod diff;
mod examples;
mod fixture;
mod fuzz_regressions;
mod hardening;
mod hello;
mod isolation;
mod isolation_ops;
mod isolation_work;
mod libraries;
mod library_path;
mod limits;
mod playground;
mod record;
mod reload;
mod required;
mod security;
mod soak;
mod time;
mod tooling;
mod ui;
mod walkthrough;
