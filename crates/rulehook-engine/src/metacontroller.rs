//! Metacontroller's hook protocol, word for word: the hooks, the controller kinds, the keys of
//! each request and response, and how observed objects are keyed.
//!
//! Everything else in rulehook derives what it needs from here (which keys a rule file's hook
//! section allows, which names templates see, which collections a request carries, which
//! metric labels exist), so a new protocol field is one edit in this file.
//!
//! The source of truth is Metacontroller's own API types
//! (`pkg/controller/{composite,decorator,common/customize}/api/*/hooks.go`). v2 hooks decode
//! the response strictly, so nothing may be answered under a key not listed here.

use serde_json::Value;

// Its name is also the last segment of the hook's URL. (The doc comment below is the
// description the published test-suite schema carries.)
/// Which hook is being called; test suites name it in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Sync,
    Finalize,
    Customize,
}

impl Hook {
    /// Every hook, in the order they are documented.
    pub const ALL: [Hook; 3] = [Hook::Sync, Hook::Finalize, Hook::Customize];

    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Sync => "sync",
            Hook::Finalize => "finalize",
            Hook::Customize => "customize",
        }
    }

    pub fn parse(s: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|hook| hook.as_str() == s)
    }
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// The kind of controller a rule answers for. (Plain comments on these two types: doc
// comments would become descriptions in the published rule schema.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ControllerKind {
    /// A CompositeController: a parent and the children it owns.
    #[default]
    Composite,
    /// A DecoratorController: labels, annotations and attachments added to existing objects.
    Decorator,
}

impl ControllerKind {
    /// `composite` or `decorator`, as rule files write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ControllerKind::Composite => "composite",
            ControllerKind::Decorator => "decorator",
        }
    }

    /// The manifest kind that installs such a controller.
    pub fn manifest_kind(self) -> &'static str {
        match self {
            ControllerKind::Composite => "CompositeController",
            ControllerKind::Decorator => "DecoratorController",
        }
    }
}

// The hook API version a controller declares. It changes how observed objects are keyed
// (see `object_key`) and makes Metacontroller decode responses strictly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HookVersion {
    #[default]
    V1,
    V2,
}

/// Request keys.
pub const PARENT: &str = "parent";
pub const OBJECT: &str = "object";
pub const CHILDREN: &str = "children";
pub const RELATED: &str = "related";
pub const ATTACHMENTS: &str = "attachments";
pub const CONTROLLER: &str = "controller";
pub const FINALIZING: &str = "finalizing";

/// Every key any hook request has; templates may name each one.
pub const REQUEST_KEYS: &[&str] = &[
    PARENT,
    OBJECT,
    CHILDREN,
    RELATED,
    ATTACHMENTS,
    CONTROLLER,
    FINALIZING,
];

/// Response keys.
pub const STATUS: &str = "status";
pub const RESYNC_AFTER_SECONDS: &str = "resyncAfterSeconds";
pub const FINALIZED: &str = "finalized";
pub const LABELS: &str = "labels";
pub const ANNOTATIONS: &str = "annotations";
pub const RELATED_RESOURCES: &str = "relatedResources";

/// What one kind of request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestShape {
    /// The object the call is about: `parent` or `object`.
    pub subject: &'static str,
    /// The collections of observed objects, `{ "<type key>": { "<object key>": object } }`.
    pub collections: &'static [&'static str],
    /// Every key of the request, which is every request name a template sees.
    pub keys: &'static [&'static str],
}

const COMPOSITE_REQUEST: RequestShape = RequestShape {
    subject: PARENT,
    collections: &[CHILDREN, RELATED],
    keys: &[PARENT, CHILDREN, RELATED, CONTROLLER, FINALIZING],
};
const DECORATOR_REQUEST: RequestShape = RequestShape {
    subject: OBJECT,
    collections: &[ATTACHMENTS, RELATED],
    keys: &[OBJECT, ATTACHMENTS, RELATED, CONTROLLER, FINALIZING],
};
const CUSTOMIZE_REQUEST: RequestShape = RequestShape {
    subject: PARENT,
    collections: &[],
    keys: &[PARENT, CONTROLLER],
};

/// The request a controller of `kind` sends to `hook`.
pub fn request_shape(kind: ControllerKind, hook: Hook) -> RequestShape {
    match (hook, kind) {
        (Hook::Customize, _) => CUSTOMIZE_REQUEST,
        (_, ControllerKind::Composite) => COMPOSITE_REQUEST,
        (_, ControllerKind::Decorator) => DECORATOR_REQUEST,
    }
}

/// The keys of a sync or finalize response, per controller kind. Metacontroller decodes v2
/// responses strictly: an unknown or miscased key fails the call.
pub const COMPOSITE_RESPONSE_KEYS: &[&str] = &[CHILDREN, STATUS, RESYNC_AFTER_SECONDS, FINALIZED];
pub const DECORATOR_RESPONSE_KEYS: &[&str] = &[
    LABELS,
    ANNOTATIONS,
    STATUS,
    ATTACHMENTS,
    RESYNC_AFTER_SECONDS,
    FINALIZED,
];
/// The keys of a customize response.
pub const CUSTOMIZE_RESPONSE_KEYS: &[&str] = &[RELATED_RESOURCES];

/// The keys of a response, which are also the keys of the rule file's section for that hook.
pub fn response_keys(kind: ControllerKind, hook: Hook) -> &'static [&'static str] {
    match (hook, kind) {
        (Hook::Customize, _) => CUSTOMIZE_RESPONSE_KEYS,
        (_, ControllerKind::Composite) => COMPOSITE_RESPONSE_KEYS,
        (_, ControllerKind::Decorator) => DECORATOR_RESPONSE_KEYS,
    }
}

/// The keys of one `relatedResources` entry (a `ResourceRule`).
pub const RELATED_RESOURCE_KEYS: &[&str] = &[
    "apiVersion",
    "resource",
    "labelSelector",
    "namespaceSelector",
    "namespace",
    "names",
];

/// The key a request files objects of one type under: `Kind.version` for the core group
/// (`Pod.v1`), `Kind.group/version` otherwise (`Deployment.apps/v1`).
pub fn type_key(api_version: &str, kind: &str) -> String {
    match api_version.split_once('/') {
        Some((group, version)) => format!("{kind}.{group}/{version}"),
        None => format!("{kind}.{api_version}"),
    }
}

/// The key a request files one object under, within its type: its `name`, or
/// `namespace/name` when the hook version is v2 or the parent is cluster-scoped and the object
/// is namespaced.
pub fn object_key(
    version: HookVersion,
    parent_cluster_scoped: bool,
    namespace: Option<&str>,
    name: &str,
) -> String {
    match namespace.filter(|ns| !ns.is_empty()) {
        Some(ns) if version == HookVersion::V2 || parent_cluster_scoped => format!("{ns}/{name}"),
        _ => name.to_owned(),
    }
}

/// The resource name of a kind (`Deployment` → `deployments`), by the rules Kubernetes uses
/// for its built-in kinds; a controller manifest names resources, not kinds.
pub fn resource_name(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with("endpoints") {
        return lower;
    }
    if lower.ends_with('s')
        || lower.ends_with('x')
        || lower.ends_with("ch")
        || lower.ends_with("sh")
    {
        return format!("{lower}es");
    }
    if let Some(stem) = lower.strip_suffix('y') {
        if !stem.ends_with(['a', 'e', 'i', 'o', 'u']) {
            return format!("{stem}ies");
        }
    }
    format!("{lower}s")
}

/// `Kind namespace/name` (or `Kind name` when cluster-scoped) of a Kubernetes object, as
/// messages name one; `None` when `object` has no kind or name.
pub fn describe_object(object: &Value) -> Option<String> {
    let kind = object.get("kind")?.as_str()?;
    let meta = object.get("metadata")?;
    let name = meta.get("name")?.as_str()?;
    Some(match meta.get("namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    })
}

/// The object a request is about (its parent, or a decorator's object), as logs name it:
/// every field empty when the request does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Subject {
    /// The subject of `request`, from what `Rule::parse_request` keeps of it (and
    /// `Rule::parse_answer_reads_within` does not).
    pub fn of(request: &Value) -> Subject {
        let object = request.get(PARENT).or_else(|| request.get(OBJECT));
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
        let meta = object.and_then(|o| o.get("metadata"));
        let field = |k: &str| text(meta.and_then(|m| m.get(k)));
        Subject {
            kind: text(object.and_then(|o| o.get("kind"))),
            namespace: field("namespace"),
            name: field("name"),
            uid: field("uid"),
        }
    }

    /// `namespace/name`, or `name` when cluster-scoped.
    pub fn namespaced_name(&self) -> String {
        match self.namespace.as_str() {
            "" => self.name.clone(),
            ns => format!("{ns}/{}", self.name),
        }
    }
}

/// `namespace/name` (or `name` when cluster-scoped) of the object a request is about, for
/// logs and events; empty when the request names none.
pub fn subject_name(request: &Value) -> String {
    Subject::of(request).namespaced_name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_keys_follow_the_group() {
        assert_eq!(type_key("v1", "Pod"), "Pod.v1");
        assert_eq!(type_key("apps/v1", "Deployment"), "Deployment.apps/v1");
        assert_eq!(
            type_key("ctl.example.com/v1alpha1", "Thing"),
            "Thing.ctl.example.com/v1alpha1"
        );
    }

    #[test]
    fn object_keys_follow_the_hook_version_and_the_parent_scope() {
        assert_eq!(object_key(HookVersion::V1, false, Some("ns"), "a"), "a");
        assert_eq!(object_key(HookVersion::V1, true, Some("ns"), "a"), "ns/a");
        assert_eq!(object_key(HookVersion::V2, false, Some("ns"), "a"), "ns/a");
        assert_eq!(object_key(HookVersion::V2, false, None, "node-1"), "node-1");
    }

    #[test]
    fn every_request_shape_names_its_subject_and_collections_among_its_keys() {
        for kind in [ControllerKind::Composite, ControllerKind::Decorator] {
            for hook in Hook::ALL {
                let shape = request_shape(kind, hook);
                assert!(shape.keys.contains(&shape.subject));
                for c in shape.collections {
                    assert!(shape.keys.contains(c), "{c}");
                }
                assert!(shape.keys.iter().all(|k| REQUEST_KEYS.contains(k)));
            }
        }
    }

    #[test]
    fn hooks_parse_their_own_names_only() {
        for hook in Hook::ALL {
            assert_eq!(Hook::parse(hook.as_str()), Some(hook));
        }
        assert_eq!(Hook::parse("Sync"), None);
    }

    #[test]
    fn plurals_follow_kubernetes() {
        for (kind, resource) in [
            ("Pod", "pods"),
            ("Service", "services"),
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("Endpoints", "endpoints"),
            ("ConfigMap", "configmaps"),
            ("Gateway", "gateways"),
        ] {
            assert_eq!(resource_name(kind), resource);
        }
    }
}
