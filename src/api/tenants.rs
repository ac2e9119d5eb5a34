//! Tenants: `POST /api/tenants` and `DELETE /api/tenants/{t}` (the list is gathered from
//! every shard by the caller), and the existence check other work starts with.

use super::input::{string_field, tenant};
use super::{Input, Request};
use crate::error::Result;
use crate::http::parse::Method;
use crate::http::route::Route;
use crate::json::write_str;
use crate::state::State;
use crate::store::Change;

/// An operation on the tenant itself.
#[derive(Debug)]
pub enum Op {
    Create,
    Delete,
    /// Succeeds when the tenant exists (before work done elsewhere, like sandboxes).
    Check,
}

pub fn decode(mut input: Input<'_, '_>) -> Result<Request> {
    let (id, op) = match (input.route, input.method) {
        (Route::Tenants, _) if input.reads() => return Ok(Request::ListTenants),
        (Route::Tenants, Method::Post) => {
            let mut v = input.object()?;
            (string_field(&mut v, "id", tenant)?, Op::Create)
        }
        (Route::Tenant(t), Method::Delete) => (tenant(t)?, Op::Delete),
        _ => return Err(input.not_allowed()),
    };
    Ok(Request::Op(super::Op::of(id, op)))
}

pub fn execute(state: &mut State, tenant: String, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    match op {
        Op::Create => {
            let seq = state.commit(Change::CreateTenant {
                tenant: tenant.clone(),
            })?;
            out.extend_from_slice(b"{\"id\":");
            write_str(out, &tenant);
            out.push(b'}');
            Ok((201, seq))
        }
        Op::Delete => {
            let seq = state.commit(Change::DeleteTenant { tenant })?;
            Ok((204, seq))
        }
        Op::Check => {
            state.store.tenant(&tenant)?;
            Ok((200, 0))
        }
    }
}
