//! The offline tools, which never run inside the server: Metacontroller manifests generated
//! from rules (`controllers`), hook requests built from `kubectl get` output (`fixture`),
//! what a rule change does to the answers (`diff`), and one try of a rule being written
//! (`trial`, behind `rulehook playground`).

pub mod controllers;
pub mod diff;
pub mod fixture;
pub mod trial;
