//! Helpers for the recipe's `name` / `name: value` YAML forms.

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

/// Splits a node written as `name` or as the one-key map `name: value`
/// into the name and the value (`Null` for the bare form).
pub(crate) fn split_tag(value: Value, what: &str) -> Result<(String, Value), String> {
    match value {
        Value::String(name) => Ok((name, Value::Null)),
        Value::Mapping(map) if map.len() == 1 => {
            let Some((key, value)) = map.into_iter().next() else {
                return Err(format!("empty {what} map"));
            };
            match key {
                Value::String(name) => Ok((name, value)),
                other => Err(format!(
                    "{what} name must be a string, not {}",
                    describe(&other)
                )),
            }
        }
        Value::Mapping(map) => Err(format!(
            "a {what} map has exactly one key, found {}: {}",
            map.len(),
            keys(&map)
        )),
        other => Err(format!(
            "a {what} is a name or a one-key map, not {}",
            describe(&other)
        )),
    }
}

/// Parses `value` as `T`, turning the YAML error into a message.
pub(crate) fn parse<T: DeserializeOwned>(value: Value, what: &str) -> Result<T, String> {
    serde_yaml_ng::from_value(value).map_err(|error| format!("{what}: {error}"))
}

/// Checks that a parameterless name has no value (`standardize`, or
/// `standardize: {}`).
pub(crate) fn expect_no_value(value: &Value, name: &str) -> Result<(), String> {
    match value {
        Value::Null => Ok(()),
        Value::Mapping(map) if map.is_empty() => Ok(()),
        other => Err(format!(
            "`{name}` takes no value, found {}",
            describe(other)
        )),
    }
}

/// The keys of a map, for messages.
pub(crate) fn keys(map: &serde_yaml_ng::Mapping) -> String {
    map.keys()
        .map(|key| match key {
            Value::String(text) => format!("`{text}`"),
            other => describe(other).to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A short name of a YAML node's kind.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}
