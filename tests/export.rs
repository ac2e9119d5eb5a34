//! `GET /api/tenants/{t}/export` (DECISIONS §11) through a real socket and a client we did
//! not write (`ureq` decodes the chunked body): the tenant as JSON Lines at one commit, an
//! export imported into a new tenant gives identical documents, writes made while an export
//! is read do not show in it, and only the admin scope may export.

mod common;

use common::{assert_error, tenant_on, TestServer};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};

/// An export's lines, parsed; `None` for a status other than 200.
fn export(s: &TestServer, tenant: &str, auth: &str) -> Result<Vec<Value>, u16> {
    let resp = ureq::get(&s.url(&format!("/api/tenants/{tenant}/export")))
        .set("Authorization", auth)
        .call();
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(code, _)) => return Err(code),
        Err(e) => panic!("export: {e}"),
    };
    assert_eq!(resp.header("Content-Type"), Some("application/x-ndjson"));
    assert_eq!(resp.header("Transfer-Encoding"), Some("chunked"));
    let mut text = String::new();
    resp.into_reader().read_to_string(&mut text).expect("body");
    Ok(text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect())
}

fn admin(s: &TestServer) -> String {
    format!("Bearer {}", s.token)
}

#[test]
fn export_then_import_gives_identical_documents() {
    let s = TestServer::start(2);
    let (src, dst) = (tenant_on(0, "src"), tenant_on(1, "dst"));
    s.create_tenant(&src);
    s.create_tenant(&dst);
    let schema = json!({"table": "m", "fields": [{"name": "i", "field_type": "number", "required": true}],
                        "indexes": [{"name": "by_i", "fields": ["i"]}]});
    let r = s.call(
        "PUT",
        &format!("/api/tenants/{src}/schema/m"),
        Some(&schema.to_string()),
    );
    assert_eq!(r.status, 204, "{r:?}");
    // More than one page (2,000 documents), over two tables.
    s.insert_many(
        &src,
        "m",
        4500,
        |i| json!({"i": i, "nested": {"a": [i, "é"]}}),
    );
    s.insert_many(&src, "z", 10, |i| json!({"k": format!("v{i}")}));
    let lines = export(&s, &src, &admin(&s)).expect("200");
    assert!(lines[0]["schema"]["table"] == "m", "{:?}", lines[0]);
    let end = lines.last().expect("end line");
    assert_eq!(end["end"], true);
    assert_eq!(end["documents"], 4510);
    assert!(end["seq"].as_u64().is_some_and(|n| n > 0));
    let body: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    let r = s.call(
        "POST",
        &format!("/api/tenants/{dst}/import?mode=append"),
        Some(&body),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"imported": 4510}));
    let again = export(&s, &dst, &admin(&s)).expect("200");
    // Identical but for the end line's sequence number (another shard's).
    assert_eq!(again.len(), lines.len());
    assert_eq!(again[..again.len() - 1], lines[..lines.len() - 1]);
    let docs = |t: &str| {
        s.call("GET", &format!("/api/tenants/{t}/documents/z"), None)
            .body
    };
    assert_eq!(docs(&src), docs(&dst), "ids, times and fields");
}

#[test]
fn writes_during_an_export_do_not_show_in_it() {
    let s = TestServer::start(2);
    let t = tenant_on(1, "t");
    s.create_tenant(&t);
    // About 20 MB: more than the sockets between us buffer, so most pages are made after
    // the writes below.
    s.insert_many(&t, "m", 8000, |i| json!({"i": i, "pad": "p".repeat(2500)}));
    let before = export(&s, &t, &admin(&s)).expect("200");
    // Read the head and a little of the body, then change everything, then read the rest.
    let mut c = s.raw();
    let req = format!(
        "GET /api/tenants/{t}/export HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        s.auth_header()
    );
    c.write_all(req.as_bytes()).expect("write");
    let mut r = BufReader::new(c);
    let mut line = String::new();
    r.read_line(&mut line).expect("status");
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let ids: Vec<String> = before
        .iter()
        .filter_map(|l| l["document"]["_id"].as_str().map(str::to_string))
        .collect();
    // Delete the last half, patch some, insert new ones (some sort after every old id).
    for id in &ids[5000..] {
        let r = s.call(
            "DELETE",
            &format!("/api/tenants/{t}/documents/m/{id}"),
            None,
        );
        assert_eq!(r.status, 204);
    }
    for id in ids[4500..5000].iter().step_by(7) {
        let r = s.call(
            "PATCH",
            &format!("/api/tenants/{t}/documents/m/{id}"),
            Some(r#"{"patch":{"i":-1}}"#),
        );
        assert_eq!(r.status, 200, "{r:?}");
    }
    s.insert_many(&t, "m", 100, |i| json!({"new": i}));
    s.insert(&t, "later", json!({"new": true}));
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).expect("the rest");
    let text = String::from_utf8_lossy(&rest);
    let (_, body) = text.split_once("\r\n\r\n").expect("head end");
    // De-chunk: sizes and data alternate.
    let mut out = String::new();
    let mut lines = body.split("\r\n");
    while let Some(size) = lines.next() {
        let n = usize::from_str_radix(size, 16).expect("chunk size");
        if n == 0 {
            break;
        }
        out.push_str(lines.next().expect("chunk"));
    }
    let during: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(
        during, before,
        "the export is the tenant as it was when it began"
    );
}

#[test]
fn only_the_admin_scope_exports() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    s.insert("t", "m", json!({"a": 1}));
    for (scope, want) in [("read", 403), ("write", 403), ("admin", 200)] {
        let r = s.call(
            "POST",
            "/api/tenants/t/keys",
            Some(&json!({"name": scope, "scope": scope}).to_string()),
        );
        let secret = r.body["key"].as_str().expect("secret").to_string();
        let got = export(&s, "t", &format!("Bearer {secret}"));
        match want {
            200 => assert_eq!(got.map(|l| l.len()), Ok(2)),
            code => assert_eq!(got, Err(code), "{scope}"),
        }
    }
    let r = s.call("GET", "/api/tenants/nope/export", None);
    assert_error(&r, 404, "session.tenant_not_found");
}

#[test]
fn an_http_1_0_client_gets_the_export_until_close() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    s.insert_many("t", "m", 2500, |i| json!({"i": i}));
    let mut c = s.raw();
    let req = format!(
        "GET /api/tenants/t/export HTTP/1.0\r\n{}\r\n",
        s.auth_header()
    );
    c.write_all(req.as_bytes()).expect("write");
    let mut all = String::new();
    c.read_to_string(&mut all).expect("read to close");
    let (head, body) = all.split_once("\r\n\r\n").expect("head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head.contains("Transfer-Encoding") && !head.contains("Content-Length"),
        "{head}"
    );
    assert!(head.contains("Connection: close"), "{head}");
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2501);
    assert_eq!(lines[2500]["documents"], 2500);
}
