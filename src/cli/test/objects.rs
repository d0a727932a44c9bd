//! Cases that give kubectl output instead of a request (`parentFile`, `childrenFiles`,
//! `relatedFiles`): the request is built as `rulehook fixture` builds it.

use std::path::Path;

use serde_json::Value;

use rulehook::offline::fixture;
use rulehook_engine::suite::CaseSpec;
use rulehook_engine::{Hook, Rule};

/// Whether the case names any object files.
pub fn has_object_files(case: &CaseSpec) -> bool {
    case.parent_file.is_some() || case.children_files.is_some() || case.related_files.is_some()
}

/// The request built from the case's object files.
pub fn from_object_files(
    case: &CaseSpec,
    dir: &Path,
    rule: &Rule,
    hook: Hook,
) -> Result<Value, String> {
    if case.request.is_some() || case.request_file.is_some() {
        return Err(format!(
            "case `{}`: give `request`/`requestFile` or `parentFile` (with `childrenFiles` and `relatedFiles`), not both",
            case.name
        ));
    }
    let Some(parent) = &case.parent_file else {
        return Err(format!(
            "case `{}`: `childrenFiles` and `relatedFiles` need a `parentFile`",
            case.name
        ));
    };
    let none = Vec::new();
    fixture::for_case(
        rule,
        hook,
        dir,
        parent,
        case.children_files.as_ref().unwrap_or(&none),
        case.related_files.as_ref().unwrap_or(&none),
    )
}
