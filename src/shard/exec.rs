//! Executing an [`Op`] against the shard's store and writing the response body.
//!
//! Synchronous and I/O-free: it runs on the owning shard, between awaits. Writes become a
//! [`Change`] that the store checks, the log records and the store applies, so every write
//! has exactly one record; the caller acknowledges it once the record is durable.

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::json::write_str;
use crate::ops::Op;
use crate::query::{self, Cursor};
use crate::store::{Change, Doc, Store};
use crate::wal::writer::Log;

fn write_id(out: &mut Vec<u8>, id: DocId) {
    out.extend_from_slice(b"{\"id\":\"");
    id.write(out);
    out.extend_from_slice(b"\"}");
}

fn write_docs<'a>(out: &mut Vec<u8>, docs: impl IntoIterator<Item = &'a Doc>) {
    out.extend_from_slice(b"{\"data\":[");
    for (n, d) in docs.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(d.json());
    }
    out.push(b']');
}

/// Executes `op`, writing the response body to `out`; returns the success status.
/// What one shard owns: its data and its log.
pub struct State {
    pub store: Store,
    pub log: Log,
}

/// Checks a change, logs it, applies it; returns its sequence number, which the caller waits
/// to be durable before acknowledging.
fn commit(store: &mut Store, log: &mut Log, change: Change) -> Result<u64> {
    if log.failing() {
        return Err(Error::Unavailable(
            "the shard's log cannot be written right now (disk failing or full); writes are refused until it recovers".into(),
        ));
    }
    store.check(&change)?;
    let (seq, change) = log.append(change);
    store.apply(change);
    Ok(seq)
}

/// Executes `op`, writing the response body to `out`; returns the success status and, for a
/// write, its sequence number (0 for a read).
pub fn execute(state: &mut State, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    let State { store, log } = state;
    match op {
        Op::CreateTenant { tenant } => {
            let seq = commit(
                store,
                log,
                Change::CreateTenant {
                    tenant: tenant.clone(),
                },
            )?;
            out.extend_from_slice(b"{\"id\":");
            write_str(out, &tenant);
            out.push(b'}');
            Ok((201, seq))
        }
        Op::DeleteTenant { tenant } => {
            let seq = commit(store, log, Change::DeleteTenant { tenant })?;
            Ok((204, seq))
        }
        Op::Insert {
            tenant,
            table,
            fields,
        } => {
            let id = store.tenant_mut(&tenant)?.ids.next(now_ms());
            let seq = commit(
                store,
                log,
                Change::Insert {
                    tenant,
                    table,
                    id,
                    at_ms: id.millis(),
                    fields,
                },
            )?;
            write_id(out, id);
            Ok((201, seq))
        }
        Op::List { tenant, table } => {
            let t = store.tenant(&tenant)?;
            write_docs(
                out,
                t.table(&table).into_iter().flat_map(|t| t.docs.values()),
            );
            out.push(b'}');
            Ok((200, 0))
        }
        Op::Get { tenant, table, id } => {
            let t = store.tenant(&tenant)?;
            let doc = t
                .table(&table)
                .and_then(|t| t.docs.get(&id))
                .ok_or_else(|| {
                    Error::NotFound(format!("document `{id}` does not exist in table `{table}`"))
                })?;
            out.extend_from_slice(b"{\"document\":");
            out.extend_from_slice(doc.json());
            out.push(b'}');
            Ok((200, 0))
        }
        Op::Patch {
            tenant,
            table,
            id,
            patch,
        } => {
            let at_ms = now_ms();
            let seq = commit(
                store,
                log,
                Change::Patch {
                    tenant,
                    table,
                    id,
                    at_ms,
                    patch,
                },
            )?;
            write_id(out, id);
            Ok((200, seq))
        }
        Op::Delete { tenant, table, id } => {
            let seq = commit(store, log, Change::Delete { tenant, table, id })?;
            Ok((204, seq))
        }
        Op::Query { tenant, query } => {
            let t = store.tenant(&tenant)?;
            write_docs(out, query::run(t.table(&query.table), &query));
            out.push(b'}');
            Ok((200, 0))
        }
        Op::Paginate {
            tenant,
            query,
            page_size,
            after,
        } => {
            let t = store.tenant(&tenant)?;
            let cursor = after
                .map(|c| Cursor::decode(&c, &query.order))
                .transpose()?;
            let (docs, more) =
                query::page(t.table(&query.table), &query, cursor.as_ref(), page_size);
            let next = docs
                .last()
                .filter(|_| more)
                .map(|d| Cursor::at(&query.order, d));
            write_docs(out, docs);
            out.extend_from_slice(b",\"next_cursor\":");
            match next {
                Some(c) => c.write_json(out),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(if more {
                b",\"has_more\":true}"
            } else {
                b",\"has_more\":false}"
            });
            Ok((200, 0))
        }
        Op::GetSchemas { tenant } => {
            let t = store.tenant(&tenant)?;
            out.extend_from_slice(b"{\"tables\":{");
            for (n, (name, schema)) in t.schemas.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_str(out, name);
                out.push(b':');
                schema.write_json(out);
            }
            out.extend_from_slice(b"}}");
            Ok((200, 0))
        }
        Op::GetSchema { tenant, table } => {
            let t = store.tenant(&tenant)?;
            let schema = t
                .schemas
                .get(&table)
                .ok_or_else(|| Error::NotFound(format!("table `{table}` has no schema")))?;
            schema.write_json(out);
            Ok((200, 0))
        }
        Op::PutSchema { tenant, schema } => {
            let seq = commit(store, log, Change::PutSchema { tenant, schema })?;
            Ok((204, seq))
        }
        Op::DeleteSchema { tenant, table } => {
            let seq = commit(store, log, Change::DeleteSchema { tenant, table })?;
            Ok((204, seq))
        }
    }
}
