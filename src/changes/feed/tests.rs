//! The feed's memory and its segments' metadata against the bytes the writer would write.

use super::*;
use crate::changes::segment::SegMeta;
use crate::changes::Filter;
use crate::value::Value;

fn opts(segment_max: u64, memory_max: usize) -> Options {
    Options {
        retention_ms: 1000,
        disk_max: u64::MAX,
        memory_max,
        segment_max,
    }
}

/// Commits `n` inserts through the feed as the shard does, handing a batch to "the writer"
/// every `per_batch` commits; returns the bytes written to each segment, by first seq.
fn run(feed: &mut Feed, store: &mut Store, n: u64, per_batch: u64) -> Vec<(u64, Vec<u8>)> {
    let mut files: Vec<(u64, Vec<u8>)> = vec![(1, Vec::new())];
    for i in 1..=n {
        let change = Change::Insert {
            tenant: "t".into(),
            table: "m".into(),
            id: crate::ids::DocId((i as u128) << 80),
            at_ms: i,
            fields: vec![("i".into(), Value::Int(i as i64))],
        };
        let docs = feed.before(store, &change);
        store.apply_logged(change, i + 1, i);
        assert_eq!(docs, 1);
        feed.after(store, i + 1, i, i);
        if i % per_batch == 0 || i == n {
            if let Some(b) = feed.take_batch(i + 1) {
                if let Some((first, _)) = b.rotate {
                    files.push((first, Vec::new()));
                }
                files
                    .last_mut()
                    .expect("a file")
                    .1
                    .extend_from_slice(&b.bytes);
            }
        }
    }
    feed.progress(n + 1);
    files
}

fn store_with_t() -> Store {
    let mut store = Store::default();
    store.apply_logged(Change::CreateTenant { tenant: "t".into() }, 1, 0);
    store
}

#[test]
fn segment_offsets_match_the_files_when_batches_hold_many_records() {
    let mut store = store_with_t();
    let mut feed = Feed::new(opts(64 << 10, 1 << 30), Default::default());
    feed.ensure_open(1);
    let files = run(&mut feed, &mut store, 3000, 7);
    assert!(files.len() > 2, "rotated: {}", files.len());
    for (meta, (first, bytes)) in feed.segments().zip(&files) {
        let (scanned, valid) = SegMeta::of_bytes(*first, bytes);
        assert_eq!(valid, bytes.len());
        assert_eq!(
            (meta.first, meta.last, meta.bytes),
            (scanned.first, scanned.last, scanned.bytes)
        );
        assert_eq!(
            meta.tenants["t"].marks, scanned.tenants["t"].marks,
            "segment {first}"
        );
    }
}

#[test]
fn reads_come_from_memory_until_evicted_then_from_the_files() {
    let mut store = store_with_t();
    let mut feed = Feed::new(opts(64 << 10, 32 << 10), Default::default());
    feed.ensure_open(1);
    run(&mut feed, &mut store, 2000, 5);
    let want = |after| Want {
        tenant: "t".into(),
        epoch: 1,
        now: 2000,
        after,
        limit: 1000,
        filter: Filter::default(),
        render: crate::changes::Render::Change,
    };
    match feed.plan(&want(1990), 2001) {
        Plan::Page(p) => assert_eq!(
            p.spans.iter().map(|s| s.0).collect::<Vec<_>>(),
            (1991..=2000).collect::<Vec<_>>()
        ),
        _ => panic!("the newest changes are in memory"),
    }
    match feed.plan(&want(5), 2001) {
        Plan::Disk(d) => {
            assert!(d.until > 6 && d.until <= 2000, "{}", d.until);
            assert_eq!(d.segments[0].0, 1);
        }
        _ => panic!("evicted changes are read from the files"),
    }
    assert!(
        matches!(feed.plan(&want(2001), 2001), Plan::Gone),
        "ahead of the tenant"
    );
}
