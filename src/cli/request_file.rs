//! Hook requests that people write for `render` and `test`: a file (or standard input) in
//! JSON or YAML. The server itself only takes JSON over HTTP; YAML is for hand-written
//! fixtures.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

/// Why a request could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RequestFileError {
    #[error("{source_name}: {error}")]
    Unreadable {
        /// The file as given, or `stdin`.
        source_name: String,
        error: std::io::Error,
    },
    #[error("{source_name}: neither JSON ({json}) nor YAML ({yaml})")]
    Unparsable {
        source_name: String,
        json: serde_json::Error,
        yaml: serde_yaml_ng::Error,
    },
}

/// The request in the file `source`, or on standard input when it is `-`.
///
/// # Errors
///
/// When it cannot be read, or is neither JSON nor YAML.
pub fn read(source: &str) -> Result<Value, RequestFileError> {
    if source != "-" {
        return read_path(Path::new(source));
    }
    let mut text = String::new();
    match std::io::stdin().read_to_string(&mut text) {
        Ok(_) => parse(&text, "-"),
        Err(error) => Err(RequestFileError::Unreadable {
            source_name: "stdin".to_owned(),
            error,
        }),
    }
}

/// The request in the file at `path`.
///
/// # Errors
///
/// When it cannot be read, or is neither JSON nor YAML.
pub fn read_path(path: &Path) -> Result<Value, RequestFileError> {
    let source_name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &source_name),
        Err(error) => Err(RequestFileError::Unreadable { source_name, error }),
    }
}

/// JSON first: it is what Metacontroller sends, and YAML would also take most of it.
fn parse(text: &str, source_name: &str) -> Result<Value, RequestFileError> {
    serde_json::from_str(text).or_else(|json| {
        serde_yaml_ng::from_str(text).map_err(|yaml| RequestFileError::Unparsable {
            source_name: source_name.to_owned(),
            json,
            yaml,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_may_be_json_or_yaml_and_an_error_names_both() {
        let json = parse(r#"{"parent": {"a": 1}}"#, "r.json").unwrap();
        let yaml = parse("parent:\n  a: 1\n", "r.yaml").unwrap();
        assert_eq!(json, yaml);
        let error = parse("a: [\n", "bad.yaml").unwrap_err().to_string();
        assert!(
            error.starts_with("bad.yaml: neither JSON (") && error.contains(") nor YAML ("),
            "{error}"
        );
    }
}
