//! Tenants owned by another shard are served through the mesh, correctly.

mod common;

use common::TestServer;
use nimbus::api::{DocumentOp, Op, TenantOp};
use nimbus::shard::owner_of;
use serde_json::json;

#[test]
fn every_tenant_is_served_from_every_core() {
    let s = TestServer::start(2);
    let tenants: Vec<String> = (0..12).map(|i| format!("tenant-{i}")).collect();
    let owners: Vec<usize> = tenants.iter().map(|t| owner_of(t, 2)).collect();
    assert!(
        owners.contains(&0) && owners.contains(&1),
        "tenants on both shards: {owners:?}"
    );
    for t in &tenants {
        s.create_tenant(t);
    }
    // Each call is a fresh connection, which the kernel spreads over both shards' listeners,
    // so each tenant is reached both locally and across the mesh.
    for t in &tenants {
        let mut ids = Vec::new();
        for i in 0..8 {
            ids.push(s.insert(t, "m", json!({"i": i, "tenant": t})));
        }
        for id in &ids {
            let r = s.call("GET", &format!("/api/tenants/{t}/documents/m/{id}"), None);
            assert_eq!((r.status, &r.body["document"]["tenant"]), (200, &json!(t)));
        }
        let q =
            json!({"table": "m", "filters": [{"field": "i", "op": "gte", "value": 4}]}).to_string();
        let r = s.call("POST", &format!("/api/tenants/{t}/query"), Some(&q));
        assert_eq!(r.body["data"].as_array().expect("data").len(), 4);
    }
    let mut sorted = tenants.clone();
    sorted.sort();
    assert_eq!(
        s.call("GET", "/api/tenants", None).body["tenants"],
        json!(sorted)
    );
}

/// Drives two shards by hand: a request made on shard 0 for a tenant of shard 1 must be
/// executed by shard 1 (and only there) and its answer come back.
#[test]
fn a_request_crosses_to_the_owner_and_back() {
    let remote = common::tenant_on(1, "far");

    common::with_bare_shards(64, true, |shard0, _mesh| async move {
        let mut body = Vec::new();
        let status = shard0
            .execute(Op::of(remote.clone(), TenantOp::Create), &mut body)
            .await
            .expect("create");
        assert_eq!(status, 201);
        assert_eq!(body, format!(r#"{{"id":"{remote}"}}"#).into_bytes());
        let again = shard0
            .execute(Op::of(remote.clone(), TenantOp::Create), &mut body)
            .await;
        assert!(again.is_err(), "the owner remembers the tenant");
        // Listing gathers from both shards; the tenant is there once.
        assert_eq!(
            shard0.list_tenants().await.expect("list"),
            vec![remote.clone()]
        );
        body.clear();
        let missing = shard0
            .execute(Op::of("not-there", TenantOp::Delete), &mut body)
            .await;
        assert!(missing.is_err());
    });
}

/// The epoll fallback (for hosts where io_uring is disabled) serves the same API.
#[test]
fn epoll_driver_serves_the_same_api() {
    let s = TestServer::start_with(2, &["--io", "epoll"]);
    s.create_tenant("e");
    let id = s.insert("e", "m", json!({"x": 1}));
    let r = s.call("GET", &format!("/api/tenants/e/documents/m/{id}"), None);
    assert_eq!(r.body["document"]["x"], 1);
    let mut c = s.raw();
    common::send(
        &mut c,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(common::read_response(&mut c).expect("first").0, 200);
    assert_eq!(common::read_response(&mut c).expect("second").0, 200);
}

/// A live query whose tenant is on shard 1, for a connection on shard 0: the subscription is
/// made over the mesh and the result comes back over it as shared bytes.
#[test]
fn a_live_result_crosses_from_the_owner_to_the_connection_shard() {
    use nimbus::query::Query;
    use nimbus::subs::ConnRef;
    use nimbus::ws::outbox::{Out, Outbox};
    let remote = common::tenant_on(1, "live");
    common::with_bare_shards(64, true, |shard0, _mesh| async move {
        let mut body = Vec::new();
        shard0
            .execute(Op::of(remote.clone(), TenantOp::Create), &mut body)
            .await
            .expect("create");
        let outbox = std::rc::Rc::new(Outbox::default());
        let conn = shard0.new_conn_id();
        shard0.register_conn(conn, outbox.clone());
        let me = ConnRef { shard: 0, conn };
        shard0
            .attach(&remote, me, "01jx2x9w7d2f0v6q8t3k5r9e1b")
            .await
            .expect("attach");
        let q = nimbus::json::parse_once(br#"{"table":"m","filters":[]}"#).expect("json");
        let first = shard0
            .subscribe(&remote, me, 1, Query::from_value(&q).expect("query"))
            .await
            .expect("subscribe");
        assert_eq!(&*first.data, b"[]");
        outbox.add_sub(1, b"\"r\"".to_vec());
        outbox.push_result(1, first.clone());
        let _ = outbox.next().await;
        let insert = Op::of(
            remote.clone(),
            DocumentOp::Insert {
                table: "m".into(),
                id: None,
                fields: vec![("x".into(), nimbus::value::Value::Int(1))],
            },
        );
        body.clear();
        shard0.execute(insert, &mut body).await.expect("insert");
        let pushed = monoio::time::timeout(std::time::Duration::from_secs(5), outbox.next())
            .await
            .expect("a result in time");
        match pushed {
            Some(Out::Result { sub: 1, delivery }) => {
                assert!(delivery.version > first.version);
                assert!(String::from_utf8_lossy(&delivery.data).contains("\"x\":1"));
            }
            _ => panic!("expected a result"),
        }
        // An unknown tenant cannot be attached to.
        let ghost = common::tenant_on(1, "ghost");
        assert!(shard0
            .attach(&ghost, me, "01jx2x9w7d2f0v6q8t3k5r9e1c")
            .await
            .is_err());
    });
}
