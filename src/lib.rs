//! rulehook: Metacontroller hooks as data.
//!
//! A rule file maps a hook request, through JSONPath values and typed templates, to the
//! response. [`engine`] compiles and renders rules and does no I/O; [`load`] reads rule
//! files; [`server`] answers hooks over HTTP; [`watch`] reloads rules when their files
//! change; [`cli`] ties them together.

#![forbid(unsafe_code)]

pub mod engine;
