//! Heap allocations per request, counted in the whole server process.
//!
//! Starts a real server in this process (one shard, `--fsync off`), behind a counting global
//! allocator, and drives it over a keep-alive TCP connection with a client that allocates
//! nothing per request (prebuilt request bytes, a fixed read buffer). The allocations counted
//! over N requests, divided by N, are the server's: parsing, routing, executing, answering,
//! logging. Run with `cargo bench --bench allocations`.

use std::alloc::{GlobalAlloc, Layout};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// mimalloc, as the server binary uses, counting every allocation and reallocation.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        INNER.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        INNER.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        INNER.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        INNER.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Sends one request and reads its whole response into `buf`; returns the status.
fn exchange(conn: &mut TcpStream, req: &[u8], buf: &mut [u8]) -> u16 {
    conn.write_all(req).expect("write");
    let mut got = 0;
    loop {
        let n = conn.read(&mut buf[got..]).expect("read");
        assert!(n > 0, "server closed");
        got += n;
        let head_end = buf[..got].windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = head_end {
            let head = &buf[..end];
            let len = head
                .split(|b| *b == b'\n')
                .find_map(|l| {
                    let l = l.strip_suffix(b"\r").unwrap_or(l);
                    let (k, v) = l.split_at(l.iter().position(|b| *b == b':')?);
                    k.eq_ignore_ascii_case(b"content-length").then(|| {
                        v[1..]
                            .iter()
                            .filter(|c| c.is_ascii_digit())
                            .fold(0usize, |n, c| n * 10 + usize::from(c - b'0'))
                    })
                })
                .unwrap_or(0);
            if got >= end + 4 + len {
                let status = &buf[9..12];
                return status
                    .iter()
                    .fold(0u16, |n, c| n * 10 + u16::from(c - b'0'));
            }
        }
    }
}

fn request(method: &str, path: &str, token: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list of benchmarks
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let dir = std::env::temp_dir().join(format!("nimbus-alloc-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = nimbus::config::Config::new("127.0.0.1".into(), port, dir.clone(), 1);
    config.fsync = false;
    std::thread::spawn(move || nimbus::server::run(config));
    let mut conn = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    conn.set_nodelay(true).expect("nodelay");
    let token_file = std::fs::read_to_string(dir.join("auth/token")).expect("token file");
    let token = token_file
        .split('"')
        .skip_while(|s| *s != "token")
        .nth(2)
        .expect("token")
        .to_string();
    let mut buf = vec![0u8; 1 << 20];
    let mut call = |method: &str, path: &str, body: &str| {
        let req = request(method, path, &token, body);
        exchange(&mut conn, &req, &mut buf)
    };
    assert_eq!(call("POST", "/api/tenants", r#"{"id":"bench"}"#), 201);
    let schema = r#"{"table":"items","fields":[],"indexes":[{"name":"by_author","fields":["author"]},{"name":"by_votes","fields":["votes"]}]}"#;
    let put = call("PUT", "/api/tenants/bench/schema/items", schema);
    assert!(put == 200 || put == 204, "schema: {put}");
    for i in 0..10_000u64 {
        let body = format!(
            r#"{{"table":"items","fields":{{"author":"user{:03}","votes":{},"title":"document {i} of the bench"}}}}"#,
            i % 100,
            (i * 7919) % 10_000
        );
        assert_eq!(call("POST", "/api/tenants/bench/documents", &body), 201);
    }
    let first = {
        let req = request(
            "POST",
            "/api/tenants/bench/query",
            &token,
            r#"{"table":"items","filters":[],"limit":1}"#,
        );
        exchange(&mut conn, &req, &mut buf);
        let text = String::from_utf8_lossy(&buf[..4096]).to_string();
        let at = text.find("\"_id\":\"").expect("an id") + 7;
        text[at..at + 26].to_string()
    };

    let scenarios: Vec<(&str, Vec<u8>)> = vec![
        ("GET /health", request("GET", "/health", &token, "")),
        (
            "get one document",
            request(
                "GET",
                &format!("/api/tenants/bench/documents/items/{first}"),
                &token,
                "",
            ),
        ),
        (
            "query eq (indexed), limit 10",
            request(
                "POST",
                "/api/tenants/bench/query",
                &token,
                r#"{"table":"items","filters":[{"field":"author","op":"eq","value":"user042"}],"limit":10}"#,
            ),
        ),
        (
            "query order desc (indexed), limit 10",
            request(
                "POST",
                "/api/tenants/bench/query",
                &token,
                r#"{"table":"items","filters":[],"order":{"field":"votes","direction":"desc"},"limit":10}"#,
            ),
        ),
        (
            "insert (--fsync off)",
            request(
                "POST",
                "/api/tenants/bench/documents",
                &token,
                r#"{"table":"writes","fields":{"author":"bench","n":1,"text":"hello"}}"#,
            ),
        ),
    ];
    const N: u64 = 20_000;
    println!("| request | allocations per request |");
    println!("|---|---|");
    for (name, req) in &scenarios {
        for _ in 0..2_000 {
            exchange(&mut conn, req, &mut buf); // warm buffers and caches
        }
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..N {
            let status = exchange(&mut conn, req, &mut buf);
            assert!(status < 300, "{name}: {status}");
        }
        let per = (ALLOCS.load(Ordering::Relaxed) - before) as f64 / N as f64;
        println!("| {name} | {per:.2} |");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
