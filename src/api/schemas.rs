//! Schemas: `GET /schema`, `GET|PUT|DELETE /schema/{table}`. A schema's indexes are built
//! by the shard's background task; reads show each one's state.

use super::input::{table, tenant};
use super::{Input, Request};
use crate::error::{Error, Result};
use crate::http::parse::Method;
use crate::http::route::Route;
use crate::json::write_str;
use crate::state::State;
use crate::store::{Change, TableSchema};

/// An operation on the schemas of one tenant.
#[derive(Debug)]
pub enum Op {
    GetAll,
    Get { table: String },
    Put { schema: TableSchema },
    Delete { table: String },
}

pub fn decode(mut input: Input<'_, '_>) -> Result<Request> {
    let reads = input.reads();
    let (t, op) = match (input.route, input.method) {
        (Route::Schemas(t), _) if reads => (tenant(t)?, Op::GetAll),
        (Route::Schema(t, tb), _) if reads => (tenant(t)?, Op::Get { table: table(tb)? }),
        (Route::Schema(t, tb), Method::Put) => {
            let (t, tb) = (tenant(t)?, table(tb)?);
            let schema = TableSchema::from_value(&input.object()?, &tb)?;
            (t, Op::Put { schema })
        }
        (Route::Schema(t, tb), Method::Delete) => (tenant(t)?, Op::Delete { table: table(tb)? }),
        _ => return Err(input.not_allowed()),
    };
    Ok(Request::Op(super::Op::of(t, op)))
}

pub fn execute(state: &mut State, tenant: String, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    match op {
        Op::GetAll => {
            let t = state.store.tenant(&tenant)?;
            out.extend_from_slice(b"{\"tables\":{");
            for (n, (name, schema)) in t.schemas.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_str(out, name);
                out.push(b':');
                schema.write_json(out, |ix| t.index_building(name, ix));
            }
            out.extend_from_slice(b"}}");
            Ok((200, 0))
        }
        Op::Get { table } => {
            let t = state.store.tenant(&tenant)?;
            let schema = t
                .schemas
                .get(&table)
                .ok_or_else(|| Error::NotFound(format!("table `{table}` has no schema")))?;
            schema.write_json(out, |ix| t.index_building(&table, ix));
            Ok((200, 0))
        }
        Op::Put { schema } => {
            let seq = state.commit(Change::PutSchema { tenant, schema })?;
            Ok((204, seq))
        }
        Op::Delete { table } => {
            let seq = state.commit(Change::DeleteSchema { tenant, table })?;
            Ok((204, seq))
        }
    }
}
