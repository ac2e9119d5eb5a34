//! A stored document: its fields for evaluation, and its JSON text serialised once.
//!
//! Invariant: `json` always equals the serialisation of the other fields. It is rebuilt only
//! when the document changes, so a read copies bytes and never re-encodes.

use crate::ids::DocId;
use crate::json::{write_entries, write_u64};
use crate::value::{get, Object, Value};

/// One document of a table.
#[derive(Debug, Clone)]
pub struct Doc {
    /// `_id`; also the creation order.
    pub id: DocId,
    /// User fields, in the order they were first written.
    pub fields: Object,
    /// `[_id, _creationTime, _updateTime]` as values, so filters and orders on system
    /// fields borrow like any other field.
    system: [Value; 3],
    /// The whole document as JSON text.
    json: Box<[u8]>,
}

impl Doc {
    /// A document created at `created_ms` and last updated at `updated_ms`.
    pub fn new(id: DocId, created_ms: u64, updated_ms: u64, fields: Object) -> Doc {
        let system = [
            Value::Str(id.to_string().into()),
            Value::Int(created_ms as i64),
            Value::Int(updated_ms as i64),
        ];
        let mut doc = Doc {
            id,
            fields,
            system,
            json: Box::new([]),
        };
        doc.json = doc.encode().into_boxed_slice();
        doc
    }

    /// `_creationTime` in epoch milliseconds.
    pub fn created_ms(&self) -> u64 {
        match self.system[1] {
            Value::Int(ms) => ms as u64,
            _ => 0,
        }
    }

    /// `_updateTime` in epoch milliseconds.
    pub fn updated_ms(&self) -> u64 {
        match self.system[2] {
            Value::Int(ms) => ms as u64,
            _ => 0,
        }
    }

    /// The value of a field, system fields included; `None` when it is missing.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match name {
            "_id" => Some(&self.system[0]),
            "_creationTime" => Some(&self.system[1]),
            "_updateTime" => Some(&self.system[2]),
            _ => get(&self.fields, name),
        }
    }

    /// The document's JSON text.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// A copy with `patch` merged into its top-level fields, updated at `at_ms`.
    pub fn patched(&self, patch: &Object, at_ms: u64) -> Doc {
        let mut fields = self.fields.clone();
        for (k, v) in patch {
            match fields.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = v.clone(),
                None => fields.push((k.clone(), v.clone())),
            }
        }
        Doc::new(self.id, self.created_ms(), at_ms, fields)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        out.extend_from_slice(b"{\"_id\":\"");
        self.id.write(&mut out);
        out.extend_from_slice(b"\",\"_creationTime\":");
        write_u64(&mut out, self.created_ms());
        out.extend_from_slice(b",\"_updateTime\":");
        if let Value::Int(ms) = self.system[2] {
            write_u64(&mut out, ms as u64);
        }
        write_entries(&mut out, &self.fields, true);
        out.push(b'}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_written_once_and_matches_fields() {
        let d = Doc::new(DocId(1 << 80), 1, 1, vec![("a".into(), Value::Int(1))]);
        let p = d.patched(
            &vec![("b".into(), Value::Null), ("a".into(), Value::Int(2))],
            5,
        );
        let text = String::from_utf8(p.json().to_vec()).expect("utf8");
        assert_eq!(
            text,
            r#"{"_id":"00000000010000000000000000","_creationTime":1,"_updateTime":5,"a":2,"b":null}"#
        );
        assert_eq!(p.field("_creationTime").and_then(Value::as_u64), Some(1));
    }
}
