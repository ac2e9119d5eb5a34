//! Pagination cursors as a client may send them: never a panic; a cursor that decodes
//! writes back to one that decodes to the same place.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus::query::Cursor;
use nimbus::query::Order;

fuzz_target!(|input: (bool, &str)| {
    let (by_field, text) = input;
    let order = Order {
        field: by_field.then(|| "n".to_string()),
        desc: text.len() % 2 == 1,
    };
    let Ok(c) = Cursor::decode(text, &order) else {
        return;
    };
    let mut out = Vec::new();
    c.write_json(&mut out);
    let quoted = std::str::from_utf8(&out).expect("a cursor is ASCII");
    let again = Cursor::decode(quoted.trim_matches('"'), &order).expect("a written cursor decodes");
    assert_eq!(format!("{c:?}"), format!("{again:?}"));
});
