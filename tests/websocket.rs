//! The `nimbus.v2` WebSocket protocol through a real client (tokio-tungstenite) against the
//! real server: every frame and error of DECISIONS §8, live results across shards.

mod common;

use common::{read_response, send, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

struct Ws {
    s: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session_id: String,
}

impl Ws {
    /// Upgrades and reads `hello`; does not answer it.
    async fn open(server: &TestServer, tenant: &str) -> Ws {
        let url = format!("ws://127.0.0.1:{}/ws?tenant_id={tenant}", server.port);
        let mut req = url.into_client_request().expect("request");
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "nimbus.v2".parse().expect("header"),
        );
        req.headers_mut().insert(
            "Authorization",
            format!("Bearer {}", server.token).parse().expect("header"),
        );
        let (s, resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("upgrade");
        assert_eq!(
            resp.headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.to_str().ok()),
            Some(Some("nimbus.v2"))
        );
        let mut ws = Ws {
            s,
            session_id: String::new(),
        };
        let hello = ws.recv().await;
        assert_eq!(hello["type"], "hello");
        assert_eq!(hello["protocol"], "nimbus.v2");
        ws.session_id = hello["session_id"]
            .as_str()
            .expect("session id")
            .to_string();
        ws
    }

    /// Upgrades and completes the handshake.
    async fn connect(server: &TestServer, tenant: &str) -> Ws {
        let mut ws = Ws::open(server, tenant).await;
        ws.send(json!({"type": "client_hello", "protocol": "nimbus.v2"}))
            .await;
        ws
    }

    async fn send(&mut self, v: Value) {
        self.s
            .send(Message::Text(v.to_string()))
            .await
            .expect("send");
    }

    /// The next text frame as JSON (within 5 s).
    async fn recv(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(5), self.s.next())
                .await
                .expect("a frame within 5 s")
                .expect("stream open")
                .expect("frame");
            match m {
                Message::Text(t) => return serde_json::from_str(&t).expect("JSON frame"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Nothing arrives for `ms` milliseconds.
    async fn silent(&mut self, ms: u64) {
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(ms), self.s.next()).await {
            panic!("unexpected frame {m:?}");
        }
    }

    /// The connection is closed by the server with `code` (after any frames, returned).
    async fn closed_with(&mut self, code: Option<CloseCode>) {
        loop {
            match tokio::time::timeout(Duration::from_secs(15), self.s.next())
                .await
                .expect("close within 15 s")
            {
                Some(Ok(Message::Close(frame))) => {
                    if let Some(code) = code {
                        assert_eq!(frame.map(|f| f.code), Some(code));
                    }
                    return;
                }
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => return,
            }
        }
    }

    async fn subscribe(&mut self, request_id: &str, query: Value) -> Value {
        self.send(json!({"type": "subscribe", "request_id": request_id, "query": query}))
            .await;
        let r = self.recv().await;
        assert_eq!(r["type"], "subscription_result", "{r}");
        assert_eq!(r["request_id"], request_id);
        r
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn all() -> Value {
    json!({"table": "messages", "filters": []})
}

#[test]
fn subscribe_push_and_nothing_when_unchanged() {
    let s = TestServer::start(2);
    s.create_tenant("demo");
    s.create_tenant("other");
    rt().block_on(async {
        let mut ws = Ws::connect(&s, "demo").await;
        assert_eq!(ws.session_id.len(), 26);
        let first = ws.subscribe("messages-1", all()).await;
        assert_eq!(first["data"], json!([]));
        let sub = first["subscription_id"].as_str().expect("id").to_string();
        let v0 = first["version"].as_u64().expect("version");

        let id = s.insert("demo", "messages", json!({"text": "hello"}));
        let pushed = ws.recv().await;
        assert_eq!(pushed["subscription_id"], sub.as_str());
        assert_eq!(pushed["request_id"], "messages-1");
        assert_eq!(pushed["data"][0]["_id"], id.as_str());
        assert_eq!(pushed["data"][0]["text"], "hello");
        assert!(pushed["version"].as_u64().expect("version") > v0);

        // Another tenant, another table, or a document outside the filter: no push.
        s.insert("other", "messages", json!({"text": "x"}));
        s.insert("demo", "elsewhere", json!({"text": "x"}));
        let mut only_a = Ws::connect(&s, "demo").await;
        only_a.subscribe("a", json!({"table": "messages", "filters": [{"field": "author", "op": "eq", "value": "a"}]})).await;
        s.insert("demo", "messages", json!({"author": "b"}));
        only_a.silent(300).await;
        let _ = ws.recv().await; // `ws` sees the author-b insert
        ws.silent(300).await;
    });
}

#[test]
fn refusals_before_the_upgrade_are_http_envelopes() {
    let s = TestServer::start(2);
    s.create_tenant("demo");
    let upgrade = |path: &str, extra: &str| {
        let mut c = s.raw();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        );
        send(&mut c, req.as_bytes());
        let (status, head, body) = read_response(&mut c).expect("answer");
        let v: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).expect("json")
        };
        (status, head, v)
    };
    let auth = format!("Authorization: Bearer {}\r\n", s.token);
    let proto = "Sec-WebSocket-Protocol: chat, nimbus.v2\r\n";
    let (st, head, _) = upgrade("/ws?tenant_id=demo", &format!("{auth}{proto}"));
    assert_eq!(st, 101);
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{head}"
    );
    let (st, _, v) = upgrade("/ws?tenant_id=demo", &auth);
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("op.invalid_input")),
        "no subprotocol"
    );
    let (st, _, v) = upgrade("/ws", &format!("{auth}{proto}"));
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("op.invalid_input")),
        "no tenant"
    );
    let (st, _, v) = upgrade("/ws?tenant_id=ghost", &format!("{auth}{proto}"));
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (404, Some("session.tenant_not_found"))
    );
    let (st, _, v) = upgrade("/ws?tenant_id=demo", proto);
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (401, Some("auth.unauthorized"))
    );
    let (st, _, _) = upgrade(&format!("/ws?tenant_id=demo&token={}", s.token), proto);
    assert_eq!(st, 101, "token query parameter for browsers");
    let (st, _, _) = upgrade("/ws", &format!("{auth}{proto}X-Tenant-Id: demo\r\n"));
    assert_eq!(st, 101, "tenant header");
    let (st, _, v) = upgrade(
        "/ws?tenant_id=demo",
        &format!("{auth}{proto}Origin: http://evil.example\r\n"),
    );
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("auth.forbidden"))
    );
    let (st, _, v) = upgrade(
        "/ws?tenant_id=demo",
        &format!("{auth}{proto}Origin: http://localhost:{}\r\n", s.port),
    );
    assert_eq!(st, 101, "{v}");
}

#[test]
fn handshake_rules() {
    let s = TestServer::start(1);
    s.create_tenant("demo");
    rt().block_on(async {
        let mut ws = Ws::open(&s, "demo").await;
        ws.send(json!({"type": "subscribe", "request_id": "r", "query": all()}))
            .await;
        let f = ws.recv().await;
        assert_eq!(
            (f["type"].as_str(), f["error"]["code"].as_str()),
            (Some("fatal_error"), Some("ws.handshake_required"))
        );
        ws.closed_with(None).await;

        let mut ws = Ws::open(&s, "demo").await;
        ws.send(json!({"type": "client_hello", "protocol": "nimbus.v1"}))
            .await;
        let f = ws.recv().await;
        assert_eq!(f["error"]["code"], "ws.protocol_mismatch");
        ws.closed_with(None).await;

        let mut ws = Ws::connect(&s, "demo").await;
        ws.s.send(Message::Binary(vec![1, 2, 3]))
            .await
            .expect("send");
        let f = ws.recv().await;
        assert_eq!(
            (f["type"].as_str(), f["error"]["code"].as_str()),
            (Some("fatal_error"), Some("ws.unsupported_frame"))
        );
        ws.closed_with(Some(CloseCode::Unsupported)).await;

        // Bad text frames get `error` and the connection stays.
        let mut ws = Ws::connect(&s, "demo").await;
        ws.s.send(Message::Text("not json".into()))
            .await
            .expect("send");
        let f = ws.recv().await;
        assert_eq!(
            (f["type"].as_str(), f["error"]["code"].as_str()),
            (Some("error"), Some("op.invalid_input"))
        );
        ws.send(json!({"type": "teleport"})).await;
        assert_eq!(ws.recv().await["type"], "error");
        ws.subscribe("still-here", all()).await;
    });
}

#[test]
fn handshake_timeout() {
    let s = TestServer::start(1);
    s.create_tenant("demo");
    rt().block_on(async {
        let mut ws = Ws::open(&s, "demo").await;
        let started = std::time::Instant::now();
        let f = tokio::time::timeout(Duration::from_secs(15), ws.s.next())
            .await
            .expect("frame")
            .expect("open")
            .expect("ok");
        let v: Value = serde_json::from_str(f.to_text().expect("text")).expect("json");
        assert_eq!(
            (v["type"].as_str(), v["error"]["code"].as_str()),
            (Some("fatal_error"), Some("ws.handshake_timeout"))
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(9) && waited <= Duration::from_secs(12),
            "{waited:?}"
        );
        ws.closed_with(None).await;
    });
}

#[test]
fn mutate_unsubscribe_and_errors() {
    let s = TestServer::start(2);
    s.create_tenant("demo");
    let schema = json!({"table": "strict", "fields": [{"name": "n", "field_type": "number", "required": true}]});
    assert_eq!(
        s.call(
            "PUT",
            "/api/tenants/demo/schema/strict",
            Some(&schema.to_string())
        )
        .status,
        204
    );
    rt().block_on(async {
        let mut ws = Ws::connect(&s, "demo").await;
        let first = ws.subscribe("q", all()).await;
        let sub = first["subscription_id"].clone();

        ws.send(json!({"type": "mutate", "request_id": 1, "mutation": {"type": "insert", "table": "messages", "fields": {"text": "a"}}})).await;
        let (mut result, mut pushed) = (None, None);
        for _ in 0..2 {
            let f = ws.recv().await;
            match f["type"].as_str() {
                Some("op.result") => result = Some(f),
                Some("subscription_result") => pushed = Some(f),
                _ => panic!("{f}"),
            }
        }
        let result = result.expect("op.result");
        assert_eq!(result["request_id"], 1);
        let id = result["result"]["id"].as_str().expect("id").to_string();
        assert_eq!(pushed.expect("push")["data"][0]["_id"], id.as_str());

        let chosen = "01jx2x9w7d2f0v6q8t3k5r9e1b";
        ws.send(json!({"type": "mutate", "request_id": "ins", "mutation": {"type": "insert", "table": "other", "id": chosen, "fields": {"a": 1}}})).await;
        assert_eq!(ws.recv().await["result"]["id"], chosen);
        ws.send(json!({"type": "mutate", "request_id": "upd", "mutation": {"type": "update", "table": "messages", "id": id, "patch": {"text": "b"}}})).await;
        let mut got_result = false;
        for _ in 0..2 {
            let f = ws.recv().await;
            if f["type"] == "op.result" {
                assert_eq!(f["result"]["id"], id.as_str());
                got_result = true;
            } else {
                assert_eq!(f["data"][0]["text"], "b");
            }
        }
        assert!(got_result);

        for (m, code) in [
            (json!({"type": "update", "table": "messages", "id": chosen, "patch": {"x": 1}}), "op.not_found"),
            (json!({"type": "explode", "table": "messages"}), "op.invalid_input"),
            (json!({"type": "delete", "table": "messages", "id": "abc"}), "op.invalid_input"),
            (json!({"type": "insert", "table": "strict", "fields": {"n": "x"}}), "schema.validation_failed"),
            (json!({"type": "insert", "table": "other", "id": chosen, "fields": {}}), "op.conflict"),
        ] {
            ws.send(json!({"type": "mutate", "request_id": code, "mutation": m})).await;
            let f = ws.recv().await;
            assert_eq!((f["type"].as_str(), f["request_id"].as_str(), f["error"]["code"].as_str()), (Some("op.error"), Some(code), Some(code)), "{f}");
        }
        ws.send(json!({"type": "subscribe", "request_id": "bad", "query": {"table": "m"}})).await;
        let f = ws.recv().await;
        assert_eq!((f["type"].as_str(), f["error"]["code"].as_str()), (Some("op.error"), Some("op.invalid_input")));

        ws.send(json!({"type": "unsubscribe", "request_id": "u", "subscription_id": sub})).await;
        let f = ws.recv().await;
        assert_eq!((f["type"].as_str(), &f["subscription_id"]), (Some("unsubscribed"), &sub));
        s.insert("demo", "messages", json!({"text": "after"}));
        ws.silent(300).await;
        ws.send(json!({"type": "unsubscribe", "request_id": "u2", "subscription_id": sub})).await;
        assert_eq!(ws.recv().await["error"]["code"], "op.not_found");
        ws.send(json!({"type": "mutate", "request_id": "del", "mutation": {"type": "delete", "table": "messages", "id": id}})).await;
        assert_eq!(ws.recv().await["result"]["id"], id.as_str());
    });
}

#[test]
fn results_cross_shards_and_many_subscribers_share_one_query() {
    let s = TestServer::start(2);
    let tenants = ["t-a", "t-b", "t-c", "t-d"];
    for t in tenants {
        s.create_tenant(t);
    }
    rt().block_on(async {
        // Sixteen connections per tenant: the kernel spreads them over both shards, so most
        // tenants are reached both locally and across the mesh.
        let mut conns = Vec::new();
        for t in tenants {
            for _ in 0..16 {
                let mut ws = Ws::connect(&s, t).await;
                ws.subscribe(
                    "same",
                    json!({"table": "m", "filters": [{"field": "n", "op": "gte", "value": 0}]}),
                )
                .await;
                conns.push((t, ws));
            }
        }
        for t in tenants {
            s.insert(t, "m", json!({"n": 1, "tenant": t}));
        }
        for (t, ws) in conns.iter_mut() {
            let f = ws.recv().await;
            assert_eq!(f["data"].as_array().expect("data").len(), 1);
            assert_eq!(f["data"][0]["tenant"], *t, "no push from other tenants");
        }
        for (_, ws) in conns.iter_mut() {
            ws.silent(50).await;
        }
    });
}

#[test]
fn versions_grow_and_the_last_state_always_arrives() {
    let s = TestServer::start(2);
    s.create_tenant("demo");
    rt().block_on(async {
        let mut ws = Ws::connect(&s, "demo").await;
        let first = ws.subscribe("r", all()).await;
        let mut last = first["version"].as_u64().expect("version");
        for i in 0..30 {
            s.insert("demo", "messages", json!({"i": i}));
        }
        loop {
            let f = ws.recv().await;
            let v = f["version"].as_u64().expect("version");
            assert!(v > last, "versions strictly grow: {v} after {last}");
            last = v;
            if f["data"].as_array().expect("data").len() == 30 {
                break;
            }
        }
        ws.silent(200).await;
    });
}

#[test]
fn deleting_the_tenant_ends_its_sockets() {
    let s = TestServer::start(2);
    s.create_tenant("doomed");
    s.create_tenant("kept");
    rt().block_on(async {
        let mut subscribed = Ws::connect(&s, "doomed").await;
        subscribed.subscribe("r", all()).await;
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(Ws::connect(&s, "doomed").await);
        }
        let mut other = Ws::connect(&s, "kept").await;
        other.subscribe("r", all()).await;
        assert_eq!(s.call("DELETE", "/api/tenants/doomed", None).status, 204);
        for ws in std::iter::once(&mut subscribed).chain(idle.iter_mut()) {
            let f = ws.recv().await;
            assert_eq!(
                (f["type"].as_str(), f["error"]["code"].as_str()),
                (Some("fatal_error"), Some("session.tenant_not_found"))
            );
            ws.closed_with(None).await;
        }
        s.insert("kept", "messages", json!({"still": true}));
        assert_eq!(other.recv().await["data"][0]["still"], true);
    });
}

#[test]
fn shutdown_ends_sockets_with_service_unavailable() {
    let mut s = TestServer::start(2);
    s.create_tenant("demo");
    let rt = rt();
    let mut sockets = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(Ws::connect(&s, "demo").await);
        }
        v
    });
    let stopper = std::thread::spawn(move || {
        let status = s.signal_and_wait(libc::SIGTERM, Duration::from_secs(5));
        (s, status)
    });
    rt.block_on(async {
        for ws in sockets.iter_mut() {
            let f = ws.recv().await;
            assert_eq!(
                (f["type"].as_str(), f["error"]["code"].as_str()),
                (Some("fatal_error"), Some("service.unavailable"))
            );
            assert_eq!(f["error"]["retryable"], true);
        }
    });
    let (_s, status) = stopper.join().expect("stopper");
    assert!(status.is_some_and(|st| st.success()), "{status:?}");
}

/// A masked client text frame, written by hand for the raw-socket test.
fn client_frame(text: &str) -> Vec<u8> {
    let payload = text.as_bytes();
    let mut f = vec![0x81u8];
    assert!(payload.len() < 126);
    f.push(0x80 | payload.len() as u8);
    let mask = [1u8, 2, 3, 4];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[test]
fn a_reader_that_stops_reading_is_cut_off_and_memory_stays_bounded() {
    let s = TestServer::start_with(2, &["--ws-write-timeout-ms", "1500"]);
    s.create_tenant("demo");
    let mut c = s.raw();
    let req = format!(
        "GET /ws?tenant_id=demo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: nimbus.v2\r\n{}\r\n",
        s.auth_header()
    );
    send(&mut c, req.as_bytes());
    send(
        &mut c,
        &client_frame(r#"{"type":"client_hello","protocol":"nimbus.v2"}"#),
    );
    let query = r#"{"type":"subscribe","request_id":"r","query":{"table":"big","filters":[]}}"#;
    send(&mut c, &client_frame(query));
    // The client now never reads. Every insert changes its result, which only grows.
    let baseline = s.rss_kib();
    let blob = "x".repeat(4000);
    for i in 0..600 {
        s.insert("demo", "big", json!({"i": i, "blob": blob}));
    }
    let grown = s.rss_kib().saturating_sub(baseline);
    // 600 results of up to 2.4 MB each were produced: ~700 MB if they were all queued.
    assert!(grown < 96 * 1024, "resident memory grew by {grown} KiB");
    // The server gave up on the reader: reading what is buffered ends in EOF or a reset.
    c.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut sink = vec![0u8; 1 << 20];
    let mut closed = false;
    for _ in 0..10_000 {
        match std::io::Read::read(&mut c, &mut sink) {
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(
        closed,
        "the server closed the connection of a reader that stopped"
    );
    assert_eq!(s.call("GET", "/health", None).status, 200);
}

#[test]
fn a_scheduled_insert_reaches_a_live_subscription() {
    let s = TestServer::start(2);
    s.create_tenant("demo");
    rt().block_on(async {
        let mut ws = Ws::connect(&s, "demo").await;
        ws.subscribe("r", all()).await;
        let body = json!({"run_after_ms": 200, "mutation": {"type": "insert", "table": "messages", "fields": {"from": "the scheduler"}}});
        assert_eq!(s.call("POST", "/api/tenants/demo/schedule", Some(&body.to_string())).status, 201);
        let f = ws.recv().await;
        assert_eq!(f["data"][0]["from"], "the scheduler");
    });
}

#[test]
fn websocket_connections_are_sessions_and_can_be_closed() {
    let s = TestServer::start(2);
    s.create_tenant("demo");
    s.create_tenant("other");
    rt().block_on(async {
        let mut ws = Ws::connect(&s, "demo").await;
        let mut other = Ws::connect(&s, "other").await;
        let listed = s.call("GET", "/api/sessions?tenant_id=demo", None).body;
        let sessions = listed["sessions"].as_array().expect("sessions");
        assert_eq!(sessions.len(), 1, "{listed}");
        assert_eq!(
            (sessions[0]["id"].as_str(), sessions[0]["kind"].as_str()),
            (Some(ws.session_id.as_str()), Some("ws"))
        );
        let one = s
            .call("GET", &format!("/api/sessions/{}", ws.session_id), None)
            .body;
        assert_eq!(one["state"], "open");

        let r = s.call(
            "POST",
            &format!("/api/sessions/{}/close", ws.session_id),
            None,
        );
        assert_eq!(r.body["state"], "closed");
        let f = ws.recv().await;
        assert_eq!(
            (f["type"].as_str(), f["error"]["code"].as_str()),
            (Some("fatal_error"), Some("session.closed"))
        );
        ws.closed_with(None).await;
        assert_eq!(
            s.call("GET", &format!("/api/sessions/{}", ws.session_id), None)
                .body["state"],
            "closed"
        );
        // The other tenant's socket is untouched; when it goes, its session closes.
        other.subscribe("r", all()).await;
        let _ = other.s.close(None).await;
        drop(other);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            s.call("GET", "/api/sessions?tenant_id=other", None).body,
            json!({"sessions": []})
        );
    });
}

#[test]
fn a_resubscribe_with_since_version_of_an_unchanged_result_gets_no_data() {
    let s = TestServer::start(2);
    s.create_tenant("demo");
    rt().block_on(async {
        let mut ws = Ws::connect(&s, "demo").await;
        s.insert("demo", "messages", json!({"text": "one"}));
        let first = ws.subscribe("a", all()).await;
        let v = first["version"].as_u64().expect("version");
        // Another connection, after a reconnect: same result, same version.
        let mut again = Ws::connect(&s, "demo").await;
        again
            .send(json!({"type": "subscribe", "request_id": "b", "query": all(), "since_version": v}))
            .await;
        let r = again.recv().await;
        assert_eq!((r["type"].as_str(), r["unchanged"].as_bool()), (Some("subscription_result"), Some(true)), "{r}");
        assert_eq!(r["version"], v);
        assert!(r.get("data").is_none(), "{r}");
        // A change after it comes as usual.
        s.insert("demo", "messages", json!({"text": "two"}));
        let pushed = again.recv().await;
        assert_eq!(pushed["data"].as_array().map(Vec::len), Some(2), "{pushed}");
        // A version the result has moved past gets the data.
        let mut stale = Ws::connect(&s, "demo").await;
        stale
            .send(json!({"type": "subscribe", "request_id": "c", "query": all(), "since_version": v}))
            .await;
        let r = stale.recv().await;
        assert_eq!(r["data"].as_array().map(Vec::len), Some(2), "{r}");
        stale
            .send(json!({"type": "subscribe", "request_id": "d", "query": all(), "since_version": "x"}))
            .await;
        let r = stale.recv().await;
        assert_eq!(r["type"], "op.error", "{r}");
        assert_eq!(r["error"]["code"], "op.invalid_input");
    });
}
