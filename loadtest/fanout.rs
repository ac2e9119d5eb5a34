//! WebSocket fan-out load generator: N connections each subscribed to the same live query,
//! a writer committing at a fixed rate, and the time from each commit to each receipt.
//!
//! cargo run --release --example fanout -- URL TOKEN TENANT CONNS RATE SECONDS [SERVER_PID]
//!
//! RATE 0 commits from 16 writers as fast as the server accepts (throughput: frames/s).
//!
//! URL is the server's base (`http://127.0.0.1:8080`); the tenant must exist. Prints commits,
//! frames delivered and per second, commit-to-receipt latency p50/p99/max, and (with the
//! server's pid) its resident memory per idle subscribed connection.

use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The value of `"t":` in the first document of a result frame.
fn stamp(text: &str) -> Option<u64> {
    let at = text.find("\"t\":")? + 4;
    let digits: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

async fn subscriber(
    url: String,
    token: String,
    tenant: String,
    lat: Arc<Mutex<Vec<u32>>>,
    frames: Arc<AtomicU64>,
    ready: Arc<AtomicU64>,
    stop: Arc<AtomicU64>,
) {
    let ws_url = format!("{}/ws?tenant_id={tenant}", url.replacen("http", "ws", 1));
    let mut req = match ws_url.into_client_request() {
        Ok(r) => r,
        Err(_) => return,
    };
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "nimbus.v2".parse().expect("header"),
    );
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(req).await else {
        return;
    };
    let _ = ws.next().await; // hello
    let hello = r#"{"type":"client_hello","protocol":"nimbus.v2"}"#;
    let sub = r#"{"type":"subscribe","request_id":"f","query":{"table":"ticks","filters":[],"order":{"field":"_creationTime","direction":"desc"},"limit":1}}"#;
    if ws.send(Message::Text(hello.into())).await.is_err()
        || ws.send(Message::Text(sub.into())).await.is_err()
    {
        return;
    }
    let _ = ws.next().await; // the first result
    ready.fetch_add(1, Ordering::Relaxed);
    let mut mine = Vec::new();
    while stop.load(Ordering::Relaxed) == 0 {
        match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let now = now_us();
                frames.fetch_add(1, Ordering::Relaxed);
                if let Some(t0) = stamp(&t) {
                    mine.push(now.saturating_sub(t0).min(u32::MAX as u64) as u32);
                }
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            _ => break,
        }
    }
    if let Ok(mut l) = lat.lock() {
        l.extend(mine);
    }
}

/// A masked client text frame.
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x81];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    let mask = [7u8, 1, 9, 3];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A subscriber for throughput runs: a bare WebSocket client that counts result frames by
/// their headers and never looks inside, so the generator's cost per frame stays as small
/// as the Redis reference's (which counts bytes).
async fn counting_subscriber(
    url: String,
    token: String,
    tenant: String,
    frames: Arc<AtomicU64>,
    ready: Arc<AtomicU64>,
    stop: Arc<AtomicU64>,
) {
    let host = url.trim_start_matches("http://").to_string();
    let Ok(mut s) = tokio::net::TcpStream::connect(&host).await else {
        return;
    };
    let upgrade = format!(
        "GET /ws?tenant_id={tenant} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: nimbus.v2\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    if s.write_all(upgrade.as_bytes()).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut have = Vec::new();
    let body = loop {
        let Ok(n) = s.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        have.extend_from_slice(&buf[..n]);
        if let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
            break have.split_off(end + 4);
        }
    };
    let hello = br#"{"type":"client_hello","protocol":"nimbus.v2"}"#;
    let sub = br#"{"type":"subscribe","request_id":"f","query":{"table":"ticks","filters":[],"order":{"field":"_creationTime","direction":"desc"},"limit":1}}"#;
    let mut out = client_frame(hello);
    out.extend(client_frame(sub));
    if s.write_all(&out).await.is_err() {
        return;
    }
    // Frames: hello, then the first result, then the rest are counted.
    let mut pending = body;
    let mut seen = 0u64;
    let mut counted = false;
    while stop.load(Ordering::Relaxed) == 0 {
        let mut at = 0;
        while pending.len() >= at + 2 {
            let (len, head) = match pending[at + 1] & 0x7F {
                126 if pending.len() >= at + 4 => (
                    u16::from_be_bytes([pending[at + 2], pending[at + 3]]) as usize,
                    4,
                ),
                127 if pending.len() >= at + 10 => {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&pending[at + 2..at + 10]);
                    (u64::from_be_bytes(w) as usize, 10)
                }
                126 | 127 => break,
                n => (n as usize, 2),
            };
            if pending.len() < at + head + len {
                break;
            }
            at += head + len;
            seen += 1;
            if seen == 2 && !counted {
                counted = true;
                ready.fetch_add(1, Ordering::Relaxed);
            } else if seen > 2 {
                frames.fetch_add(1, Ordering::Relaxed);
            }
        }
        pending.drain(..at);
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => pending.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
}

/// Inserts one document `{"t": now}` over a kept-alive HTTP connection.
async fn insert(conn: &mut tokio::net::TcpStream, host: &str, token: &str, tenant: &str) -> bool {
    let body = format!(r#"{{"table":"ticks","fields":{{"t":{}}}}}"#, now_us());
    let req = format!(
        "POST /api/tenants/{tenant}/documents HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if conn.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    loop {
        let Ok(n) = conn.read(&mut buf).await else {
            return false;
        };
        if n == 0 {
            return false;
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return head.starts_with("HTTP/1.1 201");
            }
        }
    }
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize] as f64 / 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 7 {
        eprintln!("usage: fanout URL TOKEN TENANT CONNS RATE SECONDS [SERVER_PID]");
        std::process::exit(2);
    }
    let (url, token, tenant) = (args[1].clone(), args[2].clone(), args[3].clone());
    let conns: u64 = args[4].parse().expect("CONNS");
    let rate: f64 = args[5].parse().expect("RATE");
    let seconds: f64 = args[6].parse().expect("SECONDS");
    let pid: Option<u32> = args.get(7).and_then(|p| p.parse().ok());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let before = pid.map(rss_kib).unwrap_or(0);
        let lat = Arc::new(Mutex::new(Vec::new()));
        let (frames, ready, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..conns {
            tasks.push(if rate > 0.0 {
                tokio::spawn(subscriber(url.clone(), token.clone(), tenant.clone(), lat.clone(), frames.clone(), ready.clone(), stop.clone()))
            } else {
                tokio::spawn(counting_subscriber(url.clone(), token.clone(), tenant.clone(), frames.clone(), ready.clone(), stop.clone()))
            });
            if i % 200 == 199 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        while ready.load(Ordering::Relaxed) < conns && started.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let subscribed = ready.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = pid.map(rss_kib).unwrap_or(0);
        println!("subscribed {subscribed}/{conns} connections in {:.1} s", started.elapsed().as_secs_f64());
        if pid.is_some() && subscribed > 0 {
            println!(
                "server resident memory: {} MiB before, {} MiB with the connections: {:.1} KiB per idle subscribed connection",
                before / 1024,
                after / 1024,
                after.saturating_sub(before) as f64 / subscribed as f64
            );
        }
        let host = url.trim_start_matches("http://").to_string();
        frames.store(0, Ordering::Relaxed);
        let t0 = Instant::now();
        let window = Duration::from_secs_f64(seconds);
        let commits = Arc::new(AtomicU64::new(0));
        // RATE 0: writers commit as fast as the server takes them (throughput); otherwise
        // one writer commits RATE times a second (latency).
        let writers: Vec<_> = (0..if rate > 0.0 { 1 } else { 16 })
            .map(|_| {
                let (host, token, tenant, commits) =
                    (host.clone(), token.clone(), tenant.clone(), commits.clone());
                tokio::spawn(async move {
                    let Ok(mut http) = tokio::net::TcpStream::connect(&host).await else {
                        return;
                    };
                    let _ = http.set_nodelay(true);
                    let period = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
                    let mut mine = 0u64;
                    while t0.elapsed() < window {
                        if insert(&mut http, &host, &token, &tenant).await {
                            commits.fetch_add(1, Ordering::Relaxed);
                            mine += 1;
                        }
                        if let Some(next) = period.map(|p| p.mul_f64((mine + 1) as f64)) {
                            if let Some(wait) = next.checked_sub(t0.elapsed()) {
                                tokio::time::sleep(wait).await;
                            }
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            let _ = w.await;
        }
        let window_secs = t0.elapsed().as_secs_f64();
        let in_window = frames.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(1, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let commits = commits.load(Ordering::Relaxed);
        let delivered = frames.load(Ordering::Relaxed);
        let mut l = lat.lock().map(|l| l.clone()).unwrap_or_default();
        l.sort_unstable();
        let pct_delivered = 100.0 * delivered as f64 / (commits * subscribed).max(1) as f64;
        println!(
            "{commits} commits ({}) to {subscribed} subscribers: {delivered} frames delivered ({:.0}/s while writing, {pct_delivered:.1}% of commits x subscribers)",
            if rate > 0.0 { format!("{rate}/s") } else { "as fast as accepted".into() },
            in_window as f64 / window_secs,
        );
        let (p50, p99) = (pct(&l, 0.50), pct(&l, 0.99));
        let max = l.last().map(|m| *m as f64 / 1000.0).unwrap_or(0.0);
        println!("commit-to-receipt latency: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms");
        let per_conn = after.saturating_sub(before) as f64 / subscribed.max(1) as f64;
        println!(
            "RESULT subscribed={subscribed} commits={commits} frames={delivered} frames_per_s={:.0} delivered_pct={pct_delivered:.1} p50_ms={p50:.2} p99_ms={p99:.2} max_ms={max:.2} kib_per_conn={per_conn:.1}",
            in_window as f64 / window_secs
        );
    });
}
