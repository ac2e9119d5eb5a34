//! Change-feed records: one document change of one tenant, in the bytes the feed keeps both
//! in memory and in its segment files.
//!
//! ```text
//! [body length: u32 LE][crc32c(body): u32 LE][crc32c(first 8 header bytes): u32 LE][body]
//! body: shard seq u64, tenant seq u64, tenant epoch u64, ts u64 (all LE), op u8,
//!       tenant length u8, table length u8, the tenant, the table, the change as JSON
//! ```
//!
//! The JSON is the change exactly as `GET /changes` answers it (DECISIONS §12), written once
//! when the change is committed, so a read copies it and never re-encodes a document. The
//! framing is the write-ahead log's (a header with its own checksum), so a torn tail is told
//! apart from damage the same way.

use crate::ids::DocId;
use crate::json::{write_str, write_u64};

/// Bytes before the body.
pub const HEADER_LEN: usize = 12;
/// Bytes of the body before the names.
const FIXED: usize = 35;
/// Largest body accepted when reading (a request body is at most 16 MiB).
const BODY_MAX: usize = 64 << 20;

/// What a change did to its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert = 0,
    Update = 1,
    Delete = 2,
}

impl Op {
    /// Its name in the API.
    pub fn name(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    /// Its bit in a set of ops (a topic's).
    pub fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The op named `s`.
    pub fn parse(s: &str) -> Option<Op> {
        [Op::Insert, Op::Update, Op::Delete]
            .into_iter()
            .find(|o| o.name() == s)
    }

    fn from_u8(b: u8) -> Option<Op> {
        [Op::Insert, Op::Update, Op::Delete]
            .get(b as usize)
            .copied()
    }
}

/// Where a change sits: the shard's log record, the tenant's number for it, and the tenant's
/// incarnation (the shard sequence number that created it, so a tenant deleted and created
/// again never reads its predecessor's changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub seq: u64,
    pub tseq: u64,
    pub epoch: u64,
    pub ts: u64,
}

/// One change to encode.
pub struct Change<'a> {
    pub place: Place,
    pub tenant: &'a str,
    pub table: &'a str,
    pub id: DocId,
    pub op: Op,
    /// The document after the change (its JSON text); `None` for a delete.
    pub document: Option<&'a [u8]>,
}

/// A record read back.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub place: Place,
    pub op: Op,
    pub tenant: &'a str,
    pub table: &'a str,
    /// The change as the API answers it.
    pub json: &'a [u8],
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Appends the record of `c` to `out`.
pub fn encode(c: &Change, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    for n in [c.place.seq, c.place.tseq, c.place.epoch, c.place.ts] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    // Tenant ids and table names are at most 64 bytes (`ids`).
    out.extend_from_slice(&[c.op as u8, c.tenant.len() as u8, c.table.len() as u8]);
    out.extend_from_slice(c.tenant.as_bytes());
    out.extend_from_slice(c.table.as_bytes());
    out.extend_from_slice(b"{\"seq\":");
    write_u64(out, c.place.tseq);
    out.extend_from_slice(b",\"ts\":");
    write_u64(out, c.place.ts);
    out.extend_from_slice(b",\"table\":");
    write_str(out, c.table);
    out.extend_from_slice(b",\"id\":\"");
    c.id.write(out);
    out.extend_from_slice(b"\",\"op\":\"");
    out.extend_from_slice(c.op.name().as_bytes());
    out.extend_from_slice(b"\",\"document\":");
    match c.document {
        Some(d) => out.extend_from_slice(d),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    let body = start + HEADER_LEN;
    let len = ((out.len() - body) as u32).to_le_bytes();
    let crc = crc32c::crc32c(&out[body..]).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + 8].copy_from_slice(&crc);
    let head = crc32c::crc32c(&out[start..start + 8]).to_le_bytes();
    out[start + 8..body].copy_from_slice(&head);
}

/// The record at `pos` of `buf` and where the next one starts, if a whole, intact one is
/// there (both checksums checked: for bytes read from a file).
pub fn read(buf: &[u8], pos: usize) -> Option<(Record<'_>, usize)> {
    if buf.len().saturating_sub(pos) < HEADER_LEN
        || crc32c::crc32c(&buf[pos..pos + 8]) != u32_at(buf, pos + 8)
    {
        return None;
    }
    let len = u32_at(buf, pos) as usize;
    let body = pos + HEADER_LEN;
    if !(FIXED..=BODY_MAX).contains(&len) || buf.len() - body < len {
        return None;
    }
    if crc32c::crc32c(&buf[body..body + len]) != u32_at(buf, pos + 4) {
        return None;
    }
    parse(buf, pos)
}

/// The record at `pos` of bytes this process encoded (the feed's memory): its framing is
/// trusted, so no checksum is computed; a fan-out reads each record once per reader.
pub fn read_trusted(buf: &[u8], pos: usize) -> Option<(Record<'_>, usize)> {
    parse(buf, pos)
}

fn parse(buf: &[u8], pos: usize) -> Option<(Record<'_>, usize)> {
    if buf.len().saturating_sub(pos) < HEADER_LEN {
        return None;
    }
    let len = u32_at(buf, pos) as usize;
    let body = pos + HEADER_LEN;
    if !(FIXED..=BODY_MAX).contains(&len) || buf.len() - body < len {
        return None;
    }
    let b = &buf[body..body + len];
    let (tl, bl) = (b[33] as usize, b[34] as usize);
    if FIXED + tl + bl > len {
        return None;
    }
    let tenant = std::str::from_utf8(&b[FIXED..FIXED + tl]).ok()?;
    let table = std::str::from_utf8(&b[FIXED + tl..FIXED + tl + bl]).ok()?;
    let record = Record {
        place: Place {
            seq: u64_at(b, 0),
            tseq: u64_at(b, 8),
            epoch: u64_at(b, 16),
            ts: u64_at(b, 24),
        },
        op: Op::from_u8(b[32])?,
        tenant,
        table,
        json: &b[FIXED + tl + bl..],
    };
    Some((record, body + len))
}

/// Every intact record of `buf` from its start, stopping at the first that is not: their
/// offsets, and the length of that valid prefix.
pub fn scan(buf: &[u8]) -> (Vec<usize>, usize) {
    let mut at = Vec::new();
    let mut pos = 0;
    while let Some((_, next)) = read(buf, pos) {
        at.push(pos);
        pos = next;
    }
    (at, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(out: &mut Vec<u8>, seq: u64, doc: Option<&[u8]>) {
        encode(
            &Change {
                place: Place {
                    seq,
                    tseq: seq + 100,
                    epoch: 3,
                    ts: 1_700_000_000_000,
                },
                tenant: "acme",
                table: "orders",
                id: DocId(7 << 80),
                op: if doc.is_some() {
                    Op::Insert
                } else {
                    Op::Delete
                },
                document: doc,
            },
            out,
        );
    }

    #[test]
    fn a_record_reads_back_with_its_json() {
        let mut buf = Vec::new();
        sample(&mut buf, 1, Some(br#"{"_id":"x","n":1}"#));
        sample(&mut buf, 2, None);
        let (r, next) = read(&buf, 0).expect("first");
        assert_eq!((r.place.seq, r.place.tseq, r.place.epoch), (1, 101, 3));
        assert_eq!((r.tenant, r.table, r.op), ("acme", "orders", Op::Insert));
        let v = crate::json::parse_once(r.json).expect("json");
        let text = format!("{v:?}");
        assert!(text.contains("101") && text.contains("insert"), "{text}");
        let (r2, end) = read(&buf, next).expect("second");
        assert_eq!((r2.op, end), (Op::Delete, buf.len()));
        assert!(r2.json.ends_with(b"\"document\":null}"));
    }

    #[test]
    fn a_torn_or_flipped_record_is_not_read() {
        let mut buf = Vec::new();
        sample(&mut buf, 1, Some(b"{}"));
        let one = buf.len();
        sample(&mut buf, 2, Some(b"{}"));
        for cut in one..buf.len() {
            assert_eq!(scan(&buf[..cut]), (vec![0], one), "cut at {cut}");
        }
        for byte in one..buf.len() {
            let mut bad = buf.clone();
            bad[byte] ^= 0x10;
            assert_eq!(scan(&bad).1, one, "byte {byte}");
        }
    }
}
