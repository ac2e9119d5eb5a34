//! Reading JSON text that Nimbus wrote itself: a stored document.
//!
//! A document is kept only as its JSON text (the writer in this module's parent made it, so
//! it is valid, compact and has no whitespace). Queries need a field or two of it, not all of
//! it, so this finds one top-level field by skipping the others and decodes just that value.
//! Malformed text yields `None` rather than a panic, though the store never holds any.

use crate::value::{Object, Value};

/// Index just past the string literal whose opening quote is at `at`.
fn skip_str(b: &[u8], mut at: usize) -> Option<usize> {
    at += 1;
    loop {
        match *b.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
}

/// Index just past the value that starts at `at`.
fn skip(b: &[u8], mut at: usize) -> Option<usize> {
    match *b.get(at)? {
        b'"' => skip_str(b, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match *b.get(at)? {
                    b'"' => {
                        at = skip_str(b, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        _ => {
            while at < b.len() && !matches!(b[at], b',' | b'}' | b']') {
                at += 1;
            }
            Some(at)
        }
    }
}

/// Calls `f(raw key, raw value)` for each top-level entry of object text `obj` until it
/// returns true.
fn entries<'a>(obj: &'a [u8], mut f: impl FnMut(&'a [u8], &'a [u8]) -> bool) -> Option<()> {
    let mut at = 1;
    loop {
        match *obj.get(at)? {
            b'}' => return Some(()),
            b',' => at += 1,
            _ => {}
        }
        let key_end = skip_str(obj, at)?;
        let key = obj.get(at + 1..key_end - 1)?;
        let start = key_end + 1;
        let end = skip(obj, start)?;
        if f(key, obj.get(start..end)?) {
            return Some(());
        }
        at = end;
    }
}

/// The raw text of top-level field `name` of object text `obj`.
pub fn field<'a>(obj: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut found = None;
    entries(obj, |k, v| {
        let hit = if k.contains(&b'\\') {
            unescape(k).is_some_and(|s| &*s == name)
        } else {
            k == name.as_bytes()
        };
        if hit {
            found = Some(v);
        }
        hit
    })?;
    found
}

/// The top-level entries of object text `obj`, skipping the first `skip_first`.
pub fn object(obj: &[u8], skip_first: usize) -> Option<Object> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut ok = true;
    entries(obj, |k, v| {
        n += 1;
        if n > skip_first {
            match (unescape(k), value(v)) {
                (Some(k), Some(v)) => out.push((k, v)),
                _ => ok = false,
            }
        }
        !ok
    })?;
    ok.then_some(out)
}

/// Decodes one value's text.
pub fn value(text: &[u8]) -> Option<Value> {
    let (v, end) = parse(text, 0)?;
    (end == text.len()).then_some(v)
}

fn parse(b: &[u8], at: usize) -> Option<(Value, usize)> {
    Some(match *b.get(at)? {
        b'n' => (Value::Null, at + 4),
        b't' => (Value::Bool(true), at + 4),
        b'f' => (Value::Bool(false), at + 5),
        b'"' => {
            let end = skip_str(b, at)?;
            (Value::Str(unescape(b.get(at + 1..end - 1)?)?), end)
        }
        b'[' => {
            let mut items = Vec::new();
            let mut at = at + 1;
            if *b.get(at)? != b']' {
                loop {
                    let (v, end) = parse(b, at)?;
                    items.push(v);
                    match *b.get(end)? {
                        b',' => at = end + 1,
                        b']' => {
                            at = end;
                            break;
                        }
                        _ => return None,
                    }
                }
            }
            (Value::Array(items), at + 1)
        }
        b'{' => {
            let end = skip(b, at)?;
            (Value::Object(object(b.get(at..end)?, 0)?), end)
        }
        _ => {
            let end = skip(b, at)?;
            (number(b.get(at..end)?)?, end)
        }
    })
}

fn number(text: &[u8]) -> Option<Value> {
    let s = std::str::from_utf8(text).ok()?;
    if !s.contains(['.', 'e', 'E']) {
        if let Ok(i) = s.parse::<i64>() {
            return Some(Value::Int(i));
        }
        if let Ok(u) = s.parse::<u64>() {
            return Some(Value::UInt(u));
        }
    }
    s.parse::<f64>().ok().map(Value::Float)
}

/// The text of a string literal's inside, unescaped.
fn unescape(raw: &[u8]) -> Option<Box<str>> {
    if !raw.contains(&b'\\') {
        return std::str::from_utf8(raw).ok().map(Box::from);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *raw.get(i + 1)?;
        i += 2;
        match e {
            b'"' | b'\\' | b'/' => out.push(e),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'u' => {
                let hex = |at: usize| {
                    std::str::from_utf8(raw.get(at..at + 4)?)
                        .ok()
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                };
                let mut code = hex(i)?;
                i += 4;
                if (0xD800..0xDC00).contains(&code) && raw.get(i..i + 2) == Some(b"\\u") {
                    let low = hex(i + 2)?;
                    code = 0x10000 + ((code - 0xD800) << 10) + (low.checked_sub(0xDC00)?);
                    i += 6;
                }
                let ch = char::from_u32(code)?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok().map(String::into_boxed_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{parse_once, write_value};
    use crate::value::equal;
    use proptest::prelude::*;

    fn value_strategy() -> impl Strategy<Value = Value> {
        crate::value::arbitrary::value(".{0,6}")
    }

    proptest! {
        /// What the writer writes, this reads back: the same value, kind for kind.
        #[test]
        fn reads_what_the_writer_wrote(v in value_strategy()) {
            let mut text = Vec::new();
            write_value(&mut text, &v);
            let back = value(&text);
            prop_assert!(back.as_ref().is_some_and(|b| equal(b, &v) && b.kind() == v.kind()), "{:?} -> {:?}", v, back);
            let full = parse_once(&text).map_err(|e| TestCaseError::fail(e.0))?;
            prop_assert!(equal(&full, back.as_ref().expect("value")));
        }

        /// Each field of an object is found by name.
        #[test]
        fn finds_every_field(v in proptest::collection::vec((".{0,4}", value_strategy()), 0..5)) {
            let o = crate::value::arbitrary::object(v);
            let mut text = Vec::new();
            write_value(&mut text, &Value::Object(o.clone()));
            for (k, val) in &o {
                let raw = field(&text, k).expect("present");
                prop_assert!(value(raw).is_some_and(|b| equal(&b, val)));
            }
            let name = "\u{0}absent";
            let absent = field(&text, name).is_none();
            prop_assert!(absent || o.iter().any(|(k, _)| &**k == name));
            let all = object(&text, 0).expect("object");
            prop_assert_eq!(all.len(), o.len());
        }
    }
}
