//! What was acknowledged survives restarts: clean ones, `kill -9`, a changed shard count,
//! and restarts from a snapshot.

mod common;

use common::TestServer;
use serde_json::{json, Value};

/// Everything a client can see: tenants, each tenant's tables and schemas.
fn visible(s: &TestServer, tenants: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("tenants".into(), s.call("GET", "/api/tenants", None).body);
    for t in tenants {
        let docs = s
            .call("GET", &format!("/api/tenants/{t}/documents/m"), None)
            .body;
        let schema = s
            .call("GET", &format!("/api/tenants/{t}/schema"), None)
            .body;
        out.insert(t.to_string(), json!({"docs": docs, "schema": schema}));
    }
    Value::Object(out)
}

fn write_history(s: &TestServer, tenants: &[&str]) {
    for t in tenants {
        s.create_tenant(t);
        let schema = json!({"table": "m", "fields": [{"name": "n", "field_type": "number", "required": true}]});
        assert_eq!(
            s.call(
                "PUT",
                &format!("/api/tenants/{t}/schema/m"),
                Some(&schema.to_string())
            )
            .status,
            204
        );
        let ids: Vec<String> = (0..20)
            .map(|i| s.insert(t, "m", json!({"n": i, "tag": "x"})))
            .collect();
        for id in ids.iter().step_by(3) {
            let r = s.call(
                "PATCH",
                &format!("/api/tenants/{t}/documents/m/{id}"),
                Some(r#"{"patch":{"tag":"patched","extra":null}}"#),
            );
            assert_eq!(r.status, 200);
        }
        for id in ids.iter().skip(1).step_by(4) {
            assert_eq!(
                s.call(
                    "DELETE",
                    &format!("/api/tenants/{t}/documents/m/{id}"),
                    None
                )
                .status,
                204
            );
        }
    }
    // A deleted tenant stays deleted.
    s.create_tenant("gone");
    s.insert("gone", "m", json!({"n": 1}));
    assert_eq!(s.call("DELETE", "/api/tenants/gone", None).status, 204);
}

#[test]
fn a_clean_restart_keeps_everything() {
    let tenants = ["alpha", "beta", "gamma", "delta"];
    let s = TestServer::start(2);
    write_history(&s, &tenants);
    let before = visible(&s, &tenants);
    let s = s.restart(libc::SIGTERM, 2, &[]);
    assert_eq!(visible(&s, &tenants), before);
    // Ids keep growing after a restart.
    let last = before["alpha"]["docs"]["data"]
        .as_array()
        .expect("docs")
        .last()
        .expect("a doc")["_id"]
        .as_str()
        .expect("id")
        .to_string();
    let id = s.insert("alpha", "m", json!({"n": 100}));
    assert!(id > last, "{id} after {last}");
}

#[test]
fn kill_9_keeps_every_acknowledged_write() {
    let tenants = ["alpha", "beta", "gamma"];
    let s = TestServer::start(2);
    write_history(&s, &tenants);
    let before = visible(&s, &tenants);
    let s = s.restart(libc::SIGKILL, 2, &[]);
    assert_eq!(visible(&s, &tenants), before);
    // And again, on top of the recovered state.
    s.insert("beta", "m", json!({"n": 5}));
    let before = visible(&s, &tenants);
    let s = s.restart(libc::SIGKILL, 2, &[]);
    assert_eq!(visible(&s, &tenants), before);
}

#[test]
fn changing_the_shard_count_rehomes_tenants() {
    let tenants = ["t0", "t1", "t2", "t3", "t4", "t5"];
    let s = TestServer::start(2);
    write_history(&s, &tenants);
    let before = visible(&s, &tenants);
    let s = s.restart(libc::SIGTERM, 3, &[]);
    assert_eq!(visible(&s, &tenants), before);
    assert!(s.data_dir.join("shards/2").is_dir());
    let s = s.restart(libc::SIGKILL, 1, &[]);
    assert_eq!(visible(&s, &tenants), before);
    assert!(!s.data_dir.join("shards/1").exists());
}

#[test]
fn snapshots_replace_the_log_and_restore_the_same_state() {
    let tenants = ["alpha", "beta"];
    let s = TestServer::start_with(1, &["--snapshot-log-bytes", "8192"]);
    write_history(&s, &tenants);
    for i in 0..200 {
        s.insert("alpha", "m", json!({"n": i, "pad": "x".repeat(64)}));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let files: Vec<String> = std::fs::read_dir(s.data_dir.join("shards/0"))
        .expect("shard dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().any(|f| f.starts_with("snapshot-")),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|f| f == "wal-00000000000000000001.log"),
        "old segments dropped: {files:?}"
    );
    let before = visible(&s, &tenants);
    let s = s.restart(libc::SIGKILL, 1, &["--snapshot-log-bytes", "8192"]);
    assert_eq!(visible(&s, &tenants), before);
}

#[test]
fn fsync_off_still_survives_a_process_crash() {
    let tenants = ["alpha"];
    let s = TestServer::start_with(2, &["--fsync", "off"]);
    write_history(&s, &tenants);
    let before = visible(&s, &tenants);
    let s = s.restart(libc::SIGKILL, 2, &[]);
    assert_eq!(visible(&s, &tenants), before);
}
