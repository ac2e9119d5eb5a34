//! Sessions: `POST /api/sessions`, `GET /api/sessions?tenant_id=`, and by id (asked of
//! every shard by the caller, since an id does not name its tenant).

use super::input::{bad, tenant};
use super::{Input, Request};
use crate::clock::now_ms;
use crate::error::Result;
use crate::http::parse::Method;
use crate::http::route::{query_param, Route};
use crate::ids::DocId;
use crate::sessions::{Kind, Session};
use crate::state::State;
use crate::value::Value;

/// An operation on the sessions of one tenant.
#[derive(Debug)]
pub enum Op {
    Open { metadata: Value, ttl_ms: u64 },
    List,
}

pub fn decode(mut input: Input<'_, '_>) -> Result<Request> {
    let reads = input.reads();
    match (input.route, input.method) {
        (Route::Sessions, _) if reads => {
            let t = query_param(input.target, "tenant_id")
                .ok_or_else(|| bad("the tenant_id query parameter is required"))?;
            if !crate::ids::valid_tenant_id(&t) {
                return Err(bad(format!("invalid tenant id `{t}`")));
            }
            Ok(Request::Op(super::Op::of(t, Op::List)))
        }
        (Route::Sessions, Method::Post) => {
            let v = input.object()?;
            open(&v)
        }
        (Route::Session(id), _) if reads => Ok(Request::SessionById {
            id: id.to_string(),
            close: false,
        }),
        (Route::SessionClose(id), Method::Post) => Ok(Request::SessionById {
            id: id.to_string(),
            close: true,
        }),
        _ => Err(input.not_allowed()),
    }
}

/// `{"tenant_id": T, "metadata": {...}?, "ttl_ms": n?}`.
fn open(v: &Value) -> Result<Request> {
    let t = match v.get("tenant_id") {
        Some(Value::Str(t)) => tenant(t)?,
        _ => return Err(bad("`tenant_id` is required")),
    };
    let metadata = match v.get("metadata") {
        None | Some(Value::Null) => Value::Object(vec![]),
        Some(m @ Value::Object(_)) => m.clone(),
        Some(_) => return Err(bad("`metadata` must be an object")),
    };
    let ttl_ms = match v.get("ttl_ms") {
        None | Some(Value::Null) => 3_600_000,
        Some(n) => match n.as_u64() {
            Some(ms) if ms >= 1 => ms,
            _ => return Err(bad("`ttl_ms` must be an integer >= 1")),
        },
    };
    Ok(Request::Op(super::Op::of(t, Op::Open { metadata, ttl_ms })))
}

pub fn execute(state: &mut State, tenant: String, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    state.store.tenant(&tenant)?;
    let now = now_ms();
    match op {
        Op::Open { metadata, ttl_ms } => {
            let session = Session {
                id: DocId(ulid::Ulid::new().0).to_string(),
                tenant,
                kind: Kind::Http,
                closed: false,
                created_at: now,
                expires_at: Some(now.saturating_add(ttl_ms)),
                metadata,
            };
            session.write_json(now, out);
            state.sessions.open(session);
            Ok((201, 0))
        }
        Op::List => {
            out.extend_from_slice(b"{\"sessions\":");
            crate::json::write_array(out, state.sessions.list(&tenant), |out, s| {
                s.write_json(now, out)
            });
            out.push(b'}');
            Ok((200, 0))
        }
    }
}
