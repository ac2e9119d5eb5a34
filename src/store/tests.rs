//! The store's check-then-apply contract.

use super::*;
use crate::value::Value;

fn insert(id: u128, n: i64) -> Change {
    Change::Insert {
        tenant: "t".into(),
        table: "m".into(),
        id: DocId(id),
        at_ms: 1,
        fields: vec![("n".into(), Value::Int(n))],
    }
}

#[test]
fn check_refuses_without_mutating() {
    let mut s = Store::default();
    assert!(s.check(&insert(1, 1)).is_err(), "no tenant yet");
    s.commit(Change::CreateTenant { tenant: "t".into() })
        .expect("create");
    assert!(matches!(
        s.commit(Change::CreateTenant { tenant: "t".into() }),
        Err(Error::Conflict(_))
    ));
    s.commit(insert(1, 1)).expect("insert");
    let schema = TableSchema {
        table: "m".into(),
        fields: vec![FieldDef {
            name: "n".into(),
            field_type: FieldType::String,
            required: false,
        }],
        indexes: vec![],
    };
    let put = Change::PutSchema {
        tenant: "t".into(),
        schema,
    };
    assert!(matches!(s.commit(put), Err(Error::SchemaViolation { .. })));
    assert!(s.tenant("t").expect("tenant").schemas.is_empty());
}

#[test]
fn patch_keeps_creation_time() {
    let mut s = Store::default();
    s.commit(Change::CreateTenant { tenant: "t".into() })
        .expect("create");
    s.commit(insert(7, 1)).expect("insert");
    let patch = vec![("n".into(), Value::Int(2))];
    s.commit(Change::Patch {
        tenant: "t".into(),
        table: "m".into(),
        id: DocId(7),
        at_ms: 9,
        patch,
    })
    .expect("patch");
    let doc = s.tenant("t").expect("t").doc("m", DocId(7)).expect("doc");
    assert_eq!(doc.created_ms(), 1);
    assert_eq!(doc.field("_updateTime").and_then(|v| v.as_u64()), Some(9));
}
