//! The query planner: which index answers a query, and over which range of it.
//!
//! Every table has its documents in `_id` order, which is `_creationTime` order: that is the
//! implicit index `by_creation_time`. A declared index serves equality filters on its leading
//! fields, then range filters on the next field, and delivers results in order when the
//! query's order is that next field (or, with every field fixed by equality, the default
//! order). The plan with the most fields fixed or bounded wins; among equals, one that
//! delivers the query's order (so it can stop at the limit) wins. Filters are always checked
//! again on each document the plan reads, so a plan only decides how much is read.

use super::{Cursor, FilterOp, Query};
use crate::json::write_str;
use crate::store::index::{encode, encode_opt, kind_tag, ID_LEN};
use crate::store::{Index, Table};

/// Above every byte that can follow a key prefix: `prefix + CEILING` bounds all its keys.
const CEILING: [u8; ID_LEN + 1] = [0xFF; ID_LEN + 1];

/// How one query is answered over one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Position of the index in `Table::indexes`; `None` walks the table in `_id` order.
    pub index: Option<usize>,
    /// Index fields fixed by equality.
    pub eq_fields: usize,
    /// Whether the next index field is bounded by range filters.
    pub range: bool,
    /// Whether the walk yields results in the query's order, so it stops at the limit.
    pub ordered: bool,
    /// Keys read: from `lower` (included) to `upper` (excluded).
    pub lower: Vec<u8>,
    pub upper: Vec<u8>,
    /// Length of the equality prefix inside `lower`.
    prefix: usize,
    /// Whether the order is on the index field after the prefix (else on `_id` only).
    order_on_next: bool,
}

impl Plan {
    /// The best plan for `query` over `table`.
    pub fn choose(table: &Table, query: &Query) -> Plan {
        // Ordering by a field every result has equal is ordering by `_id`.
        let order_field = query.order.field.as_deref().filter(|f| {
            !query
                .filters
                .iter()
                .any(|q| q.op == FilterOp::Eq && q.field == *f)
        });
        let mut best = Plan {
            index: None,
            eq_fields: 0,
            range: false,
            ordered: order_field.is_none(),
            lower: Vec::new(),
            upper: Vec::new(),
            prefix: 0,
            order_on_next: false,
        };
        // More fields fixed or bounded first, then delivering the order; ties keep the earlier.
        let score = |p: &Plan| (p.eq_fields + usize::from(p.range), p.ordered);
        for (n, ix) in table.indexes.iter().enumerate() {
            if !ix.ready() {
                continue;
            }
            let p = Plan::over(n, ix, query, order_field);
            if score(&p) > score(&best) {
                best = p;
            }
        }
        best
    }

    fn over(n: usize, ix: &Index, query: &Query, order_field: Option<&str>) -> Plan {
        let mut lower = Vec::with_capacity(32);
        let mut eq_fields = 0;
        for f in &ix.fields {
            let eq = query
                .filters
                .iter()
                .find(|q| q.op == FilterOp::Eq && q.field == *f);
            match eq {
                Some(q) => encode(&mut lower, &q.value),
                None => break,
            }
            eq_fields += 1;
        }
        let prefix = lower.len();
        let mut upper = [&lower[..], &CEILING].concat();
        let next = ix.fields.get(eq_fields).map(String::as_str);
        let mut range = false;
        for q in query
            .filters
            .iter()
            .filter(|q| Some(q.field.as_str()) == next)
        {
            let at = |tail: &[u8]| [&lower[..prefix], tail].concat();
            let mut v = Vec::with_capacity(16);
            encode(&mut v, &q.value);
            let tag = kind_tag(&q.value);
            // Range filters match only values of the filter value's kind.
            let (lo, hi) = match q.op {
                FilterOp::Gt => (at(&[&v[..], &CEILING].concat()), at(&[tag + 1])),
                FilterOp::Gte => (at(&v), at(&[tag + 1])),
                FilterOp::Lt => (at(&[tag]), at(&v)),
                FilterOp::Lte => (at(&[tag]), at(&[&v[..], &CEILING].concat())),
                FilterOp::Eq | FilterOp::Neq => continue,
            };
            range = true;
            if lo > lower {
                lower = lo;
            }
            if hi < upper {
                upper = hi;
            }
        }
        let ordered = match order_field {
            None => eq_fields == ix.fields.len(),
            Some(f) => next == Some(f) && eq_fields + 1 == ix.fields.len(),
        };
        Plan {
            index: Some(n),
            eq_fields,
            range,
            ordered,
            lower,
            upper,
            prefix,
            order_on_next: order_field.is_some(),
        }
    }

    /// Narrows an ordered index walk to the keys strictly after `cursor`'s position.
    pub fn seek(&mut self, cursor: &Cursor, desc: bool) {
        if self.index.is_none() || !self.ordered {
            return;
        }
        let mut at = self.lower[..self.prefix].to_vec();
        if self.order_on_next {
            encode_opt(&mut at, cursor.value.as_ref());
        }
        at.extend_from_slice(&cursor.id.0.to_be_bytes());
        if desc {
            if at < self.upper {
                self.upper = at;
            }
        } else {
            at.push(0); // just above the cursor's own key
            if at > self.lower {
                self.lower = at;
            }
        }
    }

    /// Whether the plan reads documents outside the result (a table scan).
    pub fn scans(&self, query: &Query) -> bool {
        self.index.is_none() && (!query.filters.is_empty() || !self.ordered)
    }

    /// Appends the plan as JSON, for `"explain": true`.
    pub fn write_json(
        &self,
        table: Option<&Table>,
        query: &Query,
        examined: usize,
        returned: usize,
        out: &mut Vec<u8>,
    ) {
        let ix = self
            .index
            .and_then(|n| table.and_then(|t| t.indexes.get(n)));
        out.extend_from_slice(b"{\"index\":");
        match ix {
            Some(ix) => write_str(out, &ix.name),
            None => out.extend_from_slice(b"\"by_creation_time\""),
        }
        out.extend_from_slice(b",\"fields\":[");
        let fields: Vec<&str> = match ix {
            Some(ix) => ix.fields.iter().map(String::as_str).collect(),
            None => vec!["_creationTime"],
        };
        for (n, f) in fields.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_str(out, f);
        }
        out.extend_from_slice(b"],\"eq_fields\":");
        crate::json::write_u64(out, self.eq_fields as u64);
        out.extend_from_slice(b",\"range\":");
        out.extend_from_slice(if self.range { b"true" } else { b"false" });
        out.extend_from_slice(b",\"order\":");
        out.extend_from_slice(if self.ordered {
            b"\"index\""
        } else {
            b"\"sort\""
        });
        out.extend_from_slice(b",\"scan\":");
        out.extend_from_slice(if self.scans(query) { b"true" } else { b"false" });
        out.extend_from_slice(b",\"examined\":");
        crate::json::write_u64(out, examined as u64);
        out.extend_from_slice(b",\"returned\":");
        crate::json::write_u64(out, returned as u64);
        out.push(b'}');
    }
}
