//! The export view shows its tenant as it was at the export's commit, whatever is written
//! while it walks.

use super::super::{Change, Store};
use super::View;
use crate::ids::DocId;
use crate::value::Value;

fn insert(table: &str, id: u128, n: i64) -> Change {
    Change::Insert {
        tenant: "t".into(),
        table: table.into(),
        id: DocId(id),
        at_ms: 1,
        fields: vec![("n".into(), Value::Int(n))],
    }
}

/// Applies `change`, telling the view first (as `State::commit` does).
fn write(store: &mut Store, view: &mut View, change: Change) {
    if store.check(&change).is_err() {
        return;
    }
    if let Ok(t) = store.tenant("t") {
        view.before(t, &change);
    }
    store.apply(change);
}

/// Every document line of an export, in order.
fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| l.starts_with("{\"table\""))
        .map(str::to_string)
        .collect()
}

fn full_export(store: &Store) -> Vec<String> {
    let t = store.tenant("t").expect("tenant");
    let mut out = Vec::new();
    let mut v = View::new("t", t, 0, 0, &mut out);
    while !v.page(t, 1000, &mut out) {}
    lines(&out)
}

#[test]
fn writes_during_an_export_do_not_show() {
    // A small deterministic generator: inserts, patches and deletes over two tables, both
    // ahead of and behind the cursor.
    for seed in 1..40u64 {
        let mut rng = seed;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut store = Store::default();
        store.apply(Change::CreateTenant { tenant: "t".into() });
        for i in 1..=60u128 {
            let table = if i % 2 == 0 { "a" } else { "b" };
            store.apply(insert(table, i * 10, i as i64));
        }
        let before = full_export(&store);
        let mut out = Vec::new();
        let t = store.tenant("t").expect("tenant");
        let mut view = View::new("t", t, 7, 0, &mut out);
        loop {
            for _ in 0..next(6) {
                let table = if next(2) == 0 { "a" } else { "b" };
                let id = DocId(u128::from(next(700)) + 1);
                let change = match next(3) {
                    0 => insert(table, id.0, 0),
                    1 => Change::Patch {
                        tenant: "t".into(),
                        table: table.into(),
                        id,
                        at_ms: 2,
                        patch: vec![("n".into(), Value::Int(-1))],
                    },
                    _ => Change::Delete {
                        tenant: "t".into(),
                        table: table.into(),
                        id,
                    },
                };
                write(&mut store, &mut view, change);
            }
            let t = store.tenant("t").expect("tenant");
            if view.page(t, 1 + next(5) as usize, &mut out) {
                break;
            }
        }
        assert_eq!(lines(&out), before, "seed {seed}");
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.ends_with("{\"end\":true,\"documents\":60,\"seq\":7}\n"),
            "{text}"
        );
    }
}

#[test]
fn a_deleted_tenant_breaks_the_export() {
    let mut store = Store::default();
    store.apply(Change::CreateTenant { tenant: "t".into() });
    store.apply(insert("a", 1, 1));
    let mut out = Vec::new();
    let mut view = View::new("t", store.tenant("t").expect("t"), 1, 0, &mut out);
    write(
        &mut store,
        &mut view,
        Change::DeleteTenant { tenant: "t".into() },
    );
    assert!(view.broken.is_some());
}
