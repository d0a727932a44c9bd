//! The rule a person names on the command line (`render RULE`, a suite's `rule: x.yaml`): a
//! rule file, or the name of a rule in a directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rulehook::supply::load::{CompiledRules, ReadDirError};
use rulehook::supply::ruleset::LoadedRule;
use rulehook_engine::Diagnostic;

/// Why the named rule cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FindRuleError {
    #[error("{file}: {error}")]
    UnreadableFile { file: String, error: std::io::Error },
    /// The file was read but does not compile: every problem, one per line.
    #[error("{}", lines(.0))]
    InvalidFile(Vec<Diagnostic>),
    #[error(transparent)]
    UnreadableDir(#[from] ReadDirError),
    /// The rule directory is not there: most often, the command ran from another folder.
    #[error("there is no rule directory `{}` in {}; run from the folder that holds it, or give --rules DIR", dir.display(), here.display())]
    NoDir { dir: PathBuf, here: PathBuf },
    /// No rule of that name is served from the directory; `errors` are the directory's
    /// problems, one of which may be why.
    #[error("no rule named `{name}` in {}{}{}", dir.display(), close.as_ref().map(|c| format!("; did you mean `{c}`?")).unwrap_or_default(), errors.iter().map(|e| format!("\n{e}")).collect::<String>())]
    NotFound {
        name: String,
        dir: PathBuf,
        /// The served rule whose name is closest, if one is close.
        close: Option<String>,
        errors: Vec<Diagnostic>,
    },
}

fn lines(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The rule file `rule` if there is one, else the rule named `rule` in `dir`, either with
/// the libraries of the library search path `libraries`.
///
/// # Errors
///
/// When the file does not compile, or `dir` serves no rule of that name.
pub fn find_rule(
    rule: &str,
    dir: &Path,
    libraries: &[PathBuf],
) -> Result<Arc<LoadedRule>, FindRuleError> {
    let path = Path::new(rule);
    if path.is_file() {
        let compiled = CompiledRules::from_file(path, libraries).map_err(|error| {
            FindRuleError::UnreadableFile {
                file: rule.to_owned(),
                error,
            }
        })?;
        return compiled
            .rules
            .rules()
            .next()
            .cloned()
            .ok_or(FindRuleError::InvalidFile(compiled.report.errors));
    }
    if !dir.exists() && dir.is_relative() {
        return Err(FindRuleError::NoDir {
            dir: dir.to_path_buf(),
            here: std::env::current_dir().unwrap_or_default(),
        });
    }
    let compiled = CompiledRules::from_dir(dir, libraries)?;
    compiled
        .rules
        .get(rule)
        .cloned()
        .ok_or_else(|| FindRuleError::NotFound {
            name: rule.to_owned(),
            dir: dir.to_path_buf(),
            close: rulehook_engine::suggest(
                rule,
                compiled.rules.rules().map(|r| r.rule.name.as_str()),
            )
            .map(str::to_owned),
            errors: compiled.report.errors,
        })
}
