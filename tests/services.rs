//! Services through the real server with real processes: lifecycle, restart policies,
//! autostart across a server restart, no zombies, children stopped at shutdown and on tenant
//! deletion, tenant isolation.

mod common;

use common::{assert_error, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn create(s: &TestServer, t: &str, def: Value) -> Value {
    let r = s.call(
        "POST",
        &format!("/api/tenants/{t}/services"),
        Some(&def.to_string()),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.body
}

fn act(s: &TestServer, t: &str, name: &str, action: &str) -> Value {
    let r = s.call(
        "POST",
        &format!("/api/tenants/{t}/services/{name}/{action}"),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

fn get(s: &TestServer, t: &str, name: &str) -> Value {
    s.call("GET", &format!("/api/tenants/{t}/services/{name}"), None)
        .body
}

fn alive(pid: u64) -> bool {
    // A zombie still answers kill(0); look at its state too.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty()
        && !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
}

fn zombies_of(pid: u32) -> usize {
    std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            stat.rsplit_once(") ").is_some_and(|(_, rest)| {
                let mut f = rest.split(' ');
                f.next() == Some("Z") && f.next().and_then(|p| p.parse::<u32>().ok()) == Some(pid)
            })
        })
        .count()
}

fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    false
}

#[test]
fn lifecycle_and_output_files() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let v = create(
        &s,
        "t",
        json!({"name": "web", "command": ["sh", "-c", "echo up; echo oops >&2; exec sleep 30"], "env": {"X": "1"}}),
    );
    assert_eq!(
        (v["state"].as_str(), v["restarts"].as_u64(), &v["pid"]),
        (Some("stopped"), Some(0), &Value::Null)
    );
    assert_eq!(
        (v["restart"].as_str(), v["autostart"].as_bool()),
        (Some("never"), Some(false))
    );
    let v = act(&s, "t", "web", "start");
    assert_eq!(v["state"], "running");
    let pid = v["pid"].as_u64().expect("pid");
    assert!(alive(pid));
    let dir = s.data_dir.join("tenants/t/services/web");
    assert!(eventually(5, || std::fs::read_to_string(
        dir.join("stdout.log")
    )
    .unwrap_or_default()
        == "up\n"));
    assert_eq!(
        std::fs::read_to_string(dir.join("stderr.log")).expect("stderr"),
        "oops\n"
    );

    let v = act(&s, "t", "web", "restart");
    assert_eq!(v["state"], "running");
    let pid2 = v["pid"].as_u64().expect("pid");
    assert_ne!(pid, pid2);
    assert!(!alive(pid), "the old process is gone");
    assert!(
        eventually(5, || std::fs::read_to_string(dir.join("stdout.log"))
            .unwrap_or_default()
            == "up\nup\n"),
        "appended"
    );

    let v = act(&s, "t", "web", "stop");
    assert_eq!(
        (v["state"].as_str(), v["exit_code"].as_i64()),
        (Some("stopped"), Some(143)),
        "SIGTERM"
    );
    assert!(!alive(pid2));

    // A service that ignores SIGTERM is killed after the grace period.
    create(
        &s,
        "t",
        json!({"name": "stubborn", "command": ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"]}),
    );
    act(&s, "t", "stubborn", "start");
    let log = s.data_dir.join("tenants/t/services/stubborn/stdout.log");
    assert!(
        eventually(5, || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("ready")),
        "trap set"
    );
    let started = Instant::now();
    let v = act(&s, "t", "stubborn", "stop");
    assert_eq!(v["state"], "stopped");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(4500) && took < Duration::from_secs(8),
        "{took:?}"
    );

    // Update, list, delete.
    let r = s.call(
        "PUT",
        "/api/tenants/t/services/web",
        Some(r#"{"command":["sleep","1"],"restart":"always"}"#),
    );
    assert_eq!(
        (r.status, r.body["restart"].as_str()),
        (200, Some("always"))
    );
    let list = s.call("GET", "/api/tenants/t/services", None).body;
    let names: Vec<&str> = list["services"]
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["stubborn", "web"]);
    assert_eq!(
        s.call("DELETE", "/api/tenants/t/services/web", None).status,
        204
    );
    assert_error(
        &s.call("GET", "/api/tenants/t/services/web", None),
        404,
        "op.not_found",
    );
    assert!(eventually(2, || zombies_of(s.pid()) == 0), "zombies left");
}

#[test]
fn restart_policies() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    create(
        &s,
        "t",
        json!({"name": "fails", "command": ["sh", "-c", "exit 3"], "restart": "on-failure"}),
    );
    create(
        &s,
        "t",
        json!({"name": "once", "command": ["sh", "-c", "exit 3"], "restart": "never"}),
    );
    create(
        &s,
        "t",
        json!({"name": "clean", "command": ["true"], "restart": "on-failure"}),
    );
    create(
        &s,
        "t",
        json!({"name": "loop", "command": ["true"], "restart": "always"}),
    );
    for n in ["fails", "once", "clean", "loop"] {
        act(&s, "t", n, "start");
    }
    assert!(
        eventually(10, || get(&s, "t", "fails")["restarts"]
            .as_u64()
            .unwrap_or(0)
            >= 3),
        "restarted on failure, with backoff"
    );
    assert!(eventually(10, || get(&s, "t", "loop")["restarts"]
        .as_u64()
        .unwrap_or(0)
        >= 2));
    let once = get(&s, "t", "once");
    assert_eq!(
        (
            once["state"].as_str(),
            once["exit_code"].as_i64(),
            once["restarts"].as_u64()
        ),
        (Some("failed"), Some(3), Some(0))
    );
    let clean = get(&s, "t", "clean");
    assert_eq!(
        (
            clean["state"].as_str(),
            clean["exit_code"].as_i64(),
            clean["restarts"].as_u64()
        ),
        (Some("exited"), Some(0), Some(0))
    );
    act(&s, "t", "fails", "stop");
    act(&s, "t", "loop", "stop");
    std::thread::sleep(Duration::from_millis(300));
    let r = get(&s, "t", "fails")["restarts"].as_u64();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        get(&s, "t", "fails")["restarts"].as_u64(),
        r,
        "a stopped service is not restarted"
    );
    assert!(eventually(2, || zombies_of(s.pid()) == 0), "zombies left");
}

#[test]
fn autostart_after_a_server_restart_and_children_stopped_at_shutdown() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    create(
        &s,
        "t",
        json!({"name": "auto", "command": ["sleep", "60"], "autostart": true}),
    );
    create(
        &s,
        "t",
        json!({"name": "manual", "command": ["sleep", "60"]}),
    );
    let pid = act(&s, "t", "auto", "start")["pid"].as_u64().expect("pid");
    let manual = act(&s, "t", "manual", "start")["pid"]
        .as_u64()
        .expect("pid");
    let s = s.restart(libc::SIGTERM, 2, &[]);
    assert!(
        !alive(pid) && !alive(manual),
        "every child stopped at shutdown"
    );
    assert!(
        eventually(5, || get(&s, "t", "auto")["state"] == "running"),
        "autostart at boot"
    );
    assert_ne!(get(&s, "t", "auto")["pid"].as_u64(), Some(pid));
    assert_eq!(
        get(&s, "t", "manual")["state"],
        "stopped",
        "definitions are durable; only autostart ones start"
    );
}

#[test]
fn errors_isolation_and_tenant_deletion() {
    let s = TestServer::start(2);
    s.create_tenant("a");
    s.create_tenant("b");
    create(&s, "a", json!({"name": "svc", "command": ["sleep", "60"]}));
    assert_error(
        &s.call(
            "POST",
            "/api/tenants/a/services",
            Some(r#"{"name":"svc","command":["true"]}"#),
        ),
        409,
        "op.conflict",
    );
    for body in [
        r#"{"command":["true"]}"#,
        r#"{"name":"a b","command":["true"]}"#,
        r#"{"name":"x","command":[]}"#,
        r#"{"name":"x","command":["true"],"restart":"sometimes"}"#,
        r#"{"name":"x","command":["true"],"autostart":"yes"}"#,
    ] {
        assert_error(
            &s.call("POST", "/api/tenants/a/services", Some(body)),
            400,
            "op.invalid_input",
        );
    }
    assert_error(
        &s.call(
            "PUT",
            "/api/tenants/a/services/svc",
            Some(r#"{"name":"other","command":["true"]}"#),
        ),
        400,
        "op.invalid_input",
    );
    assert_error(
        &s.call(
            "PUT",
            "/api/tenants/a/services/none",
            Some(r#"{"command":["true"]}"#),
        ),
        404,
        "op.not_found",
    );
    assert_error(
        &s.call("POST", "/api/tenants/a/services/none/start", None),
        404,
        "op.not_found",
    );
    assert_error(
        &s.call("GET", "/api/tenants/b/services/svc", None),
        404,
        "op.not_found",
    );
    assert_error(
        &s.call("POST", "/api/tenants/b/services/svc/start", None),
        404,
        "op.not_found",
    );
    assert_eq!(
        s.call("GET", "/api/tenants/b/services", None).body,
        json!({"services": []})
    );
    assert_error(
        &s.call("GET", "/api/tenants/ghost/services", None),
        404,
        "session.tenant_not_found",
    );
    let pid = act(&s, "a", "svc", "start")["pid"].as_u64().expect("pid");
    assert_eq!(s.call("DELETE", "/api/tenants/a", None).status, 204);
    assert!(
        eventually(8, || !alive(pid)),
        "deleting the tenant stops its services"
    );
    assert!(eventually(2, || zombies_of(s.pid()) == 0), "zombies left");
}

#[test]
fn a_restarted_service_keeps_its_last_exit_visible() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    create(
        &s,
        "t",
        json!({"name": "flaky", "command": ["sh", "-c", "sleep 0.3; exit 4"], "restart": "on-failure"}),
    );
    act(&s, "t", "flaky", "start");
    assert!(eventually(10, || {
        let v = get(&s, "t", "flaky");
        v["state"] == "running" && v["restarts"].as_u64().unwrap_or(0) >= 1
    }));
    let v = get(&s, "t", "flaky");
    assert_eq!(v["exit_code"].as_i64(), Some(4), "{v}");
    assert!(v["exited_at"].as_u64().is_some(), "{v}");
    act(&s, "t", "flaky", "stop");
}

#[test]
fn service_files_are_private_and_env_names_are_checked() {
    use std::os::unix::fs::PermissionsExt;
    let s = TestServer::start(1);
    s.create_tenant("t");
    create(
        &s,
        "t",
        json!({"name": "quiet", "command": ["sh", "-c", "echo hi"]}),
    );
    act(&s, "t", "quiet", "start");
    let dir = s.data_dir.join("tenants/t/services/quiet");
    assert!(eventually(5, || dir.join("stdout.log").exists()));
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("stdout.log")), 0o600);
    assert_eq!(mode(&dir.join("stderr.log")), 0o600);
    for env in [
        json!({"A=B": "x"}),
        json!({"": "x"}),
        json!({"A\u{0}": "x"}),
        json!({"A": "x\u{0}y"}),
    ] {
        for (path, body) in [
            (
                "/api/tenants/t/services",
                json!({"name": "bad", "command": ["true"], "env": env}),
            ),
            (
                "/api/tenants/t/sandboxes",
                json!({"command": ["true"], "env": env}),
            ),
        ] {
            let r = s.call("POST", path, Some(&body.to_string()));
            common::assert_error(&r, 400, "op.invalid_input");
        }
    }
}
