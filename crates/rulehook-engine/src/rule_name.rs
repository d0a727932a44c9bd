//! A rule's name: the URL path segment its hooks are served at, from `name:` or the file.

use crate::diagnostic::Diagnostic;
use crate::locate::Locator;

/// A rule name is a URL path segment, so it must be a DNS label: no `/`, no `..`.
pub(crate) fn rule_name(
    file: &str,
    explicit: Option<&str>,
    locator: &Locator,
    diagnostics: &mut Vec<Diagnostic>,
) -> String {
    let name = match explicit {
        Some(n) => n.to_owned(),
        None => {
            // Everything up to the last extension: `dots.in.name.yaml` is `dots.in.name`.
            let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
            base.rsplit_once('.')
                .map_or(base, |(stem, _)| stem)
                .to_owned()
        }
    };
    if !is_rule_name(&name) {
        let pos = if explicit.is_some() {
            locator.value("name")
        } else {
            locator.value("")
        };
        diagnostics.push(Diagnostic::at(
            file,
            pos,
            format!("rule name `{}` must be lowercase letters, digits, `-` and `.`, each `.`-separated part starting and ending with a letter or digit (at most 63)", crate::clip::clip(&name)),
        ));
    }
    name
}

/// A DNS subdomain of at most 63 characters, as Kubernetes names are: `.`-separated labels
/// of lowercase letters, digits and `-`, each starting and ending with a letter or digit. So
/// a name never holds `/` or `..` and can stand in a URL path as it is.
pub fn is_rule_name(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let label = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| ok_char(c) || c == '-')
            && l.starts_with(ok_char)
            && l.ends_with(ok_char)
    };
    name.len() <= 63 && name.split('.').all(label)
}
