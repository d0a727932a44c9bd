//! JSON Schemas for rule files and test suites, generated from the very types that parse
//! them, so the schemas cannot drift from what the loader accepts.

use serde_json::Value;

use super::spec::RuleSpec;
use super::suite::SuiteSpec;

/// The JSON Schema of a rule file.
pub fn rule() -> Value {
    let schema = schemars::schema_for!(RuleSpec);
    let mut value = serde_json::to_value(schema).unwrap_or_default();
    value["$id"] = Value::from("https://rulehook.dev/schemas/rule.schema.json");
    value
}

/// The JSON Schema of a library file (`*.lib.yaml`).
pub fn library() -> Value {
    let schema = schemars::schema_for!(crate::library::spec::LibrarySpec);
    let mut value = serde_json::to_value(schema).unwrap_or_default();
    value["$id"] = Value::from("https://rulehook.dev/schemas/library.schema.json");
    value
}

/// The JSON Schema of a test suite file.
pub fn test_suite() -> Value {
    let schema = schemars::schema_for!(SuiteSpec);
    let mut value = serde_json::to_value(schema).unwrap_or_default();
    value["$id"] = Value::from("https://rulehook.dev/schemas/test.schema.json");
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_schema_lists_every_top_level_key() {
        let schema = rule();
        let properties = schema["properties"].as_object().unwrap();
        let mut keys: Vec<&str> = properties.keys().map(String::as_str).collect();
        keys.sort();
        let mut expected = super::super::spec::RULE_KEYS.to_vec();
        expected.sort();
        assert_eq!(keys, expected);
        assert_eq!(schema["additionalProperties"], Value::Bool(false));
    }

    #[test]
    fn the_library_schema_has_the_keys_its_reader_accepts() {
        use crate::library::{FUNCTION_KEYS, LIBRARY_KEYS, TEMPLATE_KEYS};
        let schema = library();
        let keys = |at: &Value| {
            let mut keys: Vec<String> = at["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        };
        let sorted = |list: &[&str]| {
            let mut list: Vec<String> = list.iter().map(|k| (*k).to_owned()).collect();
            list.sort();
            list
        };
        assert_eq!(keys(&schema), sorted(LIBRARY_KEYS));
        assert_eq!(
            keys(&schema["$defs"]["FunctionSpec"]),
            sorted(FUNCTION_KEYS)
        );
        assert_eq!(
            keys(&schema["$defs"]["TemplateSpec"]),
            sorted(TEMPLATE_KEYS)
        );
    }

    #[test]
    fn the_committed_schemas_match_the_types() {
        // The committed schemas live at the repository root, two levels up.
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        for (file, schema) in [
            ("rule.schema.json", rule()),
            ("test.schema.json", test_suite()),
            ("library.schema.json", library()),
        ] {
            let committed = std::fs::read_to_string(format!("{root}/schemas/{file}"))
                .unwrap_or_else(|e| {
                    panic!("schemas/{file}: {e}; run `rulehook schema` to write it")
                });
            let committed: Value = serde_json::from_str(&committed).unwrap();
            assert_eq!(
                committed, schema,
                "schemas/{file} is stale: regenerate it with `cargo run -- schema`"
            );
        }
    }
}
