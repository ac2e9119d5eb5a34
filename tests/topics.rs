//! Topics with consumer groups (DECISIONS §12) through real sockets: independent groups,
//! redelivery after the visibility timeout and not after an ack, both across a restart;
//! a topic's selection; bad input.

mod common;

use common::{assert_error, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

fn consume(s: &TestServer, tenant: &str, body: Value) -> Value {
    let r = s.call(
        "POST",
        &format!("/api/tenants/{tenant}/topics/consume"),
        Some(&body.to_string()),
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

fn offsets(v: &Value) -> Vec<u64> {
    v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["offset"].as_u64().expect("offset"))
        .collect()
}

fn ack(s: &TestServer, tenant: &str, group: &str, upto: u64) -> common::Resp {
    let body = json!({"topic_id": "orders", "group_id": group, "upto_offset": upto});
    s.call(
        "POST",
        &format!("/api/tenants/{tenant}/topics/ack"),
        Some(&body.to_string()),
    )
}

fn put_topic(s: &TestServer, tenant: &str, body: Value) {
    let r = s.call(
        "PUT",
        &format!("/api/tenants/{tenant}/topics/orders"),
        Some(&body.to_string()),
    );
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn groups_read_independently_and_an_unacked_batch_comes_back_across_a_restart() {
    let extra = ["--topic-visibility-ms", "600"];
    let s = TestServer::start_with(2, &extra);
    let t = common::tenant_on(1, "topics");
    s.create_tenant(&t);
    put_topic(&s, &t, json!({"tables": ["orders"]}));
    for i in 0..5 {
        s.insert(&t, "orders", json!({"i": i}));
        s.insert(&t, "other", json!({"i": i}));
    }
    let first = |group: &str| json!({"topic_id": "orders", "group_id": group, "start": "Earliest", "limit": 3});
    // Only `orders` changes, with their feed numbers as offsets.
    let a1 = consume(&s, &t, first("a"));
    assert_eq!(offsets(&a1), [1, 3, 5]);
    assert_eq!(a1["messages"][0]["table"], "orders");
    assert_eq!(a1["next_offset"], 6);
    let b1 = consume(&s, &t, first("b"));
    assert_eq!(offsets(&b1), [1, 3, 5], "another group starts on its own");
    // Group a goes on past its batch in flight; it acks that batch.
    let a2 = consume(&s, &t, first("a"));
    assert_eq!(offsets(&a2), [7, 9]);
    assert_eq!(ack(&s, &t, "a", 5).body["acked"], 5);
    // Past the visibility timeout: b's unacked batch comes back, a's acked one does not.
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(offsets(&consume(&s, &t, first("b"))), [1, 3, 5]);
    assert_eq!(offsets(&consume(&s, &t, first("a"))), [7, 9]);
    // An ack never moves a group back.
    assert_eq!(ack(&s, &t, "a", 9).body["acked"], 9);
    assert_eq!(ack(&s, &t, "a", 3).body["acked"], 9);
    // Across a restart: positions are durable, batches in flight come again.
    let s = s.restart(libc::SIGKILL, 2, &extra);
    assert_eq!(offsets(&consume(&s, &t, first("b"))), [1, 3, 5]);
    let a = consume(&s, &t, first("a"));
    assert!(offsets(&a).is_empty(), "{a}");
    assert_eq!(a["next_offset"], 11, "past the filtered-out change 10");
    let r = s.call("GET", &format!("/api/tenants/{t}/topics/orders"), None);
    assert_eq!(r.body["groups"], json!({"a": 9, "b": 0}), "{:?}", r.body);
    // A consume waits for a message that is not there yet.
    let (port, token, tenant) = (s.port, s.token.clone(), t.clone());
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        ureq::post(&format!(
            "http://127.0.0.1:{port}/api/tenants/{tenant}/documents"
        ))
        .set("Authorization", &format!("Bearer {token}"))
        .send_string(r#"{"table":"orders","fields":{"late":true}}"#)
        .expect("insert");
    });
    let began = std::time::Instant::now();
    let waited = consume(
        &s,
        &t,
        json!({"topic_id": "orders", "group_id": "a", "timeout_seconds": 5}),
    );
    writer.join().expect("writer");
    assert_eq!(offsets(&waited), [11]);
    assert!(
        began.elapsed() < Duration::from_secs(4),
        "{:?}",
        began.elapsed()
    );
}

#[test]
fn a_new_group_starts_where_it_is_told_and_a_topic_selects_ops() {
    let s = TestServer::start(1);
    s.create_tenant("sel");
    put_topic(&s, "sel", json!({"tables": ["orders"], "ops": ["insert"]}));
    let id = s.insert("sel", "orders", json!({"v": 1}));
    let r = s.call(
        "PATCH",
        &format!("/api/tenants/sel/documents/orders/{id}"),
        Some(r#"{"patch":{"v":2}}"#),
    );
    assert_eq!(r.status, 200, "{r:?}");
    s.insert("sel", "orders", json!({"v": 3}));
    let start = |group: &str, start: Value| json!({"topic_id": "orders", "group_id": group, "start": start});
    assert_eq!(
        offsets(&consume(&s, "sel", start("e", json!("Earliest")))),
        [1, 3],
        "inserts only"
    );
    assert_eq!(
        offsets(&consume(&s, "sel", start("o", json!({"Offset": 3})))),
        [3]
    );
    assert!(offsets(&consume(&s, "sel", start("l", json!("Latest")))).is_empty());
    s.insert("sel", "orders", json!({"v": 4}));
    assert_eq!(
        offsets(&consume(&s, "sel", start("l", json!("Latest")))),
        [4]
    );
}

#[test]
fn bad_topic_requests_are_refused() {
    let s = TestServer::start(1);
    s.create_tenant("bad");
    let post = |path: &str, body: Value| {
        s.call(
            "POST",
            &format!("/api/tenants/bad/topics/{path}"),
            Some(&body.to_string()),
        )
    };
    let r = post("consume", json!({"topic_id": "nope", "group_id": "g"}));
    assert_error(&r, 400, "op.invalid_input");
    put_topic(&s, "bad", json!({}));
    for body in [
        json!({"topic_id": "orders", "group_id": "g", "limit": 0}),
        json!({"topic_id": "orders", "group_id": "g", "limit": 1001}),
        json!({"topic_id": "orders", "group_id": "g", "timeout_seconds": 31}),
        json!({"topic_id": "orders", "group_id": "g", "start": "Sometime"}),
        json!({"topic_id": "orders"}),
        json!({"topic_id": "orders", "group_id": "no spaces"}),
    ] {
        assert_error(&post("consume", body), 400, "op.invalid_input");
    }
    s.insert("bad", "orders", json!({"v": 1}));
    let got = post(
        "consume",
        json!({"topic_id": "orders", "group_id": "g", "start": "Earliest"}),
    );
    assert_eq!(offsets(&got.body), [1]);
    assert_error(&ack(&s, "bad", "g", 2), 400, "op.invalid_input");
    assert_error(&ack(&s, "bad", "never", 1), 400, "op.invalid_input");
    for body in [
        json!({"tables": ["1x"]}),
        json!({"tables": "orders"}),
        json!({"ops": ["upsert"]}),
    ] {
        let r = s.call("PUT", "/api/tenants/bad/topics/t2", Some(&body.to_string()));
        assert_error(&r, 400, "op.invalid_input");
    }
    let r = s.call("PUT", "/api/tenants/bad/topics/consume", Some("{}"));
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(
        s.call("DELETE", "/api/tenants/bad/topics/orders", None)
            .status,
        204
    );
    assert_error(
        &s.call("GET", "/api/tenants/bad/topics/orders", None),
        404,
        "op.not_found",
    );
}

#[test]
fn a_group_left_behind_by_retention_is_told_once_and_moves_to_the_oldest_kept() {
    let extra = [
        "--changes-retention-ms",
        "200",
        "--changes-segment-bytes",
        "4096",
    ];
    let s = TestServer::start_with(1, &extra);
    s.create_tenant("late");
    put_topic(&s, "late", json!({}));
    s.insert("late", "t", json!({"i": 0}));
    let first = json!({"topic_id": "orders", "group_id": "slow", "start": "Earliest", "limit": 1});
    assert_eq!(offsets(&consume(&s, "late", first.clone())), [1]);
    assert_eq!(ack(&s, "late", "slow", 1).body["acked"], 1);
    s.insert_many(
        "late",
        "t",
        200,
        |i| json!({"i": i, "pad": "x".repeat(100)}),
    );
    std::thread::sleep(Duration::from_millis(1500));
    s.insert("late", "t", json!({"i": 201}));
    let r = s.call(
        "POST",
        "/api/tenants/late/topics/consume",
        Some(&first.to_string()),
    );
    assert_error(&r, 410, "op.cursor_expired");
    let next = consume(&s, "late", first);
    let got = offsets(&next);
    assert!(
        got.len() == 1 && got[0] > 2,
        "goes on from the oldest kept: {next}"
    );
}
