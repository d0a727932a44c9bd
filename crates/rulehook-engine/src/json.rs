//! Small facts about JSON values that templates, helpers and request checks all need.

use serde_json::Value;

/// JSON truthiness as handlebars' `if` sees it: false, null, 0, "" and [] are false.
pub fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(_)) => true,
    }
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// The type of a JSON text the engine wrote, in [`type_name`]'s words: its first byte tells.
/// The engine never writes `null`, nor whitespace before a value.
pub fn written_type_name(json: &[u8]) -> &'static str {
    match json.first() {
        Some(b'{') => "a map",
        Some(b'[') => "a list",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a bool",
        Some(b'n') | None => "null",
        Some(_) => "a number",
    }
}

/// Whether `s` can be named as a plain path segment in a template (`{{ name }}`).
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_written_value_is_named_as_the_value_is() {
        for value in [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-1.5),
            json!(""),
            json!([]),
            json!({}),
        ] {
            let written = serde_json::to_vec(&value).unwrap();
            assert_eq!(written_type_name(&written), type_name(&value), "{value}");
        }
    }
}
