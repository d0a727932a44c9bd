//! Compiling one hook's section of a rule: each response field checked against what the
//! controller kind and hook allow, and compiled as a template.

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::locate::join_key;
use crate::metacontroller::{self as mc, ControllerKind, Hook};
use crate::response::HookTemplates;
use crate::spec::HookSpec;
use crate::template::{Compiler, NullPolicy};

pub(crate) fn compile_hook(
    hook: Hook,
    kind: ControllerKind,
    spec: &HookSpec,
    compiler: &mut Compiler,
    child_types: &mut Vec<(String, String)>,
) -> HookTemplates {
    let section = hook.as_str();
    let pos = compiler.locator.value(section);
    // `finalized` only means something in answer to the finalize hook.
    let allowed: Vec<&str> = mc::response_keys(kind, hook)
        .iter()
        .copied()
        .filter(|k| hook == Hook::Finalize || *k != mc::FINALIZED)
        .collect();
    let fields: [(&str, &Option<Value>); 7] = [
        (mc::CHILDREN, &spec.children),
        (mc::STATUS, &spec.status),
        (mc::RESYNC_AFTER_SECONDS, &spec.resync_after_seconds),
        (mc::FINALIZED, &spec.finalized),
        (mc::LABELS, &spec.labels),
        (mc::ANNOTATIONS, &spec.annotations),
        (mc::ATTACHMENTS, &spec.attachments),
    ];
    let mut t = HookTemplates {
        pos,
        ..HookTemplates::default()
    };
    for (key, value) in fields {
        let Some(value) = value else { continue };
        let path = join_key(section, key);
        if !allowed.contains(&key) {
            let kind_name = format!("a {}", kind.as_str());
            compiler.diagnostics.push(Diagnostic::at(
                compiler.file,
                compiler.locator.key(&path),
                format!(
                    "`{key}` is not part of {kind_name} {section} response; allowed: {}",
                    allowed.join(", ")
                ),
            ));
            continue;
        }
        if key == mc::FINALIZED && !is_bool_or_template(value) {
            compiler.diagnostics.push(Diagnostic::at(
                compiler.file,
                compiler.locator.value(&path),
                format!(
                    "`finalized` must be true, false or a template such as \"{{{{ done }}}}\", not {}",
                    match value {
                        Value::String(text) => format!("the text `{}`", crate::clip::clip(text)),
                        other => crate::json::type_name(other).to_owned(),
                    }
                ),
            ));
            continue;
        }
        // Labels and annotations keep a null: it is how a decorator deletes a key.
        let nulls = if key == mc::LABELS || key == mc::ANNOTATIONS {
            NullPolicy::Keep
        } else {
            NullPolicy::Drop
        };
        if key == mc::CHILDREN || key == mc::ATTACHMENTS {
            crate::template::literal_child_types(value, child_types);
        }
        let node = compiler.node(value, &path, nulls);
        let slot = match key {
            mc::CHILDREN => &mut t.children,
            mc::STATUS => &mut t.status,
            mc::RESYNC_AFTER_SECONDS => &mut t.resync_after_seconds,
            mc::FINALIZED => &mut t.finalized,
            mc::LABELS => &mut t.labels,
            mc::ANNOTATIONS => &mut t.annotations,
            _ => &mut t.attachments,
        };
        *slot = Some(node);
    }
    t.with_identities_decided()
}

/// What `finalized` may be written as: a bool, or a template that gives one.
fn is_bool_or_template(value: &Value) -> bool {
    match value {
        Value::Bool(_) => true,
        Value::String(text) => text.contains("{{"),
        _ => false,
    }
}
