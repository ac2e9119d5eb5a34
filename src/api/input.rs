//! Reading request input: the name and id rules of paths, and the shapes of JSON bodies,
//! each refusal a `400` that says what was wrong.

use crate::error::{Error, Result};
use crate::ids::{valid_table_name, valid_tenant_id, DocId};
use crate::json::Parser;
use crate::value::{Object, Value};

pub fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

pub fn tenant(id: &str) -> Result<String> {
    if valid_tenant_id(id) {
        Ok(id.to_string())
    } else {
        Err(bad(format!(
            "invalid tenant id `{id}` (1-64 of A-Z a-z 0-9 _ -)"
        )))
    }
}

pub fn table(name: &str) -> Result<String> {
    if valid_table_name(name) {
        Ok(name.to_string())
    } else {
        Err(bad(format!(
            "invalid table name `{name}` (1-64 chars, [A-Za-z][A-Za-z0-9_]*)"
        )))
    }
}

pub fn job_id(id: &str) -> Result<DocId> {
    DocId::parse(id).ok_or_else(|| bad(format!("invalid job id `{id}`")))
}

pub fn doc_id(id: &str) -> Result<DocId> {
    DocId::parse(id).ok_or_else(|| bad(format!("invalid document id `{id}`")))
}

/// User fields: an object whose keys do not start with `_`.
pub fn user_fields(v: Option<Value>, what: &str) -> Result<Object> {
    match v {
        Some(Value::Object(o)) => {
            if let Some((k, _)) = o.iter().find(|(k, _)| k.starts_with('_') || k.is_empty()) {
                return Err(bad(format!(
                    "field `{k}` in {what} is reserved: user field names must not be empty or start with `_`"
                )));
            }
            Ok(o)
        }
        Some(other) => Err(bad(format!(
            "{what} must be an object, not {}",
            other.type_name()
        ))),
        None => Err(bad(format!("{what} is required"))),
    }
}

/// Removes and returns field `key` of an object.
pub fn take(v: &mut Value, key: &str) -> Option<Value> {
    match v {
        Value::Object(o) => o
            .iter()
            .position(|(k, _)| &**k == key)
            .map(|i| o.swap_remove(i).1),
        _ => None,
    }
}

/// Parses a body that must be a JSON object.
pub fn body_object(parser: &mut Parser, body: &mut [u8]) -> Result<Value> {
    let v = parser.parse(body).map_err(|e| Error::InvalidInput(e.0))?;
    if v.as_object().is_none() {
        return Err(bad(format!(
            "request body must be a JSON object, not {}",
            v.type_name()
        )));
    }
    Ok(v)
}

/// A required string field of an object, validated by `check`.
pub fn string_field<T>(
    v: &mut Value,
    key: &str,
    check: impl FnOnce(&str) -> Result<T>,
) -> Result<T> {
    match take(v, key) {
        Some(Value::Str(s)) => check(&s),
        Some(_) => Err(bad(format!("`{key}` must be a string"))),
        None => Err(bad(format!("`{key}` is required"))),
    }
}
