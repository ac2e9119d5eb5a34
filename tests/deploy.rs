//! The deploy admin API and `nimbus deploy` against the real server.

mod common;

use common::{assert_error, TestServer};
use serde_json::{json, Value};
use std::path::Path;

const DEPLOY_TOKEN: &str = "deploy-secret-0123456789";

/// A change to a deploy request.
type Edit = Box<dyn Fn(&mut Value)>;

fn app_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/app"))
}

/// The example app as a deploy request.
fn example(dry_run: bool) -> Value {
    let body = nimbus::deploy::client::request_body(app_dir(), dry_run).expect("example app");
    serde_json::from_slice(&body).expect("json")
}

fn server(with_app: bool) -> TestServer {
    let extra: Vec<&str> = if with_app {
        vec!["--app", app_dir().to_str().expect("utf8")]
    } else {
        vec![]
    };
    TestServer::start_env(
        TestServer::fresh_dir(),
        2,
        &extra,
        &[("NIMBUS_DEPLOY_TOKEN", DEPLOY_TOKEN)],
    )
}

fn deploy(s: &TestServer, body: &Value) -> common::Resp {
    let bearer = format!("Bearer {DEPLOY_TOKEN}");
    s.call_with(
        "POST",
        "/api/admin/deploy",
        Some(&body.to_string()),
        &[
            ("Authorization", &bearer),
            ("X-Nimbus-Admin-Token", &s.token),
        ],
    )
}

fn sha(text: &str) -> String {
    nimbus::deploy::app::sha256_hex(text.as_bytes())
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|e| {
            e.get("name")
                .or_else(|| e.get("key"))
                .and_then(Value::as_str)
                .expect("name")
                .to_string()
        })
        .collect()
}

#[test]
fn credentials_and_the_error_table() {
    let disabled = TestServer::start(1);
    let bearer = format!("Bearer {DEPLOY_TOKEN}");
    let r = disabled.call_with(
        "POST",
        "/api/admin/deploy",
        Some(&example(true).to_string()),
        &[
            ("Authorization", &bearer),
            ("X-Nimbus-Admin-Token", &disabled.token),
        ],
    );
    assert_error(&r, 401, "auth.unauthorized");
    assert!(r.body["error"]["message"]
        .as_str()
        .expect("message")
        .contains("NIMBUS_DEPLOY_TOKEN"));

    let s = server(false);
    let body = example(true).to_string();
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![("X-Nimbus-Admin-Token", s.token.clone())],
        vec![
            ("Authorization", "Bearer wrong".into()),
            ("X-Nimbus-Admin-Token", s.token.clone()),
        ],
        vec![
            ("Authorization", format!("Bearer {}", &DEPLOY_TOKEN[..10])),
            ("X-Nimbus-Admin-Token", s.token.clone()),
        ],
        vec![
            ("Authorization", format!("Basic {DEPLOY_TOKEN}")),
            ("X-Nimbus-Admin-Token", s.token.clone()),
        ],
        vec![("Authorization", bearer.clone())],
        vec![
            ("Authorization", bearer.clone()),
            ("X-Nimbus-Admin-Token", "wrong".into()),
        ],
        // The admin token as the bearer is not the deploy credential.
        vec![
            ("Authorization", format!("Bearer {}", s.token)),
            ("X-Nimbus-Admin-Token", s.token.clone()),
        ],
    ];
    for headers in cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_error(
            &s.call_with("POST", "/api/admin/deploy", Some(&body), &h),
            401,
            "auth.unauthorized",
        );
    }
    let h = [
        ("Authorization", bearer.as_str()),
        ("X-Nimbus-Admin-Token", s.token.as_str()),
        ("Origin", "http://evil.example"),
    ];
    assert_error(
        &s.call_with("POST", "/api/admin/deploy", Some(&body), &h),
        403,
        "auth.forbidden",
    );
    let h = [
        ("Authorization", bearer.as_str()),
        ("X-Nimbus-Admin-Token", s.token.as_str()),
    ];
    assert_error(
        &s.call_with("GET", "/api/admin/deploy", None, &h),
        405,
        "op.method_not_allowed",
    );

    let bad = |edit: &dyn Fn(&mut Value)| {
        let mut v = example(true);
        edit(&mut v);
        deploy(&s, &v)
    };
    let invalid: Vec<Edit> = vec![
        Box::new(|v| v["artifacts"] = json!({})),
        Box::new(|v| v["artifacts"] = json!(null)),
        Box::new(|v| {
            v["artifacts"]["convex"]
                .as_object_mut()
                .expect("obj")
                .remove("bundle_sha256");
        }),
        Box::new(|v| {
            v["artifacts"]["cloud_functions"]
                .as_object_mut()
                .expect("obj")
                .remove("bundle_mjs");
        }),
        Box::new(|v| v["artifacts"]["convex"]["bundle_sha256"] = json!(sha("something else"))),
        Box::new(|v| v["artifacts"]["convex"]["bundle_sha256"] = json!("not-hex")),
        Box::new(|v| {
            v["artifacts"]["convex"]
                .as_object_mut()
                .expect("obj")
                .remove("functions_json");
        }),
        Box::new(|v| {
            v["artifacts"]["convex"]["functions_json"] =
                json!({"functions": [{"name": "a", "kind": "wizard"}]})
        }),
        Box::new(|v| {
            v["artifacts"]["convex"]["functions_json"] = json!({"functions": [{"name": "a", "kind": "query"}, {"name": "a", "kind": "query"}]})
        }),
        Box::new(|v| {
            v["artifacts"]["convex"]["http_routes_json"] = json!({"routes": [{"method": "GET", "path": "/x"}, {"method": "GET", "path": "/x"}]})
        }),
        Box::new(|v| {
            v["artifacts"]["convex"]["http_routes_json"] =
                json!({"routes": [{"method": "FETCH", "path": "/x"}]})
        }),
        Box::new(|v| {
            v["artifacts"]["convex"]["schema_json"] =
                json!({"tables": {"m": {"indexes": [{"name": "i", "fields": []}]}}})
        }),
        Box::new(|v| v["artifacts"]["convex"]["schema_json"] = json!({"tables": []})),
        Box::new(|v| v["artifacts"]["convex"]["auth_config_json"] = json!([1])),
        Box::new(|v| {
            v["artifacts"]["cloud_functions"]
                .as_object_mut()
                .expect("obj")
                .remove("targets_json")
                .map(|_| ())
                .unwrap_or(())
        }),
        Box::new(|v| v["dry_run"] = json!("yes")),
    ];
    for (n, edit) in invalid.iter().enumerate() {
        let r = bad(edit.as_ref());
        assert_error(&r, 400, "op.invalid_input");
        assert!(r.body["error"]["message"].is_string(), "case {n}");
    }
    assert_error(
        &s.call_with("POST", "/api/admin/deploy", Some("{"), &h),
        400,
        "op.invalid_input",
    );
}

#[test]
fn generations_dry_runs_and_diffs() {
    let bare = server(false);
    let r = deploy(&bare, &example(true));
    assert_eq!(
        (r.status, &r.body["generation"], &r.body["activated"]),
        (200, &json!(0), &json!(false)),
        "{r:?}"
    );

    let s = server(true);
    let r = deploy(&s, &example(true));
    assert_eq!(r.body["generation"], 1, "--app boots at generation 1");
    assert_eq!(
        (
            r.body["dry_run"].as_bool(),
            r.body["previous_generation"].as_u64()
        ),
        (Some(true), Some(1))
    );
    let diff = &r.body["diff"];
    assert!(
        names(&diff["functions"]["added"]).is_empty()
            && !diff["schema_changed"].as_bool().expect("flag")
    );

    // Change everything: one function added, one changed, one removed; a route added and one
    // removed; the schema, its indexes and the bundle.
    let mut next = example(false);
    let c = &mut next["artifacts"]["convex"];
    c["functions_json"] = json!({"functions": [
        {"name": "messages:list", "kind": "query", "args": {"channel": "string", "limit": "number"}},
        {"name": "messages:send", "kind": "mutation", "args": {"channel": "string", "text": "string"}},
        {"name": "users:get", "kind": "query"}
    ]});
    c["http_routes_json"] =
        json!({"routes": [{"method": "POST", "path": "/hook", "handler": "x"}]});
    c["schema_json"] = json!({"tables": {"messages": {"fields": {"channel": "string", "text": "string", "at": "number"}, "indexes": [{"name": "by_channel", "fields": ["channel", "at"]}]}}});
    c["bundle_mjs"] = json!("export const v = 2;\n");
    c["bundle_sha256"] = json!(sha("export const v = 2;\n"));
    let r = deploy(&s, &next);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (
            r.body["activated"].as_bool(),
            r.body["generation"].as_u64(),
            r.body["previous_generation"].as_u64()
        ),
        (Some(true), Some(2), Some(1))
    );
    let d = &r.body["diff"];
    assert_eq!(names(&d["functions"]["added"]), vec!["users:get"]);
    assert_eq!(d["functions"]["added"][0]["kind"], "query");
    assert_eq!(names(&d["functions"]["changed"]), vec!["messages:list"]);
    assert_eq!(names(&d["functions"]["removed"]), vec!["http:health"]);
    assert_eq!(names(&d["http_routes"]["added"]), vec!["POST /hook"]);
    assert_eq!(names(&d["http_routes"]["removed"]), vec!["GET /healthz"]);
    for flag in [
        "schema_changed",
        "indexes_changed",
        "runtime_bundle_changed",
    ] {
        assert_eq!(d[flag], true, "{flag}");
    }

    // Only the indexes change: the schema flag stays off.
    let mut idx = next.clone();
    idx["artifacts"]["convex"]["schema_json"]["tables"]["messages"]["indexes"] =
        json!([{"name": "by_at", "fields": ["at"]}]);
    let d = deploy(&s, &idx).body["diff"].clone();
    assert_eq!(
        (
            d["schema_changed"].as_bool(),
            d["indexes_changed"].as_bool(),
            d["runtime_bundle_changed"].as_bool()
        ),
        (Some(false), Some(true), Some(false))
    );

    // A failed validation leaves the generation and the registry as they were.
    let mut broken = next.clone();
    broken["artifacts"]["convex"]["bundle_sha256"] = json!(sha("nope"));
    assert_error(&deploy(&s, &broken), 400, "op.invalid_input");
    let mut dry = idx.clone();
    dry["dry_run"] = json!(true);
    let r = deploy(&s, &dry);
    assert_eq!(r.body["generation"], 3);
    assert!(
        names(&r.body["diff"]["functions"]["added"]).is_empty(),
        "the registry is still generation 3's"
    );

    // A Cloud-Functions-only deploy: a new generation, no Convex diff, Convex registry kept.
    let mut cloud = json!({"artifacts": {"cloud_functions": example(false)["artifacts"]["cloud_functions"].clone()}});
    cloud["artifacts"]["cloud_functions"]["targets_json"] = json!({"targets": []});
    let r = deploy(&s, &cloud);
    assert_eq!(
        (r.body["generation"].as_u64(), r.body["activated"].as_bool()),
        (Some(4), Some(true))
    );
    let d = &r.body["diff"];
    assert!(
        names(&d["functions"]["added"]).is_empty() && names(&d["functions"]["removed"]).is_empty()
    );
    assert_eq!(d["runtime_bundle_changed"], false);
    let r = deploy(&s, &dry);
    assert!(
        names(&r.body["diff"]["functions"]["removed"]).is_empty(),
        "Convex registry kept by a cloud-only deploy"
    );
}

#[test]
fn concurrent_deploys_activate_one_after_the_other() {
    let s = std::sync::Arc::new(server(true));
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut v = example(false);
                v["artifacts"]["convex"]["functions_json"] =
                    json!({"functions": [{"name": format!("f{i}"), "kind": "query"}]});
                let r = deploy(&s, &v);
                assert_eq!(r.status, 200, "{r:?}");
                (
                    r.body["previous_generation"].as_u64().expect("prev"),
                    r.body["generation"].as_u64().expect("gen"),
                )
            })
        })
        .collect();
    let mut pairs: Vec<(u64, u64)> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        (1..=6).map(|g| (g, g + 1)).collect::<Vec<_>>(),
        "each activation follows the previous one"
    );
    // The active registry is the last one activated: exactly one function, f-something.
    let r = deploy(&s, &example(true));
    assert_eq!(r.body["generation"], 7);
    assert_eq!(names(&r.body["diff"]["functions"]["removed"]).len(), 1);
}

#[test]
fn the_cli_deploys_against_a_live_server() {
    let s = server(true);
    let url = format!("http://127.0.0.1:{}", s.port);
    let run = |args: &[&str], token: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_nimbus"))
            .arg("deploy")
            .arg(app_dir())
            .args(["--url", &url])
            .args(args)
            .env("NIMBUS_DEPLOY_TOKEN", token)
            .env("NIMBUS_TOKEN", &s.token)
            .output()
            .expect("run nimbus deploy")
    };
    let out = run(&["--dry-run"], DEPLOY_TOKEN);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("dry run: generation 1"));
    let out = run(&["--json"], DEPLOY_TOKEN);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (v["generation"].as_u64(), v["previous_generation"].as_u64()),
        (Some(2), Some(1))
    );
    let out = run(&[], "wrong-token");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("auth.unauthorized") && err.contains("invalid deploy admin token"),
        "{err}"
    );
    // It says where each token it sent came from.
    assert!(
        err.contains("NIMBUS_DEPLOY_TOKEN") && err.contains("the variable NIMBUS_TOKEN"),
        "{err}"
    );
}

#[test]
fn a_bad_app_directory_stops_the_start() {
    let dir = TestServer::fresh_dir();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nimbus"))
        .args([
            "start",
            "--port",
            "0",
            "--shards",
            "1",
            "--app",
            "/nonexistent/app",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--app"));
    let _ = std::fs::remove_dir_all(&dir);
}
