//! Names and identities: tenant ids, table names, document ids (DECISIONS §2).
//!
//! Document ids are ULIDs written as 26 lowercase Crockford base32 characters. Each tenant
//! has its own [`IdGen`], so a later insert always gets a greater id, even within one
//! millisecond, and the id's time part is the document's `_creationTime`.

use std::fmt;

/// Checks a tenant id: 1–64 chars of `[A-Za-z0-9_-]`.
pub fn valid_tenant_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks a table name: 1–64 chars, `[A-Za-z][A-Za-z0-9_]*`.
pub fn valid_table_name(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Crockford's base32 alphabet, lowercase.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A document or job id: a ULID.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct DocId(pub u128);

impl DocId {
    /// Parses the 26-character form (either case).
    pub fn parse(s: &str) -> Option<DocId> {
        let bytes = s.as_bytes();
        // 26 characters carry 130 bits; the first may only use the low 3.
        if bytes.len() != 26 || !matches!(bytes[0], b'0'..=b'7') {
            return None;
        }
        let mut v: u128 = 0;
        for &c in bytes {
            let digit = ALPHABET.iter().position(|&a| a == c.to_ascii_lowercase())?;
            v = (v << 5) | digit as u128;
        }
        Some(DocId(v))
    }

    /// The millisecond timestamp inside the id.
    pub fn millis(self) -> u64 {
        (self.0 >> 80) as u64
    }

    /// Writes the 26 lowercase characters into `out`.
    pub fn write(self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 26];
        out.extend_from_slice(self.encode(&mut buf));
    }

    /// Encodes into a stack buffer.
    pub fn encode(self, buf: &mut [u8; 26]) -> &[u8] {
        let mut v = self.0;
        for slot in buf.iter_mut().rev() {
            *slot = ALPHABET[(v & 31) as usize];
            v >>= 5;
        }
        &buf[..]
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 26];
        let bytes = self.encode(&mut buf);
        f.write_str(std::str::from_utf8(bytes).map_err(|_| fmt::Error)?)
    }
}

/// Monotonic ULID generator: time in the high 48 bits, randomness below, and never less
/// than one more than the last id it gave.
#[derive(Debug, Default, Clone)]
pub struct IdGen {
    last: u128,
}

impl IdGen {
    /// A new id for a write at `now_ms`.
    pub fn next(&mut self, now_ms: u64) -> DocId {
        let random = ulid::Ulid::new().random();
        let fresh = ((now_ms as u128) << 80) | random;
        // Saturating: client-chosen ids are kept a day from the end of time
        // ([`check_client_id`]), so the space above `last` never runs out.
        let id = if fresh > self.last {
            fresh
        } else {
            self.last.saturating_add(1)
        };
        self.last = id;
        DocId(id)
    }

    /// The greatest id given or observed so far (0 if none).
    pub fn last(&self) -> u128 {
        self.last
    }

    /// Makes sure later ids sort after `id` (an id taken from a client or a replay).
    /// Client ids pass [`check_client_id`] first.
    pub fn observe(&mut self, id: DocId) {
        self.last = self.last.max(id.0);
    }
}

/// How far ahead of now a client-chosen id's time part may be.
pub const CLIENT_ID_AHEAD_MS: u64 = 24 * 3600 * 1000;

/// A client may choose a document's id, but not one dated far in the future: every later
/// id of the tenant must sort after it, and one at the top of the id space (e.g.
/// `7zzzzzzzzzzzzzzzzzzzzzzzzz`) would leave no room for any.
pub fn check_client_id(id: DocId, now_ms: u64) -> Result<(), String> {
    if id.millis() > now_ms.saturating_add(CLIENT_ID_AHEAD_MS) {
        return Err(format!(
            "document id `{id}` is dated more than a day ahead of now; choose an id whose time \
             part is not in the future, or let the server choose one"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_id_at_the_top_of_the_space_is_refused_and_the_generator_never_wraps() {
        let top = DocId::parse("7zzzzzzzzzzzzzzzzzzzzzzzzz").expect("valid");
        assert!(check_client_id(top, 1_800_000_000_000).is_err());
        let now = DocId(1_800_000_000_000u128 << 80);
        assert!(check_client_id(now, 1_800_000_000_000).is_ok());
        let mut g = IdGen::default();
        g.observe(top);
        assert_eq!(g.next(1).0, u128::MAX, "saturates, never wraps to 0");
    }

    #[test]
    fn names() {
        assert!(valid_tenant_id("demo-1_A"));
        assert!(!valid_tenant_id(""));
        assert!(!valid_tenant_id("a/b"));
        assert!(!valid_tenant_id(&"a".repeat(65)));
        assert!(valid_table_name("messages_2"));
        assert!(!valid_table_name("2messages"));
        assert!(!valid_table_name("_x"));
        assert!(!valid_table_name("a-b"));
    }

    #[test]
    fn ids_are_monotonic_within_a_millisecond() {
        let mut g = IdGen::default();
        let a = g.next(1000);
        let b = g.next(1000);
        let c = g.next(999); // a clock that stepped back
        assert!(a < b && b < c);
        assert_eq!(a.millis(), 1000);
    }

    #[test]
    fn rejects_malformed_ids() {
        assert!(DocId::parse("abc").is_none());
        assert!(DocId::parse("01jx2x9w7d2f0v6q8t3k5r9e1!").is_none());
        assert!(DocId::parse("01jx2x9w7d2f0v6q8t3k5r9e1b").is_some());
        // The first character carries only 3 bits; 8 and above overflow 128 bits.
        assert!(DocId::parse("81jx2x9w7d2f0v6q8t3k5r9e1b").is_none());
    }

    proptest! {
        #[test]
        fn text_form_roundtrips(x in any::<u128>()) {
            let id = DocId(x);
            let text = id.to_string();
            prop_assert_eq!(text.len(), 26);
            prop_assert_eq!(text.to_ascii_lowercase(), text.clone());
            prop_assert_eq!(DocId::parse(&text), Some(id));
        }
    }
}
