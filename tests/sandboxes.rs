//! Sandboxes through the real server with real processes.

mod common;

use common::{assert_error, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn run(s: &TestServer, t: &str, body: Value) -> Value {
    let r = s.call(
        "POST",
        &format!("/api/tenants/{t}/sandboxes"),
        Some(&body.to_string()),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.body
}

/// Waits for a sandbox to finish; returns its object.
fn finished(s: &TestServer, t: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = s
            .call("GET", &format!("/api/tenants/{t}/sandboxes/{id}"), None)
            .body;
        if v["state"] != "running" {
            return v;
        }
        assert!(Instant::now() < deadline, "sandbox {id} still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process has no zombie children within a second (a child that just ended is a
/// zombie until the supervisor's next reap, a few milliseconds later).
fn no_zombies_soon(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if zombies_of(pid) == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Zombie children of a process.
fn zombies_of(pid: u32) -> usize {
    children_of(pid, true)
}

/// Children of a process (only zombies with `zombies`).
fn children_of(pid: u32, zombies: bool) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(after) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut f = after.1.split(' ');
        let (state, ppid) = (f.next(), f.next().and_then(|p| p.parse::<u32>().ok()));
        if (!zombies || state == Some("Z")) && ppid == Some(pid) {
            n += 1;
        }
    }
    n
}

#[test]
fn exit_codes_output_stdin_and_a_private_directory() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let v = run(
        &s,
        "t",
        json!({"command": ["sh", "-c", "echo out; echo err >&2; stat -c %a .; pwd; cat; exit 3"], "stdin": "from stdin", "env": {"GREETING": "hi"}}),
    );
    assert_eq!(v["state"], "running");
    assert_eq!(v["id"].as_str().expect("id").len(), 26);
    let done = finished(&s, "t", v["id"].as_str().expect("id"));
    assert_eq!(
        (done["state"].as_str(), done["exit_code"].as_i64()),
        (Some("exited"), Some(3))
    );
    let out = done["stdout"].as_str().expect("stdout");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "out");
    assert_eq!(lines[1], "700", "a private directory");
    assert!(lines[3].starts_with("from stdin"));
    assert_eq!(done["stderr"], "err\n");
    assert!(
        done["finished_at"].as_u64().expect("finished")
            >= done["started_at"].as_u64().expect("started")
    );
    let dir = lines[2];
    assert!(
        !std::path::Path::new(dir).exists(),
        "the directory is removed afterwards"
    );
    let v = run(
        &s,
        "t",
        json!({"command": ["sh", "-c", "echo $GREETING"], "env": {"GREETING": "hi"}}),
    );
    assert_eq!(
        finished(&s, "t", v["id"].as_str().expect("id"))["stdout"],
        "hi\n"
    );
    let v = run(&s, "t", json!({"command": ["/nonexistent/binary"]}));
    let done = finished(&s, "t", v["id"].as_str().expect("id"));
    assert_eq!(done["state"], "exited");
    assert_ne!(done["exit_code"], 0);
    assert!(no_zombies_soon(s.pid()), "zombies left");
}

#[test]
fn output_is_cut_at_one_mebibyte() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    let v = run(
        &s,
        "t",
        json!({"command": ["sh", "-c", "yes | head -c 3000000; yes err | head -c 10 >&2"]}),
    );
    let done = finished(&s, "t", v["id"].as_str().expect("id"));
    assert_eq!(done["stdout"].as_str().expect("stdout").len(), 1 << 20);
    assert_eq!(done["stdout_truncated"], true);
    assert_eq!(
        (
            done["stderr"].as_str().map(str::len),
            done["stderr_truncated"].as_bool()
        ),
        (Some(10), Some(false))
    );
    assert_eq!(done["exit_code"], 0);
}

#[test]
fn timeouts_stops_and_memory_limits() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let started = Instant::now();
    let v = run(
        &s,
        "t",
        json!({"command": ["sleep", "30"], "timeout_ms": 400}),
    );
    let done = finished(&s, "t", v["id"].as_str().expect("id"));
    assert_eq!(done["state"], "timed_out");
    assert!(started.elapsed() < Duration::from_secs(5));

    let v = run(
        &s,
        "t",
        json!({"command": ["sh", "-c", "sleep 30 & sleep 30"]}),
    );
    let id = v["id"].as_str().expect("id");
    let r = s.call("POST", &format!("/api/tenants/t/sandboxes/{id}/stop"), None);
    assert_eq!((r.status, r.body["state"].as_str()), (200, Some("killed")));

    // A program that allocates past its address-space limit fails.
    let alloc = "b = bytearray(400 * 1024 * 1024); print(len(b))";
    let v = run(
        &s,
        "t",
        json!({"command": ["python3", "-c", alloc], "memory_mb": 100}),
    );
    let done = finished(&s, "t", v["id"].as_str().expect("id"));
    assert_eq!(done["state"], "exited");
    assert_ne!(done["exit_code"], 0, "{done}");
    assert!(
        done["stderr"]
            .as_str()
            .expect("stderr")
            .contains("MemoryError"),
        "{done}"
    );
    let v = run(
        &s,
        "t",
        json!({"command": ["python3", "-c", alloc], "memory_mb": 1024}),
    );
    assert_eq!(
        finished(&s, "t", v["id"].as_str().expect("id"))["exit_code"],
        0,
        "within its limit it runs"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(no_zombies_soon(s.pid()), "zombies left");
}

#[test]
fn sandboxes_are_tenant_scoped() {
    let s = TestServer::start(2);
    s.create_tenant("a");
    s.create_tenant("b");
    let v = run(&s, "a", json!({"command": ["true"]}));
    let id = v["id"].as_str().expect("id");
    finished(&s, "a", id);
    assert_eq!(
        s.call("GET", "/api/tenants/a/sandboxes", None).body["sandboxes"]
            .as_array()
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        s.call("GET", "/api/tenants/b/sandboxes", None).body,
        json!({"sandboxes": []})
    );
    assert_error(
        &s.call("GET", &format!("/api/tenants/b/sandboxes/{id}"), None),
        404,
        "op.not_found",
    );
    assert_error(
        &s.call("POST", &format!("/api/tenants/b/sandboxes/{id}/stop"), None),
        404,
        "op.not_found",
    );
    assert_error(
        &s.call(
            "POST",
            "/api/tenants/ghost/sandboxes",
            Some(r#"{"command":["true"]}"#),
        ),
        404,
        "session.tenant_not_found",
    );
    for body in [
        r#"{}"#,
        r#"{"command":[]}"#,
        r#"{"command":"ls"}"#,
        r#"{"command":["ls"],"timeout_ms":0}"#,
        r#"{"command":["ls"],"memory_mb":-1}"#,
        r#"{"command":["ls"],"env":{"A":1}}"#,
    ] {
        assert_error(
            &s.call("POST", "/api/tenants/a/sandboxes", Some(body)),
            400,
            "op.invalid_input",
        );
    }
    // Deleting the tenant kills its sandboxes.
    let v = run(&s, "a", json!({"command": ["sleep", "30"]}));
    let _ = v;
    assert_eq!(s.call("DELETE", "/api/tenants/a", None).status, 204);
    std::thread::sleep(Duration::from_millis(300));
    assert!(no_zombies_soon(s.pid()), "zombies left");
    let sleepers = std::process::Command::new("pgrep")
        .args(["-P", &s.pid().to_string()])
        .output()
        .map(|o| o.stdout.len())
        .unwrap_or(0);
    assert_eq!(sleepers, 0, "no child left");
}
