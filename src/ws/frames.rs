//! The JSON frames of `nimbus.v2` that the server sends (DECISIONS §8).

use crate::clock::{now_ms, rfc3339};
use crate::error::Error;
use crate::json::write_str;

/// `{"type":"hello","protocol":"nimbus.v2","session_id":"..."}`
pub fn hello(session_id: &str) -> Vec<u8> {
    let mut out = b"{\"type\":\"hello\",\"protocol\":\"nimbus.v2\",\"session_id\":".to_vec();
    write_str(&mut out, session_id);
    out.push(b'}');
    out
}

fn envelope(out: &mut Vec<u8>, e: &Error, request_id: &str) {
    // The envelope's own `{"error":{...}}` is unwrapped to its inner object here.
    let mut full = Vec::with_capacity(256);
    e.write_envelope(&mut full, request_id, &rfc3339(now_ms()));
    out.extend_from_slice(&full[b"{\"error\":".len()..full.len() - 1]);
}

/// `{"type":"op.error","request_id":R,"error":{...}}` (`R` is JSON text).
pub fn op_error(request_id: &[u8], e: &Error, trace_id: &str) -> Vec<u8> {
    let mut out = b"{\"type\":\"op.error\",\"request_id\":".to_vec();
    out.extend_from_slice(request_id);
    out.extend_from_slice(b",\"error\":");
    envelope(&mut out, e, trace_id);
    out.push(b'}');
    out
}

/// `{"type":"error","error":{...}}` or `{"type":"fatal_error","error":{...}}`.
pub fn error(kind: &str, e: &Error, trace_id: &str) -> Vec<u8> {
    let mut out = b"{\"type\":".to_vec();
    write_str(&mut out, kind);
    out.extend_from_slice(b",\"error\":");
    envelope(&mut out, e, trace_id);
    out.push(b'}');
    out
}

/// `{"type":"op.result","request_id":R,"result":{"id":"..."}}`
pub fn op_result(request_id: &[u8], id: &str) -> Vec<u8> {
    let mut out = b"{\"type\":\"op.result\",\"request_id\":".to_vec();
    out.extend_from_slice(request_id);
    out.extend_from_slice(b",\"result\":{\"id\":");
    write_str(&mut out, id);
    out.extend_from_slice(b"}}");
    out
}

/// `{"type":"unsubscribed","request_id":R,"subscription_id":S}`
pub fn unsubscribed(request_id: &[u8], sub_id: &str) -> Vec<u8> {
    let mut out = b"{\"type\":\"unsubscribed\",\"request_id\":".to_vec();
    out.extend_from_slice(request_id);
    out.extend_from_slice(b",\"subscription_id\":");
    write_str(&mut out, sub_id);
    out.push(b'}');
    out
}

/// `{"type":"subscription_result","subscription_id":S,"request_id":R,"data":D,"version":V}`,
/// written into `out` around the shared result bytes `data`.
pub fn subscription_result(
    out: &mut Vec<u8>,
    sub_id: &str,
    request_id: &[u8],
    data: &[u8],
    version: u64,
) {
    out.extend_from_slice(b"{\"type\":\"subscription_result\",\"subscription_id\":");
    write_str(out, sub_id);
    out.extend_from_slice(b",\"request_id\":");
    out.extend_from_slice(request_id);
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(data);
    out.extend_from_slice(b",\"version\":");
    out.extend_from_slice(itoa::Buffer::new().format(version).as_bytes());
    out.push(b'}');
}

/// `{"type":"subscription_result","subscription_id":S,"request_id":R,"version":V,
/// "unchanged":true}`: the result is still the one of version `V` the client has.
pub fn subscription_unchanged(out: &mut Vec<u8>, sub_id: &str, request_id: &[u8], version: u64) {
    out.extend_from_slice(b"{\"type\":\"subscription_result\",\"subscription_id\":");
    write_str(out, sub_id);
    out.extend_from_slice(b",\"request_id\":");
    out.extend_from_slice(request_id);
    out.extend_from_slice(b",\"version\":");
    out.extend_from_slice(itoa::Buffer::new().format(version).as_bytes());
    out.extend_from_slice(b",\"unchanged\":true}");
}

/// `{"type":"subscription_error","subscription_id":S,"request_id":R,"error":{...},"version":V}`:
/// the subscription ended at commit `V` because its query passed a bound.
pub fn subscription_error(
    sub_id: &str,
    request_id: &[u8],
    e: &Error,
    trace_id: &str,
    version: u64,
) -> Vec<u8> {
    let mut out = b"{\"type\":\"subscription_error\",\"subscription_id\":".to_vec();
    write_str(&mut out, sub_id);
    out.extend_from_slice(b",\"request_id\":");
    out.extend_from_slice(request_id);
    out.extend_from_slice(b",\"error\":");
    envelope(&mut out, e, trace_id);
    out.extend_from_slice(b",\"version\":");
    out.extend_from_slice(itoa::Buffer::new().format(version).as_bytes());
    out.push(b'}');
    out
}

/// The text form of a subscription number.
pub fn sub_id(sub: u32) -> String {
    format!("sub-{sub}")
}

/// The subscription number of its text form.
pub fn parse_sub_id(s: &str) -> Option<u32> {
    s.strip_prefix("sub-")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_once;
    use crate::value::Value;

    #[test]
    fn frames_are_json() {
        let e = Error::InvalidInput("bad".into());
        for f in [
            hello("s"),
            op_error(b"\"r\"", &e, "t"),
            error("fatal_error", &e, "t"),
            op_result(b"7", "id"),
            unsubscribed(b"null", "sub-1"),
        ] {
            let v = parse_once(&f).expect("json");
            assert!(v.get("type").and_then(Value::as_str).is_some());
        }
        let v = parse_once(&error("error", &e, "t")).expect("json");
        assert_eq!(
            v.get("error")
                .and_then(|e| e.get("code"))
                .and_then(Value::as_str),
            Some("op.invalid_input")
        );
        let mut out = Vec::new();
        subscription_result(&mut out, "sub-1", b"\"r\"", b"[]", 4);
        assert!(parse_once(&out).is_ok());
        assert_eq!(parse_sub_id(&sub_id(42)), Some(42));
    }
}
