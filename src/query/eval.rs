//! Evaluating a query over one table: filter, order, limit, and pages after a cursor.
//!
//! Results are borrowed documents, so answering a read never copies or re-encodes one.

use super::{Cursor, Filter, FilterOp, Order, Plan, Query};
use crate::store::index::entry_id;
use crate::store::{Doc, Table};
use crate::value::{cmp, cmp_opt, Value};
use std::cmp::Ordering;
use std::ops::Bound;

/// Whether a document passes every filter.
pub fn matches(doc: &Doc, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        if let Some(text) = &f.text {
            let equal = doc.raw_field(&f.field) == Some(&text[..]);
            return equal == (f.op == FilterOp::Eq);
        }
        let field = doc.field(&f.field);
        match f.op {
            FilterOp::Eq => field.is_some_and(|v| cmp(&v, &f.value) == Ordering::Equal),
            FilterOp::Neq => field.is_none_or(|v| cmp(&v, &f.value) != Ordering::Equal),
            op => match field {
                Some(v) if v.kind() == f.value.kind() => {
                    let o = cmp(&v, &f.value);
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

/// A document with its order field read once, for sorting.
type Keyed<'a> = (Option<Value>, &'a Doc);

/// The order of two documents under `order` (direction applied, ties by `_id`).
fn cmp_keyed(desc: bool, a: &Keyed, b: &Keyed) -> Ordering {
    let o = cmp_opt(a.0.as_ref(), b.0.as_ref()).then_with(|| a.1.id.cmp(&b.1.id));
    if desc {
        o.reverse()
    } else {
        o
    }
}

/// Whether `doc` comes strictly after the cursor's position in `order`.
fn after(order: &Order, cursor: &Cursor, doc: &Doc) -> bool {
    let o = match &order.field {
        None => doc.id.cmp(&cursor.id),
        Some(f) => cmp_opt(doc.field(f).as_ref(), cursor.value.as_ref())
            .then_with(|| doc.id.cmp(&cursor.id)),
    };
    if order.desc {
        o == Ordering::Less
    } else {
        o == Ordering::Greater
    }
}

/// What [`select`] found: the documents, how many it read, and whether it stopped at its
/// budget of documents to read before the result was complete.
type Selected<'a> = (Vec<&'a Doc>, usize, bool);

/// At most `limit` matching documents of `table` after `cursor`, in order, reading at most
/// `docs_max` documents to find them.
fn select<'a>(
    table: Option<&'a Table>,
    query: &Query,
    plan: &mut Plan,
    cursor: Option<&Cursor>,
    limit: usize,
    docs_max: usize,
) -> Selected<'a> {
    let Some(table) = table else {
        return (Vec::new(), 0, false);
    };
    if limit == 0 {
        return (Vec::new(), 0, false);
    }
    // A walk that must read the whole table (to sort it, or with no limit) over a table
    // past the budget is refused before it starts: reading up to the budget first only
    // spends the shard's time, which other tenants wait for (docs/performance.md).
    let reads_all = plan.index.is_none() && (!plan.ordered || limit == usize::MAX);
    if reads_all && table.docs.len() > docs_max {
        return (Vec::new(), 0, true);
    }
    let examined = std::cell::Cell::new(0usize);
    let cut = std::cell::Cell::new(false);
    // Stops the walk before the document past the budget is read.
    let within = |_: &&Doc| {
        let ok = examined.get() < docs_max;
        cut.set(!ok);
        ok
    };
    let keep = |d: &&Doc| {
        examined.set(examined.get() + 1);
        matches(d, &query.filters) && cursor.is_none_or(|c| after(&query.order, c, d))
    };
    let desc = query.order.desc;
    let docs: Box<dyn Iterator<Item = &Doc>> = match plan.index.and_then(|n| table.indexes.get(n)) {
        Some(ix) => {
            if let Some(c) = cursor {
                plan.seek(c, desc);
            }
            if plan.lower >= plan.upper {
                return (Vec::new(), 0, false);
            }
            let range = ix.entries.range::<[u8], _>((
                Bound::Included(&plan.lower[..]),
                Bound::Excluded(&plan.upper[..]),
            ));
            let docs = &table.docs;
            let fetch = move |k: &[u8]| docs.get(&entry_id(k));
            if desc && plan.ordered {
                Box::new(range.rev().filter_map(move |k| fetch(k)))
            } else {
                Box::new(range.filter_map(move |k| fetch(k)))
            }
        }
        // The table itself is in `_id` order, the default order: start at the cursor.
        None if plan.ordered => match (desc, cursor.map(|c| c.id)) {
            (false, Some(id)) => Box::new(table.docs.range(id..).map(|(_, d)| d)),
            (true, Some(id)) => Box::new(table.docs.range(..=id).rev().map(|(_, d)| d)),
            (false, None) => Box::new(table.docs.values()),
            (true, None) => Box::new(table.docs.values().rev()),
        },
        None => Box::new(table.docs.values()),
    };
    let docs = docs.take_while(within);
    if plan.ordered {
        let hits = docs.filter(keep).take(limit).collect();
        return (hits, examined.get(), cut.get());
    }
    let field = query.order.field.as_deref();
    let mut hits: Vec<Keyed> = docs
        .filter(keep)
        .map(|d| (field.and_then(|f| d.field(f)), d))
        .collect();
    let by = |a: &Keyed, b: &Keyed| cmp_keyed(desc, a, b);
    if hits.len() > limit {
        hits.select_nth_unstable_by(limit - 1, by);
        hits.truncate(limit);
    }
    hits.sort_unstable_by(by);
    let n = examined.get();
    (hits.into_iter().map(|(_, d)| d).collect(), n, cut.get())
}

/// The documents a query read and returned, and the plan that read them.
pub struct Answer<'a> {
    pub docs: Vec<&'a Doc>,
    /// Whether more matches follow the last one (pages only).
    pub more: bool,
    pub plan: Plan,
    pub examined: usize,
    /// The walk stopped at its budget of documents to read: `docs` is incomplete.
    pub cut: bool,
}

/// Runs a query: every match in order, up to its `limit`.
pub fn run<'a>(table: Option<&'a Table>, query: &Query) -> Answer<'a> {
    run_within(table, query, usize::MAX)
}

/// Runs a query reading at most `docs_max` documents (see [`Answer::cut`]).
pub fn run_within<'a>(table: Option<&'a Table>, query: &Query, docs_max: usize) -> Answer<'a> {
    let mut plan = choose(table, query);
    let limit = query.limit.unwrap_or(usize::MAX);
    let (docs, examined, cut) = select(table, query, &mut plan, None, limit, docs_max);
    Answer {
        docs,
        more: false,
        plan,
        examined,
        cut,
    }
}

/// One page: up to `page_size` matches after `cursor`, and whether more follow, reading at
/// most `docs_max` documents.
pub fn page<'a>(
    table: Option<&'a Table>,
    query: &Query,
    cursor: Option<&Cursor>,
    page_size: usize,
    docs_max: usize,
) -> Answer<'a> {
    let mut plan = choose(table, query);
    let limit = page_size.saturating_add(1);
    let (mut docs, examined, cut) = select(table, query, &mut plan, cursor, limit, docs_max);
    let more = docs.len() > page_size;
    docs.truncate(page_size);
    Answer {
        docs,
        more,
        plan,
        examined,
        cut,
    }
}

/// What to say when a query read too many documents: the index that would serve it.
pub fn index_hint(query: &Query) -> String {
    let mut fields: Vec<&str> = Vec::new();
    let eqs = query.filters.iter().filter(|f| f.op == FilterOp::Eq);
    let ranges = query
        .filters
        .iter()
        .filter(|f| !matches!(f.op, FilterOp::Eq | FilterOp::Neq));
    for f in eqs.chain(ranges.take(1)) {
        if !fields.contains(&f.field.as_str()) {
            fields.push(&f.field);
        }
    }
    if let Some(o) = query.order.field.as_deref() {
        if !fields.contains(&o) {
            fields.push(o);
        }
    }
    let user: Vec<&str> = fields.into_iter().filter(|f| !f.starts_with('_')).collect();
    if user.is_empty() {
        return format!(
            "Add a `limit`, or read table `{}` in pages with `query/paginated`.",
            query.table
        );
    }
    format!(
        "Declare an index on [{}] in the schema of table `{}` (PUT …/schema/{}), so the query \
         reads only its matches; or add a `limit`, or read it in pages.",
        user.iter()
            .map(|f| format!("\"{f}\""))
            .collect::<Vec<_>>()
            .join(", "),
        query.table,
        query.table
    )
}

fn choose(table: Option<&Table>, query: &Query) -> Plan {
    match table {
        Some(t) => Plan::choose(t, query),
        None => Plan::choose(&Table::default(), query),
    }
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
            t.docs.insert(id, Doc::new(id, n as u64, n as u64, &fields));
        }
        t
    }

    #[test]
    fn a_walk_that_must_read_a_table_past_the_budget_is_refused_before_reading() {
        let t = table(&[Some(3), Some(1), Some(2), None, Some(5)]);
        let sort = query(Some("x"), true, vec![]);
        let a = run_within(Some(&t), &sort, 4);
        assert!(a.cut && a.examined == 0 && a.docs.is_empty());
        // Within the budget it runs; a limited walk in table order stops early instead.
        assert_eq!(run_within(Some(&t), &sort, 5).docs.len(), 5);
        let mut first = query(None, false, vec![]);
        first.limit = Some(1);
        let a = run_within(Some(&t), &first, 2);
        assert!(!a.cut && a.docs.len() == 1, "{:?}", a.examined);
        first.limit = None;
        assert!(run_within(Some(&t), &first, 2).cut);
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
            explain: false,
        }
    }

    fn xs(docs: &[&Doc]) -> Vec<Option<i64>> {
        docs.iter()
            .map(|d| match d.field("x") {
                Some(Value::Int(i)) => Some(i),
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
            Doc::new(id, 9, 9, &vec![("x".into(), Value::Str("7".into()))]),
        );
        let gt = |v| vec![Filter::new("x", FilterOp::Gt, v)];
        assert_eq!(
            xs(&run(Some(&t), &query(None, false, gt(Value::Int(0)))).docs),
            vec![Some(1), Some(5)]
        );
        let neq = vec![Filter::new("x", FilterOp::Neq, Value::Int(1))];
        assert_eq!(
            run(Some(&t), &query(None, false, neq)).docs.len(),
            3,
            "missing and strings are neq"
        );
    }

    #[test]
    fn order_puts_missing_first() {
        let t = table(&[Some(3), None, Some(1)]);
        assert_eq!(
            xs(&run(Some(&t), &query(Some("x"), false, vec![])).docs),
            vec![None, Some(1), Some(3)]
        );
        assert_eq!(
            xs(&run(Some(&t), &query(Some("x"), true, vec![])).docs),
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
            let all: Vec<DocId> = run(Some(&t), &q).docs.iter().map(|d| d.id).collect();
            let mut walked = Vec::new();
            let mut cursor: Option<Cursor> = None;
            loop {
                let Answer { docs, more, .. } = page(Some(&t), &q, cursor.as_ref(), size, usize::MAX);
                walked.extend(docs.iter().map(|d| d.id));
                match docs.last() {
                    Some(last) if more => cursor = Some(Cursor::at(&q.order, last)),
                    _ => break,
                }
            }
            prop_assert_eq!(walked, all);
        }

        /// Every plan an index allows gives exactly what a scan gives: same documents, same
        /// order, same pages, whatever the filters, order, limit and index declarations.
        #[test]
        fn indexed_plans_match_the_scan(
            rows in proptest::collection::vec(
                (proptest::option::of(small_value()), proptest::option::of(small_value())),
                0..60,
            ),
            filters in proptest::collection::vec((any::<bool>(), 0usize..6, small_value()), 0..3),
            order in proptest::option::of(any::<bool>()),
            desc: bool,
            limit in proptest::option::of(0usize..8),
            size in 1usize..5,
        ) {
            let ops = [FilterOp::Eq, FilterOp::Neq, FilterOp::Gt, FilterOp::Gte, FilterOp::Lt, FilterOp::Lte];
            let mut plain = Table::default();
            for (n, (x, y)) in rows.iter().enumerate() {
                let id = DocId(((n as u128) + 1) << 80);
                let mut fields = Vec::new();
                if let Some(x) = x { fields.push(("x".into(), x.clone())); }
                if let Some(y) = y { fields.push(("y".into(), y.clone())); }
                plain.put(Doc::new(id, n as u64, n as u64, &fields));
            }
            let mut indexed = Table::default();
            for d in plain.docs.values() {
                indexed.put(d.clone());
            }
            let def = |name: &str, fields: &[&str]| crate::store::IndexDef {
                name: name.into(),
                fields: fields.iter().map(|f| f.to_string()).collect(),
            };
            indexed.sync_indexes(&[def("by_x", &["x"]), def("by_x_y", &["x", "y"]), def("by_y", &["y"])]);
            while !indexed.build_step(7) {}
            let filters: Vec<Filter> = filters
                .into_iter()
                .map(|(on_x, op, value)| Filter::new(if on_x { "x" } else { "y" }, ops[op], value))
                .collect();
            let mut q = query(order.map(|x| if x { "x" } else { "y" }), desc, filters);
            q.limit = limit;
            let ids = |a: Answer| a.docs.iter().map(|d| d.id).collect::<Vec<_>>();
            let want = ids(run(Some(&plain), &q));
            prop_assert_eq!(ids(run(Some(&indexed), &q)), want.clone());
            q.limit = None;
            let all = ids(run(Some(&plain), &q));
            let mut walked = Vec::new();
            let mut cursor: Option<Cursor> = None;
            loop {
                let a = page(Some(&indexed), &q, cursor.as_ref(), size, usize::MAX);
                walked.extend(a.docs.iter().map(|d| d.id));
                match a.docs.last() {
                    Some(last) if a.more => cursor = Some(Cursor::at(&q.order, last)),
                    _ => break,
                }
            }
            prop_assert_eq!(walked, all);
        }
    }

    proptest! {
        /// `eq`/`neq` on strings, booleans and null compare stored text without decoding it;
        /// that must agree with value equality, escapes and all.
        #[test]
        fn text_comparison_agrees_with_values(
            stored in proptest::option::of(crate::value::arbitrary::value("[a\"\\\n\u{1}é]{0,3}")),
            wanted in prop_oneof![
                "[a\"\\\n\u{1}é]{0,3}".prop_map(|s| Value::Str(s.into())),
                any::<bool>().prop_map(Value::Bool),
                Just(Value::Null),
            ],
        ) {
            let fields = stored.clone().map(|v| vec![("x".into(), v)]).unwrap_or_default();
            let doc = Doc::new(DocId(1 << 80), 1, 1, &fields);
            let equal = stored.as_ref().is_some_and(|v| cmp(v, &wanted) == Ordering::Equal);
            let eq = [Filter::new("x", FilterOp::Eq, wanted.clone())];
            let neq = [Filter::new("x", FilterOp::Neq, wanted)];
            prop_assert!(eq[0].text.is_some());
            prop_assert_eq!(matches(&doc, &eq), equal);
            prop_assert_eq!(matches(&doc, &neq), !equal);
        }
    }

    fn small_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            (0i64..4).prop_map(Value::Int),
            Just(Value::Float(1.5)),
            any::<bool>().prop_map(Value::Bool),
            "[ab]{0,2}".prop_map(|s| Value::Str(s.into())),
            proptest::collection::vec((0i64..2).prop_map(Value::Int), 0..2).prop_map(Value::Array),
        ]
    }

    #[test]
    fn an_eq_query_reads_only_its_matches() {
        let mut t = Table::default();
        for n in 0..1000u128 {
            let id = DocId((n + 1) << 80);
            t.put(Doc::new(
                id,
                1,
                1,
                &vec![("x".into(), Value::Int((n % 100) as i64))],
            ));
        }
        let def = crate::store::IndexDef {
            name: "by_x".into(),
            fields: vec!["x".into()],
        };
        t.sync_indexes(&[def]);
        let eq = vec![Filter::new("x", FilterOp::Eq, Value::Int(7))];
        let mut q = query(None, true, eq);
        q.limit = Some(3);
        let scan = run(Some(&t), &q);
        assert_eq!(scan.plan.index, None, "not built yet: a scan");
        assert!(scan.plan.scans(&q));
        assert!(scan.examined > 200, "walks past non-matches");
        let scan: Vec<DocId> = scan.docs.iter().map(|d| d.id).collect();
        while !t.build_step(100) {}
        let a = run(Some(&t), &q);
        assert_eq!(a.plan.index, Some(0));
        assert!(a.plan.ordered && !a.plan.scans(&q));
        assert_eq!(a.examined, 3, "reads exactly the three it returns");
        assert_eq!(a.docs.iter().map(|d| d.id).collect::<Vec<_>>(), scan);
    }
}
