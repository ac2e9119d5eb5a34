//! Declared indexes serve queries through a real socket: plans with `"explain": true`,
//! results equal to a scan's, maintenance on every write, building in the background, and
//! rebuilding after a restart.

mod common;

use common::{assert_error, column, ids, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SCHEMA: &str = r#"{"table":"posts","fields":[{"name":"author","field_type":"string"}],
  "indexes":[{"name":"by_author","fields":["author"]},
             {"name":"by_author_votes","fields":["author","votes"]}]}"#;

fn query(s: &TestServer, q: Value) -> Value {
    let r = s.call("POST", "/api/tenants/t/query", Some(&q.to_string()));
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

/// Waits until every index of `posts` is `enabled`.
fn wait_enabled(s: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = s.call("GET", "/api/tenants/t/schema/posts", None);
        let states: Vec<&str> = r.body["indexes"]
            .as_array()
            .expect("indexes")
            .iter()
            .map(|i| i["state"].as_str().expect("state"))
            .collect();
        assert!(states
            .iter()
            .all(|s| *s == "enabled" || *s == "backfilling"));
        if states.iter().all(|s| *s == "enabled") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "index never finished: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn post(i: usize) -> Value {
    json!({"author": format!("a{}", i % 30), "votes": i % 50, "title": format!("post {i}")})
}

fn titles(v: &Value) -> Vec<String> {
    column(v, "title")
}

/// The same query answered by a scan of `plain`, which holds the same posts and no index.
fn scanned(s: &TestServer, mut q: Value) -> Vec<String> {
    q["table"] = json!("plain");
    let r = query(s, q);
    assert_eq!(r["plan"]["scan"], true, "{r}");
    titles(&r)
}

#[test]
fn indexes_serve_queries_and_say_so() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let put = s.call("PUT", "/api/tenants/t/schema/posts", Some(SCHEMA));
    assert!(put.status == 200 || put.status == 204, "{put:?}");
    s.insert_many("t", "posts", 3000, post);
    s.insert_many("t", "plain", 3000, post);
    wait_enabled(&s);

    // Equality on the leading field, default order: reads exactly what it returns.
    let eq = json!({"table":"posts","filters":[{"field":"author","op":"eq","value":"a3"}],
        "limit":10,"explain":true});
    let r = query(&s, eq.clone());
    assert_eq!(r["plan"]["index"], "by_author", "{r}");
    assert_eq!(r["plan"]["order"], "index");
    assert_eq!(r["plan"]["scan"], false);
    assert_eq!(r["plan"]["examined"], 10);
    assert_eq!(r["plan"]["returned"], 10);
    assert_eq!(titles(&r), scanned(&s, eq));

    // Equality, then order and a range on the next field.
    let ordered = json!({"table":"posts","filters":[
            {"field":"author","op":"eq","value":"a7"},{"field":"votes","op":"lt","value":40}],
        "order":{"field":"votes","direction":"desc"},"limit":5,"explain":true});
    let r = query(&s, ordered.clone());
    assert_eq!(r["plan"]["index"], "by_author_votes", "{r}");
    assert_eq!(r["plan"]["range"], true);
    assert_eq!(r["plan"]["examined"], 5);
    let votes: Vec<i64> = r["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d["votes"].as_i64().expect("votes"))
        .collect();
    assert!(
        votes.windows(2).all(|w| w[0] >= w[1]) && votes[0] < 40,
        "{votes:?}"
    );
    assert_eq!(titles(&r), scanned(&s, ordered));

    // A query no index serves still answers, and says it scanned.
    let r = query(
        &s,
        json!({"table":"posts","filters":[{"field":"votes","op":"eq","value":3}],"explain":true}),
    );
    assert_eq!(r["plan"]["index"], "by_creation_time");
    assert_eq!(r["plan"]["scan"], true);
    assert_eq!(r["plan"]["examined"], 3000);
    assert_eq!(r["data"].as_array().expect("data").len(), 60);
    // Without `explain` there is no plan.
    let r = query(&s, json!({"table":"posts","filters":[],"limit":1}));
    assert!(r.get("plan").is_none(), "{r}");
    assert_error(
        &s.call(
            "POST",
            "/api/tenants/t/query",
            Some(r#"{"table":"posts","filters":[],"explain":"yes"}"#),
        ),
        400,
        "op.invalid_input",
    );

    // Writes keep the index in step: a patch moves a document, a delete removes it.
    let first = ids(&query(
        &s,
        json!({"table":"posts","filters":[{"field":"author","op":"eq","value":"a3"}],"limit":1}),
    ))
    .remove(0);
    let r = s.call(
        "PATCH",
        &format!("/api/tenants/t/documents/posts/{first}"),
        Some(r#"{"patch":{"author":"zed"}}"#),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let zed = json!({"table":"posts","filters":[{"field":"author","op":"eq","value":"zed"}],"explain":true});
    let r = query(&s, zed.clone());
    assert_eq!(ids(&r), vec![first.clone()]);
    assert_eq!(r["plan"]["examined"], 1);
    let a3 = json!({"table":"posts","filters":[{"field":"author","op":"eq","value":"a3"}]});
    assert!(!ids(&query(&s, a3.clone())).contains(&first));
    assert_eq!(ids(&query(&s, a3.clone())).len(), 99);
    let r = s.call(
        "DELETE",
        &format!("/api/tenants/t/documents/posts/{first}"),
        None,
    );
    assert_eq!(r.status, 204);
    assert!(ids(&query(&s, zed)).is_empty());

    // Paginating through an index walks exactly the full result.
    let walk = json!({"table":"posts","filters":[{"field":"author","op":"eq","value":"a4"}],
        "order":{"field":"votes","direction":"asc"}});
    let all = ids(&query(&s, walk.clone()));
    let seen = s.walk("t", &walk, 7, |_| {});
    assert_eq!(seen, all);
    assert_eq!(all.len(), 100);
}

#[test]
fn a_new_index_is_built_while_serving_and_again_after_restart() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    s.insert_many("t", "posts", 20_000, post);
    let eq = json!({"table":"posts","filters":[{"field":"author","op":"eq","value":"a11"}],
        "limit":20,"explain":true});
    let before = query(&s, eq.clone());
    assert_eq!(before["plan"]["scan"], true);

    let put = s.call("PUT", "/api/tenants/t/schema/posts", Some(SCHEMA));
    assert!(put.status == 200 || put.status == 204, "{put:?}");
    // The shard keeps answering while it builds.
    let r = s.call("GET", "/health", None);
    assert_eq!(r.status, 200);
    wait_enabled(&s);
    let after = query(&s, eq.clone());
    assert_eq!(after["plan"]["index"], "by_author", "{after}");
    assert_eq!(after["plan"]["examined"], 20);
    assert_eq!(ids(&after), ids(&before));

    // Indexes are not stored: a restart rebuilds them from the documents.
    let s = s.restart(libc_sigterm(), 1, &[]);
    wait_enabled(&s);
    let again = query(&s, eq);
    assert_eq!(again["plan"]["index"], "by_author");
    assert_eq!(ids(&again), ids(&before));

    // Dropping the schema drops its indexes.
    assert_eq!(
        s.call("DELETE", "/api/tenants/t/schema/posts", None).status,
        204
    );
    let r = query(
        &s,
        json!({"table":"posts","filters":[{"field":"author","op":"eq","value":"a11"}],"explain":true}),
    );
    assert_eq!(r["plan"]["scan"], true);
    assert_eq!(r["data"].as_array().expect("data").len(), 667);
}

fn libc_sigterm() -> i32 {
    15
}
