//! A stored document: its JSON text, serialised once, and nothing else.
//!
//! The text is the document: reads copy it as it is, and filters, orders and indexes read
//! the one field they need straight out of it (`json::stored`). Keeping no parsed tree
//! beside the text is what keeps a million documents within twice their JSON size.
//!
//! Invariant: `json` starts with the system fields `_id`, `_creationTime`, `_updateTime` (in
//! that order) and is never edited in place; a change builds a new document.

use crate::ids::DocId;
use crate::json::{stored, write_entries, write_u64};
use crate::value::{Object, Value};

/// The number of system fields at the start of every document's text.
const SYSTEM_FIELDS: usize = 3;
/// Where `_creationTime`'s digits start: after `{"_id":"<26 chars>","_creationTime":`.
const CREATED_AT: usize = 52;
/// `,"_updateTime":` between the two times.
const UPDATED_GAP: usize = 15;

/// One document of a table: its id (also the map key; kept here so a borrowed document
/// knows it without parsing) and its text. 32 bytes beside the text.
#[derive(Debug, Clone)]
pub struct Doc {
    /// `_id`; also the creation order.
    pub id: DocId,
    /// The whole document as JSON text, allocated at its exact length.
    json: Box<[u8]>,
}

thread_local! {
    /// Where documents are encoded before being copied to an exact-size allocation.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The decimal number at the start of `b`.
fn digits(b: &[u8]) -> u64 {
    b.iter()
        .take_while(|c| c.is_ascii_digit())
        .fold(0u64, |n, c| {
            n.wrapping_mul(10).wrapping_add(u64::from(c - b'0'))
        })
}

impl Doc {
    /// A document created at `created_ms` and last updated at `updated_ms`.
    pub fn new(id: DocId, created_ms: u64, updated_ms: u64, fields: &Object) -> Doc {
        SCRATCH.with_borrow_mut(|out| {
            out.clear();
            out.extend_from_slice(b"{\"_id\":\"");
            id.write(out);
            out.extend_from_slice(b"\",\"_creationTime\":");
            write_u64(out, created_ms);
            out.extend_from_slice(b",\"_updateTime\":");
            write_u64(out, updated_ms);
            write_entries(out, fields, true);
            out.push(b'}');
            Doc {
                id,
                json: Box::from(&out[..]),
            }
        })
    }

    /// A document from text that [`Doc::new`] wrote (a snapshot's copy).
    pub fn from_json(id: DocId, json: Box<[u8]>) -> Doc {
        Doc { id, json }
    }

    /// `_creationTime` in epoch milliseconds.
    pub fn created_ms(&self) -> u64 {
        self.json.get(CREATED_AT..).map_or(0, digits)
    }

    /// `_updateTime` in epoch milliseconds.
    pub fn updated_ms(&self) -> u64 {
        let created = self.json.get(CREATED_AT..).unwrap_or_default();
        let len = created.iter().take_while(|c| c.is_ascii_digit()).count();
        created.get(len + UPDATED_GAP..).map_or(0, digits)
    }

    /// The value of a field, system fields included; `None` when it is missing.
    pub fn field(&self, name: &str) -> Option<Value> {
        match name {
            "_id" => Some(Value::Str(self.id.to_string().into())),
            "_creationTime" => Some(Value::Int(self.created_ms() as i64)),
            "_updateTime" => Some(Value::Int(self.updated_ms() as i64)),
            _ => stored::field(&self.json, name).and_then(stored::value),
        }
    }

    /// The JSON text of a top-level field as stored (user fields and `_id`).
    pub fn raw_field(&self, name: &str) -> Option<&[u8]> {
        stored::field(&self.json, name)
    }

    /// The user fields, in the order they were first written.
    pub fn fields(&self) -> Object {
        stored::object(&self.json, SYSTEM_FIELDS).unwrap_or_default()
    }

    /// The document's JSON text.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// A copy with `patch` merged into its top-level fields, updated at `at_ms`.
    pub fn patched(&self, patch: &Object, at_ms: u64) -> Doc {
        let mut fields = self.fields();
        for (k, v) in patch {
            match fields.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = v.clone(),
                None => fields.push((k.clone(), v.clone())),
            }
        }
        Doc::new(self.id, self.created_ms(), at_ms, &fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_written_once_and_fields_read_back() {
        let d = Doc::new(DocId(1 << 80), 1, 1, &vec![("a".into(), Value::Int(1))]);
        let p = d.patched(
            &vec![("b".into(), Value::Null), ("a".into(), Value::Int(2))],
            5,
        );
        let text = String::from_utf8(p.json().to_vec()).expect("utf8");
        assert_eq!(
            text,
            r#"{"_id":"00000000010000000000000000","_creationTime":1,"_updateTime":5,"a":2,"b":null}"#
        );
        assert_eq!(p.field("_creationTime").and_then(|v| v.as_u64()), Some(1));
        assert!(matches!(p.field("a"), Some(Value::Int(2))));
        assert!(matches!(p.field("b"), Some(Value::Null)));
        assert!(p.field("c").is_none());
        assert_eq!(p.fields().len(), 2);
        assert_eq!((p.created_ms(), p.updated_ms()), (1, 5));
        let big = Doc::new(DocId(7), 1_795_403_608_848, u64::MAX, &vec![]);
        assert_eq!(
            (big.created_ms(), big.updated_ms()),
            (1_795_403_608_848, u64::MAX)
        );
    }
}
