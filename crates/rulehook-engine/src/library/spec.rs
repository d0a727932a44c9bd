//! The library file as written, for its JSON Schema: the keys the library's own reader
//! accepts (`LIBRARY_KEYS`, `FUNCTION_KEYS`, `TEMPLATE_KEYS`), which a test keeps equal.

use std::collections::BTreeMap;

use serde_json::Value;

/// One library file (`NAME.lib.yaml`): functions and templates that rules of its directory
/// import by name.
#[derive(Debug, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read only by schemars; the library is parsed by hand, place by place
pub struct LibrarySpec {
    /// Other libraries of the same directory whose functions and templates this one uses.
    #[serde(default)]
    imports: Vec<String>,
    /// Functions, called like helpers: `{{ name arg ... }}`.
    #[serde(default)]
    functions: BTreeMap<String, FunctionSpec>,
    /// Templates, put in place with `$use: name` and `$with: {param: ...}`.
    #[serde(default)]
    templates: BTreeMap<String, TemplateSpec>,
}

#[derive(Debug, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read only by schemars
struct FunctionSpec {
    /// The names its arguments are bound to, in order; with `now`, all it sees.
    #[serde(default)]
    params: Vec<String>,
    /// One whole `"{{ expression }}"`, which keeps its type.
    expr: String,
}

#[derive(Debug, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read only by schemars
struct TemplateSpec {
    /// The names `$with` must give; with `now`, all it sees.
    #[serde(default)]
    params: Vec<String>,
    /// Any template: object, list or leaf, with every directive.
    template: Value,
}
