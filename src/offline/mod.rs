//! The offline tools, which never run inside the server: Metacontroller manifests generated
//! from rules (`controllers`), hook requests built from `kubectl get` output (`fixture`), and
//! what a rule change does to the answers (`diff`).

pub mod controllers;
pub mod diff;
pub mod fixture;
