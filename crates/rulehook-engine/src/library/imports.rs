//! A rule's `imports:`: the libraries it names, found among those of its directory, and
//! the names they bring checked against the rule's own.

use std::sync::Arc;

use super::link::clashes;
use super::{resolve_imports, Library, LibrarySet};
use crate::diagnostic::Diagnostic;
use crate::locate::{join_key, Locator};
use crate::template::definitions::Linked;

/// The libraries a rule imports. Without a set of libraries to import from (a rule
/// compiled alone), `imports:` is an error.
pub(crate) fn imported(
    file: &str,
    imports: &[String],
    libraries: Option<&LibrarySet>,
    locator: &Locator,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Arc<Library>> {
    if imports.is_empty() {
        return Vec::new();
    }
    let Some(libraries) = libraries else {
        diagnostics.push(Diagnostic::at(
            file,
            locator.key("imports"),
            "`imports` needs the libraries of the rule's directory; load the rule with its directory (`rulehook check DIR`), where its `.lib.yaml` files are",
        ));
        return Vec::new();
    };
    let imported = resolve_imports(file, imports, "imports", libraries, locator, diagnostics);
    for (name, a, b) in clashes(&imported) {
        diagnostics.push(Diagnostic::at(
            file,
            locator.key("imports"),
            format!(
                "`{name}` is defined by both imported libraries `{}` ({}) and `{}` ({}); rename one, or import one of them",
                a.name, a.file, b.name, b.file
            ),
        ));
    }
    imported
}

/// A value may not have the name of an imported function or template: a template could
/// not tell which it means.
pub(crate) fn check_value_names<'n>(
    file: &str,
    names: impl IntoIterator<Item = &'n String>,
    linked: &Linked<'_>,
    locator: &Locator,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for name in names {
        let function = linked
            .rule
            .functions
            .get(name)
            .map(|f| (f.origin.clone(), "function"));
        let template = linked
            .rule
            .templates
            .get(name.as_str())
            .map(|(library, def)| (format!("{}:{}", library.file, def.pos), "template"));
        if let Some((origin, kind)) = function.or(template) {
            diagnostics.push(Diagnostic::at(
                file,
                locator.key(&join_key("values", name)),
                format!("value `{name}` has the name of the imported {kind} `{name}` ({origin}); rename one"),
            ));
        }
    }
}
