//! Sessions over HTTP: open, read, list, close, expire; errors and tenant isolation.

mod common;

use common::{assert_error, TestServer};
use serde_json::json;

#[test]
fn http_session_lifecycle() {
    let s = TestServer::start(2);
    s.create_tenant("a");
    s.create_tenant("b");
    let body = json!({"tenant_id": "a", "metadata": {"user": "ada"}, "ttl_ms": 60_000});
    let r = s.call("POST", "/api/sessions", Some(&body.to_string()));
    assert_eq!(r.status, 201, "{r:?}");
    let sess = r.body.clone();
    let id = sess["id"].as_str().expect("id").to_string();
    assert_eq!(
        (
            sess["kind"].as_str(),
            sess["state"].as_str(),
            sess["tenant_id"].as_str()
        ),
        (Some("http"), Some("open"), Some("a"))
    );
    assert_eq!(sess["metadata"], json!({"user": "ada"}));
    assert_eq!(
        sess["expires_at"].as_u64().expect("expires"),
        sess["created_at"].as_u64().expect("created") + 60_000
    );
    assert_eq!(
        s.call("GET", &format!("/api/sessions/{id}"), None).body,
        sess
    );
    let listed = s.call("GET", "/api/sessions?tenant_id=a", None).body;
    assert_eq!(listed["sessions"].as_array().expect("sessions").len(), 1);
    assert_eq!(
        s.call("GET", "/api/sessions?tenant_id=b", None).body,
        json!({"sessions": []}),
        "isolated"
    );

    let r = s.call("POST", &format!("/api/sessions/{id}/close"), None);
    assert_eq!((r.status, r.body["state"].as_str()), (200, Some("closed")));
    assert_eq!(
        s.call("GET", &format!("/api/sessions/{id}"), None).body["state"],
        "closed"
    );
    assert_eq!(
        s.call("GET", "/api/sessions?tenant_id=a", None).body,
        json!({"sessions": []})
    );

    // Default time to live is an hour.
    let r = s.call("POST", "/api/sessions", Some(r#"{"tenant_id":"b"}"#));
    let v = &r.body;
    assert_eq!(
        v["expires_at"].as_u64().expect("e") - v["created_at"].as_u64().expect("c"),
        3_600_000
    );
}

#[test]
fn sessions_expire() {
    let s = TestServer::start(1);
    s.create_tenant("a");
    let r = s.call(
        "POST",
        "/api/sessions",
        Some(r#"{"tenant_id":"a","ttl_ms":150}"#),
    );
    let id = r.body["id"].as_str().expect("id").to_string();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        s.call("GET", &format!("/api/sessions/{id}"), None).body["state"],
        "expired"
    );
}

#[test]
fn session_errors() {
    let s = TestServer::start(2);
    s.create_tenant("a");
    for body in [
        r#"{}"#,
        r#"{"tenant_id":"a","ttl_ms":0}"#,
        r#"{"tenant_id":"a","ttl_ms":"x"}"#,
        r#"{"tenant_id":"a","metadata":[1]}"#,
        r#"{"tenant_id":"a/b"}"#,
    ] {
        assert_error(
            &s.call("POST", "/api/sessions", Some(body)),
            400,
            "op.invalid_input",
        );
    }
    assert_error(
        &s.call("POST", "/api/sessions", Some(r#"{"tenant_id":"ghost"}"#)),
        404,
        "session.tenant_not_found",
    );
    assert_error(
        &s.call("GET", "/api/sessions", None),
        400,
        "op.invalid_input",
    );
    assert_error(
        &s.call("GET", "/api/sessions?tenant_id=ghost", None),
        404,
        "session.tenant_not_found",
    );
    assert_error(
        &s.call("GET", "/api/sessions/01jx2x9w7d2f0v6q8t3k5r9e1b", None),
        404,
        "op.not_found",
    );
    assert_error(
        &s.call(
            "POST",
            "/api/sessions/01jx2x9w7d2f0v6q8t3k5r9e1b/close",
            None,
        ),
        404,
        "op.not_found",
    );
    assert_error(
        &s.call_with("GET", "/api/sessions?tenant_id=a", None, &[]),
        401,
        "auth.unauthorized",
    );
    assert_error(
        &s.call("DELETE", "/api/sessions", None),
        405,
        "op.method_not_allowed",
    );
    // Deleting the tenant drops its sessions.
    let id = s
        .call("POST", "/api/sessions", Some(r#"{"tenant_id":"a"}"#))
        .body["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(s.call("DELETE", "/api/tenants/a", None).status, 204);
    assert_error(
        &s.call("GET", &format!("/api/sessions/{id}"), None),
        404,
        "op.not_found",
    );
}
