//! Documents and queries: insert, list, get, patch, delete, `query` and
//! `query/paginated`. Reads copy each document's stored JSON text into the answer; no
//! document is re-encoded. Reads are bounded by the state's [`crate::query::Limits`].

use super::input::{doc_id, string_field, table, take, tenant, user_fields};
use super::{Input, Request};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::http::parse::Method;
use crate::http::route::Route;
use crate::ids::DocId;
use crate::query::{self, Cursor, Query};
use crate::state::State;
use crate::store::{Change, Doc, Table};
use crate::value::{Object, Value};

/// An operation on documents of one tenant.
#[derive(Debug)]
pub enum Op {
    /// `id`: a client-chosen id (mutations may name one); `None` generates one.
    Insert {
        table: String,
        id: Option<DocId>,
        fields: Object,
    },
    List {
        table: String,
    },
    Get {
        table: String,
        id: DocId,
    },
    Patch {
        table: String,
        id: DocId,
        patch: Object,
    },
    Delete {
        table: String,
        id: DocId,
    },
    Query {
        query: Query,
    },
    Paginate {
        query: Query,
        page_size: usize,
        after: Option<String>,
    },
}

impl Op {
    /// The document a write names, when the client named it.
    pub fn doc_id(&self) -> Option<DocId> {
        match self {
            Op::Insert { id, .. } => *id,
            Op::Patch { id, .. } | Op::Delete { id, .. } => Some(*id),
            _ => None,
        }
    }
}

pub fn decode(mut input: Input<'_, '_>) -> Result<Request> {
    let reads = input.reads();
    let (t, op) = match (input.route, input.method) {
        (Route::Documents(t), Method::Post) => {
            let mut v = input.object()?;
            let table = string_field(&mut v, "table", table)?;
            let fields = user_fields(take(&mut v, "fields"), "`fields`")?;
            let op = Op::Insert {
                table,
                id: None,
                fields,
            };
            (tenant(t)?, op)
        }
        (Route::Table(t, tb), _) if reads => (tenant(t)?, Op::List { table: table(tb)? }),
        (Route::Document(t, tb, id), _) if reads => {
            let (t, table, id) = (tenant(t)?, table(tb)?, doc_id(id)?);
            (t, Op::Get { table, id })
        }
        (Route::Document(t, tb, id), Method::Patch) => {
            let (t, table, id) = (tenant(t)?, table(tb)?, doc_id(id)?);
            let mut v = input.object()?;
            let patch = user_fields(take(&mut v, "patch"), "`patch`")?;
            (t, Op::Patch { table, id, patch })
        }
        (Route::Document(t, tb, id), Method::Delete) => {
            let (t, table, id) = (tenant(t)?, table(tb)?, doc_id(id)?);
            (t, Op::Delete { table, id })
        }
        (Route::Query(t), Method::Post) => {
            let t = tenant(t)?;
            let query = Query::from_value(&input.object()?)?;
            (t, Op::Query { query })
        }
        (Route::QueryPaginated(t), Method::Post) => {
            let t = tenant(t)?;
            (t, paginate(&input.object()?)?)
        }
        _ => return Err(input.not_allowed()),
    };
    Ok(Request::Op(super::Op::of(t, op)))
}

/// `{"query": {...}, "page_size": 1..=1000, "after": <cursor>|null}`.
fn paginate(v: &Value) -> Result<Op> {
    let bad = super::input::bad;
    let query = Query::from_value(v.get("query").ok_or_else(|| bad("`query` is required"))?)?;
    let page_size = match v.get("page_size").map(Value::as_u64) {
        Some(Some(n @ 1..=1000)) => n as usize,
        Some(_) => return Err(bad("`page_size` must be an integer from 1 to 1000")),
        None => return Err(bad("`page_size` is required")),
    };
    let after = match v.get("after") {
        None | Some(Value::Null) => None,
        Some(Value::Str(c)) => Some(c.to_string()),
        Some(_) => return Err(bad("`after` must be a cursor string")),
    };
    Ok(Op::Paginate {
        query,
        page_size,
        after,
    })
}

pub fn execute(state: &mut State, tenant: String, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    match op {
        Op::Insert { table, id, fields } => insert(state, tenant, table, id, fields, out),
        Op::List { table } => list(state, &tenant, &table, out),
        Op::Get { table, id } => {
            let t = state.store.tenant(&tenant)?;
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
        Op::Patch { table, id, patch } => {
            let at_ms = now_ms();
            let seq = state.commit(Change::Patch {
                tenant,
                table,
                id,
                at_ms,
                patch,
            })?;
            write_id(out, id);
            Ok((200, seq))
        }
        Op::Delete { table, id } => {
            let seq = state.commit(Change::Delete { tenant, table, id })?;
            Ok((204, seq))
        }
        Op::Query { query } => {
            let limits = state.limits;
            let table = state.store.tenant(&tenant)?.table(&query.table);
            let answer = query::run_within(table, &query, limits.docs_examined_max);
            if answer.cut {
                return Err(limits.too_much_read(&query));
            }
            write_docs(out, answer.docs.iter().copied(), limits.result_bytes_max)?;
            write_plan(out, table, &query, &answer);
            out.push(b'}');
            Ok((200, 0))
        }
        Op::Paginate {
            query,
            page_size,
            after,
        } => page(state, &tenant, &query, page_size, after, out),
    }
}

fn insert(
    state: &mut State,
    tenant: String,
    table: String,
    id: Option<DocId>,
    fields: Object,
    out: &mut Vec<u8>,
) -> Result<(u16, u64)> {
    let now = now_ms();
    let t = state.store.tenant_mut(&tenant)?;
    // A client-chosen id keeps its own time part; `_creationTime` is now.
    let (id, at_ms) = match id {
        Some(id) => {
            crate::ids::check_client_id(id, now).map_err(Error::InvalidInput)?;
            (id, now)
        }
        None => {
            let id = t.ids.next(now);
            (id, id.millis())
        }
    };
    let seq = state.commit(Change::Insert {
        tenant,
        table,
        id,
        at_ms,
        fields,
    })?;
    write_id(out, id);
    Ok((201, seq))
}

fn list(state: &State, tenant: &str, table: &str, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    let limits = state.limits;
    let t = state.store.tenant(tenant)?;
    let docs = t.table(table).map_or(0, |t| t.docs.len());
    if docs > limits.docs_examined_max {
        return Err(Error::LimitExceeded {
            what: format!(
                "table `{table}` holds {docs} documents, more than one request may read ({})",
                limits.docs_examined_max
            ),
            remedy: format!("Read table `{table}` in pages with `query/paginated`."),
        });
    }
    let all = t.table(table).into_iter().flat_map(|t| t.docs.values());
    write_docs(out, all, limits.result_bytes_max)?;
    out.push(b'}');
    Ok((200, 0))
}

fn page(
    state: &State,
    tenant: &str,
    query: &Query,
    page_size: usize,
    after: Option<String>,
    out: &mut Vec<u8>,
) -> Result<(u16, u64)> {
    let limits = state.limits;
    let table = state.store.tenant(tenant)?.table(&query.table);
    let cursor = after
        .map(|c| Cursor::decode(&c, &query.order))
        .transpose()?;
    let answer = query::page(
        table,
        query,
        cursor.as_ref(),
        page_size,
        limits.docs_examined_max,
    );
    if answer.cut {
        return Err(limits.too_much_read(query));
    }
    let more = answer.more;
    let next = answer
        .docs
        .last()
        .filter(|_| more)
        .map(|d| Cursor::at(&query.order, d));
    write_docs(out, answer.docs.iter().copied(), limits.result_bytes_max)?;
    write_plan(out, table, query, &answer);
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

fn write_id(out: &mut Vec<u8>, id: DocId) {
    out.extend_from_slice(b"{\"id\":\"");
    id.write(out);
    out.extend_from_slice(b"\"}");
}

/// Writes `{"data":[…]`; refused once it would pass `bytes_max` (checked as it goes, so
/// an oversized answer is never built whole).
fn write_docs<'a>(
    out: &mut Vec<u8>,
    docs: impl IntoIterator<Item = &'a Doc>,
    bytes_max: usize,
) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(b"{\"data\":[");
    for (n, d) in docs.into_iter().enumerate() {
        if out.len() - start + d.json().len() > bytes_max {
            let seen = out.len() - start + d.json().len();
            out.truncate(start);
            return Err(Error::result_too_large(seen, bytes_max));
        }
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(d.json());
    }
    out.push(b']');
    Ok(())
}

/// Appends `,"plan":{…}` when the query asked for it.
fn write_plan(out: &mut Vec<u8>, table: Option<&Table>, query: &Query, answer: &query::Answer) {
    if query.explain {
        out.extend_from_slice(b",\"plan\":");
        answer
            .plan
            .write_json(table, query, answer.examined, answer.docs.len(), out);
    }
}
