//! `POST /api/tenants/{t}/import` (DECISIONS §11) through a real socket: JSON Lines in the
//! export's shape land whole (ids, times and fields kept, schemas put) or not at all, a bad
//! line is named by number, `append` refuses ids that exist, `replace` empties what it
//! names, and an import survives `kill -9`.

mod common;

use common::{assert_error, TestServer};
use serde_json::{json, Value};

/// Sends `lines` as an import body.
fn import(s: &TestServer, tenant: &str, mode: &str, lines: &[Value]) -> common::Resp {
    let body: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    import_text(s, tenant, mode, &body)
}

fn import_text(s: &TestServer, tenant: &str, mode: &str, body: &str) -> common::Resp {
    s.call(
        "POST",
        &format!("/api/tenants/{tenant}/import?mode={mode}"),
        Some(body),
    )
}

fn docs(s: &TestServer, tenant: &str, table: &str) -> Vec<Value> {
    let r = s.call(
        "GET",
        &format!("/api/tenants/{tenant}/documents/{table}"),
        None,
    );
    r.body["data"].as_array().cloned().unwrap_or_default()
}

/// What an export of `table` would write for its documents: one line each.
fn lines_of(s: &TestServer, tenant: &str, table: &str) -> Vec<Value> {
    docs(s, tenant, table)
        .into_iter()
        .map(|d| json!({"table": table, "document": d}))
        .collect()
}

#[test]
fn documents_keep_their_ids_times_and_fields() {
    let s = TestServer::start(2);
    s.create_tenant("src");
    s.create_tenant("dst");
    for i in 0..50 {
        s.insert(
            "src",
            "m",
            json!({"i": i, "tags": ["a", {"deep": i}], "s": "é\u{1F600}"}),
        );
    }
    let id = docs(&s, "src", "m")[3]["_id"]
        .as_str()
        .expect("id")
        .to_string();
    s.call(
        "PATCH",
        &format!("/api/tenants/src/documents/m/{id}"),
        Some(r#"{"patch":{"i":-1}}"#),
    );
    let schema = json!({"table": "m", "fields": [{"name": "i", "field_type": "number", "required": true}],
                        "indexes": [{"name": "by_i", "fields": ["i"]}]});
    let mut lines = vec![json!({"schema": schema})];
    lines.extend(lines_of(&s, "src", "m"));
    lines.push(json!({"end": true, "documents": 50, "seq": 1}));
    let r = import(&s, "dst", "append", &lines);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"imported": 50}));
    assert_eq!(
        docs(&s, "dst", "m"),
        docs(&s, "src", "m"),
        "identical, _updateTime included"
    );
    let got = s.call("GET", "/api/tenants/dst/schema/m", None);
    assert_eq!(got.body["indexes"][0]["name"], "by_i", "{got:?}");
    // The imported index serves queries.
    let q = s.call(
        "POST",
        "/api/tenants/dst/query",
        Some(r#"{"table":"m","filters":[{"field":"i","op":"eq","value":-1}]}"#),
    );
    assert_eq!(q.body["data"][0]["_id"], id.as_str(), "{q:?}");
    // New inserts get ids after the imported ones.
    let fresh = s.insert("dst", "m", json!({"i": 100}));
    assert!(docs(&s, "dst", "m")
        .iter()
        .all(|d| d["_id"].as_str() <= Some(fresh.as_str())));
    // Durable: the import is one logged record.
    let s = s.restart(9, 2, &[]);
    assert_eq!(docs(&s, "dst", "m").len(), 51);
}

#[test]
fn a_bad_line_is_named_and_nothing_is_written() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    let good = |i: u32| {
        json!({"table": "m", "document": {"_id": format!("01jx2x9w7d2f0v6q8t3k5r9e{:02}", i), "_creationTime": 1_700_000_000_000u64, "n": i}})
            .to_string()
    };
    let cases = [
        (format!("{}\n{}\nnot json\n", good(10), good(11)), "line 3"),
        (format!("{}\n{{\"table\":\"m\"}}\n", good(10)), "line 2"),
        (
            format!(
                "{}\n{}\n",
                good(10),
                r#"{"table":"m","document":{"_id":"bad","_creationTime":1}}"#
            ),
            "line 2",
        ),
        (
            format!(
                "{}\n{}\n",
                good(10),
                r#"{"table":"m","document":{"_id":"01jx2x9w7d2f0v6q8t3k5r9e12"}}"#
            ),
            "line 2",
        ),
        (
            format!(
                "{}\n{}\n",
                good(10),
                r#"{"table":"m","document":{"_id":"01jx2x9w7d2f0v6q8t3k5r9e12","_creationTime":1,"_secret":1}}"#
            ),
            "line 2",
        ),
        (
            format!("{}\n{{\"end\":true,\"documents\":5}}\n", good(10)),
            "line 2",
        ),
        (format!("{{\"end\":true}}\n{}\n", good(10)), "line 2"),
    ];
    for (body, named) in &cases {
        let r = import_text(&s, "t", "append", body);
        assert_error(&r, 400, "op.invalid_input");
        let msg = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.starts_with(named), "{named}: {msg}");
    }
    let dup = format!("{}\n{}\n", good(10), good(10));
    let r = import_text(&s, "t", "append", &dup);
    assert_error(&r, 409, "op.conflict");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("line 2"));
    let r = import_text(&s, "t", "sideways", &good(1));
    assert_error(&r, 400, "op.invalid_input");
    assert!(docs(&s, "t", "m").is_empty(), "nothing written");
    // A schema the import puts is checked against its documents, naming the line.
    let schema =
        json!({"schema": {"table": "m", "fields": [{"name": "n", "field_type": "string"}]}});
    let body = format!("{schema}\n{}\n", good(10));
    let r = import_text(&s, "t", "append", &body);
    assert_error(&r, 400, "schema.validation_failed");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("line 2"));
    assert!(docs(&s, "t", "m").is_empty());
    assert_eq!(s.call("GET", "/api/tenants/t/schema/m", None).status, 404);
}

#[test]
fn append_refuses_existing_ids_and_replace_empties_what_it_names() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    for i in 0..3 {
        s.insert("t", "m", json!({"i": i}));
        s.insert("t", "other", json!({"i": i}));
    }
    let mut lines = lines_of(&s, "t", "m");
    let keep = lines[1].clone();
    lines.truncate(1);
    lines.push(json!({"table": "m", "document": {"_id": "01jx2x9w7d2f0v6q8t3k5r9e1b", "_creationTime": 5, "new": true}}));
    let r = import(&s, "t", "append", &lines);
    assert_error(&r, 409, "op.conflict");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("line 1"));
    assert_eq!(docs(&s, "t", "m").len(), 3, "nothing of the import landed");
    let r = import(&s, "t", "replace", std::slice::from_ref(&keep));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(docs(&s, "t", "m"), vec![keep["document"].clone()]);
    assert_eq!(
        docs(&s, "t", "other").len(),
        3,
        "a table the import does not name is kept"
    );
    // Scopes: a read key cannot import, a write key can.
    let key = |scope: &str| {
        let r = s.call(
            "POST",
            "/api/tenants/t/keys",
            Some(&json!({"name": scope, "scope": scope}).to_string()),
        );
        r.body["key"].as_str().expect("key").to_string()
    };
    let body = format!(
        "{}\n",
        json!({"table": "w", "document": {"_id": "01jx2x9w7d2f0v6q8t3k5r9e1c", "_creationTime": 5}})
    );
    let with = |secret: &str| {
        s.call_with(
            "POST",
            "/api/tenants/t/import",
            Some(&body),
            &[("Authorization", &format!("Bearer {secret}"))],
        )
    };
    assert_error(&with(&key("read")), 403, "auth.forbidden");
    assert_eq!(with(&key("write")).status, 200);
}
