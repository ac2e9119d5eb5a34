//! Every native route and error through a real socket, with a real HTTP client.

mod common;

use common::{assert_error, ids, TestServer};
use serde_json::{json, Value};

#[test]
fn health_needs_no_credential() {
    let s = TestServer::start(1);
    let r = s.call_with("GET", "/health", None, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"ok": true}));
    assert!(r.request_id.is_some_and(|id| id.starts_with("req-")));
    assert_error(
        &s.call_with("POST", "/health", Some("{}"), &[]),
        405,
        "op.method_not_allowed",
    );
}

/// Request ids once began with the server's start time (a ULID taken at start, counted
/// up): they must tell nothing about when the server started.
#[test]
fn request_ids_do_not_carry_the_start_time() {
    let s = TestServer::start(1);
    let id = s
        .call_with("GET", "/health", None, &[])
        .request_id
        .expect("an id");
    let n = nimbus::ids::DocId::parse(&id[4..])
        .expect("26 characters")
        .0;
    let stamped_ms = (n >> 80) as u64;
    let now_ms = nimbus::clock::now_ms();
    assert!(
        stamped_ms.abs_diff(now_ms) > 86_400_000,
        "{id} starts with a time within a day of now"
    );
}

#[test]
fn tenants_lifecycle() {
    let s = TestServer::start(2);
    for t in ["demo", "b-2", "C_3"] {
        s.create_tenant(t);
    }
    let r = s.call("GET", "/api/tenants", None);
    assert_eq!(r.body, json!({"tenants": ["C_3", "b-2", "demo"]}));
    assert_error(
        &s.call("POST", "/api/tenants", Some(r#"{"id":"demo"}"#)),
        409,
        "op.conflict",
    );
    assert_error(
        &s.call("POST", "/api/tenants", Some(r#"{"id":"a/b"}"#)),
        400,
        "op.invalid_input",
    );
    assert_error(
        &s.call("POST", "/api/tenants", Some(r#"{"id":""}"#)),
        400,
        "op.invalid_input",
    );
    assert_error(
        &s.call("POST", "/api/tenants", Some(r#"{"id":7}"#)),
        400,
        "op.invalid_input",
    );
    assert_error(
        &s.call("POST", "/api/tenants", Some(r#"{}"#)),
        400,
        "op.invalid_input",
    );
    assert_error(
        &s.call("POST", "/api/tenants", Some(r#"{"id":"#)),
        400,
        "op.invalid_input",
    );
    assert_error(
        &s.call("POST", "/api/tenants", Some(r#"[1]"#)),
        400,
        "op.invalid_input",
    );
    let long = "x".repeat(65);
    assert_error(
        &s.call(
            "POST",
            "/api/tenants",
            Some(&format!(r#"{{"id":"{long}"}}"#)),
        ),
        400,
        "op.invalid_input",
    );

    s.insert("demo", "m", json!({"a": 1}));
    let r = s.call("DELETE", "/api/tenants/demo", None);
    assert_eq!(r.status, 204);
    assert_error(
        &s.call("DELETE", "/api/tenants/demo", None),
        404,
        "session.tenant_not_found",
    );
    assert_error(
        &s.call("GET", "/api/tenants/demo/documents/m", None),
        404,
        "session.tenant_not_found",
    );
    // Recreated, it starts empty.
    s.create_tenant("demo");
    assert_eq!(
        s.call("GET", "/api/tenants/demo/documents/m", None).body,
        json!({"data": []})
    );
}

#[test]
fn documents_crud() {
    let s = TestServer::start(2);
    s.create_tenant("demo");
    let id = s.insert(
        "demo",
        "messages",
        json!({"text": "hello world", "author": "you"}),
    );
    assert_eq!(id.len(), 26);
    assert_eq!(id, id.to_lowercase());

    let r = s.call(
        "GET",
        &format!("/api/tenants/demo/documents/messages/{id}"),
        None,
    );
    assert_eq!(r.status, 200);
    let doc = &r.body["document"];
    assert_eq!(doc["_id"], id.as_str());
    assert_eq!(doc["text"], "hello world");
    let created = doc["_creationTime"].as_u64().expect("creation time");
    assert_eq!(doc["_updateTime"].as_u64(), Some(created));

    std::thread::sleep(std::time::Duration::from_millis(5));
    let r = s.call(
        "PATCH",
        &format!("/api/tenants/demo/documents/messages/{id}"),
        Some(r#"{"patch":{"text":"edited","extra":null}}"#),
    );
    assert_eq!((r.status, &r.body), (200, &json!({"id": id})));
    let doc = s
        .call(
            "GET",
            &format!("/api/tenants/demo/documents/messages/{id}"),
            None,
        )
        .body["document"]
        .clone();
    assert_eq!(doc["text"], "edited");
    assert_eq!(doc["author"], "you");
    assert!(doc.as_object().expect("object").contains_key("extra") && doc["extra"].is_null());
    assert_eq!(doc["_creationTime"].as_u64(), Some(created));
    assert!(doc["_updateTime"].as_u64().expect("update") > created);

    let list = s.call("GET", "/api/tenants/demo/documents/messages", None);
    assert_eq!(ids(&list.body), vec![id.clone()]);
    assert_eq!(
        s.call("GET", "/api/tenants/demo/documents/never", None)
            .body,
        json!({"data": []})
    );

    assert_eq!(
        s.call(
            "DELETE",
            &format!("/api/tenants/demo/documents/messages/{id}"),
            None
        )
        .status,
        204
    );
    let path = format!("/api/tenants/demo/documents/messages/{id}");
    assert_error(&s.call("GET", &path, None), 404, "op.not_found");
    assert_error(&s.call("DELETE", &path, None), 404, "op.not_found");
    assert_error(
        &s.call("PATCH", &path, Some(r#"{"patch":{}}"#)),
        404,
        "op.not_found",
    );
}

#[test]
fn document_input_errors() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    let bad_bodies = [
        r#"{"fields":{}}"#,
        r#"{"table":"m"}"#,
        r#"{"table":"m","fields":[1]}"#,
        r#"{"table":"1m","fields":{}}"#,
        r#"{"table":"m","fields":{"_id":"x"}}"#,
        r#"{"table":"m","fields":{"_secret":1}}"#,
        r#"not json"#,
        r#""#,
    ];
    for b in bad_bodies {
        assert_error(
            &s.call("POST", "/api/tenants/t/documents", Some(b)),
            400,
            "op.invalid_input",
        );
    }
    let r = s.call("GET", "/api/tenants/t/documents/m/abc", None);
    assert_error(&r, 400, "op.invalid_input");
    assert_eq!(r.body["error"]["message"], "invalid document id `abc`");
    assert_error(
        &s.call(
            "GET",
            "/api/tenants/t/documents/m/01jx2x9w7d2f0v6q8t3k5r9e1b",
            None,
        ),
        404,
        "op.not_found",
    );
    assert_error(
        &s.call("GET", "/api/tenants/t/documents/bad-table", None),
        400,
        "op.invalid_input",
    );
    let id = s.insert("t", "m", json!({"a": 1}));
    let path = format!("/api/tenants/t/documents/m/{id}");
    assert_error(
        &s.call("PATCH", &path, Some(r#"{"patch":{"_creationTime":1}}"#)),
        400,
        "op.invalid_input",
    );
    assert_error(
        &s.call("PATCH", &path, Some(r#"{"patch":5}"#)),
        400,
        "op.invalid_input",
    );
    assert_error(
        &s.call("PATCH", &path, Some(r#"{}"#)),
        400,
        "op.invalid_input",
    );
}

#[test]
fn ids_are_creation_ordered() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    let inserted: Vec<String> = (0..50)
        .map(|i| s.insert("t", "m", json!({"i": i})))
        .collect();
    let mut sorted = inserted.clone();
    sorted.sort();
    assert_eq!(inserted, sorted, "a later insert has a greater id");
    assert_eq!(
        ids(&s.call("GET", "/api/tenants/t/documents/m", None).body),
        inserted
    );
}

fn query(s: &TestServer, q: Value) -> common::Resp {
    s.call("POST", "/api/tenants/t/query", Some(&q.to_string()))
}

fn field(r: &common::Resp, name: &str) -> Vec<Value> {
    r.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d.get(name).cloned().unwrap_or(json!("MISSING")))
        .collect()
}

#[test]
fn query_filters_order_limit() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    for v in [
        json!(3),
        json!(1.5),
        json!("b"),
        json!(null),
        json!(true),
        json!([1]),
        json!({"k": 1}),
    ] {
        s.insert("t", "m", json!({"v": v, "tag": "x"}));
    }
    s.insert("t", "m", json!({"tag": "y"}));
    let f = |op: &str, v: Value| json!({"table": "m", "filters": [{"field": "v", "op": op, "value": v}]});
    assert_eq!(field(&query(&s, f("eq", json!(3))), "v"), vec![json!(3)]);
    assert_eq!(
        field(&query(&s, f("eq", json!(3.0))), "v"),
        vec![json!(3)],
        "numbers compare numerically"
    );
    assert_eq!(
        field(&query(&s, f("eq", json!({"k": 1}))), "v"),
        vec![json!({"k": 1})],
        "deep equality"
    );
    assert_eq!(
        query(&s, f("neq", json!(3))).body["data"]
            .as_array()
            .expect("data")
            .len(),
        7,
        "neq matches missing"
    );
    assert_eq!(
        field(&query(&s, f("gt", json!(1))), "v"),
        vec![json!(3), json!(1.5)]
    );
    assert_eq!(
        field(&query(&s, f("gte", json!(1.5))), "v"),
        vec![json!(3), json!(1.5)]
    );
    assert_eq!(field(&query(&s, f("lt", json!(3))), "v"), vec![json!(1.5)]);
    assert_eq!(
        field(&query(&s, f("lte", json!("b"))), "v"),
        vec![json!("b")],
        "same kind only"
    );
    assert_eq!(
        field(&query(&s, f("gt", json!(null))), "v"),
        Vec::<Value>::new(),
        "null is not a range"
    );

    let ordered = query(
        &s,
        json!({"table": "m", "filters": [], "order": {"field": "v", "direction": "asc"}}),
    );
    assert_eq!(
        field(&ordered, "v"),
        vec![
            json!("MISSING"),
            json!(null),
            json!(1.5),
            json!(3),
            json!(true),
            json!("b"),
            json!([1]),
            json!({"k": 1})
        ]
    );
    let desc = query(
        &s,
        json!({"table": "m", "filters": [], "order": {"field": "v", "direction": "desc"}, "limit": 2}),
    );
    assert_eq!(field(&desc, "v"), vec![json!({"k": 1}), json!([1])]);
    let newest = query(
        &s,
        json!({"table": "m", "filters": [{"field": "tag", "op": "eq", "value": "x"}],
        "order": {"field": "_creationTime", "direction": "desc"}, "limit": 1}),
    );
    assert_eq!(field(&newest, "v"), vec![json!({"k": 1})]);
    assert_eq!(
        query(&s, json!({"table": "m", "filters": [], "limit": 0})).body,
        json!({"data": []})
    );
    assert_eq!(
        query(&s, json!({"table": "none", "filters": []})).body,
        json!({"data": []})
    );

    for bad in [
        json!({"table": "m"}),
        json!({"filters": []}),
        json!({"table": "m", "filters": [{"field": "v", "op": "like", "value": 1}]}),
        json!({"table": "m", "filters": [{"field": "v", "op": "eq"}]}),
        json!({"table": "m", "filters": {}}),
        json!({"table": "m", "filters": [], "limit": -1}),
        json!({"table": "m", "filters": [], "order": {"field": "v", "direction": "sideways"}}),
    ] {
        assert_error(&query(&s, bad), 400, "op.invalid_input");
    }
}

#[test]
fn pagination_is_stable_under_writes() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let original: Vec<String> = (0..25)
        .map(|i| s.insert("t", "m", json!({"n": i % 7})))
        .collect();
    let q = json!({"table": "m", "filters": []});
    assert_eq!(s.walk("t", &q, 10, |_| {}), original);

    // Deleting an already-seen document and inserting new ones during the walk neither
    // repeats nor hides the documents that were there at the start.
    let mut extra = Vec::new();
    let seen = s.walk("t", &q, 4, |n| {
        if n == 1 {
            let path = format!("/api/tenants/t/documents/m/{}", original[0]);
            assert_eq!(s.call("DELETE", &path, None).status, 204);
            extra.push(s.insert("t", "m", json!({"n": 100})));
        }
    });
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no repeats");
    for id in &original {
        assert!(seen.contains(id), "{id} hidden");
    }
    assert!(
        seen.contains(&extra[0]),
        "a later insert at the end is reached"
    );

    // Ordered by a field with ties, descending.
    let q = json!({"table": "m", "filters": [{"field": "n", "op": "lt", "value": 50}], "order": {"field": "n", "direction": "desc"}});
    let full = ids(&query(&s, q.clone()).body);
    assert_eq!(s.walk("t", &q, 3, |_| {}), full);

    for bad in [
        json!({"query": {"table": "m", "filters": []}, "page_size": 0}),
        json!({"query": {"table": "m", "filters": []}, "page_size": 1001}),
        json!({"query": {"table": "m", "filters": []}}),
        json!({"page_size": 5}),
        json!({"query": {"table": "m", "filters": []}, "page_size": 5, "after": "not-a-cursor"}),
        json!({"query": {"table": "m", "filters": []}, "page_size": 5, "after": 12}),
    ] {
        let r = s.call(
            "POST",
            "/api/tenants/t/query/paginated",
            Some(&bad.to_string()),
        );
        assert_error(&r, 400, "op.invalid_input");
    }
}

#[test]
fn schemas_are_enforced() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    assert_eq!(
        s.call("GET", "/api/tenants/t/schema", None).body,
        json!({"tables": {}})
    );
    assert_error(
        &s.call("GET", "/api/tenants/t/schema/messages", None),
        404,
        "op.not_found",
    );
    let schema = json!({
        "table": "messages",
        "fields": [
            {"name": "text", "field_type": "string", "required": true},
            {"name": "votes", "field_type": "number", "required": false}
        ],
        "indexes": [{"name": "by_author", "fields": ["author"]}]
    });
    let r = s.call(
        "PUT",
        "/api/tenants/t/schema/messages",
        Some(&schema.to_string()),
    );
    assert_eq!(r.status, 204, "{r:?}");
    let got = s.call("GET", "/api/tenants/t/schema/messages", None).body;
    assert_eq!(got["fields"], schema["fields"]);
    assert_eq!(got["indexes"][0]["name"], "by_author");
    assert_eq!(got["indexes"][0]["state"], "enabled");
    assert_eq!(
        s.call("GET", "/api/tenants/t/schema", None).body["tables"]["messages"],
        got
    );

    let ins = |fields: Value| {
        s.call(
            "POST",
            "/api/tenants/t/documents",
            Some(&json!({"table": "messages", "fields": fields}).to_string()),
        )
    };
    assert_eq!(
        ins(json!({"text": "ok", "votes": 2, "other": [1]})).status,
        201
    );
    assert_error(&ins(json!({"votes": 2})), 400, "schema.validation_failed");
    assert_error(&ins(json!({"text": null})), 400, "schema.validation_failed");
    assert_error(
        &ins(json!({"text": "x", "votes": "2"})),
        400,
        "schema.validation_failed",
    );
    let id = s.insert("t", "messages", json!({"text": "a"}));
    let path = format!("/api/tenants/t/documents/messages/{id}");
    assert_error(
        &s.call("PATCH", &path, Some(r#"{"patch":{"text":null}}"#)),
        400,
        "schema.validation_failed",
    );
    assert_error(
        &s.call("PATCH", &path, Some(r#"{"patch":{"votes":true}}"#)),
        400,
        "schema.validation_failed",
    );
    assert_eq!(
        s.call("PATCH", &path, Some(r#"{"patch":{"votes":3}}"#))
            .status,
        200
    );

    // A schema the existing data violates is refused, naming the first offender.
    let stricter = json!({"table": "messages", "fields": [{"name": "other", "field_type": "array", "required": true}]});
    let r = s.call(
        "PUT",
        "/api/tenants/t/schema/messages",
        Some(&stricter.to_string()),
    );
    assert_error(&r, 400, "schema.validation_failed");
    assert_eq!(r.body["error"]["detail"]["_id"], id.as_str(), "{r:?}");

    let mismatch = json!({"table": "other", "fields": []});
    assert_error(
        &s.call(
            "PUT",
            "/api/tenants/t/schema/messages",
            Some(&mismatch.to_string()),
        ),
        400,
        "op.invalid_input",
    );
    let bad_type = json!({"table": "messages", "fields": [{"name": "a", "field_type": "date"}]});
    assert_error(
        &s.call(
            "PUT",
            "/api/tenants/t/schema/messages",
            Some(&bad_type.to_string()),
        ),
        400,
        "op.invalid_input",
    );

    assert_eq!(
        s.call("DELETE", "/api/tenants/t/schema/messages", None)
            .status,
        204
    );
    assert_error(
        &s.call("DELETE", "/api/tenants/t/schema/messages", None),
        404,
        "op.not_found",
    );
    assert_eq!(
        ins(json!({"votes": "anything"})).status,
        201,
        "no schema, no validation"
    );
}

#[test]
fn access_rules() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let r = s.call_with("GET", "/api/tenants", None, &[]);
    assert_error(&r, 401, "auth.unauthorized");
    assert_eq!(r.body["error"]["remediation"]["action"], "authenticate");
    assert_error(
        &s.call_with(
            "GET",
            "/api/tenants",
            None,
            &[("Authorization", "Bearer nope")],
        ),
        401,
        "auth.unauthorized",
    );
    assert_error(
        &s.call_with(
            "GET",
            "/api/tenants",
            None,
            &[("Authorization", "Basic abc")],
        ),
        401,
        "auth.unauthorized",
    );
    let admin = s.call_with(
        "GET",
        "/api/tenants",
        None,
        &[("X-Nimbus-Admin-Token", &s.token)],
    );
    assert_eq!(admin.status, 200);
    // 401 comes before 404, for unknown tenants and unknown routes alike.
    assert_error(
        &s.call_with("GET", "/api/tenants/ghost/documents/m", None, &[]),
        401,
        "auth.unauthorized",
    );
    assert_error(
        &s.call_with("GET", "/nowhere", None, &[]),
        401,
        "auth.unauthorized",
    );

    let bearer = format!("Bearer {}", s.token);
    for origin in [
        "http://evil.example",
        "https://localhost:1",
        "http://localhost:1",
        "null",
    ] {
        let r = s.call_with(
            "GET",
            "/api/tenants",
            None,
            &[("Authorization", &bearer), ("Origin", origin)],
        );
        assert_error(&r, 403, "auth.forbidden");
    }
    assert_error(
        &s.call_with("GET", "/health", None, &[("Origin", "http://evil.example")]),
        403,
        "auth.forbidden",
    );
    for host in ["localhost", "127.0.0.1", "[::1]"] {
        let origin = format!("http://{host}:{}", s.port);
        let r = s.call_with(
            "GET",
            "/api/tenants",
            None,
            &[("Authorization", &bearer), ("Origin", &origin)],
        );
        assert_eq!(r.status, 200, "{origin}");
    }
}

#[test]
fn routing_errors() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    assert_error(&s.call("GET", "/nowhere", None), 404, "op.not_found");
    assert_error(
        &s.call("GET", "/api/tenants/t/documents/m/x/y", None),
        404,
        "op.not_found",
    );
    let r = s.call("PUT", "/api/tenants/t/documents", Some("{}"));
    assert_error(&r, 405, "op.method_not_allowed");
    assert_eq!(r.allow.as_deref(), Some("POST"));
    assert_error(
        &s.call("GET", "/api/tenants/t", None),
        405,
        "op.method_not_allowed",
    );
    assert_error(
        &s.call("POST", "/api/tenants/t/query", Some("{")),
        400,
        "op.invalid_input",
    );
    assert_error(
        &s.call("GET", "/api/tenants/bad!id/documents/m", None),
        400,
        "op.invalid_input",
    );
}

#[test]
fn tenants_are_isolated() {
    let s = TestServer::start(2);
    s.create_tenant("a");
    s.create_tenant("b");
    let id = s.insert("a", "m", json!({"secret": 1}));
    assert_eq!(
        s.call("GET", "/api/tenants/b/documents/m", None).body,
        json!({"data": []})
    );
    assert_error(
        &s.call("GET", &format!("/api/tenants/b/documents/m/{id}"), None),
        404,
        "op.not_found",
    );
    let q = json!({"table": "m", "filters": []}).to_string();
    assert_eq!(
        s.call("POST", "/api/tenants/b/query", Some(&q)).body,
        json!({"data": []})
    );
    let schema = json!({"table": "m", "fields": [{"name": "secret", "field_type": "string", "required": true}]});
    assert_eq!(
        s.call("PUT", "/api/tenants/b/schema/m", Some(&schema.to_string()))
            .status,
        204
    );
    assert_eq!(
        s.call("GET", "/api/tenants/a/schema", None).body,
        json!({"tables": {}})
    );
    s.insert("a", "m", json!({"secret": 2}));
}

#[test]
fn payload_limit() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    let big = format!(
        r#"{{"table":"m","fields":{{"blob":"{}"}}}}"#,
        "x".repeat(17 * 1024 * 1024)
    );
    let r = s.call("POST", "/api/tenants/t/documents", Some(&big));
    assert_error(&r, 413, "op.payload_too_large");
    // Just under the limit is accepted.
    let fits = format!(
        r#"{{"table":"m","fields":{{"blob":"{}"}}}}"#,
        "x".repeat(16 * 1024 * 1024 - 64)
    );
    assert_eq!(
        s.call("POST", "/api/tenants/t/documents", Some(&fits))
            .status,
        201
    );
    assert_eq!(s.call("GET", "/health", None).status, 200);
}
