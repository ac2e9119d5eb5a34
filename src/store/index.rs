//! Secondary indexes: a table's documents ordered by some fields, then by `_id`.
//!
//! An entry is one byte string: each indexed field's value in an order-preserving encoding,
//! then the document's `_id` (16 bytes, big-endian). Comparing entries as bytes is comparing
//! `(field values…, _id)` in the value order of DECISIONS §5, so a `BTreeSet` of entries
//! answers equality on leading fields plus a range or an order on the next one by walking
//! one contiguous range. Entries hold no document, only its id.
//!
//! An index is created empty and filled in steps ([`Index::build_step`]) so a new index on a
//! large table never stops the shard; until it is complete it is maintained only for the
//! documents already covered and the planner does not use it.

use super::Doc;
use crate::ids::DocId;
use crate::value::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Encoding tags, in value order. `END` closes arrays and objects and is below every tag.
const END: u8 = 0x00;
/// A missing field.
const MISSING: u8 = 0x01;
const NULL: u8 = 0x02;
const NUMBER: u8 = 0x03;
const BOOL: u8 = 0x04;
const STR: u8 = 0x05;
const ARRAY: u8 = 0x06;
const OBJECT: u8 = 0x07;
/// Inside an object, before each entry (above `END`).
const ENTRY: u8 = 0x01;

/// Length of the `_id` suffix of every entry.
pub const ID_LEN: usize = 16;

/// The first byte of an encoded value of `v`'s kind; the next kind's tag bounds it above.
pub fn kind_tag(v: &Value) -> u8 {
    match v {
        Value::Null => NULL,
        Value::Bool(_) => BOOL,
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => NUMBER,
        Value::Str(_) => STR,
        Value::Array(_) => ARRAY,
        Value::Object(_) => OBJECT,
    }
}

/// Appends the order-preserving encoding of a field value (`None`: missing).
///
/// For any two values, comparing encodings as bytes gives `value::cmp_opt`, and equal
/// values (`1` and `1.0` included) encode to equal bytes. Encodings are prefix-free, so a
/// tuple of them compares field by field.
pub fn encode_opt(out: &mut Vec<u8>, v: Option<&Value>) {
    match v {
        None => out.push(MISSING),
        Some(v) => encode(out, v),
    }
}

/// Appends the order-preserving encoding of a value.
pub fn encode(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(b) => out.extend_from_slice(&[BOOL, u8::from(*b)]),
        Value::Int(i) => encode_number(out, *i as f64, Some(*i as i128)),
        Value::UInt(u) => encode_number(out, *u as f64, Some(*u as i128)),
        Value::Float(f) => encode_number(out, *f, None),
        Value::Str(s) => {
            out.push(STR);
            encode_bytes(out, s.as_bytes());
        }
        Value::Array(items) => {
            out.push(ARRAY);
            for item in items {
                encode(out, item);
            }
            out.push(END);
        }
        Value::Object(entries) => {
            out.push(OBJECT);
            let mut sorted: Vec<&(Box<str>, Value)> = entries.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (k, v) in sorted {
                out.push(ENTRY);
                encode_bytes(out, k.as_bytes());
                encode(out, v);
            }
            out.push(END);
        }
    }
}

/// Bytes with `00` escaped as `00 FF`, closed by `00 00`: order-preserving and prefix-free.
fn encode_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// A number: the nearest `f64` in an order-preserving form, then the exact integer's
/// distance from it (only integers beyond 2^53 have one), so every integer stays distinct
/// and an integer equal to a float encodes like it.
fn encode_number(out: &mut Vec<u8>, approx: f64, exact: Option<i128>) {
    let f = if approx == 0.0 { 0.0 } else { approx };
    let bits = f.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    out.push(NUMBER);
    out.extend_from_slice(&ordered.to_be_bytes());
    let delta = match exact {
        Some(i) if f.is_finite() => (i - f as i128) as i64,
        _ => 0,
    };
    match delta.cmp(&0) {
        std::cmp::Ordering::Equal => out.push(0x80),
        std::cmp::Ordering::Less => {
            out.push(0x7F);
            out.extend_from_slice(&((delta as u64) ^ 1 << 63).to_be_bytes());
        }
        std::cmp::Ordering::Greater => {
            out.push(0x81);
            out.extend_from_slice(&((delta as u64) ^ 1 << 63).to_be_bytes());
        }
    }
}

/// The `_id` at the end of an entry.
pub fn entry_id(entry: &[u8]) -> DocId {
    let mut b = [0u8; ID_LEN];
    if let Some(tail) = entry.len().checked_sub(ID_LEN).map(|at| &entry[at..]) {
        b.copy_from_slice(tail);
    }
    DocId(u128::from_be_bytes(b))
}

/// One index of a table.
#[derive(Debug)]
pub struct Index {
    pub name: String,
    pub fields: Vec<String>,
    pub entries: BTreeSet<Box<[u8]>>,
    /// While building: documents with `_id` at or above this are not indexed yet.
    pending_from: Option<DocId>,
}

impl Index {
    /// An empty index that still has to be built over the table's documents.
    pub fn new(name: &str, fields: &[String]) -> Index {
        Index {
            name: name.to_string(),
            fields: fields.to_vec(),
            entries: BTreeSet::new(),
            pending_from: Some(DocId(0)),
        }
    }

    /// Whether every document is indexed (the planner uses only ready indexes).
    pub fn ready(&self) -> bool {
        self.pending_from.is_none()
    }

    /// The entry of `doc` in this index.
    pub fn key(&self, doc: &Doc) -> Box<[u8]> {
        let mut k = Vec::with_capacity(32);
        for f in &self.fields {
            encode_opt(&mut k, doc.field(f).as_ref());
        }
        k.extend_from_slice(&doc.id.0.to_be_bytes());
        k.into_boxed_slice()
    }

    fn covers(&self, id: DocId) -> bool {
        self.pending_from.is_none_or(|p| id < p)
    }

    /// Keeps the index in step with one document changing from `old` to `new`.
    pub fn update(&mut self, old: Option<&Doc>, new: Option<&Doc>) {
        let Some(id) = old.or(new).map(|d| d.id) else {
            return;
        };
        if !self.covers(id) {
            return; // the build will meet this document in its current state
        }
        let old_key = old.map(|d| self.key(d));
        let new_key = new.map(|d| self.key(d));
        if old_key == new_key {
            return;
        }
        if let Some(k) = old_key {
            self.entries.remove(&k);
        }
        if let Some(k) = new_key {
            self.entries.insert(k);
        }
    }

    /// Indexes up to `budget` more documents in `_id` order; true once the index is ready.
    pub fn build_step(&mut self, docs: &BTreeMap<DocId, Doc>, budget: usize) -> bool {
        let Some(from) = self.pending_from else {
            return true;
        };
        let mut next = None;
        for (n, (id, doc)) in docs.range(from..).enumerate() {
            if n == budget {
                next = Some(*id);
                break;
            }
            let k = self.key(doc);
            self.entries.insert(k);
        }
        self.pending_from = next;
        next.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::cmp_opt;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        // Few distinct strings, with NUL bytes: equal and prefix-sharing strings are common.
        crate::value::arbitrary::value("[a\u{0}b]{0,3}")
    }

    fn enc(v: &Option<Value>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_opt(&mut out, v.as_ref());
        out
    }

    proptest! {
        /// Byte order of encodings is the value order, and equal values encode alike.
        #[test]
        fn encoding_preserves_order(a in proptest::option::of(value()), b in proptest::option::of(value())) {
            prop_assert_eq!(enc(&a).cmp(&enc(&b)), cmp_opt(a.as_ref(), b.as_ref()));
        }

        /// Tuples compare field by field: encodings are prefix-free.
        #[test]
        fn tuples_compare_fieldwise(a in value(), b in value(), x in value(), y in value()) {
            let mut l = enc(&Some(a.clone()));
            l.extend(enc(&Some(x.clone())));
            let mut r = enc(&Some(b.clone()));
            r.extend(enc(&Some(y.clone())));
            let want = crate::value::cmp(&a, &b).then_with(|| crate::value::cmp(&x, &y));
            prop_assert_eq!(l.cmp(&r), want);
        }
    }

    #[test]
    fn big_integers_and_floats_interleave() {
        let two53 = 1i64 << 53;
        let vals = [
            Value::Int(two53),
            Value::Float(two53 as f64),
            Value::Int(two53 + 1),
            Value::Float((two53 + 2) as f64),
            Value::Int(two53 + 3),
        ];
        for w in vals.windows(2) {
            let (a, b) = (enc(&Some(w[0].clone())), enc(&Some(w[1].clone())));
            assert_eq!(
                a.cmp(&b),
                crate::value::cmp(&w[0], &w[1]),
                "{:?} {:?}",
                w[0],
                w[1]
            );
        }
    }

    #[test]
    fn builds_in_steps_and_tracks_writes_meanwhile() {
        let mut docs = BTreeMap::new();
        for n in 0..10u128 {
            let id = DocId((n + 1) << 80);
            docs.insert(
                id,
                Doc::new(id, 1, 1, &vec![("x".into(), Value::Int(n as i64 % 3))]),
            );
        }
        let mut ix = Index::new("by_x", &["x".to_string()]);
        assert!(!ix.build_step(&docs, 4));
        // A write to a covered document and one to a document not reached yet.
        let first = DocId(1 << 80);
        let late = DocId(9 << 80);
        let moved = docs[&first].patched(&vec![("x".into(), Value::Int(7))], 2);
        ix.update(docs.get(&first), Some(&moved));
        docs.insert(first, moved);
        let moved = docs[&late].patched(&vec![("x".into(), Value::Int(8))], 2);
        ix.update(docs.get(&late), Some(&moved));
        docs.insert(late, moved);
        while !ix.build_step(&docs, 4) {}
        let want: BTreeSet<Box<[u8]>> = docs.values().map(|d| ix.key(d)).collect();
        assert_eq!(ix.entries, want);
        assert!(ix.ready());
    }
}
