//! Evaluating a query over one table: filter, order, limit, and pages after a cursor.
//!
//! Results are borrowed documents, so answering a read never copies or re-encodes one.

use super::{Cursor, Filter, FilterOp, Order, Query};
use crate::store::{Doc, Table};
use crate::value::{cmp, cmp_opt};
use std::cmp::Ordering;

/// Whether a document passes every filter.
pub fn matches(doc: &Doc, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let field = doc.field(&f.field);
        match f.op {
            FilterOp::Eq => field.is_some_and(|v| cmp(v, &f.value) == Ordering::Equal),
            FilterOp::Neq => field.is_none_or(|v| cmp(v, &f.value) != Ordering::Equal),
            op => match field {
                Some(v) if v.kind() == f.value.kind() => {
                    let o = cmp(v, &f.value);
                    match op {
                        FilterOp::Gt => o == Ordering::Greater,
                        FilterOp::Gte => o != Ordering::Less,
                        FilterOp::Lt => o == Ordering::Less,
                        _ => o != Ordering::Greater,
                    }
                }
                _ => false,
            },
        }
    })
}

/// The order of two documents under `order` (direction applied, ties by `_id`).
fn cmp_docs(order: &Order, a: &Doc, b: &Doc) -> Ordering {
    let o = match &order.field {
        None => a.id.cmp(&b.id),
        Some(f) => cmp_opt(a.field(f), b.field(f)).then_with(|| a.id.cmp(&b.id)),
    };
    if order.desc {
        o.reverse()
    } else {
        o
    }
}

/// Whether `doc` comes strictly after the cursor's position in `order`.
fn after(order: &Order, cursor: &Cursor, doc: &Doc) -> bool {
    let o = match &order.field {
        None => doc.id.cmp(&cursor.id),
        Some(f) => {
            cmp_opt(doc.field(f), cursor.value.as_ref()).then_with(|| doc.id.cmp(&cursor.id))
        }
    };
    if order.desc {
        o == Ordering::Less
    } else {
        o == Ordering::Greater
    }
}

/// At most `limit` matching documents of `table` after `cursor`, in order.
fn select<'a>(
    table: Option<&'a Table>,
    query: &Query,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Vec<&'a Doc> {
    let Some(table) = table else {
        return Vec::new();
    };
    if limit == 0 {
        return Vec::new();
    }
    let keep =
        |d: &&Doc| matches(d, &query.filters) && cursor.is_none_or(|c| after(&query.order, c, d));
    match query.order.field {
        // The table is kept in `_id` order, which is the default order: walk it and stop early.
        None => {
            let start = cursor.map(|c| c.id);
            let docs: Box<dyn Iterator<Item = &Doc>> = match (query.order.desc, start) {
                (false, Some(id)) => Box::new(table.docs.range(id..).map(|(_, d)| d)),
                (true, Some(id)) => Box::new(table.docs.range(..=id).rev().map(|(_, d)| d)),
                (false, None) => Box::new(table.docs.values()),
                (true, None) => Box::new(table.docs.values().rev()),
            };
            docs.filter(keep).take(limit).collect()
        }
        Some(_) => {
            let mut hits: Vec<&Doc> = table.docs.values().filter(keep).collect();
            let by = |a: &&Doc, b: &&Doc| cmp_docs(&query.order, a, b);
            if hits.len() > limit {
                hits.select_nth_unstable_by(limit - 1, by);
                hits.truncate(limit);
            }
            hits.sort_unstable_by(by);
            hits
        }
    }
}

/// Runs a query: every match in order, up to its `limit`.
pub fn run<'a>(table: Option<&'a Table>, query: &Query) -> Vec<&'a Doc> {
    select(table, query, None, query.limit.unwrap_or(usize::MAX))
}

/// One page: up to `page_size` matches after `cursor`, and whether more follow.
pub fn page<'a>(
    table: Option<&'a Table>,
    query: &Query,
    cursor: Option<&Cursor>,
    page_size: usize,
) -> (Vec<&'a Doc>, bool) {
    let mut docs = select(table, query, cursor, page_size.saturating_add(1));
    let more = docs.len() > page_size;
    docs.truncate(page_size);
    (docs, more)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DocId;
    use crate::value::Value;
    use proptest::prelude::*;

    fn table(values: &[Option<i64>]) -> Table {
        let mut t = Table::default();
        for (n, v) in values.iter().enumerate() {
            let id = DocId(((n as u128) + 1) << 80);
            let fields = v
                .map(|x| vec![("x".into(), Value::Int(x))])
                .unwrap_or_default();
            t.docs.insert(id, Doc::new(id, n as u64, n as u64, fields));
        }
        t
    }

    fn query(field: Option<&str>, desc: bool, filters: Vec<Filter>) -> Query {
        Query {
            table: "t".into(),
            filters,
            order: Order {
                field: field.map(str::to_string),
                desc,
            },
            limit: None,
        }
    }

    fn xs(docs: &[&Doc]) -> Vec<Option<i64>> {
        docs.iter()
            .map(|d| match d.field("x") {
                Some(Value::Int(i)) => Some(*i),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn range_filters_need_same_kind() {
        let mut t = table(&[Some(1), Some(5), None]);
        let id = DocId(9 << 80);
        t.docs.insert(
            id,
            Doc::new(id, 9, 9, vec![("x".into(), Value::Str("7".into()))]),
        );
        let gt = |v| {
            vec![Filter {
                field: "x".into(),
                op: FilterOp::Gt,
                value: v,
            }]
        };
        assert_eq!(
            xs(&run(Some(&t), &query(None, false, gt(Value::Int(0))))),
            vec![Some(1), Some(5)]
        );
        let neq = vec![Filter {
            field: "x".into(),
            op: FilterOp::Neq,
            value: Value::Int(1),
        }];
        assert_eq!(
            run(Some(&t), &query(None, false, neq)).len(),
            3,
            "missing and strings are neq"
        );
    }

    #[test]
    fn order_puts_missing_first() {
        let t = table(&[Some(3), None, Some(1)]);
        assert_eq!(
            xs(&run(Some(&t), &query(Some("x"), false, vec![]))),
            vec![None, Some(1), Some(3)]
        );
        assert_eq!(
            xs(&run(Some(&t), &query(Some("x"), true, vec![]))),
            vec![Some(3), Some(1), None]
        );
    }

    proptest! {
        /// Walking pages of any size visits exactly the full result, in order.
        #[test]
        fn pages_cover_the_result(
            values in proptest::collection::vec(proptest::option::of(0i64..5), 0..40),
            size in 1usize..7,
            desc: bool,
            by_x: bool,
        ) {
            let t = table(&values);
            let q = query(by_x.then_some("x"), desc, vec![]);
            let all: Vec<DocId> = run(Some(&t), &q).iter().map(|d| d.id).collect();
            let mut walked = Vec::new();
            let mut cursor: Option<Cursor> = None;
            loop {
                let (docs, more) = page(Some(&t), &q, cursor.as_ref(), size);
                walked.extend(docs.iter().map(|d| d.id));
                match docs.last() {
                    Some(last) if more => cursor = Some(Cursor::at(&q.order, last)),
                    _ => break,
                }
            }
            prop_assert_eq!(walked, all);
        }
    }
}
