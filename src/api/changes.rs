//! The change feed's routes (DECISIONS §12): `GET /changes`, `GET /events` and `GET /live`,
//! decoded
//! here from their query parameters (every bad one a `400`); the owning shard reads the
//! feed (`shard::changes`), and the connection answers or streams it.

use super::input::{bad, table, tenant};
use super::{Input, Request};
use crate::changes::{Filter, PAGE_MAX};
use crate::error::Result;
use crate::http::route::{query_param, Route};

/// The longest a read may wait for a change.
pub const WAIT_MS_MAX: u64 = 30_000;
/// Changes a page holds when the request does not say.
const LIMIT_DEFAULT: usize = 100;

/// A read of one tenant's changes.
#[derive(Debug, Clone)]
pub struct Read {
    pub tenant: String,
    /// Changes after this tenant sequence number (0: from the oldest retained).
    pub after: u64,
    pub limit: usize,
    /// How long to wait when there is none yet.
    pub wait_ms: u64,
    pub filter: Filter,
}

fn number(target: &str, name: &str) -> Result<Option<u64>> {
    match query_param(target, name) {
        None => Ok(None),
        Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
            bad(format!(
                "`{name}` must be a non-negative integer, not `{v}`"
            ))
        }),
    }
}

/// The `after` position of a resuming reader: `Last-Event-ID` (an SSE client's) as text.
pub fn position(text: &str) -> Result<u64> {
    text.trim().parse::<u64>().map_err(|_| {
        bad(format!(
            "the position must be a non-negative integer (a change's `seq`), not `{text}`"
        ))
    })
}

/// `tables=a,b`: names, each valid.
pub fn tables(target: &str) -> Result<Vec<String>> {
    let Some(list) = query_param(target, "tables") else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(|name| {
            table(name.trim()).map_err(|_| {
                bad(format!(
                    "`tables` must be table names separated by commas; `{name}` is not one"
                ))
            })
        })
        .collect()
}

fn read(t: &str, target: &str, limit_default: usize) -> Result<Read> {
    let limit = match number(target, "limit")? {
        None => limit_default,
        Some(n) if (1..=PAGE_MAX as u64).contains(&n) => n as usize,
        Some(n) => return Err(bad(format!("`limit` must be 1–{PAGE_MAX}, not {n}"))),
    };
    let wait_ms = number(target, "wait_ms")?.unwrap_or(0);
    if wait_ms > WAIT_MS_MAX {
        return Err(bad(format!(
            "`wait_ms` must be at most {WAIT_MS_MAX}, not {wait_ms}"
        )));
    }
    Ok(Read {
        tenant: tenant(t)?,
        after: number(target, "after")?.unwrap_or(0),
        limit,
        wait_ms,
        filter: Filter {
            tables: tables(target)?,
            ops: 0,
        },
    })
}

/// The `query` parameter of `/live`: URL-encoded query JSON.
fn live_query(target: &str) -> Result<crate::query::Query> {
    let text = query_param(target, "query")
        .ok_or_else(|| bad("the `query` parameter is required (URL-encoded query JSON)"))?;
    let v = crate::json::parse_once(text.as_bytes())
        .map_err(|e| bad(format!("`query` is not JSON: {}", e.0)))?;
    crate::query::Query::from_value(&v)
}

pub fn decode(input: Input<'_, '_>) -> Result<Request> {
    match input.route {
        Route::Live(t) if input.reads() => Ok(Request::Live {
            tenant: tenant(t)?,
            query: live_query(input.target)?,
        }),
        Route::Changes(t) if input.reads() => {
            Ok(Request::Changes(read(t, input.target, LIMIT_DEFAULT)?))
        }
        Route::Events(t) if input.reads() => Ok(Request::Events(read(t, input.target, PAGE_MAX)?)),
        _ => Err(input.not_allowed()),
    }
}
