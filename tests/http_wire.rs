//! HTTP/1.1 rules a server must follow (RFC 9112), checked with raw bytes on a socket.

mod common;

use common::{is_closed, read_response, send, TestServer};
use std::io::Write;
use std::time::{Duration, Instant};

fn post(s: &TestServer, path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{}Content-Length: {}\r\n\r\n{body}",
        s.auth_header(),
        body.len()
    )
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let mut c = s.raw();
    let mut batch = String::new();
    for i in 0..5 {
        batch += &post(
            &s,
            "/api/tenants/t/documents",
            &format!(r#"{{"table":"m","fields":{{"i":{i}}}}}"#),
        );
    }
    batch += &format!(
        "GET /api/tenants/t/documents/m HTTP/1.1\r\nHost: x\r\n{}\r\n",
        s.auth_header()
    );
    batch += "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    send(&mut c, batch.as_bytes());
    for _ in 0..5 {
        assert_eq!(read_response(&mut c).expect("insert answer").0, 201);
    }
    let (status, _, body) = read_response(&mut c).expect("list");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let is: Vec<i64> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d["i"].as_i64().expect("i"))
        .collect();
    assert_eq!(is, vec![0, 1, 2, 3, 4]);
    assert_eq!(read_response(&mut c).expect("health").2, br#"{"ok":true}"#);
}

#[test]
fn requests_split_into_tiny_writes_parse_the_same() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    let mut c = s.raw();
    c.set_nodelay(true).expect("nodelay");
    let req = post(
        &s,
        "/api/tenants/t/documents",
        r#"{"table":"m","fields":{"a":"b"}}"#,
    );
    for chunk in req.as_bytes().chunks(7) {
        send(&mut c, chunk);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(read_response(&mut c).expect("answer").0, 201);
}

#[test]
fn chunked_bodies() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    let mut c = s.raw();
    let body = r#"{"table":"m","fields":{"via":"chunks"}}"#;
    let (a, b) = body.split_at(10);
    let req = format!(
        "POST /api/tenants/t/documents HTTP/1.1\r\nHost: x\r\n{}Transfer-Encoding: chunked\r\n\r\n{:x};ext=1\r\n{a}\r\n{:X}\r\n{b}\r\n0\r\nTrailer: x\r\n\r\n",
        s.auth_header(),
        a.len(),
        b.len()
    );
    send(&mut c, req.as_bytes());
    assert_eq!(read_response(&mut c).expect("answer").0, 201);
    // The connection is still usable after a chunked body.
    send(&mut c, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_response(&mut c).expect("health").0, 200);

    for bad in [
        "zz\r\nabc\r\n0\r\n\r\n",
        "3\r\nabcXX0\r\n\r\n",
        "3\nabc\r\n0\r\n\r\n",
        "-1\r\n",
    ] {
        let mut c = s.raw();
        let head = format!(
            "POST /api/tenants/t/documents HTTP/1.1\r\nHost: x\r\n{}Transfer-Encoding: chunked\r\n\r\n",
            s.auth_header()
        );
        send(&mut c, format!("{head}{bad}").as_bytes());
        let (status, head, body) = read_response(&mut c).expect("answer");
        assert_eq!(status, 400, "{bad:?}");
        assert!(head.contains("Connection: close"));
        assert!(String::from_utf8_lossy(&body).contains("op.invalid_input"));
        assert!(is_closed(&mut c), "closed after a bad chunk: {bad:?}");
    }
}

#[test]
fn smuggling_shapes_are_refused_and_closed() {
    let s = TestServer::start(1);
    let cases = [
        "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
        "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\nabcd",
        "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n",
        "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n folded\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n\tfolded\r\n\r\n",
        "GET /health HTTP/1.1\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET /health HTTP/1.1\r\nBad Header: x\r\nHost: x\r\n\r\n",
        "GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03\r\n\r\n",
    ];
    for raw in cases {
        let mut c = s.raw();
        send(&mut c, raw.as_bytes());
        let (status, head, body) =
            read_response(&mut c).unwrap_or_else(|| panic!("no answer to {raw:?}"));
        assert_eq!(status, 400, "{raw:?}");
        assert!(head.contains("Connection: close"), "{raw:?}");
        assert!(
            String::from_utf8_lossy(&body).contains("\"op.invalid_input\""),
            "{raw:?}"
        );
        assert!(is_closed(&mut c), "{raw:?} left the connection open");
    }
    // And the server keeps serving.
    assert_eq!(s.call_with("GET", "/health", None, &[]).status, 200);
}

#[test]
fn http10_and_connection_close() {
    let s = TestServer::start(1);
    let mut c = s.raw();
    send(&mut c, b"GET /health HTTP/1.0\r\n\r\n");
    let (status, head, _) = read_response(&mut c).expect("answer");
    assert_eq!(status, 200);
    assert!(head.contains("Connection: close"));
    assert!(is_closed(&mut c), "HTTP/1.0 closes by default");

    let mut c = s.raw();
    send(
        &mut c,
        b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    let (_, head, _) = read_response(&mut c).expect("answer");
    assert!(head.contains("Connection: keep-alive"));
    send(&mut c, b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(read_response(&mut c).expect("second").0, 200);

    let mut c = s.raw();
    send(
        &mut c,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (_, head, _) = read_response(&mut c).expect("answer");
    assert!(head.contains("Connection: close"));
    assert!(is_closed(&mut c));

    let mut c = s.raw();
    send(
        &mut c,
        b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let (status, head, body) = read_response(&mut c).expect("head answer");
    assert_eq!(status, 200);
    assert!(head.contains("Content-Length: 11"));
    // read_response read 11 body bytes for HEAD: they must be the next response's start.
    assert!(body.starts_with(b"HTTP/1.1 20"), "HEAD has no body");
}

#[test]
fn expect_100_continue() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    let mut c = s.raw();
    let body = r#"{"table":"m","fields":{"a":1}}"#;
    let head = format!(
        "POST /api/tenants/t/documents HTTP/1.1\r\nHost: x\r\n{}Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        s.auth_header(),
        body.len()
    );
    send(&mut c, head.as_bytes());
    let (status, _, _) = read_response(&mut c).expect("interim");
    assert_eq!(status, 100);
    send(&mut c, body.as_bytes());
    assert_eq!(read_response(&mut c).expect("final").0, 201);
}

#[test]
fn limits_are_decided_before_reading() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    // Body over 16 MiB: refused from the head alone, without sending a byte of it.
    let mut c = s.raw();
    let head = format!(
        "POST /api/tenants/t/documents HTTP/1.1\r\nHost: x\r\n{}Content-Length: {}\r\n\r\n",
        s.auth_header(),
        16 * 1024 * 1024 + 1
    );
    send(&mut c, head.as_bytes());
    let (status, head, body) = read_response(&mut c).expect("413");
    assert_eq!(status, 413);
    assert!(head.contains("Connection: close"));
    assert!(String::from_utf8_lossy(&body).contains("op.payload_too_large"));

    // Chunked bodies are cut off when they pass the limit.
    let mut c = s.raw();
    let head = format!(
        "POST /api/tenants/t/documents HTTP/1.1\r\nHost: x\r\n{}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        s.auth_header(),
        17 * 1024 * 1024
    );
    send(&mut c, head.as_bytes());
    assert_eq!(read_response(&mut c).expect("413").0, 413);

    // A head over 64 KiB.
    let mut c = s.raw();
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let _ = c.write_all(big.as_bytes());
    let (status, _, body) = read_response(&mut c).expect("431");
    assert_eq!(status, 431);
    assert!(String::from_utf8_lossy(&body).contains("op.invalid_input"));

    // Too many headers is a head too large as well.
    let mut c = s.raw();
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    send(
        &mut c,
        format!("GET /health HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    );
    assert_eq!(read_response(&mut c).expect("431").0, 431);
    assert_eq!(s.call_with("GET", "/health", None, &[]).status, 200);
}

#[test]
fn trickled_head_is_cut_off_at_the_head_timeout() {
    // The default head timeout of 10 s, with one byte a second.
    let s = TestServer::start(1);
    let mut c = s.raw();
    c.set_write_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let started = Instant::now();
    let req = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut_off = None;
    for &b in req.iter() {
        if c.write_all(&[b]).is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        let mut probe = [0u8; 1];
        c.set_nonblocking(true).expect("nonblocking");
        let r = std::io::Read::read(&mut c, &mut probe);
        c.set_nonblocking(false).expect("blocking");
        if matches!(r, Ok(0)) || matches!(&r, Err(e) if e.kind() != std::io::ErrorKind::WouldBlock)
        {
            cut_off = Some(started.elapsed());
            break;
        }
    }
    let at = cut_off.expect("the server never cut the trickling client off");
    assert!(
        at >= Duration::from_secs(9) && at <= Duration::from_secs(14),
        "cut off after {at:?}"
    );
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let s = TestServer::start_with(1, &["--idle-timeout-ms", "300"]);
    let mut c = s.raw();
    send(&mut c, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_response(&mut c).expect("answer").0, 200);
    let t = Instant::now();
    assert!(is_closed(&mut c));
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn garbage_does_not_stop_the_server() {
    let s = TestServer::start(2);
    for junk in [
        &b"\0\0\0\0\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"\xff\xfe\xfd\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n",
    ] {
        let mut c = s.raw();
        let _ = c.write_all(junk);
        let _ = read_response(&mut c);
    }
    // A client that connects and vanishes mid-request.
    {
        let mut c = s.raw();
        send(
            &mut c,
            b"POST /api/tenants HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id\"",
        );
    }
    assert_eq!(s.call_with("GET", "/health", None, &[]).status, 200);
}
