//! Snapshot properties: a fuzzy snapshot plus replay is the state; damaged files are
//! refused; older versions still load; keys travel with their tenant.

use super::*;
use crate::store::{Change, Effect, FieldDef, FieldType, Mutation};
use crate::value::Object;
use crate::value::Value;
use proptest::prelude::*;

fn test_key(k: u128) -> crate::store::Key {
    crate::store::Key {
        id: DocId(k << 80 | 9),
        name: format!("key{k}"),
        scope: crate::auth::keys::Scope::Read,
        origins: vec!["https://app.example.com".into()],
        created_at: 5,
        expires_at: None,
        hash: [k as u8; 32],
    }
}

/// A random change over a few tenants, tables and ids, so that they collide.
fn change() -> impl Strategy<Value = Change> {
    let tenant = prop_oneof![Just("a".to_string()), Just("b".to_string())];
    let table = prop_oneof![Just("m".to_string()), Just("n".to_string())];
    let id = (1u128..6).prop_map(|i| DocId(i << 80 | i));
    let fields = proptest::collection::vec(
        (prop_oneof![Just("x"), Just("y"), Just("z")], -3i64..3),
        0..3,
    )
    .prop_map(|kv| {
        let mut o: Object = Vec::new();
        for (k, v) in kv {
            if !o.iter().any(|(name, _)| &**name == k) {
                o.push((k.into(), Value::Int(v)));
            }
        }
        o
    });
    prop_oneof![
        tenant
            .clone()
            .prop_map(|tenant| Change::CreateTenant { tenant }),
        tenant
            .clone()
            .prop_map(|tenant| Change::DeleteTenant { tenant }),
        (
            tenant.clone(),
            table.clone(),
            id.clone(),
            1u64..9,
            fields.clone()
        )
            .prop_map(|(tenant, table, id, at_ms, fields)| Change::Insert {
                tenant,
                table,
                id,
                at_ms,
                fields
            }),
        (tenant.clone(), table.clone(), id.clone(), 1u64..9, fields).prop_map(
            |(tenant, table, id, at_ms, patch)| Change::Patch {
                tenant,
                table,
                id,
                at_ms,
                patch
            }
        ),
        (tenant.clone(), table.clone(), id).prop_map(|(tenant, table, id)| Change::Delete {
            tenant,
            table,
            id
        }),
        (tenant.clone(), table.clone()).prop_map(|(tenant, table)| Change::PutSchema {
            tenant,
            schema: TableSchema {
                table,
                fields: vec![FieldDef {
                    name: "x".into(),
                    field_type: FieldType::Number,
                    required: false
                }],
                indexes: vec![],
            },
        }),
        (tenant.clone(), table).prop_map(|(tenant, table)| Change::DeleteSchema { tenant, table }),
        (tenant.clone(), 1u128..4, 1u64..9).prop_map(|(tenant, j, at)| Change::ScheduleJob {
            tenant,
            job: Job {
                id: DocId(j << 80 | 7),
                run_at: at,
                created_at: at,
                mutation: Mutation::Delete {
                    table: "m".into(),
                    id: DocId(j << 80 | j)
                },
            },
        }),
        (tenant.clone(), 1u128..4, 1u64..9, any::<bool>()).prop_map(|(tenant, j, at, ok)| {
            Change::RunJob {
                tenant,
                id: DocId(j << 80 | 7),
                finished_at: at,
                error: (!ok).then(|| "failed".to_string()),
                effect: ok.then(|| Effect::Insert {
                    table: "m".into(),
                    id: DocId(j << 80 | j),
                    at_ms: at,
                    fields: vec![("x".into(), Value::Int(j as i64))],
                }),
            }
        }),
        (tenant.clone(), 1u128..4).prop_map(|(tenant, j)| Change::CancelJob {
            tenant,
            id: DocId(j << 80 | 7)
        }),
        (tenant.clone(), 1u128..4).prop_map(|(tenant, k)| Change::CreateKey {
            tenant,
            key: test_key(k),
        }),
        (tenant, 1u128..4).prop_map(|(tenant, k)| Change::RevokeKey {
            tenant,
            id: DocId(k << 80 | 9)
        }),
    ]
}

proptest! {
    /// A snapshot copied in small steps while changes keep landing, plus a replay of every
    /// change from its label on, equals the live state: through the file format too.
    #[test]
    fn fuzzy_snapshot_plus_replay_equals_the_state(
        before in proptest::collection::vec(change(), 0..40),
        during in proptest::collection::vec(change(), 0..40),
        budget in 1usize..4,
    ) {
        let mut live = Store::default();
        let mut log: Vec<Change> = Vec::new();
        for c in before {
            if live.commit(c.clone()).is_ok() {
                log.push(c);
            }
        }
        let label = log.len() as u64;
        let mut copier = Copier::new(&live, label);
        let mut pending = during.into_iter();
        let snapshot = loop {
            if let Some(s) = copier.step(&live, budget) {
                break s;
            }
            if let Some(c) = pending.next() {
                if live.commit(c.clone()).is_ok() {
                    log.push(c);
                }
            }
        };
        for c in pending {
            if live.commit(c.clone()).is_ok() {
                log.push(c);
            }
        }
        let (_, mut recovered) = load(&encode(&snapshot)).expect("decodes");
        for c in log.into_iter().skip(label as usize) {
            recovered.apply(c);
        }
        prop_assert_eq!(fingerprint(&recovered), fingerprint(&live));
    }
}

/// A snapshot taken after a job ran, labelled before it was scheduled: the replay runs
/// it again over the snapshot, which must not record its result twice.
#[test]
fn replaying_a_job_run_over_a_later_snapshot_is_a_redo() {
    let job = Job {
        id: DocId(7),
        run_at: 1,
        created_at: 1,
        mutation: Mutation::Delete {
            table: "m".into(),
            id: DocId(1),
        },
    };
    let log = vec![
        Change::CreateTenant { tenant: "t".into() },
        Change::ScheduleJob {
            tenant: "t".into(),
            job,
        },
        Change::RunJob {
            tenant: "t".into(),
            id: DocId(7),
            finished_at: 2,
            error: Some("x".into()),
            effect: None,
        },
    ];
    let mut live = Store::default();
    for c in log.clone() {
        live.commit(c).expect("commit");
    }
    let (_, mut recovered) = load(&encode(&copy_all(&live, 1))).expect("decodes");
    for c in log.into_iter().skip(1) {
        recovered.apply(c);
    }
    assert_eq!(fingerprint(&recovered), fingerprint(&live));
}

#[test]
fn damaged_snapshots_are_refused() {
    let mut store = Store::default();
    store.apply(Change::CreateTenant { tenant: "t".into() });
    let bytes = encode(&copy_all(&store, 3));
    assert_eq!(load(&bytes).expect("valid").0, 3);
    for i in [0, 9, 17, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[i] ^= 4;
        assert!(load(&bad).is_err(), "flip at {i}");
    }
    assert!(load(&bytes[..bytes.len() - 1]).is_err());
}

mod versions {
    use super::*;
    use crate::store::Change;

    /// A file as version 2 wrote it: the same tenants, no keys.
    fn encode_v2(snapshot: &SnapshotV2) -> Vec<u8> {
        let payload = rkyv::to_bytes::<rancor::Error>(snapshot).expect("archive");
        let mut out = MAGIC_V2.to_vec();
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        out.extend_from_slice(&[0u8; 4]);
        out.extend_from_slice(&payload);
        out
    }

    #[test]
    fn version_2_snapshots_still_load() {
        let mut store = Store::default();
        store.apply(Change::CreateTenant { tenant: "t".into() });
        store.apply(Change::Insert {
            tenant: "t".into(),
            table: "m".into(),
            id: DocId(1 << 80),
            at_ms: 1,
            fields: vec![],
        });
        let v3 = copy_all(&store, 4);
        let v2 = SnapshotV2 {
            seq: v3.seq,
            tenants: v3.tenants,
        };
        let (seq, loaded) = load(&encode_v2(&v2)).expect("a version 2 file loads");
        assert_eq!(seq, 4);
        assert_eq!(fingerprint(&loaded), fingerprint(&store));
    }

    #[test]
    fn keys_go_into_snapshots_with_their_tenant() {
        let mut store = Store::default();
        store.apply(Change::CreateTenant { tenant: "t".into() });
        let key = crate::store::Key {
            id: DocId(7),
            name: "web".into(),
            scope: crate::auth::keys::Scope::Write,
            origins: vec![],
            created_at: 1,
            expires_at: Some(99),
            hash: [3; 32],
        };
        store
            .commit(Change::CreateKey {
                tenant: "t".into(),
                key: key.clone(),
            })
            .expect("create");
        let (_, loaded) = load(&encode(&copy_all(&store, 1))).expect("load");
        assert_eq!(
            loaded.tenant("t").expect("t").keys.get(&DocId(7)),
            Some(&key)
        );
        assert_eq!(loaded.key_entries().len(), 1);
    }
}
