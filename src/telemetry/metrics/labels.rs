//! The label sets of rulehook's metric families. Values come only from bounded sets (see
//! the module above).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;

// The labels of the per-request metrics hold nothing that is allocated per request: the rule
// name is the loaded rule's own shared label (`LoadedRule::metric_label`), the hook a static
// string.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RequestLabels {
    pub(super) rule: Arc<str>,
    pub(super) hook: &'static str,
    pub(super) code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct HookLabels {
    pub(super) rule: Arc<str>,
    pub(super) hook: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct FileLabels {
    pub(super) file: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BuildLabels {
    pub(super) version: &'static str,
    pub(super) commit: &'static str,
}

/// A served rule and the SHA-256 of the file it was compiled from: replicas whose kubelets
/// have not yet refreshed the same ConfigMap show different hashes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RuleInfoLabels {
    pub(super) rule: String,
    pub(super) sha256: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct LibraryInfoLabels {
    pub(super) library: String,
    pub(super) sha256: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ResultLabels {
    pub(super) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReasonLabels {
    pub(super) reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RuleLabels {
    pub(super) rule: String,
}
