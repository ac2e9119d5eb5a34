//! Micro-benchmarks of the request hot path: head parsing, JSON parsing, document encoding,
//! filter evaluation, index lookups and fan-out serialisation. Run with `cargo bench`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use nimbus::http::parse::parse_head;
use nimbus::ids::DocId;
use nimbus::json::{parse_once, Parser};
use nimbus::query::{matches, Filter, FilterOp};
use nimbus::store::{Change, Doc, IndexDef, Store, TableSchema};
use nimbus::subs::{ConnRef, Subs};
use nimbus::value::Value;

const HEAD: &[u8] = b"POST /api/tenants/bench/query HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
User-Agent: oha/1.4\r\nAuthorization: Bearer 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n\
Content-Type: application/json\r\nContent-Length: 78\r\nAccept: */*\r\n\r\n";

const BODY: &[u8] = br#"{"table":"items","fields":{"author":"a7","title":"a load-test document","n":42,"tags":["x","y"]}}"#;

fn bench(c: &mut Criterion) {
    c.bench_function("parse_head", |b| {
        b.iter(|| parse_head(black_box(HEAD), 64 * 1024))
    });

    let mut parser = Parser::default();
    let mut scratch = BODY.to_vec();
    c.bench_function("parse_json_body", |b| {
        b.iter(|| {
            scratch.copy_from_slice(BODY);
            parser.parse(black_box(&mut scratch[..])).map(|v| v.kind())
        })
    });

    let fields = match parse_once(BODY).ok().and_then(|v| v.get("fields").cloned()) {
        Some(Value::Object(o)) => o,
        _ => Vec::new(),
    };
    c.bench_function("encode_document", |b| {
        b.iter(|| {
            Doc::new(DocId(1 << 80), 1, 1, black_box(&fields))
                .json()
                .len()
        })
    });

    let doc = Doc::new(DocId(1 << 80), 1, 1, &fields);
    let filters = vec![
        Filter::new("author", FilterOp::Eq, Value::Str("a7".into())),
        Filter::new("n", FilterOp::Gte, Value::Int(10)),
    ];
    c.bench_function("eval_two_filters", |b| {
        b.iter(|| matches(black_box(&doc), &filters))
    });
}

/// What checking a tenant key costs on a request: one SHA-256 and one lookup among 1,000.
fn bench_keys(c: &mut Criterion) {
    use nimbus::auth::keys::{hash, new_secret, Directory, Entry, Scope};
    let secrets: Vec<String> = (0..1000)
        .map(|_| new_secret(Scope::Read).expect("random"))
        .collect();
    let dir = Directory::new(secrets.iter().map(|s| Entry {
        tenant: "bench".into(),
        id: "k".into(),
        scope: Scope::Read,
        origins: Vec::new(),
        expires_at: None,
        hash: hash(s.as_bytes()),
    }));
    let secret = secrets[500].as_bytes();
    c.bench_function("key_check_of_1000", |b| {
        b.iter(|| dir.find(black_box(secret)).map(|e| e.scope))
    });
}

fn query(text: &str) -> nimbus::query::Query {
    let v = parse_once(text.as_bytes()).expect("json");
    nimbus::query::Query::from_value(&v).expect("query")
}

/// A store with tenant `t` and `n` documents in `items`, indexed by `author` and `votes`.
fn store(n: u64) -> Store {
    let mut s = Store::default();
    s.commit(Change::CreateTenant { tenant: "t".into() })
        .expect("tenant");
    let index = |name: &str, field: &str| IndexDef {
        name: name.into(),
        fields: vec![field.into()],
    };
    s.commit(Change::PutSchema {
        tenant: "t".into(),
        schema: TableSchema {
            table: "items".into(),
            fields: vec![],
            indexes: vec![index("by_author", "author"), index("by_votes", "votes")],
        },
    })
    .expect("schema");
    for i in 0..n {
        let fields = vec![
            (
                "author".into(),
                Value::Str(format!("user{:04}", i % 1000).into()),
            ),
            ("votes".into(), Value::Int(((i * 7919) % 100_000) as i64)),
            ("title".into(), Value::Str(format!("document {i}").into())),
        ];
        s.commit(Change::Insert {
            tenant: "t".into(),
            table: "items".into(),
            id: DocId(u128::from(i + 1) << 80),
            at_ms: 1,
            fields,
        })
        .expect("insert");
    }
    s
}

fn bench_indexes(c: &mut Criterion) {
    let s = store(100_000);
    let table = s.tenant("t").expect("t").table("items");
    let eq = query(
        r#"{"table":"items","filters":[{"field":"author","op":"eq","value":"user0042"}],"limit":10}"#,
    );
    c.bench_function("index_eq_limit10_of_100k", |b| {
        b.iter(|| nimbus::query::run(black_box(table), &eq).docs.len())
    });
    let desc = query(
        r#"{"table":"items","filters":[],"order":{"field":"votes","direction":"desc"},"limit":10}"#,
    );
    c.bench_function("index_order_desc_limit10_of_100k", |b| {
        b.iter(|| nimbus::query::run(black_box(table), &desc).docs.len())
    });
    let scan = query(
        r#"{"table":"items","filters":[{"field":"title","op":"eq","value":"document 5"}],"limit":10}"#,
    );
    c.bench_function("scan_eq_of_100k", |b| {
        b.iter(|| nimbus::query::run(black_box(table), &scan).docs.len())
    });
}

/// One commit seen by a `limit 1` live query with 128 subscribers: re-evaluation, hand-out
/// and the 128 frames written around the shared result.
fn bench_fanout(c: &mut Criterion) {
    let mut s = store(1_000);
    let mut subs = Subs::default();
    let q = r#"{"table":"items","filters":[],"order":{"field":"_creationTime","direction":"desc"},"limit":1}"#;
    for n in 0..128u64 {
        let conn = ConnRef { shard: 0, conn: n };
        subs.subscribe(&s, "t", conn, 1, query(q), 0);
    }
    let mut next = 1_000u64;
    let mut frame = Vec::with_capacity(512);
    c.bench_function("fanout_one_commit_to_128", |b| {
        b.iter(|| {
            next += 1;
            let id = DocId(u128::from(next) << 80);
            subs.before(&s, "t", "items", id);
            s.apply(Change::Insert {
                tenant: "t".into(),
                table: "items".into(),
                id,
                at_ms: 1,
                fields: vec![("author".into(), Value::Str("x".into()))],
            });
            subs.after(&s, "t", "items", id, next);
            let mut bytes = 0;
            for batch in subs.take_durable(next, 1) {
                for (_, sub, d) in batch {
                    frame.clear();
                    let id = nimbus::ws::frames::sub_id(sub);
                    nimbus::ws::frames::subscription_result(
                        &mut frame, &id, b"\"f\"", &d.data, d.version,
                    );
                    bytes += frame.len();
                }
            }
            bytes
        })
    });
}

criterion_group!(benches, bench, bench_indexes, bench_fanout, bench_keys);
criterion_main!(benches);
