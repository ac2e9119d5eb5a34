//! Usage (DECISIONS §11): `GET /api/tenants/{t}/usage`, what one tenant holds. Every figure
//! is kept as writes happen (a table counts its bytes), so the answer costs one pass over
//! the tenant's tables, not its documents.

use super::input::tenant;
use super::{Input, Request};
use crate::error::Result;
use crate::http::route::Route;
use crate::state::State;

/// The usage of one tenant.
#[derive(Debug)]
pub struct Op;

pub fn decode(input: Input<'_, '_>) -> Result<Request> {
    match input.route {
        Route::Usage(t) if input.reads() => Ok(Request::Op(super::Op::of(tenant(t)?, Op))),
        _ => Err(input.not_allowed()),
    }
}

pub fn execute(
    state: &mut State,
    tenant: String,
    _op: Op,
    out: &mut Vec<u8>,
) -> Result<(u16, u64)> {
    let t = state.store.tenant(&tenant)?;
    let mut names: Vec<&str> = t.tables.keys().map(|k| &**k).collect();
    names.sort_unstable();
    let (mut documents, mut bytes) = (0u64, 0u64);
    let mut tables = Vec::with_capacity(64 + 48 * names.len());
    tables.push(b'{');
    for (n, name) in names.iter().enumerate() {
        let Some(tb) = t.table(name) else { continue };
        let (d, b) = (tb.docs.len() as u64, tb.bytes());
        documents += d;
        bytes += b;
        if n > 0 {
            tables.push(b',');
        }
        crate::json::write_str(&mut tables, name);
        tables.extend_from_slice(format!(r#":{{"documents":{d},"bytes":{b}}}"#).as_bytes());
    }
    tables.push(b'}');
    let indexes: usize = t.schemas.values().map(|s| s.indexes.len()).sum();
    let subscriptions = state.subs.tenant_subscriptions(&tenant);
    out.extend_from_slice(
        format!(r#"{{"documents":{documents},"bytes":{bytes},"tables":"#).as_bytes(),
    );
    out.extend_from_slice(&tables);
    // Files arrive with DECISIONS §15; until then a tenant holds none.
    out.extend_from_slice(
        format!(
            r#","indexes":{indexes},"subscriptions":{subscriptions},"files":0,"file_bytes":0}}"#
        )
        .as_bytes(),
    );
    Ok((200, 0))
}
