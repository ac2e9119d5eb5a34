//! A request body decoded into an operation, for every route and method: the first
//! bytes choose the method and the path, the rest is the body. Never a panic; what the
//! JSON parser accepts it writes back as JSON it accepts again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus::http::parse::Method;
use nimbus::http::route::route;
use nimbus::json::{parse_once, write_value, Parser};

const METHODS: [Method; 6] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
];

const PATHS: [&str; 19] = [
    "/api/tenants",
    "/api/tenants/t",
    "/api/tenants/t/documents",
    "/api/tenants/t/documents/tb",
    "/api/tenants/t/documents/tb/01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "/api/tenants/t/query",
    "/api/tenants/t/query/paginated",
    "/api/tenants/t/schema/tb",
    "/api/tenants/t/schedule",
    "/api/tenants/t/schedule/01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "/api/tenants/t/crons",
    "/api/tenants/t/crons/c",
    "/api/tenants/t/services",
    "/api/tenants/t/services/s",
    "/api/tenants/t/sandboxes",
    "/api/sessions",
    "/api/sessions/s",
    "/api/tenants/t/keys",
    "/api/tenants/t/keys/01ARZ3NDEKTSV4RRFFQ69G5FAV",
];

fuzz_target!(|input: (u8, u8, &[u8])| {
    let (m, p, body) = input;
    if let Ok(v) = parse_once(body) {
        let mut out = Vec::new();
        write_value(&mut out, &v);
        let again = parse_once(&out).expect("written JSON parses");
        assert_eq!(format!("{v:?}"), format!("{again:?}"));
    }
    let method = METHODS[m as usize % METHODS.len()];
    let Some(r) = route(PATHS[p as usize % PATHS.len()]) else {
        return;
    };
    if !nimbus::api::allowed(method, r) {
        return;
    }
    let mut body = body.to_vec();
    let _ = nimbus::api::decode(nimbus::api::Input {
        method,
        route: r,
        target: "/api/sessions?tenant_id=t",
        body: &mut body,
        parser: &mut Parser::default(),
    });
});
