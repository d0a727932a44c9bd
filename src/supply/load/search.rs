//! The library search path (`--libraries DIR`): directories of libraries shared by the rules
//! of every rule directory, read as if their libraries lay beside the rules.
//!
//! Only the libraries (`*.lib.yaml`) directly in each directory are read, with the same link
//! rules as a rule directory, so a ConfigMap mounted there works as one mounted as the rule
//! directory does. Anything else in it is left alone. A library there with the name of one
//! beside the rules is an error of the merge, which sees both files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{read_dir, ReadDirError};
use crate::supply::ruleset::{is_library_file, FileRead};

/// The library files directly in each directory of `dirs`, in the order given, each
/// directory's in path order.
///
/// # Errors
///
/// When one of the directories cannot be listed: its libraries are not known, and a server
/// keeps what it serves rather than drop the rules that import them.
pub(super) fn library_path_reads(
    dirs: &[PathBuf],
    quiet_period: Duration,
    max_bytes: usize,
) -> Result<Vec<FileRead>, ReadDirError> {
    let mut reads = Vec::new();
    for dir in dirs {
        let found = read_dir(dir, quiet_period, max_bytes).map_err(|error| ReadDirError {
            dir: dir.clone(),
            error,
        })?;
        reads.extend(found.into_iter().filter(|read| is_library_file(&read.file)));
    }
    Ok(reads)
}

/// Whether `dir` is one of the search path's directories (compared by where they lead), which
/// a walk of a tree leaves out: its libraries join every rule directory instead.
pub(super) fn is_search_dir(dir: &Path, dirs: &[PathBuf]) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    dirs.iter()
        .any(|d| d.canonicalize().is_ok_and(|d| d == dir))
}

impl From<ReadDirError> for std::io::Error {
    fn from(e: ReadDirError) -> Self {
        std::io::Error::new(e.error.kind(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_libraries_of_a_search_directory_are_read() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        std::fs::write(dir.join("labels.lib.yaml"), "functions: {}\n").unwrap();
        std::fs::write(dir.join("hello.yaml"), "name: hello\n").unwrap();
        let reads = library_path_reads(&[dir.to_path_buf()], Duration::ZERO, usize::MAX).unwrap();
        let files: Vec<&str> = reads.iter().map(|r| r.file.as_str()).collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].ends_with("labels.lib.yaml"), "{files:?}");
    }

    #[test]
    fn a_search_directory_that_cannot_be_listed_is_an_error_naming_it() {
        let temp = tempfile::tempdir().unwrap();
        let missing = temp.path().join("missing");
        let error = library_path_reads(std::slice::from_ref(&missing), Duration::ZERO, usize::MAX)
            .unwrap_err();
        assert_eq!(error.dir, missing);
        assert!(is_search_dir(temp.path(), &[temp.path().join(".")]));
        assert!(!is_search_dir(&missing, std::slice::from_ref(&missing)));
    }
}
