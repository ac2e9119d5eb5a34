//! Scheduled jobs and crons through the real server: routes, errors, timing, failures,
//! restarts and `kill -9`.

mod common;

use common::{assert_error, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn schedule(s: &TestServer, t: &str, after_ms: u64, mutation: Value) -> String {
    let r = s.call(
        "POST",
        &format!("/api/tenants/{t}/schedule"),
        Some(&json!({"run_after_ms": after_ms, "mutation": mutation}).to_string()),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.body["job_id"].as_str().expect("job_id").to_string()
}

fn docs(s: &TestServer, t: &str, table: &str) -> Vec<Value> {
    s.call("GET", &format!("/api/tenants/{t}/documents/{table}"), None)
        .body["data"]
        .as_array()
        .expect("data")
        .clone()
}

/// Waits up to `secs` for `f` to hold.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn jobs_run_after_their_delay_and_record_results() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let insert = json!({"type": "insert", "table": "m", "fields": {"a": 1}});
    let started = Instant::now();
    let id = schedule(&s, "t", 1200, insert.clone());
    assert_eq!(id.len(), 26);
    let pending = s.call("GET", "/api/tenants/t/schedule", None).body;
    assert_eq!(pending["jobs"][0]["id"], id.as_str());
    assert_eq!(pending["jobs"][0]["mutation"], insert);
    let run_at = pending["jobs"][0]["run_at"].as_u64().expect("run_at");
    assert_eq!(
        run_at
            - pending["jobs"][0]["created_at"]
                .as_u64()
                .expect("created_at"),
        1200
    );
    assert_error(
        &s.call(
            "GET",
            &format!("/api/tenants/t/schedule/history/{id}"),
            None,
        ),
        404,
        "op.not_found",
    );
    assert!(eventually(5, || docs(&s, "t", "m").len() == 1));
    assert!(started.elapsed() >= Duration::from_millis(1200));
    // Not before its time: the write it made is stamped at or after `run_at`.
    let written = docs(&s, "t", "m")[0]["_creationTime"]
        .as_u64()
        .expect("creation time");
    assert!(written >= run_at, "ran at {written}, due at {run_at}");
    let r = s.call(
        "GET",
        &format!("/api/tenants/t/schedule/history/{id}"),
        None,
    );
    assert_eq!(r.status, 200);
    let result = &r.body["result"];
    assert_eq!(
        (result["outcome"].as_str(), &result["error"]),
        (Some("completed"), &Value::Null)
    );
    assert!(result["finished_at"].as_u64().expect("finished") >= run_at);
    assert_eq!(
        s.call("GET", "/api/tenants/t/schedule", None).body,
        json!({"jobs": []})
    );

    // A failing job is recorded as failed, with the message.
    let missing = "01jx2x9w7d2f0v6q8t3k5r9e1b";
    let id = schedule(
        &s,
        "t",
        0,
        json!({"type": "update", "table": "m", "id": missing, "patch": {"a": 2}}),
    );
    assert!(eventually(5, || s
        .call(
            "GET",
            &format!("/api/tenants/t/schedule/history/{id}"),
            None
        )
        .status
        == 200));
    let result = s
        .call(
            "GET",
            &format!("/api/tenants/t/schedule/history/{id}"),
            None,
        )
        .body["result"]
        .clone();
    assert_eq!(result["outcome"], "failed");
    assert!(result["error"].as_str().expect("error").contains(missing));

    // A schema violation fails the job too.
    let schema = json!({"table": "strict", "fields": [{"name": "n", "field_type": "number", "required": true}]});
    assert_eq!(
        s.call(
            "PUT",
            "/api/tenants/t/schema/strict",
            Some(&schema.to_string())
        )
        .status,
        204
    );
    let id = schedule(
        &s,
        "t",
        0,
        json!({"type": "insert", "table": "strict", "fields": {"n": "x"}}),
    );
    assert!(eventually(5, || s
        .call(
            "GET",
            &format!("/api/tenants/t/schedule/history/{id}"),
            None
        )
        .body["result"]["outcome"]
        == "failed"));
}

#[test]
fn a_cancelled_job_never_runs() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let id = schedule(
        &s,
        "t",
        500,
        json!({"type": "insert", "table": "m", "fields": {"a": 1}}),
    );
    assert_eq!(
        s.call("DELETE", &format!("/api/tenants/t/schedule/{id}"), None)
            .status,
        204
    );
    assert_error(
        &s.call("DELETE", &format!("/api/tenants/t/schedule/{id}"), None),
        404,
        "op.not_found",
    );
    std::thread::sleep(Duration::from_millis(1200));
    assert!(docs(&s, "t", "m").is_empty());
    assert_error(
        &s.call(
            "GET",
            &format!("/api/tenants/t/schedule/history/{id}"),
            None,
        ),
        404,
        "op.not_found",
    );
}

#[test]
fn scheduling_errors() {
    let s = TestServer::start(1);
    s.create_tenant("t");
    let ok_m = json!({"type": "insert", "table": "m", "fields": {}});
    for body in [
        json!({"run_after_ms": -1, "mutation": ok_m}),
        json!({"run_after_ms": "soon", "mutation": ok_m}),
        json!({"mutation": ok_m}),
        json!({"run_after_ms": 1}),
        json!({"run_after_ms": 1, "mutation": {"type": "explode", "table": "m"}}),
        json!({"run_after_ms": 1, "mutation": {"type": "update", "table": "m", "patch": {}}}),
        json!({"run_after_ms": 1, "mutation": {"type": "insert", "table": "1m", "fields": {}}}),
        json!({"run_after_ms": 1, "mutation": {"type": "insert", "table": "m", "fields": {"_id": 1}}}),
        json!({"run_after_ms": 1, "mutation": {"type": "delete", "table": "m", "id": "abc"}}),
    ] {
        assert_error(
            &s.call("POST", "/api/tenants/t/schedule", Some(&body.to_string())),
            400,
            "op.invalid_input",
        );
    }
    assert_error(
        &s.call(
            "POST",
            "/api/tenants/ghost/schedule",
            Some(&json!({"run_after_ms": 1, "mutation": ok_m}).to_string()),
        ),
        404,
        "session.tenant_not_found",
    );
    assert_error(
        &s.call("DELETE", "/api/tenants/t/schedule/abc", None),
        400,
        "op.invalid_input",
    );
    assert_error(
        &s.call("GET", "/api/tenants/t/schedule/history/abc", None),
        400,
        "op.invalid_input",
    );
    assert_error(
        &s.call(
            "GET",
            "/api/tenants/t/schedule/history/01jx2x9w7d2f0v6q8t3k5r9e1b",
            None,
        ),
        404,
        "op.not_found",
    );
    let cron = |name: &str, schedule: Value| {
        json!({"name": name, "schedule": schedule, "mutation": ok_m}).to_string()
    };
    let every = json!({"type": "interval", "seconds": 60});
    assert_eq!(
        s.call(
            "POST",
            "/api/tenants/t/crons",
            Some(&cron("ok.name:1-x", every.clone()))
        )
        .status,
        201
    );
    assert_error(
        &s.call(
            "POST",
            "/api/tenants/t/crons",
            Some(&cron("ok.name:1-x", every.clone())),
        ),
        409,
        "op.conflict",
    );
    for (name, sched) in [
        ("bad name", every.clone()),
        ("", every.clone()),
        ("c", json!({"type": "interval", "seconds": 0})),
        ("c", json!({"type": "interval", "seconds": 1.5})),
        ("c", json!({"type": "cron", "expr": "* * * * *"})),
    ] {
        assert_error(
            &s.call("POST", "/api/tenants/t/crons", Some(&cron(name, sched))),
            400,
            "op.invalid_input",
        );
    }
    assert_error(
        &s.call("DELETE", "/api/tenants/t/crons/nope", None),
        404,
        "op.not_found",
    );
    assert_error(
        &s.call("PUT", "/api/tenants/t/crons", Some("{}")),
        405,
        "op.method_not_allowed",
    );
}

#[test]
fn crons_run_on_their_interval_and_stop_when_deleted() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let body = json!({"name": "tick", "schedule": {"type": "interval", "seconds": 1}, "mutation": {"type": "insert", "table": "ticks", "fields": {"x": 1}}});
    let r = s.call("POST", "/api/tenants/t/crons", Some(&body.to_string()));
    assert_eq!(r.status, 201);
    let created = r.body["created_at"].as_u64().expect("created_at");
    assert_eq!(
        r.body["next_run"].as_u64(),
        Some(created + 1000),
        "first run at created_at + seconds"
    );
    assert!(eventually(6, || docs(&s, "t", "ticks").len() >= 3));
    // Not before the first interval, and on the grid after it.
    let times: Vec<u64> = docs(&s, "t", "ticks")
        .iter()
        .map(|d| d["_creationTime"].as_u64().expect("t"))
        .collect();
    for (n, t) in times.iter().enumerate() {
        assert!(
            *t >= created + 1000 * (n as u64 + 1),
            "run {n} at {t}, created {created}"
        );
    }
    let listed = s.call("GET", "/api/tenants/t/crons", None).body["crons"][0].clone();
    assert_eq!(
        (listed["name"].as_str(), listed["enabled"].as_bool()),
        (Some("tick"), Some(true))
    );
    assert!(listed["last_run"].as_u64().is_some());
    assert_eq!(
        s.call("DELETE", "/api/tenants/t/crons/tick", None).status,
        204
    );
    std::thread::sleep(Duration::from_millis(300));
    let after = docs(&s, "t", "ticks").len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(docs(&s, "t", "ticks").len(), after, "no run after deletion");
    assert_eq!(
        s.call("GET", "/api/tenants/t/crons", None).body,
        json!({"crons": []})
    );

    // A failing cron stays enabled and records the failure.
    let body = json!({"name": "bad", "schedule": {"type": "interval", "seconds": 1}, "mutation": {"type": "delete", "table": "m", "id": "01jx2x9w7d2f0v6q8t3k5r9e1b"}});
    assert_eq!(
        s.call("POST", "/api/tenants/t/crons", Some(&body.to_string()))
            .status,
        201
    );
    assert!(eventually(5, || {
        let c = s.call("GET", "/api/tenants/t/crons", None).body["crons"][0].clone();
        c["last_error"].is_string() && c["enabled"] == true
    }));
}

#[test]
fn jobs_and_crons_survive_restarts_and_kill_9_and_run_once() {
    let s = TestServer::start(2);
    s.create_tenant("t");
    let late = schedule(
        &s,
        "t",
        60_000,
        json!({"type": "insert", "table": "later", "fields": {}}),
    );
    let soon = schedule(
        &s,
        "t",
        800,
        json!({"type": "insert", "table": "m", "fields": {"once": true}}),
    );
    let body = json!({"name": "slow", "schedule": {"type": "interval", "seconds": 3600}, "mutation": {"type": "insert", "table": "c", "fields": {}}});
    assert_eq!(
        s.call("POST", "/api/tenants/t/crons", Some(&body.to_string()))
            .status,
        201
    );
    let cron_before = s.call("GET", "/api/tenants/t/crons", None).body["crons"][0].clone();
    // Killed before the job is due; it falls due while the server is down.
    let s = s.restart(libc::SIGKILL, 2, &[]);
    std::thread::sleep(Duration::from_millis(100));
    let s = {
        std::thread::sleep(Duration::from_millis(900));
        s.restart(libc::SIGKILL, 2, &[])
    };
    assert!(
        eventually(5, || docs(&s, "t", "m").len() == 1),
        "the job ran at start"
    );
    let result = s.call(
        "GET",
        &format!("/api/tenants/t/schedule/history/{soon}"),
        None,
    );
    assert_eq!(result.body["result"]["outcome"], "completed");
    // Restarted again: it does not run twice, and the other job and the cron are intact.
    let s = s.restart(libc::SIGKILL, 2, &[]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(docs(&s, "t", "m").len(), 1, "exactly once");
    let pending = s.call("GET", "/api/tenants/t/schedule", None).body;
    assert_eq!(pending["jobs"].as_array().expect("jobs").len(), 1);
    assert_eq!(pending["jobs"][0]["id"], late.as_str());
    let s = s.restart(libc::SIGTERM, 1, &[]);
    assert_eq!(
        s.call("GET", "/api/tenants/t/crons", None).body["crons"][0],
        cron_before,
        "next_run kept"
    );
    // Deleting the tenant drops its jobs and crons.
    assert_eq!(s.call("DELETE", "/api/tenants/t", None).status, 204);
    s.create_tenant("t");
    assert_eq!(
        s.call("GET", "/api/tenants/t/schedule", None).body,
        json!({"jobs": []})
    );
    assert_eq!(
        s.call("GET", "/api/tenants/t/crons", None).body,
        json!({"crons": []})
    );
}
