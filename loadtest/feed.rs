//! Change-feed load generator (DECISIONS §12).
//!
//! cargo run --release --example feed -- read URL TOKEN TENANT
//!   one reader pages through the tenant's whole feed (`GET /changes`, 1000 a page) from
//!   the oldest retained change: changes and changes/s.
//! cargo run --release --example feed -- sse URL TOKEN TENANT CONNS RATE SECONDS
//!   CONNS Server-Sent Event streams of the tenant (`GET /events`), 16 writers committing
//!   RATE documents a second, each stamped with its send time: delivery latency from the
//!   commit request to each stream's event, p50/p99/max, and events delivered.
//!
//! Prints a `RESULT k=v ...` line for loadtest/changes.py.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The number after `"key":` in `text`.
fn number_after(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// One HTTP/1.1 request on a kept-alive connection; the body of its answer.
async fn call(conn: &mut tokio::net::TcpStream, head: &str, body: &str) -> Option<(u16, Vec<u8>)> {
    let req = format!("{head}Content-Length: {}\r\n\r\n{body}", body.len());
    conn.write_all(req.as_bytes()).await.ok()?;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = conn.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&got[..end]).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if got.len() >= end + 4 + len {
            let status = head.split(' ').nth(1)?.parse().ok()?;
            return Some((status, got[end + 4..end + 4 + len].to_vec()));
        }
    }
}

async fn read_all(host: &str, token: &str, tenant: &str) {
    let mut conn = tokio::net::TcpStream::connect(host).await.expect("connect");
    let _ = conn.set_nodelay(true);
    let (mut after, mut changes) = (0u64, 0u64);
    let t0 = Instant::now();
    loop {
        let head = format!(
            "GET /api/tenants/{tenant}/changes?after={after}&limit=1000 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        );
        let (status, body) = call(&mut conn, &head, "").await.expect("answer");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let text = String::from_utf8_lossy(&body);
        changes += text.matches("\"seq\":").count() as u64;
        let tail = &text[text.rfind("\"last_seq\":").expect("last_seq")..];
        after = number_after(tail, "\"last_seq\":").expect("last_seq");
        if tail.contains("\"has_more\":false") {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "read {changes} changes in {secs:.2} s: {:.0} changes/s",
        changes as f64 / secs
    );
    println!(
        "RESULT changes={changes} seconds={secs:.3} per_s={:.0}",
        changes as f64 / secs
    );
}

/// What every stream shares: events seen, streams open; each stream's latencies (µs) are
/// its own, locked only by it until the end.
#[derive(Clone, Default)]
struct Tally {
    events: Arc<AtomicU64>,
    ready: Arc<AtomicU64>,
}

/// The stamps (`"t":` numbers) of the whole events in `buf`, as latencies pushed to `lat`;
/// returns how many bytes were consumed (up to the last blank line).
fn take_events(buf: &[u8], now: u64, lat: &mut Vec<u32>) -> usize {
    let Some(end) = buf.windows(2).rposition(|w| w == b"\n\n") else {
        return 0;
    };
    let whole = &buf[..end + 2];
    let mut at = 0;
    while let Some(i) = whole[at..].windows(4).position(|w| w == b"\"t\":") {
        at += i + 4;
        let digits = whole[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let t = whole[at..at + digits]
            .iter()
            .fold(0u64, |n, d| n * 10 + (d - b'0') as u64);
        lat.push(now.saturating_sub(t).min(u32::MAX as u64) as u32);
        at += digits;
    }
    end + 2
}

/// One event stream from `after`; records each event's latency (µs) from its stamp. Reads
/// whatever has arrived at once and parses it in place: a reader that costs a line read and
/// a timer per event is slower than the server it measures.
async fn stream(
    host: String,
    token: String,
    tenant: String,
    after: u64,
    tally: Tally,
    lat: Arc<Mutex<Vec<u32>>>,
) {
    let Ok(mut conn) = tokio::net::TcpStream::connect(&host).await else {
        return;
    };
    let req = format!(
        "GET /api/tenants/{tenant}/events HTTP/1.0\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nLast-Event-ID: {after}\r\n\r\n"
    );
    if conn.write_all(req.as_bytes()).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 1 << 16];
    let mut have = 0;
    let mut head_done = false;
    loop {
        if have == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = match conn.read(&mut buf[have..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        have += n;
        let mut from = 0;
        if !head_done {
            let Some(h) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            head_done = true;
            from = h + 4;
            tally.ready.fetch_add(1, Ordering::Relaxed);
        }
        let mut mine = lat.lock().expect("lock");
        let before = mine.len();
        from += take_events(&buf[from..have], now_us(), &mut mine);
        tally
            .events
            .fetch_add((mine.len() - before) as u64, Ordering::Relaxed);
        drop(mine);
        buf.copy_within(from..have, 0);
        have -= from;
    }
}

/// Writer connections of the `sse` mode.
const WRITERS: u64 = 16;

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize] as f64 / 1000.0
}

async fn sse(host: String, token: String, tenant: String, conns: u64, rate: f64, seconds: f64) {
    let mut http = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    let _ = http.set_nodelay(true);
    let head = format!("POST /api/tenants/{tenant}/documents HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n");
    // Streams start at the tenant's newest change: its feed read to the end.
    let after = {
        let mut after = 0;
        loop {
            let h = format!("GET /api/tenants/{tenant}/changes?after={after}&limit=1000 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n");
            let (_, b) = call(&mut http, &h, "").await.expect("page");
            let t = String::from_utf8_lossy(&b).to_string();
            let tail = &t[t.rfind("\"last_seq\":").expect("last_seq")..];
            after = number_after(tail, "\"last_seq\":").expect("last_seq");
            if tail.contains("\"has_more\":false") {
                break after;
            }
        }
    };
    let tally = Tally::default();
    let Tally { events, ready } = tally.clone();
    let mut tasks = Vec::new();
    let mut lats = Vec::new();
    for i in 0..conns {
        let lat = Arc::new(Mutex::new(Vec::with_capacity(1 << 14)));
        lats.push(lat.clone());
        tasks.push(tokio::spawn(stream(
            host.clone(),
            token.clone(),
            tenant.clone(),
            after,
            tally.clone(),
            lat,
        )));
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let began = Instant::now();
    while ready.load(Ordering::Relaxed) < conns && began.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("{} streams open", ready.load(Ordering::Relaxed));
    let t0 = Instant::now();
    let window = Duration::from_secs_f64(seconds);
    // Writers in parallel, each on its own connection at its share of the rate: one alone
    // waits out each commit's sync and reaches a few hundred a second.
    let period = Duration::from_secs_f64(WRITERS as f64 / rate);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (host, head) = (host.clone(), head.clone());
            tokio::spawn(async move {
                let Ok(mut http) = tokio::net::TcpStream::connect(&host).await else {
                    return 0u64;
                };
                let _ = http.set_nodelay(true);
                // Spread the writers over one period.
                tokio::time::sleep(period.mul_f64(w as f64 / WRITERS as f64)).await;
                let mut commits = 0u64;
                while t0.elapsed() < window {
                    let body = format!(r#"{{"table":"ticks","fields":{{"t":{}}}}}"#, now_us());
                    if call(&mut http, &head, &body)
                        .await
                        .is_some_and(|(s, _)| s == 201)
                    {
                        commits += 1;
                    }
                    let due = period.mul_f64((commits + 1) as f64 + w as f64 / WRITERS as f64);
                    if let Some(wait) = due.checked_sub(t0.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                commits
            })
        })
        .collect();
    let mut commits = 0u64;
    for w in writers {
        commits += w.await.unwrap_or(0);
    }
    let window_secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut l: Vec<u32> = lats
        .iter()
        .flat_map(|m| m.lock().expect("lock").clone())
        .collect();
    l.sort_unstable();
    let delivered = events.load(Ordering::Relaxed);
    println!(
        "{commits} commits in {window_secs:.1} s ({:.0}/s) to {conns} streams: {delivered} events of {} expected; commit to event p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        commits as f64 / window_secs,
        commits * conns,
        pct(&l, 0.5),
        pct(&l, 0.99),
        pct(&l, 1.0)
    );
    println!(
        "RESULT commits={commits} rate={:.1} events={delivered} expected={} p50={:.3} p99={:.3} max={:.3}",
        commits as f64 / window_secs,
        commits * conns,
        pct(&l, 0.5),
        pct(&l, 0.99),
        pct(&l, 1.0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let host = |u: &str| u.trim_start_matches("http://").to_string();
    match args.get(1).map(String::as_str) {
        Some("read") if args.len() >= 5 => {
            rt.block_on(read_all(&host(&args[2]), &args[3], &args[4]))
        }
        Some("sse") if args.len() >= 8 => rt.block_on(sse(
            host(&args[2]),
            args[3].clone(),
            args[4].clone(),
            args[5].parse().expect("CONNS"),
            args[6].parse().expect("RATE"),
            args[7].parse().expect("SECONDS"),
        )),
        _ => {
            eprintln!(
                "usage: feed read URL TOKEN TENANT | feed sse URL TOKEN TENANT CONNS RATE SECONDS"
            );
            std::process::exit(2);
        }
    }
}
