//! The libraries of a rule directory (`*.lib.yaml`), compiled before its rules at every
//! reading, each after those it imports. A rule's version is its text and the texts of
//! every library it reaches, so a changed library recompiles exactly the rules that use
//! it, directly or not, and a rule whose library fails keeps its last good version.

use std::collections::{BTreeMap, BTreeSet};

use rulehook_engine::{compile_directory, imports_of, library_name, Diagnostic, LibrarySet};

use super::{content_hash, FileRead, ReadResult, UpdateReport};

/// Whether a file label names a library rather than a rule.
pub(crate) fn is_library_file(file: &str) -> bool {
    library_name(file).is_some()
}

/// A directory's libraries as of one reading.
#[derive(Debug, Default, Clone)]
pub(crate) struct Libraries {
    pub(crate) set: LibrarySet,
    /// The text each library file was last read with, by file: what a reading that could
    /// not read one this time goes on with.
    texts: BTreeMap<String, String>,
    /// By library name: its file, the hash of its text, and what it imports.
    found: BTreeMap<String, (String, String, Vec<String>)>,
    /// The libraries that do not load, by name, and every problem of each.
    pub(crate) errors: Vec<Diagnostic>,
    failed: BTreeSet<String>,
}

impl Libraries {
    /// Compiles the library files of `reads` (taking them out), with `previous` the
    /// libraries of the last reading for files that could not be read this time.
    pub(crate) fn compile(
        previous: &Libraries,
        reads: &mut Vec<FileRead>,
        report: &mut UpdateReport,
    ) -> Libraries {
        let (library_reads, rules): (Vec<FileRead>, Vec<FileRead>) = std::mem::take(reads)
            .into_iter()
            .partition(|r| is_library_file(&r.file));
        *reads = rules;
        let mut out = Libraries::default();
        for read in library_reads {
            let text = match read.content {
                ReadResult::Text(text) => Some(text),
                ReadResult::Transient(why) => {
                    report.transient.push(format!("{}: {why}", read.file));
                    previous.texts.get(&read.file).cloned()
                }
                ReadResult::Settling(quiet_in) => {
                    report.settling.push(read.file.clone());
                    report.quiet_in = Some(report.quiet_in.map_or(quiet_in, |q| q.min(quiet_in)));
                    previous.texts.get(&read.file).cloned()
                }
                ReadResult::Unreadable(why) | ReadResult::Refused(why) => {
                    out.errors.push(Diagnostic::new(&read.file, 1, 1, why));
                    None
                }
            };
            if let Some(text) = text {
                out.texts.insert(read.file, text);
            }
        }
        let files: Vec<(&str, &str)> = out
            .texts
            .iter()
            .map(|(file, text)| (file.as_str(), text.as_str()))
            .collect();
        let (set, failures) = compile_directory(&files);
        for (file, text) in &out.texts {
            let name = library_name(file).unwrap_or(file).to_owned();
            let entry = (file.clone(), content_hash(text), imports_of(text));
            out.found.insert(name, entry);
        }
        for (file, diagnostics) in failures {
            out.failed
                .insert(library_name(&file).unwrap_or(&file).to_owned());
            out.errors.extend(diagnostics);
        }
        out.set = set;
        report.changed |= out.texts != previous.texts;
        out
    }

    /// The version of a rule's text with the libraries it reaches: its hash, the libraries
    /// it reaches (in name order), and the first of them that does not load, with its file.
    pub(crate) fn version(&self, text: &str) -> Version {
        let reached = self.reached(imports_of(text));
        if reached.is_empty() {
            return Version {
                hash: content_hash(text),
                libraries: Vec::new(),
                broken: None,
            };
        }
        let mut keyed = text.to_owned();
        let mut broken = None;
        for library in &reached {
            keyed.push_str(&format!("\0{}:{}", library.name, library.sha256));
            if broken.is_none() && self.failed.contains(&library.name) {
                broken = Some((library.name.clone(), library.file.clone()));
            }
        }
        Version {
            hash: content_hash(&keyed),
            libraries: reached,
            broken,
        }
    }

    /// Every library that `imports` reach, directly or through another library, by name;
    /// one not found has an empty file and the hash `missing`.
    fn reached(&self, imports: Vec<String>) -> Vec<LibraryVersion> {
        let mut reached: BTreeSet<String> = BTreeSet::new();
        let mut todo = imports;
        while let Some(name) = todo.pop() {
            if !reached.insert(name.clone()) {
                continue;
            }
            if let Some((_, _, imports)) = self.found.get(&name) {
                todo.extend(imports.iter().cloned());
            }
        }
        reached
            .into_iter()
            .map(|name| {
                let (file, sha256) = self.found.get(&name).map_or_else(
                    || (String::new(), "missing".to_owned()),
                    |(file, hash, _)| (file.clone(), hash.clone()),
                );
                LibraryVersion { name, file, sha256 }
            })
            .collect()
    }

    /// The libraries that load, each with its file and the hash of its text, by name.
    pub(crate) fn loaded(&self) -> impl Iterator<Item = LibraryVersion> + '_ {
        self.found
            .iter()
            .filter(|(name, _)| !self.failed.contains(*name))
            .map(|(name, (file, sha256, _))| LibraryVersion {
                name: name.clone(),
                file: file.clone(),
                sha256: sha256.clone(),
            })
    }
}

/// A rule's version: see [`Libraries::version`].
pub(crate) struct Version {
    pub(crate) hash: String,
    pub(crate) libraries: Vec<LibraryVersion>,
    pub(crate) broken: Option<(String, String)>,
}

/// One library as a rule was compiled with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryVersion {
    pub name: String,
    pub file: String,
    /// Hex SHA-256 of the library file's text.
    pub sha256: String,
}
