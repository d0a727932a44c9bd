//! Printing answers the way people read Kubernetes objects: `apiVersion`, `kind` and
//! `metadata` first, then the other keys in order, as JSON or YAML.

use serde_json::Value;
use serde_yaml_ng::{Mapping, Value as Yaml};

/// How a command prints a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Yaml,
}

/// The keys Kubernetes tools print first, in this order.
const FIRST_KEYS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// `value` as text in `format`, objects with their identifying keys first.
pub fn to_text(value: &Value, format: Format) -> Result<String, String> {
    let ordered = kubernetes_order(value);
    match format {
        Format::Json => serde_json::to_string_pretty(&ordered)
            .map(|text| text + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => serde_yaml_ng::to_string(&ordered).map_err(|e| e.to_string()),
    }
}

/// A copy of `value` whose maps keep `apiVersion`, `kind` and `metadata` first (serde_yaml_ng
/// maps keep insertion order, and serialize as JSON in that order too).
fn kubernetes_order(value: &Value) -> Yaml {
    match value {
        Value::Object(map) => {
            let mut out = Mapping::with_capacity(map.len());
            let first = FIRST_KEYS.iter().filter_map(|k| map.get_key_value(*k));
            let rest = map
                .iter()
                .filter(|(k, _)| !FIRST_KEYS.contains(&k.as_str()));
            for (k, v) in first.chain(rest) {
                out.insert(Yaml::String(k.clone()), kubernetes_order(v));
            }
            Yaml::Mapping(out)
        }
        Value::Array(items) => Yaml::Sequence(items.iter().map(kubernetes_order).collect()),
        Value::String(s) => Yaml::String(s.clone()),
        Value::Number(n) => serde_yaml_ng::to_value(n).unwrap_or(Yaml::Null),
        Value::Bool(b) => Yaml::Bool(*b),
        Value::Null => Yaml::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifying_keys_come_first_at_every_depth() {
        let v = serde_json::json!({"spec": {"b": 1, "a": 2}, "metadata": {"name": "x"},
            "kind": "Pod", "apiVersion": "v1",
            "items": [{"kind": "K", "apiVersion": "v", "data": 1}]});
        let json = to_text(&v, Format::Json).unwrap();
        let keys: Vec<usize> = [
            "\"apiVersion\"",
            "\"kind\"",
            "\"metadata\"",
            "\"items\"",
            "\"spec\"",
        ]
        .iter()
        .map(|k| json.find(k).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{json}");
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
        let yaml = to_text(&v, Format::Yaml).unwrap();
        assert!(
            yaml.starts_with("apiVersion: v1\nkind: Pod\nmetadata:\n"),
            "{yaml}"
        );
        assert!(yaml.contains("- apiVersion: v\n  kind: K\n"), "{yaml}");
    }
}
