//! The server's log (DECISIONS §11): with `--log-format json` every stderr line is one JSON
//! object; a start line carries the options and the recovery time, a slow request its
//! request id, a stop its own line; an ordinary request writes nothing unless
//! `--access-log` asks.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs a server with `extra`, makes `requests` GETs of `/health`, stops it with SIGTERM;
/// returns its stderr and the request ids the answers carried.
fn run(extra: &[&str], requests: usize) -> (String, Vec<String>) {
    let dir = std::env::temp_dir().join(format!(
        "nimbus-logs-{}-{}",
        std::process::id(),
        extra.len()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let log = dir.with_extension("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nimbus"))
        .args(["start", "--port", "0", "--shards", "2", "--data-dir"])
        .arg(&dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let port: u16 = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|hp| hp.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("port");
    let ids = (0..requests)
        .map(|_| {
            let r = ureq::get(&format!("http://127.0.0.1:{port}/health"))
                .call()
                .expect("health");
            r.header("X-Request-Id").expect("request id").to_string()
        })
        .collect();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&log).expect("stderr");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&log);
    (text, ids)
}

fn event<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == name).collect()
}

#[test]
fn json_lines_for_start_slow_requests_and_stop() {
    let (text, ids) = run(&["--log-format", "json", "--slow-ms", "0"], 3);
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for l in &lines {
        for key in ["ts", "level", "event", "msg"] {
            assert!(l[key].is_string(), "{key} missing: {l}");
        }
    }
    let recovered = event(&lines, "recovered");
    assert!(
        recovered.len() == 1 && recovered[0]["recovery_ms"].is_u64(),
        "{text}"
    );
    let start = event(&lines, "start");
    assert_eq!(start.len(), 1, "{text}");
    assert_eq!(start[0]["shards"], 2);
    assert_eq!(start[0]["slow_ms"], 0);
    assert!(start[0]["port"].as_u64().is_some_and(|p| p > 0));
    assert!(start[0]["data_dir"].is_string() && start[0]["fsync"] == true);
    // --slow-ms 0: every request is slow, and its line names it.
    let slow = event(&lines, "slow_request");
    for id in &ids {
        let line = slow
            .iter()
            .find(|l| l["request_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no slow_request line for {id}:\n{text}"));
        assert_eq!(line["route"], "/health");
        assert_eq!(line["status"], 200);
        assert_eq!(line["method"], "GET");
        assert_eq!(line["level"], "warn");
    }
    assert_eq!(event(&lines, "stopping").len(), 1, "{text}");
    assert_eq!(event(&lines, "stopped").len(), 1, "{text}");
}

#[test]
fn ordinary_requests_write_nothing_unless_asked() {
    let (quiet, ids) = run(&["--slow-ms", "100000"], 3);
    assert!(quiet.contains("nimbus: recovered in"), "{quiet}");
    assert!(quiet.contains("nimbus: signal 15, stopping"), "{quiet}");
    for id in &ids {
        assert!(!quiet.contains(id.as_str()), "{quiet}");
    }
    let (loud, ids) = run(
        &[
            "--slow-ms",
            "100000",
            "--access-log",
            "--log-format",
            "text",
        ],
        2,
    );
    for id in &ids {
        let line = loud
            .lines()
            .find(|l| l.contains(id.as_str()))
            .unwrap_or_else(|| panic!("no access line for {id}:\n{loud}"));
        assert!(
            line.starts_with("nimbus: request ") && line.contains("GET /health 200 in"),
            "{line}"
        );
    }
}
