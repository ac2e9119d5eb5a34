//! Online backups and restores (DECISIONS §11) through the real binary: `nimbus backup`
//! against a serving server, `nimbus restore` into a fresh data dir, and a server started
//! there answering as the original did; writes going on during a backup; one backup at a
//! time; damaged archives refused before anything is written.

mod common;

use common::{assert_error, tenant_on, TestServer};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `nimbus backup` against `s` into `out`; its exit status and stderr.
fn backup(s: &TestServer, out: &Path) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_nimbus"))
        .args(["backup", "--url", &s.url(""), "--out"])
        .arg(out)
        .env("NIMBUS_TOKEN", &s.token)
        .output()
        .expect("run nimbus backup");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs `nimbus restore`; its exit status and stderr.
fn restore(archive: &Path, dir: &Path) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_nimbus"))
        .arg("restore")
        .arg(archive)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run nimbus restore");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn archive_path(name: &str) -> PathBuf {
    TestServer::fresh_dir().with_extension(name)
}

/// Every read the tests compare, as (path, body).
fn reads(s: &TestServer, tenant: &str) -> Vec<(String, Value)> {
    let paths = [
        format!("/api/tenants/{tenant}/documents/m"),
        format!("/api/tenants/{tenant}/documents/other"),
        format!("/api/tenants/{tenant}/schema"),
        format!("/api/tenants/{tenant}/schema/m"),
        format!("/api/tenants/{tenant}/schedule"),
        format!("/api/tenants/{tenant}/crons"),
        format!("/api/tenants/{tenant}/keys"),
        format!("/api/tenants/{tenant}/services"),
        format!("/api/tenants/{tenant}/usage"),
        format!("/api/tenants/{tenant}/topics/orders"),
        "/api/tenants".to_string(),
    ];
    paths
        .into_iter()
        .map(|p| {
            let r = s.call("GET", &p, None);
            assert!(r.status < 500, "{p}: {r:?}");
            (p, r.body)
        })
        .collect()
}

#[test]
fn a_restored_server_answers_as_the_original_did() {
    let s = TestServer::start(2);
    let tenants = [tenant_on(0, "a"), tenant_on(1, "b")];
    let mut secrets = Vec::new();
    for t in &tenants {
        s.create_tenant(t);
        let schema = json!({"table": "m", "fields": [{"name": "n", "field_type": "number", "required": true}],
                            "indexes": [{"name": "by_n", "fields": ["n"]}]});
        let r = s.call(
            "PUT",
            &format!("/api/tenants/{t}/schema/m"),
            Some(&schema.to_string()),
        );
        assert_eq!(r.status, 204, "{r:?}");
        s.insert_many(t, "m", 300, |i| json!({"n": i, "s": format!("é{i}")}));
        s.insert(t, "other", json!({"deep": {"x": [1, 2]}}));
        // A job that runs now (its result is history) and one that is still pending.
        for after in [0, 2500] {
            let body = json!({"run_after_ms": after, "mutation": {"type": "insert", "table": "jobs", "fields": {"after": after}}});
            let r = s.call(
                "POST",
                &format!("/api/tenants/{t}/schedule"),
                Some(&body.to_string()),
            );
            assert_eq!(r.status, 201, "{r:?}");
        }
        let cron = json!({"name": "tick", "schedule": {"type": "interval", "seconds": 3600},
                          "mutation": {"type": "insert", "table": "ticks", "fields": {"x": 1}}});
        let r = s.call(
            "POST",
            &format!("/api/tenants/{t}/crons"),
            Some(&cron.to_string()),
        );
        assert_eq!(r.status, 201, "{r:?}");
        let r = s.call(
            "POST",
            &format!("/api/tenants/{t}/keys"),
            Some(r#"{"name":"r","scope":"read"}"#),
        );
        assert_eq!(r.status, 201, "{r:?}");
        secrets.push(r.body["key"].as_str().expect("secret").to_string());
        // A topic with a group that consumed and acked part of it.
        let r = s.call(
            "PUT",
            &format!("/api/tenants/{t}/topics/orders"),
            Some(r#"{"tables":["m"]}"#),
        );
        assert_eq!(r.status, 200, "{r:?}");
        let consume =
            json!({"topic_id": "orders", "group_id": "g", "start": "Earliest", "limit": 10});
        let r = s.call(
            "POST",
            &format!("/api/tenants/{t}/topics/consume"),
            Some(&consume.to_string()),
        );
        assert_eq!(r.status, 200, "{r:?}");
        let ack = json!({"topic_id": "orders", "group_id": "g", "upto_offset": 7});
        let r = s.call(
            "POST",
            &format!("/api/tenants/{t}/topics/ack"),
            Some(&ack.to_string()),
        );
        assert_eq!(r.body["acked"], 7, "{r:?}");
    }
    // The immediate jobs have run (their results are history); the pending one is checked
    // apart, as it may come due while the backup is restored.
    std::thread::sleep(Duration::from_millis(600));
    let before: Vec<_> = tenants.iter().map(|t| reads(&s, t)).collect();
    let history: Vec<Value> = tenants.iter().map(|t| docs_of(&s, t, "jobs")).collect();
    let archive = archive_path("tar");
    let (ok, err) = backup(&s, &archive);
    assert!(ok, "backup failed: {err}");
    let dir = TestServer::fresh_dir();
    let (ok, err) = restore(&archive, &dir);
    assert!(ok, "restore failed: {err}");
    assert!(err.contains("restored 2 shards, 2 tenants"), "{err}");
    drop(s);
    // Another shard count: recovery re-homes the restored tenants.
    let r = TestServer::start_in(dir, 3, &[]);
    for (n, t) in tenants.iter().enumerate() {
        let after = reads(&r, t);
        for ((p, a), (_, b)) in before[n].iter().zip(&after) {
            if p.ends_with("/schedule") || p.ends_with("/usage") {
                continue;
            }
            assert_eq!(a, b, "{p} differs after the restore");
        }
        assert_eq!(docs_of(&r, t, "jobs"), history[n], "job history");
        let topic = r.call("GET", &format!("/api/tenants/{t}/topics/orders"), None);
        assert_eq!(
            topic.body["groups"],
            json!({"g": 7}),
            "the group's position"
        );
        // The tenant's change numbers go on; the feed's history starts at the backup.
        r.insert(t, "m", json!({"n": 9999}));
        let changes = r.call("GET", &format!("/api/tenants/{t}/changes?after=0"), None);
        let list = changes.body["changes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!list.is_empty(), "{:?}", changes.body);
        assert!(
            list.iter().all(|c| c["seq"].as_u64() > Some(300)),
            "{:?}",
            changes.body
        );
        // The key's old secret still works, and still only reads.
        let auth = format!("Bearer {}", secrets[n]);
        let got = r.call_with(
            "GET",
            &format!("/api/tenants/{t}/documents/m"),
            None,
            &[("Authorization", &auth)],
        );
        assert_eq!(got.status, 200, "{got:?}");
        let post = r.call_with(
            "POST",
            &format!("/api/tenants/{t}/documents"),
            Some(r#"{"table":"m","fields":{"n":1}}"#),
            &[("Authorization", &auth)],
        );
        assert_error(&post, 403, "auth.forbidden");
    }
    // The pending job was restored pending, and then runs.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tenants
        .iter()
        .any(|t| docs_of(&r, t, "jobs").as_array().map_or(0, Vec::len) < 2)
    {
        assert!(Instant::now() < deadline, "the restored job never ran");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(&archive);
}

fn docs_of(s: &TestServer, t: &str, table: &str) -> Value {
    s.call("GET", &format!("/api/tenants/{t}/documents/{table}"), None)
        .body["data"]
        .clone()
}

/// (time acknowledged, n) of each write one writer made, in order.
type Acks = Vec<(Instant, u64)>;

#[test]
fn a_backup_under_writers_holds_a_prefix_of_each_tenants_acknowledged_writes() {
    let s = Arc::new(TestServer::start(2));
    let tenants: Vec<String> = (0..4).map(|n| tenant_on(n % 2, &format!("w{n}"))).collect();
    for t in &tenants {
        s.create_tenant(t);
        // Enough data that each shard's copy takes many steps, with writes between them.
        s.insert_many(t, "bulk", 8000, |i| json!({"i": i, "pad": "x".repeat(64)}));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<Acks>>> = Arc::new(Mutex::new(vec![Vec::new(); 4]));
    let writers: Vec<_> = tenants
        .iter()
        .enumerate()
        .map(|(w, t)| {
            let (s, stop, acked, t) = (s.clone(), stop.clone(), acked.clone(), t.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    s.insert(&t, "seq", json!({"n": n}));
                    acked.lock().expect("lock")[w].push((Instant::now(), n));
                    n += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let archive = archive_path("tar");
    let began = Instant::now();
    let (ok, err) = backup(&s, &archive);
    assert!(ok, "backup failed: {err}");
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    let dir = TestServer::fresh_dir();
    let (ok, err) = restore(&archive, &dir);
    assert!(ok, "restore failed: {err}");
    let r = TestServer::start_in(dir, 2, &[]);
    let acked = acked.lock().expect("lock");
    let mut tail_seen = false;
    for (w, t) in tenants.iter().enumerate() {
        let mut got: Vec<u64> = docs_of(&r, t, "seq")
            .as_array()
            .expect("docs")
            .iter()
            .map(|d| d["n"].as_u64().expect("n"))
            .collect();
        got.sort_unstable();
        // A prefix: 0, 1, ..., k-1 with nothing missing.
        let want: Vec<u64> = (0..got.len() as u64).collect();
        assert_eq!(got, want, "tenant {t}: not a prefix of its writes");
        let before = acked[w].iter().filter(|(at, _)| *at < began).count();
        assert!(
            got.len() >= before,
            "tenant {t}: {before} writes acknowledged before the backup began, {} restored",
            got.len()
        );
        let total = acked[w].len();
        assert!(got.len() <= total, "more than was written");
        tail_seen |= got.len() > before;
        assert_eq!(docs_of(&r, t, "bulk").as_array().map(Vec::len), Some(8000));
    }
    assert!(
        tail_seen,
        "no write landed during the backup: the test proved nothing"
    );
    let _ = std::fs::remove_file(&archive);
}

#[test]
fn one_backup_at_a_time() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    // More than the sockets buffer, so the first backup waits for its slow reader.
    s.insert_many("t", "m", 6000, |i| json!({"i": i, "pad": "y".repeat(4000)}));
    let mut slow = s.raw();
    let req = format!(
        "POST /api/admin/backup HTTP/1.1\r\nHost: x\r\n{}Content-Length: 0\r\nConnection: close\r\n\r\n",
        s.auth_header()
    );
    slow.write_all(req.as_bytes()).expect("write");
    let mut first = [0u8; 512];
    let n = slow.read(&mut first).expect("read");
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let second = s.call("POST", "/api/admin/backup", None);
    assert_error(&second, 409, "op.conflict");
    // The first goes on to the end; then the slot is free again.
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    drop(slow);
    let archive = archive_path("tar");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, err) = backup(&s, &archive);
        if ok {
            break;
        }
        assert!(err.contains("409") && Instant::now() < deadline, "{err}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(&archive);
}

#[test]
fn damaged_archives_are_refused_before_anything_is_written() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    s.insert_many("t", "m", 500, |i| json!({"i": i}));
    let archive = archive_path("tar");
    let (ok, err) = backup(&s, &archive);
    assert!(ok, "{err}");
    let bytes = std::fs::read(&archive).expect("archive");
    // A byte flipped inside the shard of `t`'s snapshot.
    let shard = nimbus::shard::owner_of("t", 2);
    let name = format!("nimbus-backup/shards/{shard}/snapshot-");
    let at = bytes
        .windows(name.len())
        .position(|w| w == name.as_bytes())
        .expect("entry");
    let mut altered = bytes.clone();
    altered[at + 512 + 100] ^= 0x20;
    let truncated = bytes[..bytes.len() / 2].to_vec();
    for (what, data, says) in [
        ("altered", altered, "does not match its SHA-256"),
        ("truncated", truncated, "truncated"),
    ] {
        let bad = archive_path(what);
        std::fs::write(&bad, &data).expect("write");
        let dir = TestServer::fresh_dir();
        let (ok, err) = restore(&bad, &dir);
        assert!(!ok, "{what} archive restored");
        assert!(err.contains(says), "{what}: {err}");
        if what == "altered" {
            assert!(err.contains(&name), "names the bad part: {err}");
        }
        assert!(
            !dir.join("shards").exists(),
            "{what}: something was written"
        );
        let _ = std::fs::remove_file(&bad);
    }
    // A data dir in use is refused too.
    let (ok, err) = restore(&archive, &s.data_dir);
    assert!(!ok && err.contains("not empty"), "{err}");
    let _ = std::fs::remove_file(&archive);
}
