//! Tenant keys (DECISIONS §10): `POST|GET /api/tenants/{t}/keys`, `DELETE …/keys/{id}`.
//!
//! The secret is made on the core that received the request (it reads the OS random
//! source) and travels in the op only so the owner can show it once in the `201`; the store
//! and the log get its hash. Every shard's key directory is updated by the shard before it
//! answers (see `State::commit`).

use super::input::{bad, tenant};
use super::{Input, Request};
use crate::auth::keys::{self, Scope};
use crate::auth::origin::parse_origin;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::http::parse::Method;
use crate::http::route::Route;
use crate::ids::DocId;
use crate::state::State;
use crate::store::{Change, Key};
use crate::value::Value;

/// Longest key name, in characters.
pub const NAME_MAX: usize = 64;
/// Most origins one key may list.
pub const ORIGINS_MAX: usize = 32;

/// An operation on the keys of one tenant.
#[derive(Debug)]
pub enum Op {
    Create { key: Key, secret: String },
    List,
    Revoke { id: DocId },
}

pub fn decode(mut input: Input<'_, '_>) -> Result<Request> {
    let reads = input.reads();
    let (t, op) = match (input.route, input.method) {
        (Route::Keys(t), _) if reads => (tenant(t)?, Op::List),
        (Route::Keys(t), Method::Post) => {
            let t = tenant(t)?;
            (t, create(&input.object()?, now_ms())?)
        }
        (Route::Key(t, id), Method::Delete) => {
            let id = DocId::parse(id).ok_or_else(|| bad(format!("invalid key id `{id}`")))?;
            (tenant(t)?, Op::Revoke { id })
        }
        _ => return Err(input.not_allowed()),
    };
    Ok(Request::Op(super::Op::of(t, op)))
}

/// `{"name", "scope", "origins"?, "expires_at"?}`: a new key with a fresh secret.
fn create(v: &Value, now: u64) -> Result<Op> {
    let Value::Object(fields) = v else {
        return Err(bad("the body must be a JSON object"));
    };
    if let Some((k, _)) = fields
        .iter()
        .find(|(k, _)| !matches!(&**k, "name" | "scope" | "origins" | "expires_at"))
    {
        return Err(bad(format!(
            "unknown field `{k}` (a key has name, scope, origins and expires_at)"
        )));
    }
    let name = match v.get("name") {
        Some(Value::Str(n)) if !n.is_empty() && n.chars().count() <= NAME_MAX => n.to_string(),
        Some(Value::Str(_)) => return Err(bad(format!("`name` must be 1-{NAME_MAX} characters"))),
        _ => return Err(bad("`name` is required: a string")),
    };
    let scope = match v.get("scope") {
        Some(Value::Str(s)) => Scope::parse(s).ok_or_else(|| {
            bad(format!(
                "unknown scope `{s}` (one of read, write, admin, functions)"
            ))
        })?,
        _ => return Err(bad("`scope` is required: read, write, admin or functions")),
    };
    let origins = origins(v.get("origins"))?;
    let expires_at = match v.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(n) => match n.as_u64() {
            Some(at) if at > now => Some(at),
            Some(_) => return Err(bad("`expires_at` is in the past")),
            None => {
                return Err(bad(
                    "`expires_at` must be a time in ms since the epoch, or null",
                ))
            }
        },
    };
    let secret = keys::new_secret(scope)
        .map_err(|e| Error::Internal(format!("no randomness for a key: {e}")))?;
    let key = Key {
        id: DocId(ulid::Ulid::new().0),
        name,
        scope,
        origins,
        created_at: now,
        expires_at,
        hash: keys::hash(secret.as_bytes()),
    };
    Ok(Op::Create { key, secret })
}

/// `origins`: absent, null, or an array of `scheme://host[:port]`, kept lowercased.
fn origins(v: Option<&Value>) -> Result<Vec<String>> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("`origins` must be an array of origins")),
    };
    if list.len() > ORIGINS_MAX {
        return Err(bad(format!("a key lists at most {ORIGINS_MAX} origins")));
    }
    let mut out = Vec::with_capacity(list.len());
    for o in list {
        let Value::Str(text) = o else {
            return Err(bad("`origins` must be an array of strings"));
        };
        let origin = parse_origin(text).map_err(bad)?;
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

pub fn execute(state: &mut State, tenant: String, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    match op {
        Op::List => {
            let t = state.store.tenant(&tenant)?;
            out.extend_from_slice(b"{\"keys\":");
            crate::json::write_array(out, t.keys.values(), |out, k| k.write_json(out));
            out.push(b'}');
            Ok((200, 0))
        }
        Op::Create { key, secret } => {
            let mut shown = Vec::new();
            key.write_json(&mut shown);
            let seq = state.commit(Change::CreateKey { tenant, key })?;
            // The listing's object with the secret after the id: shown this once.
            let after_id = b"{\"id\":\"".len() + 26 + 1;
            out.extend_from_slice(&shown[..after_id]);
            out.extend_from_slice(b",\"key\":");
            crate::json::write_str(out, &secret);
            out.extend_from_slice(&shown[after_id..]);
            Ok((201, seq))
        }
        Op::Revoke { id } => {
            let seq = state.commit(Change::RevokeKey { tenant, id })?;
            Ok((204, seq))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(text: &str) -> Value {
        crate::json::parse_once(text.as_bytes()).expect("json")
    }

    #[test]
    fn a_key_request_is_checked_before_anything_is_made() {
        let ok = create(
            &obj(r#"{"name":"web","scope":"read","origins":["HTTPS://App.example.com"]}"#),
            10,
        );
        match ok {
            Ok(Op::Create { key, secret }) => {
                assert!(secret.starts_with("nimbus_r_"));
                assert_eq!(key.hash, keys::hash(secret.as_bytes()));
                assert_eq!(key.origins, vec!["https://app.example.com".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        let long = format!(r#"{{"name":"{}","scope":"read"}}"#, "x".repeat(65));
        for bad_body in [
            r#"{"scope":"read"}"#,
            r#"{"name":"","scope":"read"}"#,
            long.as_str(),
            r#"{"name":"a","scope":"root"}"#,
            r#"{"name":"a"}"#,
            r#"{"name":"a","scope":"read","origins":["app.example.com"]}"#,
            r#"{"name":"a","scope":"read","origins":"https://a.com"}"#,
            r#"{"name":"a","scope":"read","expires_at":5}"#,
            r#"{"name":"a","scope":"read","expires_at":"soon"}"#,
            r#"{"name":"a","scope":"read","admin":true}"#,
        ] {
            assert!(
                matches!(create(&obj(bad_body), 10), Err(Error::InvalidInput(_))),
                "{bad_body}"
            );
        }
    }
}
