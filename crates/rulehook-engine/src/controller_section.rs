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

/// A template that reads `children.[Deployments.apps/v1]` (a typo) quietly sees an empty
/// list. Every type a template reads that the rule neither creates (its child templates'
/// literal `apiVersion`/`kind`) nor declares (`controller:`, or for `related` the customize
/// hook's literal resources) is a warning, with the closest known type.
pub(crate) fn unknown_type_reads(
    file: &str,
    reads: &std::collections::BTreeMap<(String, String), crate::locate::Pos>,
    child_types: &[(String, String)],
    controller: Option<&Value>,
    related_resources: Option<&Value>,
) -> Vec<Diagnostic> {
    let declared = |list: Option<&Value>| -> Vec<(String, String)> {
        list.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let api = r.get("apiVersion")?.as_str()?;
                let resource = r.get("resource")?.as_str()?;
                Some((api.to_owned(), resource.to_owned()))
            })
            .collect()
    };
    let owned = [
        controller.and_then(|c| c.pointer("/spec/childResources")),
        controller.and_then(|c| c.pointer("/spec/attachments")),
    ];
    let owned: Vec<(String, String)> = owned.into_iter().flat_map(declared).collect();
    let related = declared(related_resources);
    let created: Vec<String> = child_types
        .iter()
        .map(|(api, kind)| mc::type_key(api, kind))
        .collect();
    let mut out = Vec::new();
    for ((collection, key), pos) in reads {
        let resources = if collection == mc::RELATED {
            &related
        } else {
            &owned
        };
        let Some((kind, api)) = key.split_once('.') else {
            continue;
        };
        let known_resource = resources
            .iter()
            .any(|(a, r)| a == api && *r == mc::resource_name(kind));
        let known_created = collection != mc::RELATED && created.iter().any(|c| c == key);
        if known_resource || known_created {
            continue;
        }
        let hint = match suggest(key, created.iter().map(String::as_str)) {
            Some(close) => format!("; did you mean `{close}`?"),
            None => String::new(),
        };
        out.push(Diagnostic::at(
            file,
            *pos,
            format!(
                "`{collection}.[{key}]` names a type the rule neither creates nor declares in `controller:`, so it is always empty{hint}"
            ),
        ));
    }
    out
}

/// Metacontroller names resources by their plural, lowercase (`staticsites`), and matches
/// nothing for `StaticSite` or `staticsite`. Each `resource` of `parentResource`,
/// `childResources`, `attachments` and `resources` that is not a lowercase plural is a
/// warning with a guessed plural.
pub(crate) fn resource_names(file: &str, controller: &Value, locator: &Locator) -> Vec<Diagnostic> {
    let mut places = vec!["controller.spec.parentResource.resource".to_owned()];
    for list in ["childResources", "attachments", "resources"] {
        let count = controller
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        places.extend((0..count).map(|i| format!("controller.spec.{list}[{i}].resource")));
    }
    let mut out = Vec::new();
    for place in places {
        let pointer = place
            .trim_start_matches("controller")
            .replace(['.', '['], "/")
            .replace(']', "");
        let Some(resource) = controller.pointer(&pointer).and_then(Value::as_str) else {
            continue;
        };
        let lower = resource.to_ascii_lowercase();
        if lower == resource && resource.ends_with('s') {
            continue;
        }
        let plural = if lower.ends_with('s') {
            lower
        } else {
            mc::resource_name(&lower)
        };
        out.push(Diagnostic::at(
            file,
            locator.value(&place),
            format!(
                "`{resource}` is not a resource name: resources are plural and lowercase; did you mean `{plural}`? (plurals are guessed: `kubectl api-resources` shows the real one)"
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::Rule;

    #[test]
    fn a_resource_that_is_not_a_lowercase_plural_is_a_warning_with_a_guessed_plural() {
        let rule = Rule::compile(
            "r.yaml",
            "controller:\n  spec:\n    parentResource: {apiVersion: example.com/v1, resource: StaticSite}\n    childResources:\n      - {apiVersion: v1, resource: configmaps}\n      - {apiVersion: example.com/v1, resource: policy}\n      - {apiVersion: example.com/v1, resource: Boxes}\nsync:\n  status: {}\n",
        )
        .unwrap();
        let warnings: Vec<String> = rule.warnings.iter().map(ToString::to_string).collect();
        let guessed = "(plurals are guessed: `kubectl api-resources` shows the real one)";
        assert_eq!(
            warnings,
            [
                format!("r.yaml:3:60: `StaticSite` is not a resource name: resources are plural and lowercase; did you mean `staticsites`? {guessed}"),
                format!("r.yaml:6:48: `policy` is not a resource name: resources are plural and lowercase; did you mean `policies`? {guessed}"),
                format!("r.yaml:7:48: `Boxes` is not a resource name: resources are plural and lowercase; did you mean `boxes`? {guessed}"),
            ]
        );
    }
}
