//! What the response checks read back of a written list (children, attachments, related
//! resource rules): each item's type and the few facts Metacontroller needs of it, taken
//! from the bytes without building the items. Whatever the checks do not read is skipped by
//! the parser's own loop, so an item nests as deep as it likes without the read recursing.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::metacontroller::RELATED_RESOURCE_KEYS;

/// What the checks know of one written value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Head {
    /// A map, and whether it has each string Metacontroller needs of a child.
    Map {
        api_version: bool,
        kind: bool,
        name: bool,
    },
    /// A related-resource rule (a map read for its keys).
    Rule(RuleHead),
    /// A string, and whether it has any text.
    String { empty: bool },
    /// A list that holds only strings.
    Strings,
    /// Anything else, by its type's name.
    Other(&'static str),
}

impl Head {
    /// The name of its JSON type, in [`type_name`](crate::json::type_name)'s words.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Head::Map { .. } | Head::Rule(_) => "a map",
            Head::String { .. } => "a string",
            Head::Strings => "a list",
            Head::Other(type_name) => type_name,
        }
    }
}

/// What the checks know of a related-resource rule: the keys it has, each as the check
/// needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RuleHead {
    /// The first key Metacontroller does not know, in written order.
    pub(crate) unknown_key: Option<String>,
    pub(crate) api_version_string: bool,
    pub(crate) resource_string: bool,
    /// `Some` when it has `names`: whether they are a list of strings.
    pub(crate) names_strings: Option<bool>,
    pub(crate) label_selector: bool,
    pub(crate) namespace: bool,
    pub(crate) namespace_selector: bool,
}

/// What the items of a written list are.
#[derive(Clone, Copy)]
pub(crate) enum Items {
    /// Children or attachments.
    Objects,
    /// Related-resource rules.
    Rules,
}

/// Checks each item of the written list `list` as it is read, and gives the first that
/// fails, with its index. Nothing is kept of an item once it is checked, so checking a long
/// list takes no memory beyond the written bytes.
///
/// # Errors
///
/// When `list` is not a JSON list, which a list the writer wrote always is.
pub(crate) fn first_failure<E>(
    list: &[u8],
    items: Items,
    check: impl Fn(Head) -> Result<(), E>,
) -> Result<Option<(usize, E)>, serde_json::Error> {
    let each = match items {
        Items::Objects => Read::Item,
        Items::Rules => Read::Rule,
    };
    let mut parser = serde_json::Deserializer::from_slice(list);
    let failure = CheckEach { each, check }.deserialize(&mut parser)?;
    parser.end()?;
    Ok(failure)
}

/// A list, each item read as its `Read` says and checked by `check`.
struct CheckEach<F> {
    each: Read,
    check: F,
}

impl<'de, E, F: Fn(Head) -> Result<(), E>> DeserializeSeed<'de> for CheckEach<F> {
    type Value = Option<(usize, E)>;

    fn deserialize<D: Deserializer<'de>>(self, parser: D) -> Result<Self::Value, D::Error> {
        parser.deserialize_seq(self)
    }
}

impl<'de, E, F: Fn(Head) -> Result<(), E>> Visitor<'de> for CheckEach<F> {
    type Value = Option<(usize, E)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        let mut index = 0;
        while let Some(head) = items.next_element_seed(self.each)? {
            if let Err(failure) = (self.check)(head) {
                // The rest is only skipped: a list must still end where it ends.
                while items.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(Some((index, failure)));
            }
            index += 1;
        }
        Ok(None)
    }
}

/// Which value is being read, so which of its keys matter.
#[derive(Clone, Copy)]
enum Read {
    /// A list item: its `apiVersion`, `kind` and `metadata`.
    Item,
    /// An item's `metadata`: its `name`.
    Metadata,
    /// A related-resource rule: its keys.
    Rule,
    /// A rule's `names`: whether each is a string.
    Names,
    /// A string the checks need, or whatever stands in its place.
    Leaf,
}

impl<'de> DeserializeSeed<'de> for Read {
    type Value = Head;

    fn deserialize<D: Deserializer<'de>>(self, parser: D) -> Result<Head, D::Error> {
        parser.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Read {
    type Value = Head;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Head, E> {
        Ok(Head::Other("a bool"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Head, E> {
        Ok(Head::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Head, E> {
        Ok(Head::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Head, E> {
        Ok(Head::Other("a number"))
    }

    fn visit_str<E>(self, text: &str) -> Result<Head, E> {
        Ok(Head::String {
            empty: text.is_empty(),
        })
    }

    fn visit_unit<E>(self) -> Result<Head, E> {
        Ok(Head::Other("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Head, A::Error> {
        let Read::Names = self else {
            while items.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Head::Other("a list"));
        };
        let mut strings = true;
        while let Some(name) = items.next_element_seed(Read::Leaf)? {
            strings &= matches!(name, Head::String { .. });
        }
        Ok(if strings {
            Head::Strings
        } else {
            Head::Other("a list")
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Head, A::Error> {
        if let Read::Rule = self {
            return read_rule(entries).map(Head::Rule);
        }
        let (mut api_version, mut kind, mut name) = (false, false, false);
        while let Some(KeyName(key)) = entries.next_key()? {
            let has_text = |head: Head| head == Head::String { empty: false };
            match (self, key) {
                (Read::Item, Some("apiVersion")) => {
                    api_version = has_text(entries.next_value_seed(Read::Leaf)?);
                }
                (Read::Item, Some("kind")) => kind = has_text(entries.next_value_seed(Read::Leaf)?),
                (Read::Item, Some("metadata")) => {
                    let metadata = entries.next_value_seed(Read::Metadata)?;
                    name = matches!(metadata, Head::Map { name: true, .. });
                }
                (Read::Metadata, Some("name")) => {
                    name = has_text(entries.next_value_seed(Read::Leaf)?);
                }
                _ => {
                    entries.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Head::Map {
            api_version,
            kind,
            name,
        })
    }
}

/// A related-resource rule's keys, and what the check needs of their values.
fn read_rule<'de, A: MapAccess<'de>>(mut entries: A) -> Result<RuleHead, A::Error> {
    let mut rule = RuleHead::default();
    while let Some(key) = entries.next_key_seed(RuleKey)? {
        let is_string = |head: Head| matches!(head, Head::String { .. });
        match key {
            Ok("apiVersion") => {
                rule.api_version_string = is_string(entries.next_value_seed(Read::Leaf)?);
            }
            Ok("resource") => {
                rule.resource_string = is_string(entries.next_value_seed(Read::Leaf)?);
            }
            Ok("names") => {
                let names = entries.next_value_seed(Read::Names)?;
                rule.names_strings = Some(names == Head::Strings);
            }
            known_or_not => {
                entries.next_value::<IgnoredAny>()?;
                match known_or_not {
                    Ok("labelSelector") => rule.label_selector = true,
                    Ok("namespace") => rule.namespace = true,
                    Ok("namespaceSelector") => rule.namespace_selector = true,
                    Ok(_) => {}
                    Err(unknown) => {
                        rule.unknown_key.get_or_insert(unknown);
                    }
                }
            }
        }
    }
    Ok(rule)
}

/// A related-resource rule's key: one Metacontroller knows, or the text of one it does not.
struct RuleKey;

impl<'de> DeserializeSeed<'de> for RuleKey {
    type Value = Result<&'static str, String>;

    fn deserialize<D: Deserializer<'de>>(self, parser: D) -> Result<Self::Value, D::Error> {
        parser.deserialize_str(self)
    }
}

impl Visitor<'_> for RuleKey {
    type Value = Result<&'static str, String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(RELATED_RESOURCE_KEYS
            .iter()
            .copied()
            .find(|k| *k == key)
            .ok_or_else(|| key.to_owned()))
    }
}

/// A key, when it is one the checks read.
struct KeyName(Option<&'static str>);

impl<'de> serde::Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(parser: D) -> Result<KeyName, D::Error> {
        parser.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = KeyName;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, key: &str) -> Result<KeyName, E> {
        Ok(KeyName(
            ["apiVersion", "kind", "metadata", "name"]
                .into_iter()
                .find(|k| *k == key),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every head of `list`, as the checks see them one by one.
    fn read_all(list: &str, items: Items) -> Vec<Head> {
        let seen = std::cell::RefCell::new(Vec::new());
        let failed = first_failure(list.as_bytes(), items, |head| {
            seen.borrow_mut().push(head);
            Ok::<(), ()>(())
        });
        assert_eq!(failed.expect("a list"), None);
        seen.into_inner()
    }

    fn heads(list: &str) -> Vec<Head> {
        read_all(list, Items::Objects)
    }

    #[test]
    fn the_first_item_that_fails_is_named_and_the_rest_must_still_be_json() {
        let failing = |head: Head| match head {
            Head::Other(name) => Err(name),
            _ => Ok(()),
        };
        let list = br#"[{"kind":"Pod"},"a",3,{"x":[1,2]},true]"#;
        assert_eq!(
            first_failure(list, Items::Objects, failing).unwrap(),
            Some((2, "a number"))
        );
        assert!(first_failure(br#"[{},3,{"x":]"#, Items::Objects, failing).is_err());
    }

    #[test]
    fn an_item_has_the_strings_it_names_with_text() {
        let item = |api_version, kind, name| Head::Map {
            api_version,
            kind,
            name,
        };
        assert_eq!(
            heads(
                r#"[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}},
                    {"apiVersion":"","kind":1,"metadata":{"name":["a"]}},
                    {"metadata":"a","x":{"apiVersion":"v1"}},
                    {"a\u0070iVersion":"v1","kind":"\u0000"}]"#
            ),
            [
                item(true, true, true),
                item(false, false, false),
                item(false, false, false),
                item(true, true, false),
            ]
        );
    }

    #[test]
    fn an_item_that_is_no_map_is_named_by_its_type() {
        assert_eq!(
            heads(r#"["",1,-2.5,true,[{"kind":"Pod"}],null]"#),
            [
                Head::String { empty: true },
                Head::Other("a number"),
                Head::Other("a number"),
                Head::Other("a bool"),
                Head::Other("a list"),
                Head::Other("null"),
            ]
        );
    }

    #[test]
    fn what_the_checks_do_not_read_may_nest_past_the_parsers_limit() {
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        let list = format!(
            r#"[{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"a","x":{deep}}},"spec":{deep}}}]"#
        );
        assert!(matches!(heads(&list)[..], [Head::Map { name: true, .. }]));
    }

    #[test]
    fn a_related_resource_rule_is_read_for_its_keys_however_deep_its_values() {
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        let list = format!(
            r#"[{{"Names":1,"apiVersion":"v1","labelSelector":{deep},"names":["a",""],"resource":2,"x":3}},
                {{"names":["a",["b"]],"namespace":"n","namespaceSelector":{{}}}},"v1"]"#
        );
        let rules = read_all(&list, Items::Rules);
        assert_eq!(
            rules,
            [
                Head::Rule(RuleHead {
                    unknown_key: Some("Names".to_owned()),
                    api_version_string: true,
                    names_strings: Some(true),
                    label_selector: true,
                    ..RuleHead::default()
                }),
                Head::Rule(RuleHead {
                    names_strings: Some(false),
                    namespace: true,
                    namespace_selector: true,
                    ..RuleHead::default()
                }),
                Head::String { empty: false },
            ]
        );
    }
}
