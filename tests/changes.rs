//! The change feed (DECISIONS §12) through real sockets: pages read while writers commit,
//! resuming after `kill -9`, retention and `410`, Server-Sent Events, bad input.

mod common;

use common::{assert_error, TestServer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Inserts one document; its id once acknowledged, `None` if the server did not answer.
fn try_insert(port: u16, token: &str, tenant: &str, table: &str, n: u64) -> Option<String> {
    let body = json!({"table": table, "fields": {"n": n}}).to_string();
    let r = ureq::post(&format!(
        "http://127.0.0.1:{port}/api/tenants/{tenant}/documents"
    ))
    .set("Authorization", &format!("Bearer {token}"))
    .timeout(Duration::from_secs(5))
    .send_string(&body)
    .ok()?;
    let v: Value = serde_json::from_str(&r.into_string().ok()?).ok()?;
    v["id"].as_str().map(str::to_string)
}

/// Acknowledged ids of each writer, in the order they were acknowledged.
type Acked = Arc<Mutex<Vec<Vec<String>>>>;

/// Four writers inserting into `tenant` (table `w<n>` each) until `stop`.
fn writers(
    s: &TestServer,
    tenant: &str,
    stop: &Arc<AtomicBool>,
) -> (Acked, Vec<std::thread::JoinHandle<()>>) {
    let acked: Acked = Arc::new(Mutex::new(vec![Vec::new(); 4]));
    let handles = (0..4)
        .map(|w| {
            let (port, token, tenant) = (s.port, s.token.clone(), tenant.to_string());
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    match try_insert(port, &token, &tenant, &format!("w{w}"), n) {
                        Some(id) => acked.lock().expect("lock")[w].push(id),
                        None => return, // The server went away.
                    }
                    n += 1;
                }
            })
        })
        .collect();
    (acked, handles)
}

/// One page of changes: (seq, table, id) of each, `last_seq`, `has_more`.
fn page(s: &TestServer, tenant: &str, query: &str) -> (Vec<(u64, String, String)>, u64, bool) {
    let r = s.call(
        "GET",
        &format!("/api/tenants/{tenant}/changes?{query}"),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let changes = r.body["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["seq"].as_u64().expect("seq"),
                c["table"].as_str().expect("table").to_string(),
                c["id"].as_str().expect("id").to_string(),
            )
        });
    (
        changes.collect(),
        r.body["last_seq"].as_u64().expect("last_seq"),
        r.body["has_more"].as_bool().expect("has_more"),
    )
}

/// Reads pages of 7 from `after` until `stop` is set and the feed has nothing more.
fn read_all(
    s: &TestServer,
    tenant: &str,
    mut after: u64,
    stop: &AtomicBool,
) -> Vec<(u64, String, String)> {
    let mut seen = Vec::new();
    loop {
        let done = stop.load(Ordering::Relaxed);
        let (changes, last, more) = page(s, tenant, &format!("after={after}&limit=7&wait_ms=200"));
        assert!(changes.len() <= 7);
        seen.extend(changes);
        after = last;
        if done && !more {
            let (rest, ..) = page(s, tenant, &format!("after={after}&limit=7"));
            if rest.is_empty() {
                return seen;
            }
            seen.extend(rest.clone());
            after = rest.last().map_or(after, |c| c.0);
        }
    }
}

/// Every acknowledged id is in `seen` exactly once, in each writer's order, and `seen`
/// numbers its changes 1, 2, 3, ... with no gap.
fn check(seen: &[(u64, String, String)], acked: &[Vec<String>]) {
    let seqs: Vec<u64> = seen.iter().map(|c| c.0).collect();
    assert_eq!(
        seqs,
        (1..=seen.len() as u64).collect::<Vec<_>>(),
        "numbered without gaps or repeats"
    );
    let mut at: HashMap<&str, usize> = HashMap::new();
    for (n, (_, _, id)) in seen.iter().enumerate() {
        assert!(at.insert(id, n).is_none(), "{id} twice");
    }
    for (w, ids) in acked.iter().enumerate() {
        assert!(!ids.is_empty(), "writer {w} wrote");
        let places: Vec<usize> = ids
            .iter()
            .map(|id| {
                *at.get(id.as_str())
                    .unwrap_or_else(|| panic!("acknowledged {id} missing"))
            })
            .collect();
        assert!(
            places.windows(2).all(|p| p[0] < p[1]),
            "writer {w}'s changes in its order"
        );
        assert!(seen.iter().filter(|c| c.1 == format!("w{w}")).count() >= ids.len());
    }
}

#[test]
fn pages_of_seven_read_while_four_writers_commit_hold_every_change_once_in_order() {
    let s = TestServer::start(2);
    s.create_tenant("feed");
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, handles) = writers(&s, "feed", &stop);
    let reader_stop = Arc::new(AtomicBool::new(false));
    let seen = std::thread::scope(|scope| {
        let reader = scope.spawn(|| read_all(&s, "feed", 0, &reader_stop));
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.join().expect("writer");
        }
        reader_stop.store(true, Ordering::Relaxed);
        reader.join().expect("reader")
    });
    let acked = acked.lock().expect("lock");
    check(&seen, &acked);
    assert_eq!(seen.len(), acked.iter().map(Vec::len).sum::<usize>());
}

#[test]
fn after_kill_9_a_reader_resumes_from_its_last_seq_and_misses_nothing() {
    // Small log and feed files: snapshots drop log segments, and feed segments are sealed
    // and read back from disk, while the writers go on.
    let extra = [
        "--snapshot-log-bytes",
        "8192",
        "--changes-segment-bytes",
        "8192",
    ];
    let s = TestServer::start_with(2, &extra);
    s.create_tenant("feed");
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, handles) = writers(&s, "feed", &stop);
    std::thread::sleep(Duration::from_millis(1500));
    // Part of the feed read before the crash.
    let mut seen = Vec::new();
    let mut after = 0;
    for _ in 0..20 {
        let (changes, last, _) = page(&s, "feed", &format!("after={after}&limit=7"));
        seen.extend(changes);
        after = last;
    }
    assert!(after >= 100, "read {after} before the crash");
    let s = s.restart(libc::SIGKILL, 2, &extra);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("writer");
    }
    let done = AtomicBool::new(true);
    seen.extend(read_all(&s, "feed", after, &done));
    check(&seen, &acked.lock().expect("lock"));
    // From the start again, after the restart: the same changes, read back from the files.
    let again = read_all(&s, "feed", 0, &done);
    assert_eq!(again, seen);
}

#[test]
fn a_position_older_than_the_retention_is_gone_and_after_0_starts_at_the_oldest_kept() {
    let extra = [
        "--changes-retention-ms",
        "200",
        "--changes-segment-bytes",
        "4096",
    ];
    let s = TestServer::start_with(1, &extra);
    s.create_tenant("old");
    s.insert_many("old", "t", 200, |i| json!({"i": i, "pad": "x".repeat(100)}));
    std::thread::sleep(Duration::from_millis(1500));
    s.insert("old", "t", json!({"i": 200}));
    let r = s.call("GET", "/api/tenants/old/changes?after=1", None);
    assert_error(&r, 410, "op.cursor_expired");
    let (changes, ..) = page(&s, "old", "after=0&limit=1000");
    let first = changes.first().expect("something is kept").0;
    assert!(first > 2, "the oldest changes went: first kept is {first}");
    assert_eq!(changes.last().map(|c| c.0), Some(201));
    // A position ahead of the tenant (a history reset) is gone too.
    assert_error(
        &s.call("GET", "/api/tenants/old/changes?after=999", None),
        410,
        "op.cursor_expired",
    );
}

#[test]
fn bad_parameters_are_refused_with_the_envelope() {
    let s = TestServer::start(1);
    s.create_tenant("p");
    for q in [
        "after=x",
        "after=-1",
        "limit=0",
        "limit=1001",
        "wait_ms=30001",
        "tables=a,,b",
        "tables=1x",
    ] {
        let r = s.call("GET", &format!("/api/tenants/p/changes?{q}"), None);
        assert_error(&r, 400, "op.invalid_input");
    }
    let r = s.call("GET", "/api/tenants/nope/changes", None);
    assert_error(&r, 404, "session.tenant_not_found");
    let r = s.call_with(
        "GET",
        "/api/tenants/p/events",
        None,
        &[
            ("Authorization", &format!("Bearer {}", s.token)),
            ("Last-Event-ID", "abc"),
        ],
    );
    assert_error(&r, 400, "op.invalid_input");
}

#[test]
fn tables_filter_and_every_kind_of_write_is_a_change() {
    let s = TestServer::start(2);
    s.create_tenant("k");
    let a = s.insert("k", "a", json!({"v": 1}));
    s.insert("k", "b", json!({"v": 2}));
    let r = s.call(
        "PATCH",
        &format!("/api/tenants/k/documents/a/{a}"),
        Some(r#"{"patch":{"v":3}}"#),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = s.call("DELETE", &format!("/api/tenants/k/documents/a/{a}"), None);
    assert_eq!(r.status, 204, "{r:?}");
    let r = s.call("GET", "/api/tenants/k/changes?tables=a", None);
    let ops: Vec<(u64, &str)> = r.body["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["seq"].as_u64().expect("seq"),
                c["op"].as_str().expect("op"),
            )
        })
        .collect();
    assert_eq!(ops, vec![(1, "insert"), (3, "update"), (4, "delete")]);
    let changes = &r.body["changes"];
    assert_eq!(
        changes[1]["document"]["v"], 3,
        "the document after the change"
    );
    assert!(changes[2]["document"].is_null());
    assert_eq!(r.body["last_seq"], 4);
    // A tenant deleted and created again starts a new history.
    assert_eq!(s.call("DELETE", "/api/tenants/k", None).status, 204);
    s.create_tenant("k");
    let (changes, last, _) = page(&s, "k", "after=0");
    assert!(changes.is_empty() && last == 0, "{changes:?} {last}");
}

/// Reads SSE lines from `r` until `n` events have come; (id, event, data) of each.
fn events(r: &mut impl BufRead, n: usize) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
    while out.len() < n {
        let mut line = String::new();
        if r.read_line(&mut line).expect("read") == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if !event.is_empty() {
                out.push((
                    id.clone(),
                    std::mem::take(&mut event),
                    std::mem::take(&mut data),
                ));
            }
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = v.to_string();
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = v.to_string();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = v.to_string();
        } else if line.starts_with(':') {
            out.push((String::new(), "heartbeat".into(), String::new()));
        }
    }
    out
}

/// Opens `/events` with extra headers; the reader after the head (chunks unwrapped by
/// reading an HTTP/1.0 answer, which has no chunked framing).
fn open_events(s: &TestServer, tenant: &str, extra: &str) -> (u16, BufReader<std::net::TcpStream>) {
    let mut c = s.raw();
    c.set_read_timeout(Some(Duration::from_secs(25)))
        .expect("timeout");
    let req = format!(
        "GET /api/tenants/{tenant}/events HTTP/1.0\r\nHost: x\r\n{}{extra}\r\n",
        s.auth_header()
    );
    c.write_all(req.as_bytes()).expect("write");
    let mut r = BufReader::new(c);
    let mut status = String::new();
    r.read_line(&mut status).expect("status");
    let code = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut content_type = String::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).expect("header");
        if h.trim().is_empty() {
            break;
        }
        if h.to_ascii_lowercase().starts_with("content-type:") {
            content_type = h;
        }
    }
    if code == 200 {
        assert!(content_type.contains("text/event-stream"), "{content_type}");
    }
    (code, r)
}

#[test]
fn events_resume_with_last_event_id_and_heartbeats_arrive_when_quiet() {
    let s = TestServer::start(2);
    let t = common::tenant_on(1, "sse");
    s.create_tenant(&t);
    for i in 0..5 {
        s.insert(&t, "m", json!({"i": i}));
    }
    let (code, mut r) = open_events(&s, &t, "Last-Event-ID: 2\r\n");
    assert_eq!(code, 200);
    let got = events(&mut r, 3);
    let ids: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(ids, ["3", "4", "5"]);
    assert!(got.iter().all(|e| e.1 == "change"));
    let change: Value = serde_json::from_str(&got[0].2).expect("data is the change");
    assert_eq!(
        (change["seq"].as_u64(), change["op"].as_str()),
        (Some(3), Some("insert"))
    );
    // Nothing for a while: a comment line within 15 s keeps the stream alive.
    let began = Instant::now();
    let quiet = events(&mut r, 1);
    assert_eq!(quiet[0].1, "heartbeat", "{quiet:?}");
    assert!(
        began.elapsed() < Duration::from_secs(17),
        "{:?}",
        began.elapsed()
    );
    // A change after the heartbeat still comes.
    s.insert(&t, "m", json!({"i": 5}));
    assert_eq!(events(&mut r, 1)[0].0, "6");
}

#[test]
fn an_expired_position_gets_410_up_front_and_a_reader_of_a_reset_history_its_reset_event() {
    let s = TestServer::start(1);
    s.create_tenant("r");
    s.insert("r", "m", json!({"i": 1}));
    let (code, _) = open_events(&s, "r", "Last-Event-ID: 50\r\n");
    assert_eq!(code, 410);
    // A stream open while the tenant is deleted and created again: its position is ahead of
    // the new tenant's history.
    let (code, mut r) = open_events(&s, "r", "Last-Event-ID: 1\r\n");
    assert_eq!(code, 200);
    assert_eq!(s.call("DELETE", "/api/tenants/r", None).status, 204);
    s.create_tenant("r");
    let got = events(&mut r, 1);
    assert!(
        got.first().is_none_or(|e| e.1 == "reset"),
        "the stream ends, or says reset: {got:?}"
    );
}

#[test]
fn a_live_query_over_sse_sees_every_result_change() {
    let s = TestServer::start(2);
    let t = common::tenant_on(1, "live");
    s.create_tenant(&t);
    s.insert(&t, "m", json!({"n": 0}));
    let query = json!({"table": "m", "filters": [{"field": "n", "op": "gte", "value": 1}]});
    let target = format!(
        "/api/tenants/{t}/live?query={}",
        url_encode(&query.to_string())
    );
    let mut c = s.raw();
    let req = format!(
        "GET {target} HTTP/1.0\r\nHost: x\r\n{}\r\n",
        s.auth_header()
    );
    c.write_all(req.as_bytes()).expect("write");
    let mut r = BufReader::new(c);
    let mut line = String::new();
    while r.read_line(&mut line).expect("head") > 2 {
        line.clear();
    }
    let first = events(&mut r, 1);
    assert_eq!(first[0].1, "result");
    let v: Value = serde_json::from_str(&first[0].2).expect("data");
    assert_eq!(v["data"], json!([]));
    let mut version = v["version"].as_u64().expect("version");
    assert_eq!(
        first[0].0,
        version.to_string(),
        "the event id is the version"
    );
    for n in 1..=5 {
        s.insert(&t, "m", json!({"n": n}));
        s.insert(&t, "m", json!({"n": -n})); // not in the result: no event
        let e = events(&mut r, 1);
        let v: Value = serde_json::from_str(&e[0].2).expect("data");
        assert_eq!(v["data"].as_array().map(Vec::len), Some(n as usize), "{v}");
        let now = v["version"].as_u64().expect("version");
        assert!(now > version, "versions grow: {now} after {version}");
        version = now;
    }
    // A bad query is refused before the stream starts.
    let r = s.call("GET", &format!("/api/tenants/{t}/live?query=%7B"), None);
    assert_error(&r, 400, "op.invalid_input");
    let r = s.call("GET", &format!("/api/tenants/{t}/live"), None);
    assert_error(&r, 400, "op.invalid_input");
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn a_shutdown_answers_long_polls_and_ends_event_streams_at_once() {
    let s = TestServer::start(2);
    let t = common::tenant_on(0, "stop");
    s.create_tenant(&t);
    let (code, mut events) = open_events(&s, &t, "");
    assert_eq!(code, 200);
    let url = s.url(&format!("/api/tenants/{t}/changes?wait_ms=30000"));
    let auth = format!("Bearer {}", s.token);
    let poll = std::thread::spawn(move || {
        let r = ureq::get(&url).set("Authorization", &auth).call();
        r.map(|r| r.status()).unwrap_or(0)
    });
    std::thread::sleep(Duration::from_millis(300));
    let began = Instant::now();
    let dir = s.stop(libc::SIGTERM);
    let took = began.elapsed();
    assert!(took < Duration::from_millis(1500), "stopping took {took:?}");
    assert_eq!(
        poll.join().expect("poll"),
        200,
        "the long poll was answered"
    );
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut events, &mut rest);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_import_is_a_change_per_document_and_reaches_live_queries() {
    let s = TestServer::start(2);
    let t = common::tenant_on(1, "imp");
    s.create_tenant(&t);
    let old = s.insert(&t, "m", json!({"n": 0}));
    let query = json!({"table": "m", "filters": []});
    let target = format!(
        "/api/tenants/{t}/live?query={}",
        url_encode(&query.to_string())
    );
    let mut c = s.raw();
    let req = format!(
        "GET {target} HTTP/1.0\r\nHost: x\r\n{}\r\n",
        s.auth_header()
    );
    c.write_all(req.as_bytes()).expect("write");
    let mut r = BufReader::new(c);
    let mut line = String::new();
    while r.read_line(&mut line).expect("head") > 2 {
        line.clear();
    }
    assert_eq!(events(&mut r, 1)[0].1, "result");
    // Two documents exported from another tenant are the import.
    s.create_tenant("src");
    s.insert("src", "m", json!({"n": 1}));
    s.insert("src", "m", json!({"n": 2}));
    let export = ureq::get(&s.url("/api/tenants/src/export"))
        .set("Authorization", &format!("Bearer {}", s.token))
        .call()
        .expect("export")
        .into_string()
        .expect("text");
    let body: String = export
        .lines()
        .filter(|l| l.contains("\"document\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let resp = s.call(
        "POST",
        &format!("/api/tenants/{t}/import?mode=replace"),
        Some(&body),
    );
    assert_eq!(resp.status, 200, "{resp:?}");
    // The live query sees the import (it replaced the table: two documents, not three).
    let e = events(&mut r, 1);
    let v: Value = serde_json::from_str(&e[0].2).expect("data");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2), "{v}");
    // The feed: the replaced table's document deleted, then one insert per line.
    let (changes, ..) = page(&s, &t, "after=1");
    let got: Vec<(u64, String)> = changes.iter().map(|c| (c.0, c.2.clone())).collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0], (2, old), "the replaced document's delete first");
    assert_eq!(got.iter().map(|c| c.0).collect::<Vec<_>>(), [2, 3, 4]);
}
