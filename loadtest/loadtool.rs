//! Load-test helpers the rig (`loadtest/run.sh`) needs and `oha` cannot do:
//!
//!   loadtool seed URL TOKEN TENANT TABLE COUNT [CONNS]   pipelined inserts of varied documents
//!   loadtool walk URL TOKEN TENANT TABLE PAGE_SIZE       a paginated walk of a whole table
//!   loadtool pubsub REDIS_PORT SUBSCRIBERS SECONDS       Redis PUBLISH fan-out reference
//!
//! Each prints one line starting with `RESULT` and `key=value` pairs for the rig to read.
//! Plain threads and blocking sockets: the point is to load the server, not to be clever.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn host_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// The fields of document `i`: about 110 bytes of JSON, so with the system fields each
/// stored document is about 200 bytes. 1000 authors; votes spread over 0..100000.
fn fields(i: u64) -> String {
    format!(
        r#"{{"author":"user{:04}","votes":{},"n":{i},"title":"document {i:07} of the load test","tags":["bench","seed"]}}"#,
        i % 1000,
        (i * 7919) % 100_000
    )
}

/// Reads one response from a buffered stream: (status, body).
fn read_response(r: &mut impl BufRead) -> Option<(u16, Vec<u8>)> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
    let mut len = 0usize;
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((status, body))
}

fn seed(args: &[String]) {
    let (url, token, tenant, table) = (&args[0], &args[1], &args[2], &args[3]);
    let count: u64 = args[4].parse().expect("COUNT");
    let conns: u64 = args.get(5).and_then(|c| c.parse().ok()).unwrap_or(16);
    let host = host_of(url);
    let next = Arc::new(AtomicU64::new(0));
    let stored = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let (host, token, tenant, table) =
                (host.clone(), token.clone(), tenant.clone(), table.clone());
            let (next, stored) = (next.clone(), stored.clone());
            std::thread::spawn(move || {
                let conn = TcpStream::connect(&host).expect("connect");
                let _ = conn.set_nodelay(true);
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut writer = conn;
                const DEPTH: u64 = 32;
                loop {
                    let from = next.fetch_add(DEPTH, Ordering::Relaxed);
                    if from >= count {
                        break;
                    }
                    let to = (from + DEPTH).min(count);
                    let mut batch = Vec::new();
                    for i in from..to {
                        let f = fields(i);
                        // `{"_id":"…","_creationTime":…,"_updateTime":…` is 93 bytes before the user fields.
                        stored.fetch_add(f.len() as u64 + 93, Ordering::Relaxed);
                        let body = format!(r#"{{"table":"{table}","fields":{f}}}"#);
                        batch.extend_from_slice(format!(
                            "POST /api/tenants/{tenant}/documents HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        ).as_bytes());
                    }
                    writer.write_all(&batch).expect("write");
                    for _ in from..to {
                        let (status, body) = read_response(&mut reader).expect("response");
                        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("seeder thread");
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "RESULT docs={count} seconds={secs:.2} per_s={:.0} json_bytes={}",
        count as f64 / secs,
        stored.load(Ordering::Relaxed)
    );
}

fn walk(args: &[String]) {
    let (url, token, tenant, table) = (&args[0], &args[1], &args[2], &args[3]);
    let page_size: usize = args[4].parse().expect("PAGE_SIZE");
    let host = host_of(url);
    let conn = TcpStream::connect(&host).expect("connect");
    let _ = conn.set_nodelay(true);
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut writer = conn;
    let mut after: Option<String> = None;
    let (mut docs, mut pages) = (0usize, 0usize);
    let mut lat = Vec::new();
    let t0 = Instant::now();
    loop {
        let cursor = after
            .as_ref()
            .map(|c| format!(r#","after":"{c}""#))
            .unwrap_or_default();
        let body = format!(
            r#"{{"query":{{"table":"{table}","filters":[]}},"page_size":{page_size}{cursor}}}"#
        );
        let req = format!(
            "POST /api/tenants/{tenant}/query/paginated HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let t = Instant::now();
        writer.write_all(req.as_bytes()).expect("write");
        let (status, body) = read_response(&mut reader).expect("response");
        lat.push(t.elapsed().as_micros() as u64);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        docs += v["data"].as_array().map_or(0, Vec::len);
        pages += 1;
        match v["next_cursor"].as_str() {
            Some(c) => after = Some(c.to_string()),
            None => break,
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "RESULT docs={docs} pages={pages} seconds={secs:.3} docs_per_s={:.0} pages_per_s={:.0} p50_ms={:.3} p99_ms={:.3}",
        docs as f64 / secs,
        pages as f64 / secs,
        pct(0.5),
        pct(0.99)
    );
}

/// `SUBSCRIBERS` connections subscribed to one channel and 16 publishers, each sending one
/// `PUBLISH` and waiting for its reply before the next (as the Nimbus fan-out generator's 16
/// writers do with inserts); messages received per second over the window.
fn pubsub(args: &[String]) {
    let port: u16 = args[0].parse().expect("REDIS_PORT");
    let subs: usize = args[1].parse().expect("SUBSCRIBERS");
    let seconds: f64 = args[2].parse().expect("SECONDS");
    let payload = "x".repeat(200);
    let frame = format!(
        "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n${}\r\n{payload}\r\n",
        payload.len()
    )
    .len() as u64;
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..subs {
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.write_all(b"SUBSCRIBE ch\r\n").expect("subscribe");
        // The confirmation: *3 $9 subscribe $2 ch :1 (its length varies with the count).
        let mut r = BufReader::new(c);
        let mut line = String::new();
        for _ in 0..6 {
            line.clear();
            r.read_line(&mut line).expect("confirmation");
        }
        let (received, stop) = (received.clone(), stop.clone());
        readers.push(std::thread::spawn(move || {
            let _ = r
                .get_ref()
                .set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = vec![0u8; 1 << 16];
            let mut bytes = 0u64;
            let mut counted = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        bytes += n as u64;
                        let whole = bytes / frame;
                        received.fetch_add(whole - counted, Ordering::Relaxed);
                        counted = whole;
                    }
                    Err(_) => {}
                }
            }
        }));
    }
    let publishers = 16;
    let t0 = Instant::now();
    let window = Duration::from_secs_f64(seconds);
    let pubs: Vec<_> = (0..publishers)
        .map(|_| {
            let payload = payload.clone();
            std::thread::spawn(move || {
                let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                let mut r = BufReader::new(c.try_clone().expect("clone"));
                let mut w = c;
                let cmd = format!(
                    "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n${}\r\n{payload}\r\n",
                    payload.len()
                );
                let mut line = String::new();
                while t0.elapsed() < window {
                    w.write_all(cmd.as_bytes()).expect("publish");
                    line.clear();
                    r.read_line(&mut line).expect("reply");
                }
            })
        })
        .collect();
    for p in pubs {
        p.join().expect("publisher");
    }
    let in_window = received.load(Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.join();
    }
    println!(
        "RESULT subscribers={subs} seconds={secs:.2} messages_per_s={:.0}",
        in_window as f64 / secs
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rest = args.get(2..).unwrap_or_default();
    match args.get(1).map(String::as_str) {
        Some("seed") if rest.len() >= 5 => seed(rest),
        Some("walk") if rest.len() >= 5 => walk(rest),
        Some("pubsub") if rest.len() >= 3 => pubsub(rest),
        _ => {
            eprintln!("usage: loadtool seed URL TOKEN TENANT TABLE COUNT [CONNS]");
            eprintln!("       loadtool walk URL TOKEN TENANT TABLE PAGE_SIZE");
            eprintln!("       loadtool pubsub REDIS_PORT SUBSCRIBERS SECONDS");
            std::process::exit(2);
        }
    }
}
