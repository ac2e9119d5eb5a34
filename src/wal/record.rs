//! Log records and their framing.
//!
//! A frame is a 12-byte header and a payload:
//!
//! ```text
//! [payload length: u32 LE][crc32c(payload): u32 LE][crc32c(first 8 header bytes): u32 LE][payload]
//! ```
//!
//! The payload is an [`Entry`] archived with `rkyv`. The top bit of the length says which
//! layout: set for entries that carry the tenant's sequence number and the commit time (the
//! change feed's, DECISIONS §12), clear for the older ones without them, which still replay.
//! The header has its own checksum so a
//! flipped bit in a length cannot pass for a torn write and swallow the records after it.
//! Scanning a log stops at the first bad frame: if no valid frame follows it, it is a torn
//! tail (a write cut short by a crash), to be truncated; if a valid frame follows, the log
//! is corrupt in the middle, and nothing after the bad frame is applied.

use crate::store::Change;
use rkyv::rancor;
use rkyv::util::AlignedVec;

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 12;
/// Largest payload accepted when reading (a request body is at most 16 MiB).
pub const PAYLOAD_MAX: usize = 256 << 20;

/// The length bit that marks an [`Entry`] with `tseq` and `ts`.
const NUMBERED: u32 = 1 << 31;

/// One committed change with its place in the shard's sequence.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Entry {
    /// The shard's commit sequence number, from 1, strictly increasing.
    pub seq: u64,
    pub change: Change,
    /// The tenant's sequence number after this commit (it numbers each document the commit
    /// writes); 0 for a change that writes none, and in records written before it existed.
    pub tseq: u64,
    /// When it was committed, ms since the epoch (0 in records written before it existed).
    pub ts: u64,
}

/// A record as logged before entries were numbered per tenant.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct EntryV1 {
    seq: u64,
    change: Change,
}

/// Appends the frame of `entry` to `out`.
pub fn encode(entry: &Entry, out: &mut Vec<u8>) {
    let payload = match rkyv::to_bytes::<rancor::Error>(entry) {
        Ok(p) => p,
        // Serialising plain owned data into memory cannot fail short of allocation failure.
        Err(e) => panic!("archiving a log entry failed: {e}"),
    };
    let len = (payload.len() as u32 | NUMBERED).to_le_bytes();
    let crc = crc32c::crc32c(&payload).to_le_bytes();
    let mut head8 = [0u8; 8];
    head8[..4].copy_from_slice(&len);
    head8[4..].copy_from_slice(&crc);
    out.extend_from_slice(&head8);
    out.extend_from_slice(&crc32c::crc32c(&head8).to_le_bytes());
    out.extend_from_slice(&payload);
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

/// The payload range of a well-formed frame at `pos`, and whether it is numbered.
fn frame_at(buf: &[u8], pos: usize) -> Option<(std::ops::Range<usize>, bool)> {
    if buf.len() - pos < HEADER_LEN {
        return None;
    }
    if crc32c::crc32c(&buf[pos..pos + 8]) != u32_at(buf, pos + 8) {
        return None;
    }
    let word = u32_at(buf, pos);
    let len = (word & !NUMBERED) as usize;
    let start = pos + HEADER_LEN;
    if len > PAYLOAD_MAX || buf.len() - start < len {
        return None;
    }
    let good = crc32c::crc32c(&buf[start..start + len]) == u32_at(buf, pos + 4);
    good.then_some((start..start + len, word & NUMBERED != 0))
}

/// Decodes a payload whose checksum matched.
fn decode(payload: &[u8], numbered: bool) -> Option<Entry> {
    let mut aligned: AlignedVec<16> = AlignedVec::with_capacity(payload.len());
    aligned.extend_from_slice(payload);
    if numbered {
        return rkyv::from_bytes::<Entry, rancor::Error>(&aligned).ok();
    }
    let old = rkyv::from_bytes::<EntryV1, rancor::Error>(&aligned).ok()?;
    Some(Entry {
        seq: old.seq,
        change: old.change,
        tseq: 0,
        ts: 0,
    })
}

/// How a scanned log ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// Every byte belongs to a valid frame.
    Clean,
    /// The last `dropped` bytes are an incomplete or damaged final write.
    Torn { dropped: usize },
    /// A bad frame at `offset` is followed by valid ones: damage, not a torn write.
    Corrupt { offset: usize },
}

/// The result of reading a log segment.
#[derive(Debug)]
pub struct Scan {
    pub entries: Vec<Entry>,
    /// Length of the valid prefix.
    pub valid_len: usize,
    pub tail: Tail,
}

/// Reads every valid frame of `buf`, stopping at the first bad one.
pub fn scan(buf: &[u8]) -> Scan {
    let mut entries = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let entry = frame_at(buf, pos)
            .and_then(|(r, numbered)| decode(&buf[r.clone()], numbered).map(|e| (e, r.end)));
        match entry {
            Some((e, end)) => {
                entries.push(e);
                pos = end;
            }
            None => {
                let later_valid = (pos + 1..buf.len()).any(|p| frame_at(buf, p).is_some());
                let tail = if later_valid {
                    Tail::Corrupt { offset: pos }
                } else {
                    Tail::Torn {
                        dropped: buf.len() - pos,
                    }
                };
                return Scan {
                    entries,
                    valid_len: pos,
                    tail,
                };
            }
        }
    }
    Scan {
        entries,
        valid_len: pos,
        tail: Tail::Clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DocId;
    use crate::value::Value;

    fn entry(seq: u64) -> Entry {
        Entry {
            seq,
            tseq: seq,
            ts: 1_700_000_000_000 + seq,
            change: Change::Insert {
                tenant: "t".into(),
                table: "m".into(),
                id: DocId(seq as u128),
                at_ms: 5,
                fields: vec![
                    (
                        "a".into(),
                        Value::Array(vec![Value::Int(1), Value::Str("x".into())]),
                    ),
                    (
                        "o".into(),
                        Value::Object(vec![("k".into(), Value::Float(1.5))]),
                    ),
                ],
            },
        }
    }

    fn log(n: u64) -> (Vec<u8>, Vec<usize>) {
        let mut buf = Vec::new();
        let mut ends = Vec::new();
        for seq in 1..=n {
            encode(&entry(seq), &mut buf);
            ends.push(buf.len());
        }
        (buf, ends)
    }

    #[test]
    fn roundtrips() {
        let (buf, _) = log(3);
        let s = scan(&buf);
        assert_eq!(s.tail, Tail::Clean);
        assert_eq!(
            s.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        match &s.entries[0].change {
            Change::Insert { fields, .. } => assert_eq!(fields.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_tail_cut_at_every_offset_of_the_last_record_is_torn() {
        let (buf, ends) = log(3);
        for cut in ends[1]..ends[2] {
            let s = scan(&buf[..cut]);
            assert_eq!(s.entries.len(), 2, "cut at {cut}");
            assert_eq!(s.valid_len, ends[1]);
            let expected = if cut == ends[1] {
                Tail::Clean
            } else {
                Tail::Torn {
                    dropped: cut - ends[1],
                }
            };
            assert_eq!(s.tail, expected, "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_is_detected_and_never_applied() {
        let (buf, ends) = log(3);
        let starts = [0, ends[0], ends[1]];
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                let s = scan(&bad);
                let hit = starts.iter().rposition(|&st| st <= byte).expect("record");
                // Everything before the damaged record is applied, nothing from it on.
                assert_eq!(s.entries.len(), hit, "byte {byte} bit {bit}");
                if hit < 2 {
                    assert_eq!(
                        s.tail,
                        Tail::Corrupt {
                            offset: starts[hit]
                        },
                        "byte {byte} bit {bit}"
                    );
                } else {
                    assert!(matches!(s.tail, Tail::Torn { .. }), "byte {byte} bit {bit}");
                }
            }
        }
    }

    #[test]
    fn records_logged_before_tenant_numbering_still_replay() {
        let mut buf = Vec::new();
        for seq in 1..=2u64 {
            let old = EntryV1 {
                seq,
                change: entry(seq).change,
            };
            let payload = rkyv::to_bytes::<rancor::Error>(&old).expect("archive");
            let len = (payload.len() as u32).to_le_bytes();
            let crc = crc32c::crc32c(&payload).to_le_bytes();
            let head8 = [len, crc].concat();
            buf.extend_from_slice(&head8);
            buf.extend_from_slice(&crc32c::crc32c(&head8).to_le_bytes());
            buf.extend_from_slice(&payload);
        }
        encode(&entry(3), &mut buf);
        let s = scan(&buf);
        assert_eq!(s.tail, Tail::Clean);
        let got: Vec<(u64, u64, u64)> = s.entries.iter().map(|e| (e.seq, e.tseq, e.ts)).collect();
        assert_eq!(got, vec![(1, 0, 0), (2, 0, 0), (3, 3, 1_700_000_000_003)]);
    }

    #[test]
    fn zeroed_tail_is_torn() {
        let (mut buf, ends) = log(1);
        buf.extend_from_slice(&[0u8; 100]);
        let s = scan(&buf);
        assert_eq!((s.entries.len(), s.valid_len), (1, ends[0]));
        assert_eq!(s.tail, Tail::Torn { dropped: 100 });
    }
}
