//! The request-head parser on arbitrary bytes: never a panic, and a head it accepts
//! points only inside the bytes it was given and parses the same from its own bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus::http::parse::parse_head;

fuzz_target!(|data: &[u8]| {
    let Ok(Some(head)) = parse_head(data, 16 * 1024) else {
        return;
    };
    assert!(head.len <= data.len());
    for r in [
        Some(head.target.clone()),
        Some(head.method_text.clone()),
        head.credential.clone(),
        head.origin.clone(),
        head.tenant.clone(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(
            r.start <= r.end && r.end <= head.len,
            "range {r:?} outside the head"
        );
    }
    let again = parse_head(&data[..head.len], 16 * 1024);
    assert!(matches!(again, Ok(Some(ref h)) if h.len == head.len && h.body == head.body));
});
