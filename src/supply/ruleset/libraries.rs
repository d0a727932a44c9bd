//! The libraries of a rule directory (`*.lib.yaml`) and of the library search path,
//! compiled before its rules at every reading, each after those it imports. Two files that
//! define one library name load neither. A rule's version is its text and the texts of
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
    /// The names that several files define, none of which loads, with those files.
    clashing: BTreeMap<String, Vec<String>>,
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
        // The files as read, the rule directory's first: the order a clash names them in.
        let order: Vec<String> = library_reads.iter().map(|r| r.file.clone()).collect();
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
        let clashes = clashes(&order, &out.texts);
        let files: Vec<(&str, &str)> = out
            .texts
            .iter()
            .filter(|(file, _)| !clashes.contains_key(name_of(file)))
            .map(|(file, text)| (file.as_str(), text.as_str()))
            .collect();
        let (set, failures) = compile_directory(&files);
        for (file, text) in &out.texts {
            let name = name_of(file);
            if clashes.contains_key(name) {
                continue;
            }
            let entry = (file.clone(), content_hash(text), imports_of(text));
            out.found.insert(name.to_owned(), entry);
        }
        for (name, files) in clashes {
            out.errors.push(clash_error(&name, &files));
            // A version of its own, so that every rule importing the name is compiled again
            // and told why it cannot load.
            let hashes: Vec<String> = files.iter().map(|f| content_hash(&out.texts[f])).collect();
            let entry = (
                files[0].clone(),
                content_hash(&hashes.join("\0")),
                Vec::new(),
            );
            out.found.insert(name.clone(), entry);
            out.failed.insert(name.clone());
            out.clashing.insert(name, files);
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
                broken = Some(self.why_broken(library));
            }
        }
        Version {
            hash: content_hash(&keyed),
            libraries: reached,
            broken,
        }
    }

    /// Why `library`, which does not load, stops a rule that reaches it.
    fn why_broken(&self, library: &LibraryVersion) -> String {
        let name = &library.name;
        match self.clashing.get(name) {
            Some(files) => format!(
                "cannot load: the library `{name}` it imports is defined by {}; rename one",
                files.join(" and by ")
            ),
            None => format!(
                "cannot load: the library `{name}` it imports ({}) does not load; fix the errors reported there",
                library.file
            ),
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

/// A library's name: its file name without `.lib.yaml`.
fn name_of(file: &str) -> &str {
    library_name(file).unwrap_or(file)
}

/// The library names that more than one file of `texts` has, each with its files in the
/// order of `order` (as read: the rule directory's, then the search path's in order).
fn clashes(order: &[String], texts: &BTreeMap<String, String>) -> BTreeMap<String, Vec<String>> {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in order.iter().filter(|f| texts.contains_key(*f)) {
        let files = by_name.entry(name_of(file).to_owned()).or_default();
        if !files.contains(file) {
            files.push(file.clone());
        }
    }
    by_name.retain(|_, files| files.len() > 1);
    by_name
}

/// Two files or more define the library `name`: none of them loads, since a rule names a
/// library only by its name and would silently get one of them.
fn clash_error(name: &str, files: &[String]) -> Diagnostic {
    let others = files[1..].join(", ");
    Diagnostic::new(
        &files[0],
        1,
        1,
        format!(
            "the library `{name}` is also defined by {others}; a rule imports a library by its name, so no two files beside the rules or on the library search path (--libraries) may share one: rename one"
        ),
    )
}

/// A rule's version: see [`Libraries::version`].
pub(crate) struct Version {
    pub(crate) hash: String,
    pub(crate) libraries: Vec<LibraryVersion>,
    /// Why a library it reaches does not load, to be told at the rule.
    pub(crate) broken: Option<String>,
}

/// One library as a rule was compiled with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryVersion {
    pub name: String,
    pub file: String,
    /// Hex SHA-256 of the library file's text.
    pub sha256: String,
}
