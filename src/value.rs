//! JSON values as Nimbus stores and compares them.
//!
//! This is the ground floor: the store, the query engine and (later) the log and the
//! subscription index all speak `Value`. It knows nothing about HTTP or shards.
//!
//! Order (DECISIONS §5): missing < null < number < boolean < string < array < object.
//! Numbers compare numerically across integers and floats; strings by UTF-8 bytes; arrays
//! element by element; objects entry by entry in key order (so key order in the text never
//! matters, and deep equality is `cmp == Equal`).

use std::cmp::Ordering;

/// A JSON value. Objects keep the order their keys were written in.
///
/// It is also archived with `rkyv` in log records and snapshots, so recovery rebuilds values
/// without parsing JSON text (the bounds below are what a recursive archived type needs).
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(serialize_bounds(__S: rkyv::ser::Writer + rkyv::ser::Allocator, __S::Error: rkyv::rancor::Source))]
#[rkyv(deserialize_bounds(__D::Error: rkyv::rancor::Source))]
#[rkyv(bytecheck(bounds(__C: rkyv::validation::ArchiveContext, __C::Error: rkyv::rancor::Source)))]
pub enum Value {
    Null,
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    Float(f64),
    Str(Box<str>),
    Array(#[rkyv(omit_bounds)] Vec<Value>),
    Object(#[rkyv(omit_bounds)] Object),
}

/// An object's entries, in the order they were written. Keys are unique.
pub type Object = Vec<(Box<str>, Value)>;

/// The kind of a value, ranked in the order of DECISIONS §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Null = 1,
    Number = 2,
    Bool = 3,
    Str = 4,
    Array = 5,
    Object = 6,
}

impl Value {
    /// The kind of this value.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Null => Kind::Null,
            Value::Int(_) | Value::UInt(_) | Value::Float(_) => Kind::Number,
            Value::Bool(_) => Kind::Bool,
            Value::Str(_) => Kind::Str,
            Value::Array(_) => Kind::Array,
            Value::Object(_) => Kind::Object,
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The entries inside, if this is an object.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// A non-negative integer, if this is one.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Int(i) if i >= 0 => Some(i as u64),
            Value::UInt(u) => Some(u),
            Value::Float(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => {
                Some(f as u64)
            }
            _ => None,
        }
    }

    /// The entry `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|o| get(o, key))
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind() {
            Kind::Null => "null",
            Kind::Number => "number",
            Kind::Bool => "boolean",
            Kind::Str => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

/// The entry `key` of an object's entries.
pub fn get<'a>(object: &'a Object, key: &str) -> Option<&'a Value> {
    object.iter().find(|(k, _)| &**k == key).map(|(_, v)| v)
}

/// Total order of two values (DECISIONS §5).
pub fn cmp(a: &Value, b: &Value) -> Ordering {
    let (ka, kb) = (a.kind(), b.kind());
    if ka != kb {
        return ka.cmp(&kb);
    }
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Array(x), Value::Array(y)) => cmp_seq(x.iter(), y.iter(), cmp),
        (Value::Object(x), Value::Object(y)) => cmp_objects(x, y),
        _ => cmp_numbers(a, b),
    }
}

/// Order of two optional values: a missing field sorts before everything.
pub fn cmp_opt(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => cmp(x, y),
    }
}

/// Deep equality, consistent with [`cmp`].
pub fn equal(a: &Value, b: &Value) -> bool {
    cmp(a, b) == Ordering::Equal
}

fn cmp_seq<I, F>(mut x: I, mut y: I, f: F) -> Ordering
where
    I: Iterator,
    F: Fn(I::Item, I::Item) -> Ordering,
{
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(a), Some(b)) => match f(a, b) {
                Ordering::Equal => {}
                other => return other,
            },
        }
    }
}

fn cmp_objects(x: &Object, y: &Object) -> Ordering {
    let (sx, sy) = (sorted_entries(x), sorted_entries(y));
    cmp_seq(sx.into_iter(), sy.into_iter(), |a, b| {
        a.0.as_bytes()
            .cmp(b.0.as_bytes())
            .then_with(|| cmp(&a.1, &b.1))
    })
}

fn sorted_entries(o: &Object) -> Vec<&(Box<str>, Value)> {
    let mut v: Vec<&(Box<str>, Value)> = o.iter().collect();
    v.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    v
}

/// Numeric order across `i64`, `u64` and `f64`, exact for integers.
fn cmp_numbers(a: &Value, b: &Value) -> Ordering {
    use Value::{Float, Int, UInt};
    match (a, b) {
        (Int(x), Int(y)) => x.cmp(y),
        (UInt(x), UInt(y)) => x.cmp(y),
        (Int(x), UInt(y)) => (*x as i128).cmp(&(*y as i128)),
        (UInt(x), Int(y)) => (*x as i128).cmp(&(*y as i128)),
        // `-0.0 == 0.0`, as with integers; JSON has no NaN.
        (Float(x), Float(y)) => x.partial_cmp(y).unwrap_or_else(|| x.total_cmp(y)),
        (Float(x), _) => cmp_float_int(*x, int_of(b)),
        (_, Float(y)) => cmp_float_int(*y, int_of(a)).reverse(),
        _ => Ordering::Equal,
    }
}

fn int_of(v: &Value) -> i128 {
    match *v {
        Value::Int(i) => i as i128,
        Value::UInt(u) => u as i128,
        _ => 0,
    }
}

/// Compares a float with an integer without losing precision on large integers.
fn cmp_float_int(f: f64, i: i128) -> Ordering {
    if f.is_nan() {
        return Ordering::Greater;
    }
    let fi = i as f64;
    match f.partial_cmp(&fi) {
        Some(Ordering::Equal) => {
            // `i as f64` rounded; decide on the exact integer value of `f` (it is integral here).
            if f.abs() < 1.7e38 {
                (f as i128).cmp(&i)
            } else {
                Ordering::Equal
            }
        }
        Some(o) => o,
        None => Ordering::Equal,
    }
}

/// Random values for property tests.
#[cfg(test)]
pub mod arbitrary {
    use super::{Object, Value};
    use proptest::prelude::*;

    /// An object from entries, keeping the first of any repeated key.
    pub fn object(entries: Vec<(String, Value)>) -> Object {
        let mut o: Object = Vec::new();
        for (k, v) in entries {
            if !o.iter().any(|(x, _)| **x == *k) {
                o.push((k.into(), v));
            }
        }
        o
    }

    /// Any JSON value, nested up to 3 deep, with strings and keys drawn from the regex
    /// `strings`; numbers include the edges where integers and floats meet.
    pub fn value(strings: &'static str) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            (-3i64..3).prop_map(Value::Int),
            (i64::MAX as u64..=u64::MAX).prop_map(Value::UInt),
            prop_oneof![
                Just(0.0),
                Just(-0.0),
                Just(1.0),
                Just(-2.5),
                Just(9.007_199_254_740_993e15),
                any::<f64>().prop_filter("finite", |f| f.is_finite())
            ]
            .prop_map(Value::Float),
            strings.prop_map(|s| Value::Str(s.into())),
        ];
        leaf.prop_recursive(3, 16, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((strings, inner), 0..4)
                    .prop_map(|kv| Value::Object(object(kv))),
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn kinds_are_ranked() {
        let ordered = [
            Value::Null,
            Value::Int(-5),
            Value::Float(2.5),
            Value::Bool(false),
            Value::Bool(true),
            s(""),
            s("a"),
            Value::Array(vec![]),
            Value::Object(vec![]),
        ];
        for w in ordered.windows(2) {
            assert_eq!(cmp(&w[0], &w[1]), Ordering::Less, "{:?} < {:?}", w[0], w[1]);
        }
        assert_eq!(cmp_opt(None, Some(&Value::Null)), Ordering::Less);
    }

    #[test]
    fn numbers_mix_exactly() {
        assert!(equal(&Value::Int(1), &Value::Float(1.0)));
        assert_eq!(cmp(&Value::Int(2), &Value::Float(1.5)), Ordering::Greater);
        assert_eq!(cmp(&Value::Float(1.5), &Value::Int(2)), Ordering::Less);
        assert_eq!(
            cmp(&Value::UInt(u64::MAX), &Value::Int(i64::MAX)),
            Ordering::Greater
        );
        // 2^53 + 1 is not representable as f64; the integer must still be greater.
        let big = (1i64 << 53) + 1;
        assert_eq!(
            cmp(&Value::Int(big), &Value::Float((1i64 << 53) as f64)),
            Ordering::Greater
        );
    }

    #[test]
    fn objects_ignore_key_order() {
        let a = Value::Object(vec![
            ("x".into(), Value::Int(1)),
            ("y".into(), Value::Int(2)),
        ]);
        let b = Value::Object(vec![
            ("y".into(), Value::Int(2)),
            ("x".into(), Value::Int(1)),
        ]);
        assert!(equal(&a, &b));
    }

    #[test]
    fn strings_by_bytes() {
        assert_eq!(cmp(&s("B"), &s("a")), Ordering::Less);
        assert_eq!(cmp(&s("ab"), &s("abc")), Ordering::Less);
    }
}
