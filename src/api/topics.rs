//! Topics (DECISIONS §12, KalamDB's shapes): `PUT|GET|DELETE /topics/{topic}` here, against
//! the store; `POST /topics/consume` and `/topics/ack` decoded here and run by the owning
//! shard (`shard::topics`), since a consume may wait and its group's batch in flight is the
//! shard's.

use super::input::{bad, take, tenant};
use super::{Input, Request};
use crate::changes::record::Op as ChangeOp;
use crate::changes::PAGE_MAX;
use crate::error::{Error, Result};
use crate::http::parse::Method;
use crate::http::route::Route;
use crate::json::write_str;
use crate::state::State;
use crate::store::{Change, TopicDef};
use crate::value::Value;

/// Longest a consume waits for messages.
pub const TIMEOUT_SECONDS_MAX: u64 = 30;

/// An operation on one topic's definition.
#[derive(Debug)]
pub enum Op {
    Put(TopicDef),
    Get { name: String },
    Delete { name: String },
}

/// Where a group that has no position yet starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Latest,
    Earliest,
    /// At this offset (its message is the first).
    Offset(u64),
}

/// `POST /topics/consume`.
#[derive(Debug, Clone)]
pub struct Consume {
    pub tenant: String,
    pub topic: String,
    pub group: String,
    pub start: Start,
    pub limit: usize,
    pub timeout_ms: u64,
}

/// `POST /topics/ack`.
#[derive(Debug, Clone)]
pub struct Ack {
    pub tenant: String,
    pub topic: String,
    pub group: String,
    pub upto: u64,
}

/// A topic or group name: 1–64 of `[A-Za-z0-9_-]` (`consume` and `ack` are routes).
fn name(s: &str, what: &str) -> Result<String> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok || (what == "topic" && matches!(s, "consume" | "ack")) {
        return Err(bad(format!(
            "invalid {what} name `{s}` (1-64 of A-Z a-z 0-9 _ -; not `consume` or `ack`)"
        )));
    }
    Ok(s.to_string())
}

fn strings(v: Option<Value>, key: &str) -> Result<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|i| match i {
                Value::Str(s) => Ok(s.to_string()),
                _ => Err(bad(format!("`{key}` must be an array of strings"))),
            })
            .collect(),
        Some(_) => Err(bad(format!("`{key}` must be an array of strings"))),
    }
}

fn definition(name: String, mut body: Value) -> Result<TopicDef> {
    let tables = strings(take(&mut body, "tables"), "tables")?;
    for t in &tables {
        super::input::table(t)?;
    }
    let mut ops = 0u8;
    for o in strings(take(&mut body, "ops"), "ops")? {
        let op = ChangeOp::parse(&o)
            .ok_or_else(|| bad(format!("unknown op `{o}` (insert, update, delete)")))?;
        ops |= op.bit();
    }
    Ok(TopicDef {
        name,
        tables,
        ops,
        groups: Vec::new(),
    })
}

fn string(body: &mut Value, key: &str, what: &str) -> Result<String> {
    match take(body, key) {
        Some(Value::Str(s)) => name(&s, what),
        Some(_) => Err(bad(format!("`{key}` must be a string"))),
        None => Err(bad(format!("`{key}` is required"))),
    }
}

fn number(body: &mut Value, key: &str) -> Result<Option<u64>> {
    match take(body, key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| bad(format!("`{key}` must be a non-negative integer"))),
    }
}

fn start(v: Option<Value>) -> Result<Start> {
    match v {
        None | Some(Value::Null) => Ok(Start::Latest),
        Some(Value::Str(s)) if &*s == "Latest" => Ok(Start::Latest),
        Some(Value::Str(s)) if &*s == "Earliest" => Ok(Start::Earliest),
        Some(mut o @ Value::Object(_)) => match number(&mut o, "Offset")? {
            Some(n) => Ok(Start::Offset(n)),
            None => Err(bad(
                "`start` must be \"Latest\", \"Earliest\" or {\"Offset\": n}",
            )),
        },
        Some(_) => Err(bad(
            "`start` must be \"Latest\", \"Earliest\" or {\"Offset\": n}",
        )),
    }
}

fn consume(t: &str, mut body: Value) -> Result<Consume> {
    let limit = match number(&mut body, "limit")? {
        None => 100,
        Some(n) if (1..=PAGE_MAX as u64).contains(&n) => n as usize,
        Some(n) => return Err(bad(format!("`limit` must be 1–{PAGE_MAX}, not {n}"))),
    };
    let timeout = number(&mut body, "timeout_seconds")?.unwrap_or(0);
    if timeout > TIMEOUT_SECONDS_MAX {
        return Err(bad(format!(
            "`timeout_seconds` must be at most {TIMEOUT_SECONDS_MAX}, not {timeout}"
        )));
    }
    Ok(Consume {
        tenant: tenant(t)?,
        topic: string(&mut body, "topic_id", "topic")?,
        group: string(&mut body, "group_id", "group")?,
        start: start(take(&mut body, "start"))?,
        limit,
        timeout_ms: timeout * 1000,
    })
}

fn ack(t: &str, mut body: Value) -> Result<Ack> {
    Ok(Ack {
        tenant: tenant(t)?,
        topic: string(&mut body, "topic_id", "topic")?,
        group: string(&mut body, "group_id", "group")?,
        upto: number(&mut body, "upto_offset")?.ok_or_else(|| bad("`upto_offset` is required"))?,
    })
}

pub fn decode(mut input: Input<'_, '_>) -> Result<Request> {
    let reads = input.reads();
    match (input.route, input.method) {
        (Route::Topic(t, n), _) if reads => {
            let op = Op::Get {
                name: name(n, "topic")?,
            };
            Ok(Request::Op(super::Op::of(tenant(t)?, op)))
        }
        (Route::Topic(t, n), Method::Put) => {
            let def = definition(name(n, "topic")?, input.object()?)?;
            Ok(Request::Op(super::Op::of(tenant(t)?, Op::Put(def))))
        }
        (Route::Topic(t, n), Method::Delete) => {
            let op = Op::Delete {
                name: name(n, "topic")?,
            };
            Ok(Request::Op(super::Op::of(tenant(t)?, op)))
        }
        (Route::TopicConsume(t), Method::Post) => {
            Ok(Request::Consume(consume(t, input.object()?)?))
        }
        (Route::TopicAck(t), Method::Post) => Ok(Request::Ack(ack(t, input.object()?)?)),
        _ => Err(input.not_allowed()),
    }
}

/// Writes a topic's JSON: its selection, and each group's acked offset.
fn write_topic(out: &mut Vec<u8>, name: &str, t: &crate::store::Topic) {
    out.extend_from_slice(b"{\"topic_id\":");
    write_str(out, name);
    out.extend_from_slice(b",\"tables\":[");
    for (n, table) in t.tables.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_str(out, table);
    }
    out.extend_from_slice(b"],\"ops\":[");
    let ops = [ChangeOp::Insert, ChangeOp::Update, ChangeOp::Delete];
    let named = ops.iter().filter(|o| t.ops == 0 || t.ops & o.bit() != 0);
    for (n, op) in named.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_str(out, op.name());
    }
    out.extend_from_slice(b"],\"groups\":{");
    for (n, (g, acked)) in t.groups.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_str(out, g);
        out.push(b':');
        crate::json::write_u64(out, *acked);
    }
    out.extend_from_slice(b"}}");
}

pub fn execute(state: &mut State, tenant: String, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    match op {
        Op::Get { name } => {
            let t = state.store.tenant(&tenant)?;
            let topic = t
                .topics
                .get(&name)
                .ok_or_else(|| Error::NotFound(format!("topic `{name}` does not exist")))?;
            write_topic(out, &name, topic);
            Ok((200, 0))
        }
        Op::Put(def) => {
            let name = def.name.clone();
            let seq = state.commit(Change::PutTopic {
                tenant: tenant.clone(),
                def,
            })?;
            let t = state.store.tenant(&tenant)?;
            if let Some(topic) = t.topics.get(&name) {
                write_topic(out, &name, topic);
            }
            Ok((200, seq))
        }
        Op::Delete { name } => {
            state.groups.forget(&tenant, Some(&name));
            let seq = state.commit(Change::DeleteTopic { tenant, name })?;
            Ok((204, seq))
        }
    }
}
