//! A rule's `controller:` section: the overrides of the CompositeController or
//! DecoratorController that `rulehook controllers` generates. Checked when the rule loads, so
//! a typo fails `check` instead of reaching the cluster.

use serde_json::Value;

use crate::diagnostic::{check_keys, suggest, Diagnostic};
use crate::locate::{join_index, join_key, Locator};
use crate::metacontroller as mc;

/// The keys of the CompositeController or DecoratorController manifest that a rule's
/// `controller:` section may override, so a typo fails `check` instead of reaching the
/// cluster.
pub(crate) fn check_controller_keys(
    file: &str,
    root: &serde_json::Map<String, Value>,
    decorator: bool,
    locator: &Locator,
    out: &mut Vec<Diagnostic>,
) {
    const TOP: &[&str] = &["metadata", "spec"];
    const METADATA: &[&str] = &["name", "labels", "annotations"];
    const COMPOSITE: &[&str] = &[
        "parentResource",
        "childResources",
        "generateSelector",
        "resyncPeriodSeconds",
        "hooks",
    ];
    const DECORATOR: &[&str] = &["resources", "attachments", "resyncPeriodSeconds", "hooks"];
    const PARENT: &[&str] = &["apiVersion", "resource", "revisionHistory", "labelSelector"];
    const OWNED: &[&str] = &["apiVersion", "resource", "updateStrategy"];
    const STRATEGY: &[&str] = &["method", "statusChecks"];
    const SELECTED: &[&str] = &[
        "apiVersion",
        "resource",
        "labelSelector",
        "annotationSelector",
    ];
    let mut keys = |path: &str, value: Option<&Value>, known: &[&str]| {
        if let Some(Value::Object(map)) = value {
            check_keys(file, path, map, known, locator, out);
        }
    };
    keys("controller", Some(&Value::Object(root.clone())), TOP);
    keys("controller.metadata", root.get("metadata"), METADATA);
    let Some(spec) = root.get("spec") else { return };
    keys(
        "controller.spec",
        Some(spec),
        if decorator { DECORATOR } else { COMPOSITE },
    );
    keys(
        "controller.spec.parentResource",
        spec.get("parentResource"),
        PARENT,
    );
    for (list, known) in [
        ("childResources", OWNED),
        ("attachments", OWNED),
        ("resources", SELECTED),
    ] {
        let Some(Value::Array(items)) = spec.get(list) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let path = join_index(&format!("controller.spec.{list}"), i);
            keys(&path, Some(item), known);
            keys(
                &join_key(&path, "updateStrategy"),
                item.get("updateStrategy"),
                STRATEGY,
            );
        }
    }
}

/// A resource in `controller.spec.childResources` (or `attachments`) that is one letter or
/// so from a resource the rule's templates create is a typo: left alone, it would add a
/// second entry to the manifest and the real one would keep Metacontroller's defaults.
pub(crate) fn check_owned_resources(
    file: &str,
    controller: &Value,
    child_types: &[(String, String)],
    locator: &Locator,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for list in ["childResources", "attachments"] {
        let Some(Value::Array(items)) = controller.pointer(&format!("/spec/{list}")) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let api = item.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let Some(resource) = item.get("resource").and_then(Value::as_str) else {
                continue;
            };
            let created: Vec<String> = child_types
                .iter()
                .filter(|(a, _)| a == api)
                .map(|(_, kind)| mc::resource_name(kind))
                .collect();
            if created.iter().any(|r| r == resource) {
                continue;
            }
            if let Some(close) = suggest(resource, created.iter().map(String::as_str)) {
                let path = format!("controller.spec.{list}[{i}].resource");
                diagnostics.push(Diagnostic::at(
                    file,
                    locator.value(&path),
                    format!(
                        "`{resource}` is not a resource this rule creates; did you mean `{close}`? (resources are plural and lowercase)"
                    ),
                ));
            }
        }
    }
}
