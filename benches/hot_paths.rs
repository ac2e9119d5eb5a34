//! Micro-benchmarks of the request hot path: head parsing, JSON parsing, document encoding,
//! filter evaluation. Run with `cargo bench`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use nimbus::http::parse::parse_head;
use nimbus::ids::DocId;
use nimbus::json::{parse_once, Parser};
use nimbus::query::{matches, Filter, FilterOp};
use nimbus::store::Doc;
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
        Filter {
            field: "author".into(),
            op: FilterOp::Eq,
            value: Value::Str("a7".into()),
        },
        Filter {
            field: "n".into(),
            op: FilterOp::Gte,
            value: Value::Int(10),
        },
    ];
    c.bench_function("eval_two_filters", |b| {
        b.iter(|| matches(black_box(&doc), &filters))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
