//! Tenant keys, scopes, origins and CORS (DECISIONS §10), through real sockets: what each
//! scope may do on every route family, that a key never leaves its tenant, that revocation
//! and expiry take effect on every shard and end live sockets, that keys survive `kill -9`,
//! and the CORS answers for allowed and refused origins.

mod common;

use common::raw_ws::RawWs;
use common::{assert_error, tenant_on, Resp, TestServer};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

/// Creates a key of `scope` for `tenant`; returns (id, secret).
fn make_key(s: &TestServer, tenant: &str, body: Value) -> (String, String) {
    let r = s.call(
        "POST",
        &format!("/api/tenants/{tenant}/keys"),
        Some(&body.to_string()),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.body["id"].as_str().expect("id").to_string();
    let secret = r.body["key"].as_str().expect("secret").to_string();
    (id, secret)
}

fn key(s: &TestServer, tenant: &str, scope: &str) -> String {
    make_key(s, tenant, json!({"name": scope, "scope": scope})).1
}

fn with_key(s: &TestServer, secret: &str, method: &str, path: &str, body: Option<&str>) -> Resp {
    s.call_with(
        method,
        path,
        body,
        &[("Authorization", &format!("Bearer {secret}"))],
    )
}

/// A request with headers, answered with its status and every response header.
fn exchange(
    s: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>) {
    let mut req = ureq::request(method, &s.url(path));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.header(&n).unwrap_or_default().to_string();
            (n.to_ascii_lowercase(), v)
        })
        .collect();
    (resp.status(), headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A WebSocket upgrade with `auth` (a header line, or nothing) on `target`: the
/// connection on `101`, else the refusal's status.
fn ws_upgrade(s: &TestServer, target: &str, auth: &str) -> Result<RawWs, u16> {
    let mut c = s.raw();
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: x\r\n{auth}Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: nimbus.v2\r\n\r\n"
    );
    c.write_all(req.as_bytes()).expect("upgrade");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut b).expect("answer");
        head.push(b[0]);
    }
    let status: u16 = String::from_utf8_lossy(&head[9..12])
        .parse()
        .expect("status");
    if status != 101 {
        return Err(status);
    }
    let mut ws = RawWs {
        sock: c,
        closed: None,
    };
    ws.send(0x1, br#"{"type":"client_hello","protocol":"nimbus.v2"}"#);
    ws.until("hello");
    Ok(ws)
}

fn ws_with_key(s: &TestServer, tenant: &str, secret: &str) -> RawWs {
    ws_upgrade(s, &format!("/ws?tenant_id={tenant}&token={secret}"), "").expect("101")
}

/// A frame's answer: sends `frame` and reads until `op_result` or `op_error`.
fn ws_op(ws: &mut RawWs, frame: Value) -> Value {
    ws.send(0x1, frame.to_string().as_bytes());
    loop {
        let v = ws.recv().expect("an answer");
        if matches!(
            v["type"].as_str(),
            Some("op.result" | "op.error" | "subscription_result")
        ) {
            return v;
        }
    }
}

#[test]
fn a_key_is_shown_once_and_stored_only_as_its_hash() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let (id, secret) = make_key(
        &s,
        "t",
        json!({"name": "web", "scope": "read", "origins": ["HTTPS://App.Example.com"], "expires_at": null}),
    );
    assert!(
        secret.starts_with("nimbus_r_") && secret.len() == 73,
        "{secret}"
    );
    let list = s.call("GET", "/api/tenants/t/keys", None);
    assert_eq!(list.status, 200);
    let keys = list.body["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], id.as_str());
    assert_eq!(keys[0]["scope"], "read");
    assert_eq!(keys[0]["origins"], json!(["https://app.example.com"]));
    assert!(keys[0].get("key").is_none(), "the secret is shown once");
    // Nothing on disk holds the secret's text.
    let stop_dir = s.stop(9);
    let mut stack = vec![stop_dir.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("file");
                let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                assert!(!found, "{} holds the secret", path.display());
            }
        }
    }
    let _ = std::fs::remove_dir_all(stop_dir);
}

/// The need of each route family, as DECISIONS §10 gives it: `root` is the admin token
/// alone. Each row: method, path, body, need.
fn routes(doc: &str, job: &str) -> Vec<(&'static str, String, Option<String>, &'static str)> {
    let t = "/api/tenants/t";
    let mut rows =
        vec![
        ("GET", format!("{t}/documents/m"), None, "read"),
        ("GET", format!("{t}/documents/m/{doc}"), None, "read"),
        ("POST", format!("{t}/query"), Some(r#"{"table":"m","filters":[]}"#.into()), "read"),
        (
            "POST",
            format!("{t}/query/paginated"),
            Some(r#"{"query":{"table":"m","filters":[]},"page_size":1}"#.into()),
            "read",
        ),
        ("GET", format!("{t}/schema"), None, "read"),
        ("GET", format!("{t}/schedule"), None, "read"),
        ("GET", format!("{t}/crons"), None, "read"),
        ("GET", "/api/sessions?tenant_id=t".into(), None, "read"),
        (
            "POST",
            format!("{t}/documents"),
            Some(r#"{"table":"m","fields":{"n":1}}"#.into()),
            "write",
        ),
        (
            "PATCH",
            format!("{t}/documents/m/{doc}"),
            Some(r#"{"patch":{"n":2}}"#.into()),
            "write",
        ),
        (
            "POST",
            format!("{t}/schedule"),
            Some(
                r#"{"run_after_ms":3600000,"mutation":{"type":"insert","table":"m","fields":{}}}"#
                    .into(),
            ),
            "write",
        ),
        ("DELETE", format!("{t}/schedule/{job}"), None, "write"),
        ("POST", "/api/sessions".into(), Some(r#"{"tenant_id":"t"}"#.into()), "write"),
        (
            "PUT",
            format!("{t}/schema/s"),
            Some(r#"{"table":"s","fields":[{"name":"n","field_type":"number"}]}"#.into()),
            "admin",
        ),
        ("GET", format!("{t}/keys"), None, "admin"),
        ("DELETE", format!("{t}/schema/s"), None, "admin"),
        ("GET", "/api/tenants".into(), None, "root"),
        ("POST", "/api/tenants".into(), Some(r#"{"id":"u"}"#.into()), "root"),
        ("DELETE", t.to_string(), None, "root"),
        ("GET", format!("{t}/services"), None, "root"),
        ("GET", format!("{t}/sandboxes"), None, "root"),
    ];
    rows.push(("DELETE", format!("{t}/documents/m/{doc}"), None, "write"));
    rows
}

fn scope_covers(scope: &str, need: &str) -> bool {
    match need {
        "read" => matches!(scope, "read" | "write" | "admin"),
        "write" => matches!(scope, "write" | "admin"),
        "admin" => scope == "admin",
        _ => false,
    }
}

#[test]
fn every_scope_against_every_route_family() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    for scope in ["functions", "read", "write", "admin"] {
        let secret = key(&s, "t", scope);
        let doc = s.insert("t", "m", json!({"n": 0}));
        let job = s.call(
            "POST",
            "/api/tenants/t/schedule",
            Some(
                &json!({"run_after_ms": 3_600_000,
                        "mutation": {"type": "insert", "table": "m", "fields": {}}})
                .to_string(),
            ),
        );
        let job = job.body["job_id"].as_str().expect("job id").to_string();
        for (method, path, body, need) in routes(&doc, &job) {
            let r = with_key(&s, &secret, method, &path, body.as_deref());
            if scope_covers(scope, need) {
                assert!(
                    (200..300).contains(&r.status),
                    "{scope} key, {method} {path}: {r:?}"
                );
            } else {
                assert_error(&r, 403, "auth.forbidden");
                let msg = r.body["error"]["message"].as_str().unwrap_or_default();
                let named = if need == "root" {
                    msg.contains("admin token")
                } else {
                    msg.contains(&format!("scope `{need}`"))
                };
                assert!(named, "{scope} key, {method} {path}: {msg}");
            }
        }
        // The frames: subscribe needs read, mutate write.
        let mut ws = ws_with_key(&s, "t", &secret);
        let sub = ws_op(
            &mut ws,
            json!({"type": "subscribe", "request_id": 1, "query": {"table": "m", "filters": []}}),
        );
        let mutate = ws_op(
            &mut ws,
            json!({"type": "mutate", "request_id": 2,
                   "mutation": {"type": "insert", "table": "m", "fields": {"n": 9}}}),
        );
        let ok = |v: &Value| v["type"] != "op.error";
        assert_eq!(ok(&sub), scope_covers(scope, "read"), "{scope}: {sub}");
        assert_eq!(
            ok(&mutate),
            scope_covers(scope, "write"),
            "{scope}: {mutate}"
        );
        if !ok(&mutate) {
            assert_eq!(mutate["error"]["code"], "auth.forbidden", "{mutate}");
        }
    }
}

#[test]
fn a_key_never_reaches_another_tenant() {
    let s = TestServer::start(2);
    let (a, b) = (tenant_on(0, "a"), tenant_on(1, "b"));
    s.create_tenant(&a);
    s.create_tenant(&b);
    let secret = key(&s, &a, "admin");
    for path in [
        format!("/api/tenants/{b}/documents/m"),
        format!("/api/tenants/{b}/keys"),
        format!("/api/tenants/{b}/schema"),
    ] {
        assert_error(
            &with_key(&s, &secret, "GET", &path, None),
            403,
            "auth.forbidden",
        );
    }
    let open = with_key(
        &s,
        &secret,
        "POST",
        "/api/sessions",
        Some(&format!(r#"{{"tenant_id":"{b}"}}"#)),
    );
    assert_error(&open, 403, "auth.forbidden");
    let list = with_key(
        &s,
        &secret,
        "GET",
        &format!("/api/sessions?tenant_id={b}"),
        None,
    );
    assert_error(&list, 403, "auth.forbidden");
    // Another tenant's session, by id: not there for this key.
    let theirs = s.call(
        "POST",
        "/api/sessions",
        Some(&format!(r#"{{"tenant_id":"{b}"}}"#)),
    );
    let sid = theirs.body["id"].as_str().expect("session id").to_string();
    let by_id = with_key(&s, &secret, "GET", &format!("/api/sessions/{sid}"), None);
    assert_error(&by_id, 404, "op.not_found");
    assert_eq!(
        s.call("GET", &format!("/api/sessions/{sid}"), None).status,
        200
    );
    let close = with_key(
        &s,
        &secret,
        "POST",
        &format!("/api/sessions/{sid}/close"),
        None,
    );
    assert_error(&close, 404, "op.not_found");
    // Its own tenant's session is its to see.
    let mine = with_key(
        &s,
        &secret,
        "POST",
        "/api/sessions",
        Some(&format!(r#"{{"tenant_id":"{a}"}}"#)),
    );
    let mine = mine.body["id"].as_str().expect("own session").to_string();
    assert_eq!(
        with_key(&s, &secret, "GET", &format!("/api/sessions/{mine}"), None).status,
        200
    );
    // The WebSocket: another tenant is refused; no tenant named means the key's own.
    assert_eq!(
        ws_upgrade(&s, &format!("/ws?tenant_id={b}&token={secret}"), "").err(),
        Some(403)
    );
    let mut ws = ws_upgrade(&s, &format!("/ws?token={secret}"), "").expect("own tenant");
    s.insert(&a, "m", json!({"n": 1}));
    let first = ws_op(
        &mut ws,
        json!({"type": "subscribe", "request_id": 1, "query": {"table": "m", "filters": []}}),
    );
    assert_eq!(first["data"].as_array().map(Vec::len), Some(1), "{first}");
}

/// Requests on fresh connections (spread over the shards by the kernel) with `secret`.
fn statuses_with(s: &TestServer, secret: &str, tenant: &str, n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| {
            let mut c = s.raw();
            let req = format!(
                "GET /api/tenants/{tenant}/documents/m HTTP/1.1\r\nHost: x\r\n\
                 Authorization: Bearer {secret}\r\nConnection: close\r\n\r\n"
            );
            c.write_all(req.as_bytes()).expect("send");
            common::read_response(&mut c).expect("answer").0
        })
        .collect()
}

/// Waits up to `within` for a `fatal_error`, then the close; returns (error code, time).
fn fatal_within(ws: &mut RawWs, within: Duration) -> (String, Duration) {
    let start = Instant::now();
    ws.sock.set_read_timeout(Some(within)).expect("timeout");
    loop {
        let v = ws.recv().expect("fatal_error before the close");
        if v["type"] == "fatal_error" {
            let code = v["error"]["code"].as_str().unwrap_or_default().to_string();
            assert!(ws.recv().is_none(), "the socket closes after fatal_error");
            return (code, start.elapsed());
        }
    }
}

#[test]
fn revocation_holds_on_every_shard_at_once_and_ends_live_sockets() {
    let s = TestServer::start(2);
    for shard in 0..2 {
        let t = tenant_on(shard, "r");
        s.create_tenant(&t);
        let (id, secret) = make_key(&s, &t, json!({"name": "app", "scope": "read"}));
        assert!(statuses_with(&s, &secret, &t, 8).iter().all(|&c| c == 200));
        let mut sockets: Vec<RawWs> = (0..4).map(|_| ws_with_key(&s, &t, &secret)).collect();
        let r = s.call("DELETE", &format!("/api/tenants/{t}/keys/{id}"), None);
        assert_eq!(r.status, 204, "{r:?}");
        // From the 204 on, no connection on any shard takes it.
        let after = statuses_with(&s, &secret, &t, 16);
        assert!(after.iter().all(|&c| c == 401), "{after:?}");
        for ws in &mut sockets {
            let (code, took) = fatal_within(ws, Duration::from_secs(2));
            assert_eq!(code, "auth.unauthorized");
            assert!(took < Duration::from_secs(1), "{took:?}");
        }
        let again = s.call("DELETE", &format!("/api/tenants/{t}/keys/{id}"), None);
        assert_error(&again, 404, "op.not_found");
    }
}

#[test]
fn an_expired_key_is_refused_and_its_sockets_end() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let expires_at = now_ms() + 1500;
    let (_, secret) = make_key(
        &s,
        "t",
        json!({"name": "brief", "scope": "read", "expires_at": expires_at}),
    );
    assert_eq!(
        with_key(&s, &secret, "GET", "/api/tenants/t/schema", None).status,
        200
    );
    let mut ws = ws_with_key(&s, "t", &secret);
    let (code, _) = fatal_within(&mut ws, Duration::from_secs(4));
    let late = now_ms().saturating_sub(expires_at);
    assert_eq!(code, "auth.unauthorized");
    assert!(late < 1000, "closed {late} ms after the expiry");
    let r = with_key(&s, &secret, "GET", "/api/tenants/t/schema", None);
    assert_error(&r, 401, "auth.unauthorized");
    assert!(r.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("expired")));
}

#[test]
fn keys_survive_kill_9_and_go_with_their_tenant() {
    // A small snapshot threshold: the restart reads keys from a snapshot and from the log.
    let s = TestServer::start_with(2, &["--snapshot-log-bytes", "4096"]);
    let t = tenant_on(1, "k");
    s.create_tenant(&t);
    let kept = key(&s, &t, "write");
    let (gone_id, gone) = make_key(&s, &t, json!({"name": "gone", "scope": "read"}));
    for i in 0..200 {
        s.insert(&t, "m", json!({"n": i, "pad": "x".repeat(64)}));
    }
    let late = key(&s, &t, "read");
    assert_eq!(
        s.call("DELETE", &format!("/api/tenants/{t}/keys/{gone_id}"), None)
            .status,
        204
    );
    let s = s.restart(9, 2, &[]);
    let docs = format!("/api/tenants/{t}/documents/m");
    assert_eq!(with_key(&s, &kept, "GET", &docs, None).status, 200);
    assert_eq!(with_key(&s, &late, "GET", &docs, None).status, 200);
    assert_error(
        &with_key(&s, &gone, "GET", &docs, None),
        401,
        "auth.unauthorized",
    );
    let listed = s.call("GET", &format!("/api/tenants/{t}/keys"), None);
    assert_eq!(listed.body["keys"].as_array().map(Vec::len), Some(2));
    // A deleted tenant's keys go with it, even if the name comes back.
    assert_eq!(
        s.call("DELETE", &format!("/api/tenants/{t}"), None).status,
        204
    );
    s.create_tenant(&t);
    assert_error(
        &with_key(&s, &kept, "GET", &docs, None),
        401,
        "auth.unauthorized",
    );
    let s = s.restart(9, 2, &[]);
    assert_error(
        &with_key(&s, &kept, "GET", &docs, None),
        401,
        "auth.unauthorized",
    );
}

#[test]
fn bad_key_requests_are_refused_and_nothing_is_stored() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    let long = "n".repeat(65);
    for body in [
        "not json".to_string(),
        r#"{"name":"x","scope":"superuser"}"#.into(),
        r#"{"name":"x"}"#.into(),
        format!(r#"{{"name":"{long}","scope":"read"}}"#),
        r#"{"name":"x","scope":"read","origins":["app.example.com"]}"#.into(),
        r#"{"name":"x","scope":"read","origins":["https://app.example.com/path"]}"#.into(),
        r#"{"name":"x","scope":"read","expires_at":1000}"#.into(),
    ] {
        let r = s.call("POST", "/api/tenants/t/keys", Some(&body));
        assert_error(&r, 400, "op.invalid_input");
    }
    let list = s.call("GET", "/api/tenants/t/keys", None);
    assert_eq!(list.body["keys"], json!([]));
    // A credential shaped like a key but not one: 400; a well-formed unknown one: 401.
    let r = with_key(&s, "nimbus_r_nothex", "GET", "/api/tenants/t/schema", None);
    assert_error(&r, 400, "op.invalid_input");
    let unknown = format!("nimbus_r_{}", "0".repeat(64));
    let r = with_key(&s, &unknown, "GET", "/api/tenants/t/schema", None);
    assert_error(&r, 401, "auth.unauthorized");
    let r = s.call("DELETE", "/api/tenants/t/keys/not-an-id", None);
    assert_error(&r, 400, "op.invalid_input");
    let r = s.call(
        "POST",
        "/api/tenants/nope/keys",
        Some(r#"{"name":"x","scope":"read"}"#),
    );
    assert_error(&r, 404, "session.tenant_not_found");
}

#[test]
fn preflights_and_cors_headers_follow_the_origin_rules() {
    let s = TestServer::start_with(2, &["--allowed-origins", "https://app.example.com"]);
    s.create_tenant("t");
    let preflight = |origin: &str, path: &str| {
        exchange(
            &s,
            "OPTIONS",
            path,
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
            ],
        )
    };
    // Allowed by --allowed-origins (case of scheme and host aside): no credential needed.
    let (status, h) = preflight("https://APP.example.com", "/api/tenants/t/query");
    assert_eq!(status, 204);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://APP.example.com")
    );
    assert_eq!(header(&h, "access-control-allow-methods"), Some("POST"));
    assert_eq!(header(&h, "access-control-max-age"), Some("600"));
    assert_eq!(header(&h, "vary"), Some("Origin"));
    let allowed = header(&h, "access-control-allow-headers").unwrap_or_default();
    for name in [
        "Authorization",
        "Content-Type",
        "X-Nimbus-Admin-Token",
        "X-Tenant-Id",
        "Last-Event-ID",
    ] {
        assert!(allowed.contains(name), "{allowed}");
    }
    // Loopback on the server's own port is allowed too; anything else is not.
    let own = format!("http://localhost:{}", s.port);
    assert_eq!(preflight(&own, "/api/tenants/t/documents").0, 204);
    for refused in [
        "https://evil.example.com",
        "https://app.example.com:8443",
        "null",
    ] {
        let (status, h) = preflight(refused, "/api/tenants/t/query");
        assert_eq!(status, 403, "{refused}");
        assert_eq!(header(&h, "access-control-allow-origin"), None);
    }
    // A key's own origins: its tenant's preflights and requests, nothing else.
    let (_, secret) = make_key(
        &s,
        "t",
        json!({"name": "web", "scope": "read", "origins": ["https://shop.example.org"]}),
    );
    assert_eq!(
        preflight("https://shop.example.org", "/api/tenants/t/query").0,
        204
    );
    s.create_tenant("other");
    assert_eq!(
        preflight("https://shop.example.org", "/api/tenants/other/query").0,
        403
    );
    let bearer = format!("Bearer {secret}");
    let shop = [
        ("Origin", "https://shop.example.org"),
        ("Authorization", bearer.as_str()),
    ];
    let (status, h) = exchange(&s, "GET", "/api/tenants/t/schema", &shop);
    assert_eq!(status, 200);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://shop.example.org")
    );
    assert_eq!(
        header(&h, "access-control-expose-headers"),
        Some("X-Request-Id")
    );
    let admin = format!("Bearer {}", s.token);
    let (status, _) = exchange(
        &s,
        "GET",
        "/api/tenants/t/schema",
        &[
            ("Origin", "https://shop.example.org"),
            ("Authorization", admin.as_str()),
        ],
    );
    assert_eq!(
        status, 403,
        "the admin token does not carry the key's origins"
    );
    // Every answer to an allowed origin carries the headers, refusals included.
    let app = [("Origin", "https://app.example.com")];
    let (status, h) = exchange(&s, "GET", "/api/tenants/t/schema", &app);
    assert_eq!(status, 401);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let (status, h) = exchange(
        &s,
        "GET",
        "/api/tenants/t/nothing",
        &[
            ("Origin", "https://app.example.com"),
            ("Authorization", admin.as_str()),
        ],
    );
    assert_eq!(status, 404);
    assert_eq!(header(&h, "vary"), Some("Origin"));
    // No Origin, no CORS headers; an OPTIONS that is not a preflight is a 405 as before.
    let (status, h) = exchange(&s, "GET", "/health", &[]);
    assert_eq!(status, 200);
    assert_eq!(header(&h, "access-control-allow-origin"), None);
    let (status, _) = exchange(
        &s,
        "OPTIONS",
        "/api/tenants/t/query",
        &[("Authorization", admin.as_str())],
    );
    assert_eq!(status, 405);
    // The same rule on the WebSocket upgrade.
    let origin_line = |o: &str| format!("Origin: {o}\r\n");
    assert_eq!(
        ws_upgrade(
            &s,
            &format!("/ws?tenant_id=t&token={secret}"),
            &origin_line("https://evil.example.com")
        )
        .err(),
        Some(403)
    );
    assert!(ws_upgrade(
        &s,
        &format!("/ws?tenant_id=t&token={secret}"),
        &origin_line("https://shop.example.org")
    )
    .is_ok());
}

#[test]
fn the_admin_token_still_does_everything_and_manages_keys() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let (id, secret) = make_key(&s, "t", json!({"name": "ops", "scope": "admin"}));
    // An admin key manages its own tenant's keys, but not tenants.
    let (_, child) = {
        let r = with_key(
            &s,
            &secret,
            "POST",
            "/api/tenants/t/keys",
            Some(r#"{"name":"child","scope":"read"}"#),
        );
        assert_eq!(r.status, 201, "{r:?}");
        (
            r.body["id"].as_str().expect("id").to_string(),
            r.body["key"].as_str().expect("secret").to_string(),
        )
    };
    assert_eq!(
        with_key(&s, &child, "GET", "/api/tenants/t/schema", None).status,
        200
    );
    assert_error(
        &with_key(&s, &secret, "GET", "/api/tenants", None),
        403,
        "auth.forbidden",
    );
    // The admin token: tenants, keys, services, all of it.
    assert_eq!(s.call("GET", "/api/tenants", None).status, 200);
    assert_eq!(s.call("GET", "/api/tenants/t/services", None).status, 200);
    assert_eq!(
        s.call("DELETE", &format!("/api/tenants/t/keys/{id}"), None)
            .status,
        204
    );
    assert_error(
        &with_key(&s, &secret, "GET", "/api/tenants/t/schema", None),
        401,
        "auth.unauthorized",
    );
}
