//! `GET /metrics` through a real socket, parsed by a Prometheus text parser we did not write
//! (`prometheus-parse`): every series DECISIONS §11 lists is there with its type, and the
//! figures move as requests, writes, subscriptions and jobs happen. A scrape of 10,000
//! tenants stays fast and no larger.

mod common;

use common::raw_ws::RawWs;
use common::TestServer;
use prometheus_parse::{Scrape, Value};
use serde_json::json;
use std::time::{Duration, Instant};

/// Every series §11 lists, with its type.
const SERIES: [(&str, &str); 15] = [
    ("nimbus_http_requests_total", "counter"),
    ("nimbus_http_request_duration_seconds", "histogram"),
    ("nimbus_ws_connections", "gauge"),
    ("nimbus_live_subscriptions", "gauge"),
    ("nimbus_live_push_duration_seconds", "histogram"),
    ("nimbus_commits_total", "counter"),
    ("nimbus_wal_sync_duration_seconds", "histogram"),
    ("nimbus_wal_bytes_total", "counter"),
    ("nimbus_tenants", "gauge"),
    ("nimbus_documents", "gauge"),
    ("nimbus_shard_busy_seconds_total", "counter"),
    ("nimbus_scheduler_lag_seconds", "gauge"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_cpu_seconds_total", "counter"),
    ("process_start_time_seconds", "gauge"),
];

/// A scrape: the parsed samples, the text, and its `Content-Type`.
fn scrape(s: &TestServer) -> (Scrape, String, String) {
    let resp = ureq::get(&s.url("/metrics"))
        .set("Authorization", &format!("Bearer {}", s.token))
        .call()
        .expect("scrape");
    let kind = resp.header("Content-Type").unwrap_or_default().to_string();
    let text = resp.into_string().expect("text");
    let lines = text.lines().map(|l| Ok(l.to_string()));
    (Scrape::parse(lines).expect("Prometheus text"), text, kind)
}

/// A plain sample's value, with the labels given (others ignored).
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// A histogram's `_count`, with the labels given.
fn observed(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, &format!("{metric}_count"), labels)
}

#[test]
fn every_listed_series_is_there_and_moves() {
    let s = TestServer::start(2);
    let (before, text, kind) = scrape(&s);
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    for (name, kind) in SERIES {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} {kind} missing:\n{text}"
        );
    }
    assert!(!text.contains("tenant="), "no tenant label");
    s.create_tenant("t");
    for i in 0..3 {
        s.insert("t", "m", json!({"n": i}));
    }
    for _ in 0..5 {
        assert_eq!(s.call("GET", "/health", None).status, 200);
    }
    assert_eq!(s.call("GET", "/api/tenants/t/nothing", None).status, 404);
    let mut ws = RawWs::open(&s, "t");
    ws.send(
        0x1,
        br#"{"type":"subscribe","request_id":1,"query":{"table":"m","filters":[]}}"#,
    );
    ws.until("subscription_result");
    s.insert("t", "m", json!({"n": 9}));
    ws.until("subscription_result");
    let job =
        json!({"run_after_ms": 0, "mutation": {"type": "insert", "table": "j", "fields": {}}});
    s.call("POST", "/api/tenants/t/schedule", Some(&job.to_string()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.call("GET", "/api/tenants/t/documents/j", None).body["data"]
        .as_array()
        .is_none_or(Vec::is_empty)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (after, text, _) = scrape(&s);
    let health = [("route", "/health"), ("status", "200")];
    assert!(
        value(&after, "nimbus_http_requests_total", &health) >= 5.0,
        "{text}"
    );
    assert!(
        value(
            &after,
            "nimbus_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ) >= 1.0,
        "{text}"
    );
    let inserts = [("route", "/api/tenants/:tenant/documents")];
    assert!(observed(&after, "nimbus_http_request_duration_seconds", &inserts) >= 4.0);
    assert_eq!(value(&after, "nimbus_tenants", &[]), 1.0);
    assert_eq!(
        value(&after, "nimbus_documents", &[]),
        5.0,
        "4 inserts and the job's"
    );
    assert_eq!(value(&after, "nimbus_ws_connections", &[]), 1.0);
    assert_eq!(value(&after, "nimbus_live_subscriptions", &[]), 1.0);
    let commits =
        value(&after, "nimbus_commits_total", &[]) - value(&before, "nimbus_commits_total", &[]);
    assert!(
        commits >= 7.0,
        "tenant, 4 inserts, a job and its run: {commits}"
    );
    assert!(
        value(&after, "nimbus_wal_bytes_total", &[])
            > value(&before, "nimbus_wal_bytes_total", &[])
    );
    assert!(observed(&after, "nimbus_wal_sync_duration_seconds", &[]) >= 1.0);
    assert!(
        observed(&after, "nimbus_live_push_duration_seconds", &[]) >= 2.0,
        "{text}"
    );
    for shard in ["0", "1"] {
        assert!(
            value(
                &after,
                "nimbus_shard_busy_seconds_total",
                &[("shard", shard)]
            ) >= 0.0
        );
        assert!(text.contains(&format!(
            "nimbus_shard_busy_seconds_total{{shard=\"{shard}\"}}"
        )));
    }
    assert!(value(&after, "process_resident_memory_bytes", &[]) > 1e6);
    // CPU time moves in clock ticks (10 ms): a young server on a loaded machine may not
    // have used one yet, so scrape (which costs CPU) until it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while value(&scrape(&s).0, "process_cpu_seconds_total", &[]) <= 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "process CPU time never moved"
        );
    }
    // A key cannot scrape; no credential is a 401.
    let key = s.call(
        "POST",
        "/api/tenants/t/keys",
        Some(r#"{"name":"ops","scope":"admin"}"#),
    );
    let secret = key.body["key"].as_str().expect("key").to_string();
    let r = s.call_with(
        "GET",
        "/metrics",
        None,
        &[("Authorization", &format!("Bearer {secret}"))],
    );
    common::assert_error(&r, 403, "auth.forbidden");
    let r = s.call_with("GET", "/metrics", None, &[]);
    common::assert_error(&r, 401, "auth.unauthorized");
}

#[test]
fn a_scrape_of_ten_thousand_tenants_is_fast_and_no_larger() {
    let s = TestServer::start(2);
    s.create_tenant("first");
    // Every route and status the tenants' creation and the scrapes touch are touched once
    // first (the second scrape counts the first), so the sizes compare like for like.
    scrape(&s);
    let small = scrape(&s).1.len();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (port, token) = (s.port, s.token.clone());
            std::thread::spawn(move || {
                let agent = ureq::agent();
                for i in 0..1250 {
                    let body = format!(r#"{{"id":"t{t}-{i}"}}"#);
                    let r = agent
                        .post(&format!("http://127.0.0.1:{port}/api/tenants"))
                        .set("Authorization", &format!("Bearer {token}"))
                        .set("Content-Type", "application/json")
                        .send_string(&body)
                        .expect("create");
                    assert_eq!(r.status(), 201);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("creator");
    }
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let began = Instant::now();
        let (parsed, text, _) = scrape(&s);
        times.push(began.elapsed());
        assert_eq!(value(&parsed, "nimbus_tenants", &[]), 10_001.0);
        size = text.len();
    }
    times.sort();
    let median = times[2];
    eprintln!(
        "scrape of 10,001 tenants: median {median:?}, {size} bytes (1 tenant: {small} bytes)"
    );
    assert!(median < Duration::from_millis(50), "{times:?}");
    // Only the figures' digits may grow.
    assert!(
        size < small + 256,
        "{size} bytes now, {small} with one tenant"
    );
}

/// The bytes of a table's documents as stored: the list answer is their texts, verbatim,
/// joined by commas inside `{"data":[...]}`.
fn stored_bytes(s: &TestServer, table: &str) -> (u64, u64) {
    let text = ureq::get(&s.url(&format!("/api/tenants/u/documents/{table}")))
        .set("Authorization", &format!("Bearer {}", s.token))
        .call()
        .expect("list")
        .into_string()
        .expect("text");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let n = v["data"].as_array().map_or(0, Vec::len) as u64;
    let frame = r#"{"data":[]}"#.len() as u64 + n.saturating_sub(1);
    (n, text.len() as u64 - frame)
}

#[test]
fn usage_matches_what_was_written() {
    let s = TestServer::start(2);
    s.create_tenant("u");
    let a = s.insert("u", "a", json!({"text": "x".repeat(100)}));
    s.insert("u", "a", json!({"n": 1}));
    for i in 0..5 {
        s.insert("u", "b", json!({"i": i, "tags": ["p", "q"]}));
    }
    s.call(
        "PATCH",
        &format!("/api/tenants/u/documents/a/{a}"),
        Some(r#"{"patch":{"text":"short"}}"#),
    );
    let gone = s.insert("u", "b", json!({"doomed": true}));
    s.call(
        "DELETE",
        &format!("/api/tenants/u/documents/b/{gone}"),
        None,
    );
    let schema = json!({"table": "b", "fields": [],
                        "indexes": [{"name": "by_i", "fields": ["i"]}]});
    s.call("PUT", "/api/tenants/u/schema/b", Some(&schema.to_string()));
    let mut ws = RawWs::open(&s, "u");
    ws.send(
        0x1,
        br#"{"type":"subscribe","request_id":1,"query":{"table":"a","filters":[]}}"#,
    );
    ws.until("subscription_result");
    let check = |s: &TestServer, subscriptions: u64| {
        let u = s.call("GET", "/api/tenants/u/usage", None);
        assert_eq!(u.status, 200, "{u:?}");
        let (na, ba) = stored_bytes(s, "a");
        let (nb, bb) = stored_bytes(s, "b");
        assert_eq!(u.body["tables"]["a"], json!({"documents": na, "bytes": ba}));
        assert_eq!(u.body["tables"]["b"], json!({"documents": nb, "bytes": bb}));
        assert_eq!((na, nb), (2, 5));
        assert_eq!(u.body["documents"], 7);
        assert_eq!(u.body["bytes"], ba + bb);
        assert_eq!(u.body["indexes"], 1);
        assert_eq!(u.body["subscriptions"], subscriptions);
        assert_eq!(
            (u.body["files"].as_u64(), u.body["file_bytes"].as_u64()),
            (Some(0), Some(0))
        );
    };
    check(&s, 1);
    drop(ws);
    // Byte counts are rebuilt from what recovery loads.
    let s = s.restart(9, 2, &[]);
    check(&s, 0);
    let r = s.call("GET", "/api/tenants/nope/usage", None);
    common::assert_error(&r, 404, "session.tenant_not_found");
}
