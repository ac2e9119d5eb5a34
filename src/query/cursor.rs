//! Pagination cursors: an opaque name for a position in a query's order.
//!
//! A cursor holds the order field, the direction, and the last document's order value and
//! `_id`. The next page starts strictly after that position, so a write during a walk
//! neither repeats nor hides the documents that were already there.
//! The text form is base64url (no padding) of a small JSON object.

use super::Order;
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::json::{parse_once, write_str, write_value};
use crate::store::Doc;
use crate::value::Value;

/// A decoded cursor.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub field: Option<String>,
    pub desc: bool,
    /// The order field's value at the position; `None` when the field was missing.
    pub value: Option<Value>,
    pub id: DocId,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_encode(bytes: &[u8], out: &mut Vec<u8>) {
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize]);
        }
    }
}

fn b64_decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = B64.iter().position(|b| b == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

impl Cursor {
    /// The position of `doc` in `order`.
    pub fn at(order: &Order, doc: &Doc) -> Cursor {
        Cursor {
            field: order.field.clone(),
            desc: order.desc,
            value: order.field.as_deref().and_then(|f| doc.field(f)),
            id: doc.id,
        }
    }

    /// Appends the opaque text form, as a JSON string literal.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut raw = Vec::with_capacity(64);
        raw.extend_from_slice(b"{\"i\":\"");
        self.id.write(&mut raw);
        raw.extend_from_slice(if self.desc {
            b"\",\"d\":true"
        } else {
            b"\",\"d\":false"
        });
        if let Some(f) = &self.field {
            raw.extend_from_slice(b",\"f\":");
            write_str(&mut raw, f);
        }
        if let Some(v) = &self.value {
            raw.extend_from_slice(b",\"v\":");
            write_value(&mut raw, v);
        }
        raw.push(b'}');
        out.push(b'"');
        b64_encode(&raw, out);
        out.push(b'"');
    }

    /// Decodes a cursor and checks that it belongs to a query with `order`.
    pub fn decode(text: &str, order: &Order) -> Result<Cursor> {
        let bad = || Error::InvalidInput(format!("invalid cursor `{text}`"));
        let raw = b64_decode(text.as_bytes()).ok_or_else(bad)?;
        let v = parse_once(&raw).map_err(|_| bad())?;
        let id = v
            .get("i")
            .and_then(Value::as_str)
            .and_then(DocId::parse)
            .ok_or_else(bad)?;
        let desc = match v.get("d") {
            Some(Value::Bool(d)) => *d,
            _ => return Err(bad()),
        };
        let field = match v.get("f") {
            None => None,
            Some(Value::Str(f)) => Some(f.to_string()),
            Some(_) => return Err(bad()),
        };
        if field != order.field || desc != order.desc {
            return Err(Error::InvalidInput(
                "cursor belongs to a query with another order".to_string(),
            ));
        }
        Ok(Cursor {
            field,
            desc,
            value: v.get("v").cloned(),
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_garbage() {
        let order = Order {
            field: None,
            desc: false,
        };
        assert!(Cursor::decode("abc", &order).is_err());
        assert!(Cursor::decode("!!!!", &order).is_err());
        assert!(Cursor::decode("", &order).is_err());
    }

    proptest! {
        #[test]
        fn roundtrips(id in any::<u128>(), desc: bool, x in proptest::option::of(any::<i64>()), s in "[a-z]{0,8}") {
            let order = Order { field: Some(s.clone()).filter(|s| !s.is_empty()), desc };
            let c = Cursor { field: order.field.clone(), desc, value: x.map(Value::Int), id: DocId(id) };
            let mut out = Vec::new();
            c.write_json(&mut out);
            let text = std::str::from_utf8(&out[1..out.len() - 1]).expect("ascii");
            let back = Cursor::decode(text, &order).expect("decodes");
            prop_assert_eq!(back.id, c.id);
            prop_assert_eq!(back.desc, desc);
            prop_assert_eq!(back.value.map(|v| crate::value::equal(&v, &Value::Int(x.unwrap_or(0)))), x.map(|_| true));
        }

        #[test]
        fn base64_roundtrips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            b64_encode(&bytes, &mut out);
            prop_assert_eq!(b64_decode(&out), Some(bytes));
        }
    }
}
