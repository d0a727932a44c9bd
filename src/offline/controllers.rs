//! Generates the CompositeController or DecoratorController manifest that points
//! Metacontroller at a rule, so `controller.yaml` never drifts from the rule it calls.
//!
//! Child and attachment resources come from the literal `apiVersion`/`kind` of the rule's
//! templates; everything else, including the parent resource, comes from the rule's
//! `controller:` section, which is deep-merged over the generated manifest.

use serde_json::{json, Map, Value};

use rulehook_engine::metacontroller::resource_name;
use rulehook_engine::{ControllerKind, HookVersion, Rule};

/// The controller manifest for `rule`, with hook URLs under `base_url`.
///
/// # Errors
///
/// When the rule does not say what it controls (`controller.spec.parentResource` for a
/// composite, `controller.spec.resources` for a decorator).
pub fn manifest(rule: &Rule, base_url: &str) -> Result<Value, String> {
    let base = base_url.trim_end_matches('/');
    let version = match rule.hook_version {
        HookVersion::V1 => "v1",
        HookVersion::V2 => "v2",
    };
    let mut hooks = Map::new();
    for hook in rule.hooks() {
        hooks.insert(
            hook.as_str().to_owned(),
            json!({"version": version, "webhook": {"url": format!("{base}/{}/{}", rule.name, hook.as_str())}}),
        );
    }
    let resources: Vec<Value> = rule
        .child_types
        .iter()
        .map(|(api_version, kind)| json!({"apiVersion": api_version, "resource": resource_name(kind)}))
        .collect();
    let (kind, spec) = match rule.kind {
        ControllerKind::Composite => (
            "CompositeController",
            json!({"childResources": resources, "hooks": hooks}),
        ),
        ControllerKind::Decorator => (
            "DecoratorController",
            json!({"attachments": resources, "hooks": hooks}),
        ),
    };
    let mut manifest = json!({
        "apiVersion": "metacontroller.k8s.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": format!("{}-controller", rule.name)},
        "spec": spec,
    });
    if let Some(overrides) = &rule.controller {
        merge(&mut manifest, overrides);
    }
    let owned = match rule.kind {
        ControllerKind::Composite => "childResources",
        ControllerKind::Decorator => "attachments",
    };
    if let Some(Value::Array(resources)) = manifest["spec"].get_mut(owned) {
        for resource in resources
            .iter_mut()
            .filter(|r| r.get("updateStrategy").is_none())
        {
            let method = default_update_method(resource);
            resource["updateStrategy"] = json!({ "method": method });
        }
    }
    let required = match rule.kind {
        ControllerKind::Composite => "parentResource",
        ControllerKind::Decorator => "resources",
    };
    if manifest["spec"].get(required).is_none() {
        return Err(format!(
            "{}: rule `{}` does not say what it controls; set `controller.spec.{required}`",
            rule.file, rule.name
        ));
    }
    Ok(manifest)
}

/// What Metacontroller does when a child differs from the answer, when the rule does not
/// say: its own default, `OnDelete`, never updates a child, so a changed parent would never
/// reach its children. Pods cannot be updated in place (their spec is immutable), so they
/// are recreated; everything else is updated in place.
pub const DEFAULT_UPDATE_METHODS: &str = "Recreate for Pods, InPlace otherwise";

fn default_update_method(resource: &Value) -> &'static str {
    let core = resource.get("apiVersion").and_then(Value::as_str) == Some("v1");
    match resource.get("resource").and_then(Value::as_str) {
        Some("pods") if core => "Recreate",
        _ => "InPlace",
    }
}

/// Deep merge; lists and scalars in `overrides` replace what is there, except resource
/// lists, whose entries merge by `apiVersion` and `resource` (so an override can add an
/// `updateStrategy` to a derived child type without restating the others).
fn merge(target: &mut Value, overrides: &Value) {
    match (target, overrides) {
        (Value::Object(t), Value::Object(o)) => {
            for (k, v) in o {
                let slot = t.entry(k.clone()).or_insert(Value::Null);
                if matches!(k.as_str(), "childResources" | "attachments") {
                    merge_resources(slot, v);
                } else {
                    merge(slot, v);
                }
            }
        }
        (t, o) => *t = o.clone(),
    }
}

fn merge_resources(target: &mut Value, overrides: &Value) {
    let (Value::Array(derived), Value::Array(given)) = (&mut *target, overrides) else {
        *target = overrides.clone();
        return;
    };
    let id = |v: &Value| (v.get("apiVersion").cloned(), v.get("resource").cloned());
    for entry in given {
        match derived.iter_mut().find(|d| id(d) == id(entry)) {
            Some(existing) => merge(existing, entry),
            None => derived.push(entry.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Rule {
        Rule::compile("r.yaml", text).unwrap()
    }

    #[test]
    fn a_composite_gets_its_children_from_the_templates_and_overrides_merged() {
        let r = rule(include_str!("../../rules/hello.yaml"));
        let m = manifest(&r, "http://rulehook.rulehook/").unwrap();
        assert_eq!(m["kind"], "CompositeController");
        assert_eq!(
            m["spec"]["hooks"]["sync"]["webhook"]["url"],
            "http://rulehook.rulehook/hello/sync"
        );
        assert_eq!(
            m["spec"]["childResources"],
            json!([{"apiVersion": "v1", "resource": "pods", "updateStrategy": {"method": "Recreate"}}])
        );
        assert_eq!(m["spec"]["parentResource"]["resource"], "helloworlds");
    }

    #[test]
    fn a_decorator_gets_attachments_every_hook_and_its_version() {
        let r = rule("kind: decorator\nhookVersion: v2\ncontroller:\n  spec:\n    resources: [{apiVersion: apps/v1, resource: statefulsets}]\nsync:\n  attachments:\n    - {apiVersion: v1, kind: Service, metadata: {name: x}}\nfinalize:\n  attachments: []\n");
        let m = manifest(&r, "https://hooks.example").unwrap();
        assert_eq!(m["kind"], "DecoratorController");
        assert_eq!(
            m["spec"]["attachments"],
            json!([{"apiVersion": "v1", "resource": "services", "updateStrategy": {"method": "InPlace"}}])
        );
        assert_eq!(
            m["spec"]["hooks"]["finalize"],
            json!({"version": "v2", "webhook": {"url": "https://hooks.example/r/finalize"}})
        );
        assert_eq!(m["spec"]["resources"][0]["resource"], "statefulsets");
    }

    #[test]
    fn a_rule_that_does_not_name_its_parent_is_an_error() {
        let err = manifest(&rule("sync:\n  status: {}\n"), "http://x").unwrap_err();
        assert!(err.contains("controller.spec.parentResource"), "{err}");
    }

    #[test]
    fn children_without_an_update_strategy_get_one_that_updates_them() {
        let r = rule(
            "sync:\n  children:\n    - {apiVersion: v1, kind: Pod, metadata: {name: a}}\n    - {apiVersion: apps/v1, kind: Deployment, metadata: {name: b}}\n    - {apiVersion: v1, kind: Service, metadata: {name: c}}\ncontroller:\n  spec:\n    parentResource: {apiVersion: x/v1, resource: xs}\n    childResources:\n      - {apiVersion: v1, resource: services, updateStrategy: {method: OnDelete}}\n",
        );
        let m = manifest(&r, "http://x").unwrap();
        let methods: Vec<(String, String)> = m["spec"]["childResources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["resource"].as_str().unwrap().to_owned(),
                    c["updateStrategy"]["method"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected = [
            ("deployments", "InPlace"),
            ("pods", "Recreate"),
            ("services", "OnDelete"),
        ];
        assert_eq!(methods, expected.map(|(r, m)| (r.to_owned(), m.to_owned())));
    }
}
