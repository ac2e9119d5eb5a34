//! Import (DECISIONS §11): `POST /api/tenants/{t}/import?mode=append|replace`, JSON Lines in
//! the shape an export writes: `{"schema": {...}}` lines, then `{"table", "document"}` lines
//! whose documents keep their `_id`, `_creationTime` and `_updateTime`, and an optional last
//! `{"end": true, "documents": n}`. Every line is read before anything is written; the whole
//! import is one commit, so it lands entirely or not at all. A bad line is named by number.

use super::input::{bad, table};
use super::{Input, Request};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::http::parse::Method;
use crate::http::route::{query_param, Route};
use crate::ids::DocId;
use crate::state::State;
use crate::store::{at_line, Change, Import, ImportDoc, TableSchema};
use crate::value::Value;

/// An import into one tenant.
#[derive(Debug)]
pub struct Op {
    import: Import,
}

pub fn decode(input: Input<'_, '_>) -> Result<Request> {
    let Route::Import(t) = input.route else {
        return Err(input.not_allowed());
    };
    if input.method != Method::Post {
        return Err(input.not_allowed());
    }
    let t = super::input::tenant(t)?;
    let replace = match query_param(input.target, "mode").as_deref() {
        None | Some("append") => false,
        Some("replace") => true,
        Some(other) => return Err(bad(format!("unknown mode `{other}` (append or replace)"))),
    };
    let mut import = Import {
        replace: Vec::new(),
        schemas: Vec::new(),
        docs: Vec::new(),
    };
    let mut seen = hashbrown::HashSet::new();
    let mut ended = None;
    let now = now_ms();
    for (n, raw) in input.body.split_mut(|&b| b == b'\n').enumerate() {
        let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let at = |e: Error| at_line(line, e);
        if ended.is_some() {
            return Err(at(bad("nothing may follow the `end` line")));
        }
        let v = input.parser.parse(raw).map_err(|e| at(bad(e.0)))?;
        match read_line(&v, now).map_err(at)? {
            Line::Schema(s) => import.schemas.push((line, s)),
            Line::Doc(d) => {
                if !seen.insert((d.table.clone(), d.id)) {
                    let e = Error::Conflict(format!("document `{}` appears twice", d.id));
                    return Err(at(e));
                }
                import.docs.push(ImportDoc { line, ..d });
            }
            Line::End(count) => ended = Some((line, count)),
        }
    }
    if let Some((line, Some(n))) = ended {
        if n != import.docs.len() as u64 {
            let e = bad(format!(
                "the end line says {n} documents; the import has {}",
                import.docs.len()
            ));
            return Err(at_line(line, e));
        }
    }
    if replace {
        let named = import
            .schemas
            .iter()
            .map(|(_, s)| &s.table)
            .chain(import.docs.iter().map(|d| &d.table));
        for name in named {
            if !import.replace.contains(name) {
                import.replace.push(name.clone());
            }
        }
    }
    Ok(Request::Op(super::Op::of(t, Op { import })))
}

enum Line {
    Schema(TableSchema),
    Doc(ImportDoc),
    End(Option<u64>),
}

/// One line's meaning.
fn read_line(v: &Value, now: u64) -> Result<Line> {
    if !matches!(v, Value::Object(_)) {
        return Err(bad("a line must be a JSON object"));
    }
    if let Some(s) = v.get("schema") {
        let name = s
            .get("table")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("schema.table is required"))?;
        return Ok(Line::Schema(TableSchema::from_value(s, &table(name)?)?));
    }
    if v.get("end").is_some() {
        if !matches!(v.get("end"), Some(Value::Bool(true))) {
            return Err(bad("`end` must be true"));
        }
        return Ok(Line::End(v.get("documents").and_then(Value::as_u64)));
    }
    let (Some(Value::Str(name)), Some(doc)) = (v.get("table"), v.get("document")) else {
        return Err(bad(
            "a line is {\"schema\": ...}, {\"table\": ..., \"document\": ...} or {\"end\": true}",
        ));
    };
    Ok(Line::Doc(document(table(name)?, doc, now)?))
}

/// A document as an export writes it: its system fields, then its own.
fn document(table: String, doc: &Value, now: u64) -> Result<ImportDoc> {
    let Value::Object(fields) = doc else {
        return Err(bad("`document` must be an object"));
    };
    let id = match doc.get("_id") {
        Some(Value::Str(s)) => {
            DocId::parse(s).ok_or_else(|| bad(format!("invalid document id `{s}`")))?
        }
        _ => return Err(bad("document._id is required")),
    };
    crate::ids::check_client_id(id, now).map_err(Error::InvalidInput)?;
    let time = |name: &str| {
        doc.get(name).map(|t| {
            t.as_u64()
                .ok_or_else(|| bad(format!("document.{name} must be a time in ms")))
        })
    };
    let created_ms =
        time("_creationTime").unwrap_or_else(|| Err(bad("document._creationTime is required")))?;
    let updated_ms = time("_updateTime").unwrap_or(Ok(created_ms))?;
    let mut own = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        match &**k {
            "_id" | "_creationTime" | "_updateTime" => {}
            k if k.is_empty() || k.starts_with('_') => {
                return Err(bad(format!(
                    "field `{k}` is reserved: user field names must not be empty or start with `_`"
                )));
            }
            _ => own.push((k.clone(), v.clone())),
        }
    }
    Ok(ImportDoc {
        line: 0,
        table,
        id,
        created_ms,
        updated_ms,
        fields: own,
    })
}

pub fn execute(state: &mut State, tenant: String, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    let n = op.import.docs.len();
    let seq = state.commit(Change::Import {
        tenant,
        import: op.import,
    })?;
    out.extend_from_slice(format!("{{\"imported\":{n}}}").as_bytes());
    Ok((200, seq))
}
