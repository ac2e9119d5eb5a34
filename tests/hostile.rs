//! Input an attacker would send, through real sockets: each answered in the error envelope,
//! the server serving on afterwards, and the memory it makes the server hold bounded
//! (resident memory measured before and after).

mod common;

use common::raw_ws::RawWs;
use common::{read_response, TestServer};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const MIB: u64 = 1024;

/// Resident memory after the shards had a moment to hand freed memory back.
fn settled_rss(s: &TestServer) -> u64 {
    std::thread::sleep(Duration::from_millis(400));
    s.rss_kib()
}

fn still_serving(s: &TestServer) {
    assert_eq!(s.call("GET", "/health", None).status, 200);
    assert_eq!(s.call("GET", "/api/tenants", None).status, 200);
}

#[test]
fn a_chunk_size_that_overflows_is_413_and_nothing_after_it_is_held() {
    let s = TestServer::start(1);
    let before = settled_rss(&s);
    let mut c = s.raw();
    let head = format!(
        "POST /api/tenants HTTP/1.1\r\nHost: x\r\n{}Transfer-Encoding: chunked\r\n\r\n\
         1\r\na\r\nffffffffffffffff\r\n",
        s.auth_header()
    );
    c.write_all(head.as_bytes()).expect("head");
    let junk = vec![b'a'; 1 << 20];
    for _ in 0..64 {
        if c.write_all(&junk).is_err() {
            break; // The server stopped reading: good.
        }
    }
    let (status, _, body) = read_response(&mut c).expect("an answer");
    assert_eq!(status, 413);
    let v: Value = serde_json::from_slice(&body).expect("envelope");
    assert_eq!(v["error"]["code"], "op.payload_too_large");
    let after = settled_rss(&s);
    assert!(after < before + 16 * MIB, "RSS {before} → {after} KiB");
    still_serving(&s);
}

#[test]
fn chunk_extensions_do_not_make_the_input_buffer_hold_more_than_the_body_limit() {
    let s = TestServer::start_with(1, &["--body-size-max", "65536"]);
    s.create_tenant("t");
    let before = settled_rss(&s);
    let mut c = s.raw();
    let head = format!(
        "POST /api/tenants/t/documents HTTP/1.1\r\nHost: x\r\n{}Transfer-Encoding: chunked\r\n\r\n",
        s.auth_header()
    );
    c.write_all(head.as_bytes()).expect("head");
    let body = json!({"table": "m", "fields": {"pad": "y".repeat(8000)}}).to_string();
    let ext = format!(";{}", "e".repeat(3000));
    // 8 KiB of JSON as 1-byte chunks with 3 KB extensions each: 24 MB encoded.
    let mut encoded = Vec::new();
    for b in body.bytes() {
        encoded.extend_from_slice(format!("1{ext}\r\n").as_bytes());
        encoded.push(b);
        encoded.extend_from_slice(b"\r\n");
        if encoded.len() > 1 << 20 {
            c.write_all(&encoded).expect("chunks");
            encoded.clear();
        }
    }
    c.write_all(&encoded).expect("chunks");
    // All but the last chunk are in: what does the server hold for them?
    let during = settled_rss(&s);
    assert!(
        during < before + 12 * MIB,
        "RSS {before} → {during} KiB mid-body"
    );
    c.write_all(b"0\r\n\r\n").expect("last chunk");
    let (status, _, _) = read_response(&mut c).expect("an answer");
    assert_eq!(status, 201, "decoded, the body is well under the limit");
    still_serving(&s);
}

#[test]
fn declared_bodies_are_not_reserved_before_the_credential_is_checked() {
    let s = TestServer::start(1);
    let before = settled_rss(&s);
    let mut conns = Vec::new();
    for _ in 0..500 {
        let mut c = s.raw();
        c.write_all(b"POST /api/tenants HTTP/1.1\r\nHost: x\r\nContent-Length: 16000000\r\n\r\n{")
            .expect("send");
        conns.push(c);
    }
    for c in conns.iter_mut() {
        let (status, _, _) = read_response(c).expect("an answer");
        assert_eq!(status, 401);
    }
    let during = s.rss_kib();
    assert!(during < before + 64 * MIB, "RSS {before} → {during} KiB");
    // With the credential, a body is received as it arrives: one byte holds kilobytes.
    let mut authed = Vec::new();
    for _ in 0..300 {
        let mut c = s.raw();
        let head = format!(
            "POST /api/tenants HTTP/1.1\r\nHost: x\r\n{}Content-Length: 16000000\r\n\r\n{{",
            s.auth_header()
        );
        c.write_all(head.as_bytes()).expect("send");
        authed.push(c);
    }
    std::thread::sleep(Duration::from_millis(500));
    let held = s.rss_kib();
    assert!(
        held < before + 96 * MIB,
        "RSS {before} → {held} KiB with 300 half-sent bodies"
    );
    drop(authed);
    still_serving(&s);
}

#[test]
fn connections_past_the_cap_are_refused_politely() {
    let s = TestServer::start_with(1, &["--connections-max", "4"]);
    let held: Vec<TcpStream> = (0..4).map(|_| s.raw()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut extra = s.raw();
    let (status, head, body) = read_response(&mut extra).expect("a 503");
    assert_eq!(status, 503, "{head}");
    let v: Value = serde_json::from_slice(&body).expect("envelope");
    assert_eq!(v["error"]["code"], "service.unavailable");
    assert_eq!(v["error"]["retryable"], true);
    drop(held);
    std::thread::sleep(Duration::from_millis(100));
    still_serving(&s);
}

#[test]
fn one_large_response_does_not_stay_with_its_keep_alive_connection() {
    let s = TestServer::start_with(1, &["--result-bytes-max", "67108864"]);
    s.create_tenant("t");
    s.insert_many(
        "t",
        "m",
        4000,
        |i| json!({"i": i, "pad": "z".repeat(10_000)}),
    );
    let before = settled_rss(&s);
    let mut c = s.raw();
    let req = format!(
        "GET /api/tenants/t/documents/m HTTP/1.1\r\nHost: x\r\n{}\r\n",
        s.auth_header()
    );
    c.write_all(req.as_bytes()).expect("send");
    let (status, _, body) = read_response(&mut c).expect("answer");
    assert_eq!(status, 200);
    assert!(body.len() > 40_000_000);
    drop(body);
    // The connection stays open and idle.
    let after = settled_rss(&s);
    assert!(after < before + 16 * MIB, "RSS {before} → {after} KiB");
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("again");
    assert_eq!(read_response(&mut c).expect("answer").0, 200);
}

#[test]
fn a_result_over_the_limit_is_refused_with_a_remedy() {
    let s = TestServer::start_with(1, &["--result-bytes-max", "100000"]);
    s.create_tenant("t");
    s.insert_many("t", "m", 100, |i| json!({"i": i, "pad": "z".repeat(2000)}));
    for (method, path, body) in [
        ("GET", "/api/tenants/t/documents/m", None),
        (
            "POST",
            "/api/tenants/t/query",
            Some(r#"{"table":"m","filters":[]}"#),
        ),
    ] {
        let r = s.call(method, path, body);
        common::assert_error(&r, 400, "op.limit_exceeded");
        let hint = r.body["error"]["remediation"]["message"]
            .as_str()
            .expect("hint");
        assert!(hint.contains("limit") && hint.contains("pages"), "{hint}");
    }
    let r = s.call(
        "POST",
        "/api/tenants/t/query",
        Some(r#"{"table":"m","filters":[],"limit":10}"#),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn a_query_that_would_read_too_much_names_the_index_to_declare() {
    let s = TestServer::start_with(1, &["--query-docs-examined-max", "500"]);
    s.create_tenant("t");
    s.insert_many(
        "t",
        "m",
        1200,
        |i| json!({"i": i, "kind": if i % 2 == 0 { "a" } else { "b" }}),
    );
    let q = json!({"table": "m", "filters": [{"field": "kind", "op": "eq", "value": "a"}],
                   "order": {"field": "i", "direction": "desc"}, "limit": 5});
    let r = s.call("POST", "/api/tenants/t/query", Some(&q.to_string()));
    common::assert_error(&r, 400, "op.limit_exceeded");
    let hint = r.body["error"]["remediation"]["message"]
        .as_str()
        .expect("hint");
    assert!(hint.contains(r#"["kind", "i"]"#), "{hint}");
    // Listing the whole table is refused the same way; a page is not.
    common::assert_error(
        &s.call("GET", "/api/tenants/t/documents/m", None),
        400,
        "op.limit_exceeded",
    );
    let page = json!({"query": {"table": "m", "filters": []}, "page_size": 100});
    let r = s.call(
        "POST",
        "/api/tenants/t/query/paginated",
        Some(&page.to_string()),
    );
    assert_eq!(r.status, 200);
    // Declared, the index serves the query within the bound.
    let schema = json!({"table": "m", "fields": [], "indexes": [{"name": "by_kind_i", "fields": ["kind", "i"]}]});
    assert_eq!(
        s.call("PUT", "/api/tenants/t/schema/m", Some(&schema.to_string()))
            .status,
        204
    );
    let t0 = std::time::Instant::now();
    loop {
        let r = s.call("POST", "/api/tenants/t/query", Some(&q.to_string()));
        if r.status == 200 {
            assert_eq!(r.body["data"].as_array().expect("data").len(), 5);
            break;
        }
        assert!(t0.elapsed().as_secs() < 10, "{r:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    still_serving(&s);
}

#[test]
fn a_subscriber_that_never_reads_holds_a_bounded_outbox() {
    let s = TestServer::start_with(1, &["--ws-outbox-bytes-max", "4194304"]);
    s.create_tenant("t");
    s.insert_many("t", "m", 1500, |i| json!({"i": i, "pad": "w".repeat(2000)}));
    let mut ws = RawWs::open(&s, "t");
    for r in 1..=2 {
        ws.send(
            0x1,
            format!(
                r#"{{"type":"subscribe","request_id":{r},"query":{{"table":"m","filters":[]}}}}"#
            )
            .as_bytes(),
        );
    }
    let before = settled_rss(&s);
    // Every insert makes a new 3 MB result for each subscription; the client reads none.
    for i in 0..40 {
        s.insert("t", "m", json!({"more": i}));
    }
    let after = settled_rss(&s);
    assert!(after < before + 48 * MIB, "RSS {before} → {after} KiB");
    still_serving(&s);
}

/// Re-evaluations are bounded like requests: a live query whose table grows past the
/// bound ends with a `subscription_error` instead of costing its shard the whole table on
/// every later commit; the connection and bounded queries go on.
#[test]
fn a_live_query_that_grows_past_the_bound_ends_with_an_error() {
    let s = TestServer::start_with(1, &["--query-docs-examined-max", "50"]);
    s.create_tenant("t");
    s.insert_many("t", "m", 45, |i| json!({"i": i}));
    let mut ws = RawWs::open(&s, "t");
    ws.send(
        0x1,
        br#"{"type":"subscribe","request_id":"all","query":{"table":"m","filters":[]}}"#,
    );
    assert_eq!(
        ws.until("subscription_result")["data"]
            .as_array()
            .map(Vec::len),
        Some(45)
    );
    ws.send(0x1, br#"{"type":"subscribe","request_id":"few","query":{"table":"m","filters":[],"order":{"field":"_creationTime","direction":"desc"},"limit":2}}"#);
    assert_eq!(ws.until("subscription_result")["request_id"], "few");
    s.insert_many("t", "m", 10, |i| json!({"i": 100 + i}));
    let e = ws.until("subscription_error");
    assert_eq!(
        (&e["subscription_id"], &e["request_id"]),
        (&json!("sub-1"), &json!("all"))
    );
    assert_eq!(e["error"]["code"], "op.limit_exceeded");
    assert!(e["version"].as_u64().is_some(), "{e}");
    // The subscription is over; the bounded one still gets results.
    ws.send(
        0x1,
        br#"{"type":"unsubscribe","request_id":"u","subscription_id":"sub-1"}"#,
    );
    assert_eq!(ws.until("op.error")["error"]["code"], "op.not_found");
    s.insert("t", "m", json!({"i": 999}));
    loop {
        let r = ws.until("subscription_result");
        assert_eq!(r["request_id"], "few", "{r}");
        if r["data"][0]["i"] == 999 {
            break;
        }
    }
    // Subscribing again is refused at once, with the remedy.
    ws.send(
        0x1,
        br#"{"type":"subscribe","request_id":"again","query":{"table":"m","filters":[]}}"#,
    );
    let e = ws.until("op.error");
    assert_eq!(
        (&e["request_id"], &e["error"]["code"]),
        (&json!("again"), &json!("op.limit_exceeded"))
    );
    still_serving(&s);
}

#[test]
fn subscriptions_per_connection_are_capped() {
    let s = TestServer::start_with(1, &["--ws-subscriptions-max", "20"]);
    s.create_tenant("t");
    let mut ws = RawWs::open(&s, "t");
    for r in 1..=21 {
        ws.send(0x1, format!(r#"{{"type":"subscribe","request_id":{r},"query":{{"table":"m","filters":[],"limit":1}}}}"#).as_bytes());
    }
    for _ in 1..=20 {
        ws.until("subscription_result");
    }
    let e = ws.until("op.error");
    assert_eq!(e["request_id"], 21);
    assert_eq!(e["error"]["code"], "op.limit_exceeded");
    // The connection goes on.
    ws.send(0x1, br#"{"type":"mutate","request_id":99,"mutation":{"type":"insert","table":"m","fields":{"x":1}}}"#);
    assert_eq!(ws.until("op.result")["request_id"], 99);
}

#[test]
fn a_ping_flood_gets_a_pong_for_every_ping_it_reads() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    let mut ws = RawWs::open(&s, "t");
    let pings = 10_000;
    let mut writer = ws.sock.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let mut all = Vec::new();
        for i in 0..pings {
            let p = format!("{i:05}");
            all.extend_from_slice(&[0x89, 0x80 | p.len() as u8, 0, 0, 0, 0]);
            all.extend_from_slice(p.as_bytes());
        }
        writer.write_all(&all).expect("pings");
    });
    let mut pongs = 0;
    let mut h = [0u8; 2];
    while pongs < pings {
        ws.sock.read_exact(&mut h).expect("frame");
        let mut p = vec![0u8; (h[1] & 0x7f) as usize];
        ws.sock.read_exact(&mut p).expect("payload");
        if h[0] & 0x0f == 0xA {
            assert_eq!(
                p,
                format!("{pongs:05}").as_bytes(),
                "in order, none skipped"
            );
            pongs += 1;
        }
    }
    sender.join().expect("sender");
    still_serving(&s);
}
