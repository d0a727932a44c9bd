//! The rules a suite's cases name: a rule of the suite's directory by name, or a rule file
//! by its path from the suite.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::rule_lookup::find_rule;
use rulehook::supply::load::CompiledRules;
use rulehook::supply::ruleset::LoadedRule;

/// The rules one suite's cases name, each read once for the whole suite.
pub struct SuiteRules {
    dir: PathBuf,
    /// The library search path, for every rule.
    libraries: Vec<PathBuf>,
    /// The suite's directory, read at the first case that names a rule in it.
    dir_rules: Option<Result<CompiledRules, String>>,
    /// Rule files named by path, each read at the first case that names it.
    files: HashMap<String, Result<Arc<LoadedRule>, String>>,
}

impl SuiteRules {
    /// The rules for a suite in `dir`, with the library search path `libraries`.
    pub fn new(dir: &Path, libraries: &[PathBuf]) -> Self {
        SuiteRules {
            dir: dir.to_path_buf(),
            libraries: libraries.to_vec(),
            dir_rules: None,
            files: HashMap::new(),
        }
    }

    /// A rule by name from the directory, or by path (relative to the suite) to a file.
    pub fn get(&mut self, rule: &str) -> Result<Arc<LoadedRule>, String> {
        if rule.ends_with(".yaml") || rule.ends_with(".yml") {
            let path = self.dir.join(rule);
            return self
                .files
                .entry(rule.to_owned())
                .or_insert_with(|| {
                    find_rule(&path.display().to_string(), Path::new("."), &self.libraries)
                        .map_err(|e| e.to_string())
                })
                .clone();
        }
        let (dir, libraries) = (&self.dir, &self.libraries);
        let compiled = self.dir_rules.get_or_insert_with(|| {
            CompiledRules::from_dir(dir, libraries).map_err(|e| e.to_string())
        });
        let compiled = compiled.as_ref().map_err(Clone::clone)?;
        if let Some(loaded) = compiled.rules.get(rule) {
            return Ok(loaded.clone());
        }
        let errors: Vec<String> = compiled
            .report
            .errors
            .iter()
            .map(ToString::to_string)
            .collect();
        if errors.is_empty() {
            Err(format!("no rule named `{rule}` in {}", dir.display()))
        } else {
            Err(format!(
                "no rule named `{rule}` is loaded from {}:\n{}",
                dir.display(),
                errors.join("\n")
            ))
        }
    }
}
