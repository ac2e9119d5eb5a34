//! Durability against a model, on a simulated disk that loses everything not synced at a
//! crash and fails on demand (a full disk, or EIO from the k-th operation on).
//!
//! Each seed runs several cycles of: recover, check the recovered state against the model,
//! run random writes (with faults injected part of the time and tiny snapshot thresholds so
//! snapshots happen constantly), then crash with a write in flight. The invariant: every
//! acknowledged write is present; a write that failed or was in flight is either wholly
//! present or wholly absent; nothing else appears.
//!
//! `NIMBUS_MODEL_SEEDS` sets the number of seeds (default 24).

use nimbus::api::changes::Read;
use nimbus::api::{DocumentOp, Op, TenantOp};
use nimbus::changes::Render;
use nimbus::config::Config;
use nimbus::error::Error;
use nimbus::ids::DocId;
use nimbus::json::{parse_once, write_value};
use nimbus::mesh::Mesh;
use nimbus::shard::Shard;
use nimbus::value::{Object, Value};
use nimbus::wal::disk::SimDisk;
use nimbus::wal::recovery::recover;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the model knows of a document: its fields as JSON text, `None` when absent.
#[derive(Debug, Clone)]
enum Known {
    Certain(Option<String>),
    Either(Option<String>, Option<String>),
}

fn text(fields: &Object) -> String {
    let mut out = Vec::new();
    write_value(&mut out, &Value::Object(fields.clone()));
    String::from_utf8(out).expect("utf8")
}

fn fields(k: u64, v: u64) -> Object {
    vec![
        ("k".into(), Value::Int(k as i64)),
        ("a".into(), Value::Int(v as i64)),
        ("b".into(), Value::Int(v as i64)),
    ]
}

#[derive(Default)]
struct Model {
    docs: BTreeMap<DocId, Known>,
    /// Inserts that failed or were in flight: they may appear, under an id we never learnt.
    maybe_inserts: BTreeSet<String>,
    tenant: bool,
}

impl Model {
    fn check(&mut self, store: &nimbus::store::Store, seed: u64, cycle: u64) -> usize {
        let found: BTreeMap<DocId, String> = match store.tenant("t") {
            Ok(t) => t
                .table("m")
                .map(|tb| {
                    tb.docs
                        .iter()
                        .map(|(id, d)| (*id, text(&d.fields())))
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => {
                assert!(
                    !self.tenant,
                    "seed {seed} cycle {cycle}: acknowledged tenant lost"
                );
                BTreeMap::new()
            }
        };
        let mut checked = 0;
        for (id, known) in &self.docs {
            let actual = found.get(id).cloned();
            match known {
                Known::Certain(want) => {
                    assert_eq!(
                        &actual, want,
                        "seed {seed} cycle {cycle}: doc {id} (acknowledged)"
                    )
                }
                Known::Either(a, b) => assert!(
                    &actual == a || &actual == b,
                    "seed {seed} cycle {cycle}: doc {id} is {actual:?}, neither {a:?} nor {b:?}"
                ),
            }
            checked += 1;
        }
        for (id, t) in &found {
            if !self.docs.contains_key(id) {
                assert!(
                    self.maybe_inserts.contains(t),
                    "seed {seed} cycle {cycle}: unexpected doc {id} {t}"
                );
            }
        }
        // What was found is now certain.
        self.docs = found
            .into_iter()
            .map(|(id, t)| (id, Known::Certain(Some(t))))
            .collect();
        self.maybe_inserts.clear();
        checked
    }
}

fn config() -> Arc<Config> {
    let mut c = Config::new("127.0.0.1".into(), 0, std::env::temp_dir(), 1);
    c.snapshot_log_bytes = 1500;
    c.durable_wait_ms = 40;
    Arc::new(c)
}

async fn exec(shard: &Shard, op: Op) -> (Result<u16, Error>, Vec<u8>) {
    let mut out = Vec::new();
    let r = shard.execute(op, &mut out).await;
    (r, out)
}

fn run_seed(seed: u64) -> (u64, usize) {
    let mut disk = Arc::new(SimDisk::new());
    let dir = PathBuf::from("/sim/shard");
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut model = Model::default();
    let mut next_k = 0u64;
    let mut checked = 0;
    let cycles = 6;
    for cycle in 0..cycles {
        // The crashed process's threads (its log writer, a snapshot helper) are gone.
        disk = Arc::new(disk.restarted());
        let rec = recover(&*disk, &dir)
            .unwrap_or_else(|e| panic!("seed {seed} cycle {cycle}: recovery failed: {e}"));
        checked += model.check(&rec.store, seed, cycle);
        // What the change feed must replay to: the recovered documents, by id.
        let expected: BTreeMap<String, String> = rec
            .store
            .tenant("t")
            .ok()
            .and_then(|t| t.table("m"))
            .map(|tb| {
                tb.docs
                    .values()
                    .map(|d| {
                        (
                            d.id.to_string(),
                            String::from_utf8_lossy(d.json()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mesh = Arc::new(Mesh::new(1, 64));
        let (shard, _writer) = Shard::open(
            0,
            config(),
            0,
            "x".repeat(64).into(),
            mesh,
            disk.clone(),
            dir.clone(),
            rec,
        )
        .expect("open");
        let shard = Rc::new(shard.start());
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("rt");
        let d = disk.clone();
        rt.block_on(async {
            monoio::spawn(shard.clone().serve_log());
            if model.tenant {
                check_feed(&shard, &expected, seed, cycle).await;
            }
            if !model.tenant {
                let (r, _) = exec(&shard, Op::of("t", TenantOp::Create)).await;
                r.expect("create tenant on a healthy disk");
                model.tenant = true;
            }
            let ops = 5 + rng.below(30);
            let fault_at = rng.below(ops * 2);
            let heal_at = fault_at + 1 + rng.below(6);
            for i in 0..ops {
                if i == fault_at {
                    if rng.below(2) == 0 {
                        d.set_full(true);
                    } else {
                        d.fail_after(1 + rng.below(4));
                    }
                }
                if i == heal_at {
                    d.heal();
                }
                let certain: Vec<DocId> = model
                    .docs
                    .iter()
                    .filter(|(_, k)| matches!(k, Known::Certain(Some(_))))
                    .map(|(id, _)| *id)
                    .collect();
                let choice = rng.below(4);
                if choice < 2 || certain.is_empty() {
                    next_k += 1;
                    let f = fields(next_k, rng.below(100));
                    let (r, out) = exec(
                        &shard,
                        Op::of(
                            "t",
                            DocumentOp::Insert {
                                id: None,
                                table: "m".into(),
                                fields: f.clone(),
                            },
                        ),
                    )
                    .await;
                    match r {
                        Ok(201) => {
                            let v = parse_once(&out).expect("json");
                            let id = DocId::parse(v.get("id").and_then(Value::as_str).expect("id"))
                                .expect("ulid");
                            model.docs.insert(id, Known::Certain(Some(text(&f))));
                        }
                        Ok(s) => panic!("insert answered {s}"),
                        Err(e) => {
                            assert_eq!(e.status(), 503, "{e}");
                            model.maybe_inserts.insert(text(&f));
                        }
                    }
                } else {
                    let id = certain[rng.below(certain.len() as u64) as usize];
                    let before = match model.docs.get(&id) {
                        Some(Known::Certain(b)) => b.clone(),
                        _ => None,
                    };
                    let (op, after) = if choice == 2 {
                        let v = rng.below(100) as i64;
                        let patch: Object =
                            vec![("a".into(), Value::Int(v)), ("b".into(), Value::Int(v))];
                        let mut merged =
                            parse_once(before.as_deref().unwrap_or("{}").as_bytes()).expect("json");
                        if let Value::Object(o) = &mut merged {
                            for (k, val) in &patch {
                                if let Some(slot) = o.iter_mut().find(|(name, _)| name == k) {
                                    slot.1 = val.clone();
                                }
                            }
                        }
                        let after = match &merged {
                            Value::Object(o) => Some(text(o)),
                            _ => None,
                        };
                        (
                            Op::of(
                                "t",
                                DocumentOp::Patch {
                                    table: "m".into(),
                                    id,
                                    patch,
                                },
                            ),
                            after,
                        )
                    } else {
                        (
                            Op::of(
                                "t",
                                DocumentOp::Delete {
                                    table: "m".into(),
                                    id,
                                },
                            ),
                            None,
                        )
                    };
                    let (r, _) = exec(&shard, op).await;
                    match r {
                        Ok(_) => {
                            model.docs.insert(id, Known::Certain(after));
                        }
                        Err(e) => {
                            assert_eq!(e.status(), 503, "{e}");
                            model.docs.insert(id, Known::Either(before, after));
                        }
                    }
                }
                // Reads keep working whatever the disk does.
                let (r, _) =
                    exec(&shard, Op::of("t", DocumentOp::List { table: "m".into() })).await;
                assert_eq!(r.expect("reads work"), 200);
            }
            // Crash with an insert in flight.
            next_k += 1;
            let f = fields(next_k, 7);
            model.maybe_inserts.insert(text(&f));
            let s2 = shard.clone();
            monoio::spawn(async move {
                let _ = exec(
                    &s2,
                    Op::of(
                        "t",
                        DocumentOp::Insert {
                            id: None,
                            table: "m".into(),
                            fields: f,
                        },
                    ),
                )
                .await;
            });
            monoio::time::sleep(Duration::from_micros(rng.below(3000))).await;
            d.crash();
        });
    }
    (cycles, checked)
}

/// The recovered change feed numbers every change 1, 2, 3, ... and replays to exactly the
/// recovered documents: what a crash cut from the feed's files was written again from the
/// log, and nothing the log lost is in it.
async fn check_feed(shard: &Shard, expected: &BTreeMap<String, String>, seed: u64, cycle: u64) {
    let mut replayed: BTreeMap<String, String> = BTreeMap::new();
    let mut after = 0;
    loop {
        let read = Read {
            tenant: "t".into(),
            after,
            limit: 1000,
            wait_ms: 0,
            filter: Default::default(),
        };
        let page = shard
            .changes(read, Render::Change)
            .await
            .unwrap_or_else(|e| panic!("seed {seed} cycle {cycle}: feed read: {e}"));
        let v = parse_once(format!("[{}]", String::from_utf8_lossy(&page.body)).as_bytes())
            .expect("changes are JSON");
        let Value::Array(list) = v else {
            panic!("changes are an array")
        };
        for c in &list {
            let seq = c.get("seq").and_then(Value::as_u64).expect("seq");
            assert_eq!(
                seq,
                after + 1,
                "seed {seed} cycle {cycle}: numbered without gaps"
            );
            after = seq;
            let id = c.get("id").and_then(Value::as_str).expect("id").to_string();
            match c.get("document") {
                Some(Value::Null) | None => {
                    replayed.remove(&id);
                }
                Some(doc) => {
                    let mut text = Vec::new();
                    write_value(&mut text, doc);
                    replayed.insert(id, String::from_utf8(text).expect("utf-8"));
                }
            }
        }
        if !page.has_more {
            break;
        }
    }
    assert_eq!(
        &replayed, expected,
        "seed {seed} cycle {cycle}: the feed replays to the store"
    );
}

#[test]
fn acknowledged_writes_survive_simulated_power_loss_and_disk_faults() {
    let seeds: u64 = std::env::var("NIMBUS_MODEL_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut cycles = 0;
    let mut checked = 0;
    let first: u64 = std::env::var("NIMBUS_MODEL_FIRST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for seed in first..=seeds {
        let (c, n) = run_seed(seed);
        cycles += c;
        checked += n;
    }
    println!("wal model: {seeds} seeds, {cycles} crash cycles, {checked} document states checked");
    assert!(checked > 0);
}
