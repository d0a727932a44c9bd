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

    /// The version of a rule's text with the libraries it reaches: its hash, and the first
    /// library it reaches that does not load, with that library's file.
    pub(crate) fn version(&self, text: &str) -> (String, Option<(String, String)>) {
        let imports = imports_of(text);
        if imports.is_empty() {
            return (content_hash(text), None);
        }
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
        let mut keyed = text.to_owned();
        let mut broken = None;
        for name in &reached {
            let hash = self.found.get(name).map_or("missing", |(_, hash, _)| hash);
            keyed.push_str(&format!("\0{name}:{hash}"));
            if broken.is_none() && self.failed.contains(name) {
                let file = self.found.get(name).map(|(file, _, _)| file.clone());
                broken = Some((name.clone(), file.unwrap_or_default()));
            }
        }
        (content_hash(&keyed), broken)
    }
}
