//! Faults that must never lose acknowledged data silently: a second server on one data
//! directory, damaged and missing snapshots and log segments, and what a start says about
//! each. Every refusal names the file; `--accept-data-loss` is the operator's way past it.

mod common;

use common::{try_start, TestServer};
use serde_json::json;
use std::path::{Path, PathBuf};

fn shard_dir(data: &Path) -> PathBuf {
    data.join("shards/0")
}

/// Files of shard 0 whose names start with `prefix`, sorted.
fn files(data: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(shard_dir(data))
        .expect("shard dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && !n.ends_with(".tmp"))
        })
        .collect();
    out.sort();
    out
}

fn count_docs(s: &TestServer) -> usize {
    let r = s.call("GET", "/api/tenants/t/documents/m", None);
    assert_eq!(r.status, 200, "{r:?}");
    r.body["data"].as_array().expect("data").len()
}

/// A one-shard server with tenant `t` and `n` documents in `m`, stopped with `signal`.
fn written(n: usize, signal: i32, extra: &[&str]) -> PathBuf {
    let s = TestServer::start_with(1, extra);
    s.create_tenant("t");
    for i in 0..n {
        s.insert("t", "m", json!({"i": i, "pad": "x".repeat(100)}));
    }
    s.stop(signal)
}

fn refused(data: &Path, extra: &[&str], names: &str, says: &str) -> String {
    let a = try_start(data, extra);
    assert!(!a.listening, "must not start: {}", a.stderr);
    assert!(a.status.is_some_and(|s| !s.success()), "{a:?}");
    assert!(a.stderr.contains(names), "names {names}: {}", a.stderr);
    assert!(a.stderr.contains(says), "says {says}: {}", a.stderr);
    assert!(a.stderr.contains("--accept-data-loss"), "{}", a.stderr);
    a.stderr
}

#[test]
fn a_second_server_on_one_data_directory_is_refused_at_once() {
    let s = TestServer::start(1);
    let t0 = std::time::Instant::now();
    let a = try_start(&s.data_dir, &[]);
    assert!(!a.listening);
    assert!(a.status.is_some_and(|st| st.code() == Some(1)), "{a:?}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(3));
    assert!(
        a.stderr.contains(&s.data_dir.display().to_string()),
        "{}",
        a.stderr
    );
    assert!(
        a.stderr.contains(&format!("pid {}", s.pid())),
        "{}",
        a.stderr
    );
    // The first one is unharmed; a kill -9 releases the lock (the kernel drops it).
    assert_eq!(s.call("GET", "/health", None).status, 200);
    let s = s.restart(libc::SIGKILL, 1, &[]);
    assert_eq!(s.call("GET", "/health", None).status, 200);
}

#[test]
fn restarts_append_to_the_same_log_segment() {
    let mut s = TestServer::start(1);
    s.create_tenant("t");
    for i in 0..5 {
        s.insert("t", "m", json!({"i": i}));
        s = s.restart(
            if i % 2 == 0 {
                libc::SIGTERM
            } else {
                libc::SIGKILL
            },
            1,
            &[],
        );
    }
    assert_eq!(count_docs(&s), 5);
    assert_eq!(files(&s.data_dir, "wal-").len(), 1, "one segment");
}

/// Writes until a snapshot lands and the segment after it is still empty: the snapshot
/// is then the only copy of every document.
fn snapshot_only(extra_after: usize) -> (PathBuf, PathBuf) {
    let s = TestServer::start_with(1, &["--snapshot-log-bytes", "4096"]);
    s.create_tenant("t");
    for i in 0..500 {
        s.insert("t", "m", json!({"i": i, "pad": "x".repeat(100)}));
        // A snapshot, if this write started one, lands before the next write.
        std::thread::sleep(std::time::Duration::from_millis(30));
        let snaps = files(&s.data_dir, "snapshot-");
        let segs = files(&s.data_dir, "wal-");
        let tail_empty = segs
            .last()
            .is_some_and(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(1) == 0);
        if snaps.len() == 1 && segs.len() == 1 && tail_empty {
            for j in 0..extra_after {
                s.insert("t", "m", json!({"after": j}));
            }
            let snap = snaps[0].clone();
            return (s.stop(libc::SIGKILL), snap);
        }
    }
    panic!("no snapshot with an empty log after it");
}

#[test]
fn a_damaged_snapshot_refuses_the_start_with_or_without_later_records() {
    for later in [0, 3] {
        let (data, snap) = snapshot_only(later);
        let mut bytes = std::fs::read(&snap).expect("snapshot");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&snap, bytes).expect("damage");
        let name = snap
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        refused(&data, &[], &name, "is damaged");
        // The operator accepts the loss: it starts, with what the log still holds.
        let a = try_start(&data, &["--accept-data-loss"]);
        assert!(a.listening, "{}", a.stderr);
        let s = TestServer::start_in(data, 1, &[]);
        let r = s.call("GET", "/api/tenants/t/documents/m", None);
        assert!(r.status == 404 || r.body["data"].as_array().map_or(0, |d| d.len()) <= later);
        assert!(std::fs::read_dir(shard_dir(&s.data_dir))
            .expect("dir")
            .any(|e| e
                .expect("e")
                .file_name()
                .to_string_lossy()
                .starts_with("damaged-")));
    }
}

#[test]
fn a_missing_snapshot_refuses_the_start_with_or_without_later_records() {
    for later in [0, 3] {
        let (data, snap) = snapshot_only(later);
        std::fs::remove_file(&snap).expect("delete");
        let name = snap
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        refused(&data, &[], &name, "is missing");
        let _ = std::fs::remove_dir_all(&data);
    }
}

#[test]
fn a_segment_cut_short_names_the_missing_records() {
    let data = written(20, libc::SIGTERM, &[]);
    let seg = files(&data, "wal-").pop().expect("segment");
    let len = std::fs::metadata(&seg).expect("meta").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open");
    f.set_len(len / 2).expect("truncate");
    let err = refused(&data, &[], "wal-", "are missing");
    assert!(
        err.contains("..=21"),
        "the last of the 21 records is named: {err}"
    );
    assert!(!err.contains("never acknowledged"), "{err}");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn after_a_crash_a_segment_cut_below_what_a_start_saw_is_damage_not_a_torn_write() {
    // The start after the first stop records that the segment holds 11 records; then a
    // crash; then the file loses some of those.
    let s = TestServer::start_in(written(10, libc::SIGKILL, &[]), 1, &[]);
    for i in 0..10 {
        s.insert("t", "m", json!({"more": i}));
    }
    let data = s.stop(libc::SIGKILL);
    let seg = files(&data, "wal-").pop().expect("segment");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open");
    f.set_len(200).expect("truncate");
    refused(&data, &[], "wal-", "records 2..=11 are missing");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_torn_final_write_after_a_crash_is_dropped_and_reported() {
    let data = written(10, libc::SIGKILL, &[]);
    let seg = files(&data, "wal-").pop().expect("segment");
    let mut bytes = std::fs::read(&seg).expect("read");
    bytes.extend_from_slice(&[0x55, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    std::fs::write(&seg, bytes).expect("tear");
    let a = try_start(&data, &[]);
    assert!(a.listening, "{}", a.stderr);
    assert!(
        a.stderr
            .contains("torn final write of 13 bytes after record 11"),
        "{}",
        a.stderr
    );
    let s = TestServer::start_in(data, 1, &[]);
    assert_eq!(count_docs(&s), 10);
}

#[test]
fn a_deleted_newest_segment_refuses_the_start() {
    let data = written(5, libc::SIGKILL, &[]);
    let seg = files(&data, "wal-").pop().expect("segment");
    std::fs::remove_file(&seg).expect("delete");
    let name = seg
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    refused(
        &data,
        &[],
        &name,
        "is missing: it held the records from 1 on",
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_missing_or_damaged_manifest_refuses_the_start() {
    let data = written(3, libc::SIGTERM, &[]);
    let manifest = shard_dir(&data).join("MANIFEST");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(&manifest, text.replace("segment 1 ", "segment 2 ")).expect("damage");
    refused(&data, &[], "MANIFEST", "checksum");
    std::fs::remove_file(&manifest).expect("delete");
    refused(&data, &[], "MANIFEST", "no MANIFEST");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_data_directory_that_cannot_be_made_names_it_and_says_what_to_do() {
    let file = TestServer::fresh_dir();
    std::fs::write(&file, b"not a directory").expect("file");
    let a = try_start(&file.join("inside"), &[]);
    assert!(!a.listening);
    assert!(
        a.stderr
            .contains(&file.join("inside").display().to_string()),
        "{}",
        a.stderr
    );
    assert!(a.stderr.contains("--data-dir"), "{}", a.stderr);
    let _ = std::fs::remove_file(&file);
}

/// What one writer saw of its requests.
#[derive(Default)]
struct Seen {
    /// `k` → id, answered 2xx.
    acked: Vec<(u64, String)>,
    /// Answered with an error (503 while stopping): may or may not have been applied.
    refused: Vec<u64>,
    /// Sent on a connection the server had answered on and kept open, never answered.
    unanswered: Vec<u64>,
    /// Sent as the first request of a connection, never answered.
    never_accepted: Vec<u64>,
}

fn writer(port: u16, token: String, w: u64, stop: &std::sync::atomic::AtomicBool) -> Seen {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    let mut seen = Seen::default();
    let mut k = w * 1_000_000;
    'conns: while !stop.load(Ordering::Relaxed) {
        let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            break; // Not accepting any more: the server is stopping.
        };
        let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(10)));
        let mut fresh = true;
        loop {
            k += 1;
            let body = format!(r#"{{"table":"m","fields":{{"k":{k}}}}}"#);
            let req = format!(
                "POST /api/tenants/t/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \
                 {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            // A request on a connection the server never served may be one it never
            // accepted; on one it served and kept open, the server owes an answer.
            let sent = conn.write_all(req.as_bytes()).is_ok();
            let Some((status, head, body)) =
                sent.then(|| common::read_response(&mut conn)).flatten()
            else {
                if fresh {
                    seen.never_accepted.push(k);
                } else {
                    seen.unanswered.push(k);
                }
                continue 'conns;
            };
            fresh = false;
            if status == 201 {
                let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
                seen.acked
                    .push((k, v["id"].as_str().expect("id").to_string()));
            } else {
                assert_eq!(status, 503, "{head}");
                seen.refused.push(k);
            }
            if head.to_ascii_lowercase().contains("connection: close") {
                continue 'conns;
            }
        }
    }
    seen
}

#[test]
fn sigterm_under_eight_writers_answers_what_it_read_and_every_2xx_is_durable() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut s = TestServer::start(2);
    s.create_tenant("t");
    let stop = AtomicBool::new(false);
    let (port, token) = (s.port, s.token.clone());
    let seen: Vec<Seen> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=8)
            .map(|w| {
                let (token, stop) = (token.clone(), &stop);
                scope.spawn(move || writer(port, token, w, stop))
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(800));
        let t0 = std::time::Instant::now();
        let status = s.signal_and_wait(libc::SIGTERM, std::time::Duration::from_secs(6));
        assert!(status.is_some_and(|st| st.success()), "{status:?}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(5));
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().expect("writer"))
            .collect()
    });
    let s = s.restart(libc::SIGKILL, 2, &[]);
    let r = s.call("GET", "/api/tenants/t/documents/m", None);
    let docs = r.body["data"].as_array().expect("docs");
    let present: std::collections::HashMap<u64, String> = docs
        .iter()
        .map(|d| {
            (
                d["k"].as_u64().expect("k"),
                d["_id"].as_str().expect("id").to_string(),
            )
        })
        .collect();
    let acked: usize = seen.iter().map(|w| w.acked.len()).sum();
    assert!(acked > 100, "the writers were writing: {acked}");
    for w in &seen {
        for (k, id) in &w.acked {
            assert_eq!(present.get(k), Some(id), "acknowledged k={k} is durable");
        }
        for k in w.unanswered.iter().chain(&w.never_accepted) {
            assert!(
                !present.contains_key(k),
                "k={k} was applied but its client got no answer"
            );
        }
    }
    let unanswered: usize = seen.iter().map(|w| w.unanswered.len()).sum();
    let never: usize = seen.iter().map(|w| w.never_accepted.len()).sum();
    let refused: usize = seen.iter().map(|w| w.refused.len()).sum();
    println!("acked {acked}, refused {refused}, unanswered {unanswered}, first requests of connections never served {never}");
    assert_eq!(
        unanswered, 0,
        "an open connection's request went unanswered"
    );
}

/// A small tmpfs, unmounted when dropped; `None` where this user cannot mount.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(mib: u64) -> Option<SmallDisk> {
        let dir = TestServer::fresh_dir();
        std::fs::create_dir_all(&dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmp_files(data: &Path) -> Vec<String> {
    std::fs::read_dir(shard_dir(data))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_full_disk_leaves_no_snapshot_tmp_and_writes_resume_once_space_is_freed() {
    let Some(disk) = SmallDisk::mount(6) else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the full-disk case is untested"
        );
        return;
    };
    let data = disk.0.join("data");
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![1u8; 4 << 20]).expect("filler");
    let s = TestServer::start_in(data.clone(), 1, &["--snapshot-log-bytes", "65536"]);
    s.create_tenant("t");
    let pad = "x".repeat(1000);
    let insert = |i: u64| {
        let body = json!({"table": "m", "fields": {"i": i, "pad": pad}}).to_string();
        s.call("POST", "/api/tenants/t/documents", Some(&body))
    };
    let mut acked = Vec::new();
    let mut i = 0;
    loop {
        i += 1;
        let r = insert(i);
        if r.status == 503 {
            assert_eq!(r.body["error"]["code"], "service.unavailable");
            break;
        }
        assert_eq!(r.status, 201, "{r:?}");
        acked.push(i);
        assert!(i < 10_000, "the disk never filled");
    }
    // Reads go on; whatever a snapshot left behind is gone.
    assert_eq!(
        s.call("GET", "/api/tenants/t/documents/m", None).status,
        200
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        tmp_files(&data),
        Vec::<String>::new(),
        "no .tmp left on a full disk"
    );
    let at_full = files(&data, "snapshot-");
    std::fs::remove_file(&filler).expect("free space");
    // Writes resume without a restart (the log writer retries at most every second).
    let t0 = std::time::Instant::now();
    loop {
        i += 1;
        let r = insert(i);
        if r.status == 201 {
            acked.push(i);
            break;
        }
        assert!(t0.elapsed().as_secs() < 15, "writes did not resume: {r:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // And the snapshot that failed is taken once it is retried.
    let t0 = std::time::Instant::now();
    while files(&data, "snapshot-") == at_full {
        i += 1;
        assert_eq!(insert(i).status, 201);
        acked.push(i);
        assert!(
            t0.elapsed().as_secs() < 20,
            "no snapshot after space was freed: {:?}",
            std::fs::read_dir(shard_dir(&data)).map(|d| d
                .filter_map(|e| e.ok())
                .map(|e| (e.file_name(), e.metadata().map(|m| m.len()).unwrap_or(0)))
                .collect::<Vec<_>>())
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(tmp_files(&data), Vec::<String>::new());
    let s = s.restart(libc::SIGKILL, 1, &["--snapshot-log-bytes", "65536"]);
    let r = s.call("GET", "/api/tenants/t/documents/m", None);
    let mut got: Vec<u64> = r.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d["i"].as_u64().expect("i"))
        .collect();
    got.sort_unstable();
    got.retain(|g| acked.contains(g));
    assert_eq!(got, acked, "every acknowledged write survived");
    drop(s);
}
