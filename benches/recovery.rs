//! Recovery time for a shard holding N small documents (default 1,000,000; `NIMBUS_DOCS`):
//! once with everything in the write-ahead log, once from a snapshot. Run with
//! `cargo bench --bench recovery`. Writes to a temporary directory on the real disk.

use nimbus::ids::{DocId, IdGen};
use nimbus::store::{Change, Store};
use nimbus::value::Value;
use nimbus::wal::disk::{Disk, OsDisk};
use nimbus::wal::files::{segment_name, snapshot_name};
use nimbus::wal::manifest::{Manifest, Segment};
use nimbus::wal::record::{encode, Entry};
use nimbus::wal::recovery::recover;
use nimbus::wal::snapshot::{copy_all, encode as encode_snapshot};
use std::time::Instant;

fn doc_fields(i: u64) -> Vec<(Box<str>, Value)> {
    // About 200 bytes of JSON per document.
    vec![
        (
            "author".into(),
            Value::Str(format!("user-{}", i % 1000).into()),
        ),
        (
            "title".into(),
            Value::Str("a document of roughly two hundred bytes for the recovery bench".into()),
        ),
        ("n".into(), Value::Int(i as i64)),
        ("score".into(), Value::Float(i as f64 / 7.0)),
        (
            "tags".into(),
            Value::Array(vec![Value::Str("alpha".into()), Value::Str("beta".into())]),
        ),
        ("done".into(), Value::Bool(i.is_multiple_of(2))),
    ]
}

fn main() {
    let n: u64 = std::env::var("NIMBUS_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let root = std::env::temp_dir().join(format!("nimbus-recovery-bench-{}", std::process::id()));
    let (log_dir, snap_dir) = (root.join("log"), root.join("snap"));
    let disk = OsDisk;
    for d in [&log_dir, &snap_dir] {
        disk.create_dir_all(d).expect("dir");
    }

    let t = Instant::now();
    let mut store = Store::default();
    let mut ids = IdGen::default();
    let mut log = Vec::with_capacity((n as usize) * 300);
    let mut seq = 1;
    let create = Change::CreateTenant {
        tenant: "bench".into(),
    };
    encode(
        &Entry {
            seq,
            change: create.clone(),
            tseq: 0,
            ts: 1_790_000_000_000,
        },
        &mut log,
    );
    store.apply(create);
    for i in 0..n {
        seq += 1;
        let id: DocId = ids.next(1_790_000_000_000 + i / 1000);
        let change = Change::Insert {
            tenant: "bench".into(),
            table: "items".into(),
            id,
            at_ms: id.millis(),
            fields: doc_fields(i),
        };
        encode(
            &Entry {
                seq,
                change: change.clone(),
                tseq: i + 1,
                ts: id.millis(),
            },
            &mut log,
        );
        store.apply(change);
    }
    disk.write_synced(&log_dir.join(segment_name(1)), &log)
        .expect("write log");
    let snapshot = encode_snapshot(&copy_all(&store, seq));
    disk.write_synced(&snap_dir.join(snapshot_name(seq)), &snapshot)
        .expect("write snapshot");
    // Each directory's manifest says what recovery must find there.
    let log_manifest = Manifest {
        snapshot: 0,
        segments: vec![Segment {
            first: 1,
            through: seq,
        }],
    };
    log_manifest.write(&disk, &log_dir).expect("manifest");
    let snap_manifest = Manifest {
        snapshot: seq,
        segments: Vec::new(),
    };
    snap_manifest.write(&disk, &snap_dir).expect("manifest");
    println!(
        "prepared {n} documents in {:.2} s: log {} MiB, snapshot {} MiB",
        t.elapsed().as_secs_f64(),
        log.len() >> 20,
        snapshot.len() >> 20
    );
    drop(store);

    for (what, dir) in [("log replay", &log_dir), ("snapshot", &snap_dir)] {
        let t = Instant::now();
        let rec = recover(&disk, dir).expect("recover");
        let secs = t.elapsed().as_secs_f64();
        let docs = rec
            .store
            .tenant("bench")
            .ok()
            .and_then(|t| t.table("items"))
            .map_or(0, |t| t.docs.len());
        assert_eq!(docs as u64, n);
        println!(
            "recovery from {what}: {n} documents in {secs:.2} s ({:.0} docs/s)",
            n as f64 / secs
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}
