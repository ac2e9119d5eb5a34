//! JSON text ↔ [`Value`]: parsing with `simd-json` (in place, on a mutable buffer) and a
//! small writer that appends to a caller's reused buffer.
//!
//! [`stored`] reads single fields back out of text this writer produced (stored documents).
//!
//! Invariant: the only module that turns bytes into values; nothing here allocates a buffer
//! of its own for output.

pub mod stored;

use crate::value::{Object, Value};
use simd_json::{Node, StaticNode};

/// Why a body was not JSON.
#[derive(Debug)]
pub struct ParseError(pub String);

/// Reused parser scratch space, one per shard thread.
pub struct Parser {
    buffers: simd_json::Buffers,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            buffers: simd_json::Buffers::new(4096),
        }
    }
}

impl Parser {
    /// Parses `input` (which `simd-json` rewrites in place) into an owned value.
    pub fn parse(&mut self, input: &mut [u8]) -> Result<Value, ParseError> {
        if input.iter().all(u8::is_ascii_whitespace) {
            return Err(ParseError("empty body, expected JSON".into()));
        }
        let tape = simd_json::to_tape_with_buffers(input, &mut self.buffers)
            .map_err(|e| ParseError(format!("malformed JSON: {e}")))?;
        let nodes = &tape.0;
        let (value, used) = build(nodes, 0);
        debug_assert_eq!(used, nodes.len());
        Ok(value)
    }
}

/// Parses a small JSON text (a cursor, a token file) without a reused parser.
pub fn parse_once(input: &[u8]) -> Result<Value, ParseError> {
    let mut copy = input.to_vec();
    Parser::default().parse(&mut copy)
}

/// Builds the value starting at `nodes[at]`; returns it and the index after it.
fn build(nodes: &[Node<'_>], at: usize) -> (Value, usize) {
    match nodes.get(at) {
        Some(Node::String(s)) => (Value::Str((*s).into()), at + 1),
        Some(Node::Static(s)) => (static_value(s), at + 1),
        Some(Node::Array { len, .. }) => {
            let mut items = Vec::with_capacity(*len);
            let mut i = at + 1;
            for _ in 0..*len {
                let (v, next) = build(nodes, i);
                items.push(v);
                i = next;
            }
            (Value::Array(items), i)
        }
        Some(Node::Object { len, .. }) => {
            let mut entries: Object = Vec::with_capacity(*len);
            let mut i = at + 1;
            for _ in 0..*len {
                let key: Box<str> = match nodes.get(i) {
                    Some(Node::String(k)) => (*k).into(),
                    _ => "".into(),
                };
                let (v, next) = build(nodes, i + 1);
                i = next;
                // A repeated key: the last one wins, as in most JSON readers.
                match entries.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = v,
                    None => entries.push((key, v)),
                }
            }
            (Value::Object(entries), i)
        }
        None => (Value::Null, at + 1),
    }
}

#[allow(unreachable_patterns)]
fn static_value(s: &StaticNode) -> Value {
    match *s {
        StaticNode::Null => Value::Null,
        StaticNode::Bool(b) => Value::Bool(b),
        StaticNode::I64(i) => Value::Int(i),
        StaticNode::U64(u) => match i64::try_from(u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::UInt(u),
        },
        StaticNode::F64(f) => Value::Float(f),
        _ => Value::Null,
    }
}

/// Appends the JSON text of `v` to `out`.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => write_i64(out, *i),
        Value::UInt(u) => out.extend_from_slice(itoa::Buffer::new().format(*u).as_bytes()),
        Value::Float(f) => write_f64(out, *f),
        Value::Str(s) => write_str(out, s),
        Value::Array(items) => write_array(out, items, write_value),
        Value::Object(entries) => {
            out.push(b'{');
            write_entries(out, entries, false);
            out.push(b'}');
        }
    }
}

/// Appends `"k":v` pairs of an object, separated by commas; `comma_first` puts a comma
/// before the first pair (for objects that continue after system fields).
pub fn write_entries(out: &mut Vec<u8>, entries: &Object, comma_first: bool) {
    for (n, (k, v)) in entries.iter().enumerate() {
        if n > 0 || comma_first {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_value(out, v);
    }
}

/// Appends a decimal integer.
pub fn write_i64(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// Appends a decimal unsigned integer.
pub fn write_u64(out: &mut Vec<u8>, u: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
}

fn write_f64(out: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Appends a JSON string literal, escaping what JSON requires.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends a JSON array, writing each item with `each`.
pub fn write_array<T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(b'[');
    for (n, item) in items.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        each(out, item);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(text: &str) -> String {
        let v = parse_once(text.as_bytes()).expect("valid JSON");
        let mut out = Vec::new();
        write_value(&mut out, &v);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn keeps_key_order_and_types() {
        assert_eq!(
            roundtrip(r#"{"b":1,"a":[true,null,1.5,"x\"y"],"c":{"d":-3}}"#),
            r#"{"b":1,"a":[true,null,1.5,"x\"y"],"c":{"d":-3}}"#
        );
        assert_eq!(roundtrip("18446744073709551615"), "18446744073709551615");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_once(b"{").is_err());
        assert!(parse_once(b"").is_err());
        assert!(parse_once(b"{\"a\":}").is_err());
    }

    #[test]
    fn escapes_control_characters() {
        let mut out = Vec::new();
        write_str(&mut out, "a\u{1}\n\\");
        assert_eq!(out, b"\"a\\u0001\\n\\\\\"");
    }

    proptest! {
        #[test]
        fn any_string_survives_a_roundtrip(s in ".*") {
            let mut text = Vec::new();
            write_str(&mut text, &s);
            let v = parse_once(&text).expect("own output parses");
            prop_assert_eq!(v.as_str(), Some(s.as_str()));
        }
    }
}
