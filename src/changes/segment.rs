//! What the feed knows about each of its segment files without reading them: which records
//! they hold, and for each tenant in them, its first and last change and a few offsets to
//! start a read from. Kept in memory for every retained segment, and written next to a
//! sealed segment as its index (`feed-<first>.idx`) so a restart need not read them all.

use super::record::{read, Place};
use rkyv::rancor;
use rkyv::util::AlignedVec;

type Map<K, V> = hashbrown::HashMap<K, V, ahash::RandomState>;

/// A tenant's records are marked again once this many bytes of the file lie past its last
/// mark: a read seeks to the nearest mark and scans at most this much to find its start.
pub const MARK_EVERY: u64 = 256 << 10;

/// One tenant's records in one segment.
#[derive(Debug, Clone, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct SegTenant {
    pub epoch: u64,
    /// Its first and last tenant sequence numbers here.
    pub first: u64,
    pub last: u64,
    /// (tenant sequence number, file offset) of some of its records, ascending.
    pub marks: Vec<(u64, u64)>,
}

impl SegTenant {
    /// Where to start reading for changes after `after`: the last mark at or before the
    /// first of them.
    pub fn start_for(&self, after: u64) -> u64 {
        let n = self.marks.partition_point(|(t, _)| *t <= after + 1);
        self.marks.get(n.saturating_sub(1)).map_or(0, |(_, at)| *at)
    }
}

/// One segment file.
#[derive(Debug, Clone, Default)]
pub struct SegMeta {
    /// The shard sequence number of its first record (its file's name).
    pub first: u64,
    /// ... and of its last.
    pub last: u64,
    pub bytes: u64,
    /// Commit time of its newest record (retention drops it once that is old enough).
    pub last_ts: u64,
    pub tenants: Map<Box<str>, SegTenant>,
}

/// [`SegMeta`] as its index file holds it.
#[derive(Debug, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Index {
    first: u64,
    last: u64,
    bytes: u64,
    last_ts: u64,
    tenants: Vec<(String, SegTenant)>,
}

impl SegMeta {
    /// An empty segment whose first record will be `first`.
    pub fn new(first: u64) -> SegMeta {
        SegMeta {
            first,
            ..SegMeta::default()
        }
    }

    /// Counts a record of `tenant` at `place`, written at `offset`, `len` bytes long.
    pub fn note(&mut self, tenant: &str, place: Place, offset: u64, len: u64) {
        self.last = place.seq;
        self.last_ts = self.last_ts.max(place.ts);
        self.bytes = offset + len;
        let t = match self.tenants.get_mut(tenant) {
            Some(t) => t,
            None => self.tenants.entry(tenant.into()).or_default(),
        };
        if t.epoch != place.epoch || t.marks.is_empty() {
            // A tenant created again starts afresh: its predecessor's records are never read.
            *t = SegTenant {
                epoch: place.epoch,
                first: place.tseq,
                last: place.tseq,
                marks: vec![(place.tseq, offset)],
            };
            return;
        }
        t.last = place.tseq;
        if t.marks
            .last()
            .is_some_and(|(_, at)| offset - at >= MARK_EVERY)
        {
            t.marks.push((place.tseq, offset));
        }
    }

    /// The metadata of a segment file's bytes, and the length of their intact prefix.
    pub fn of_bytes(first: u64, bytes: &[u8]) -> (SegMeta, usize) {
        let mut meta = SegMeta::new(first);
        let mut pos = 0;
        while let Some((r, next)) = read(bytes, pos) {
            meta.note(r.tenant, r.place, pos as u64, (next - pos) as u64);
            pos = next;
        }
        (meta, pos)
    }

    /// The index file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut tenants: Vec<(String, SegTenant)> = self
            .tenants
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        tenants.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let index = Index {
            first: self.first,
            last: self.last,
            bytes: self.bytes,
            last_ts: self.last_ts,
            tenants,
        };
        let payload = match rkyv::to_bytes::<rancor::Error>(&index) {
            Ok(p) => p,
            Err(e) => panic!("archiving a feed index failed: {e}"),
        };
        let mut out = crc32c::crc32c(&payload).to_le_bytes().to_vec();
        out.extend_from_slice(&payload);
        out
    }

    /// An index file read back; `None` if it is damaged.
    pub fn decode(bytes: &[u8]) -> Option<SegMeta> {
        let (crc, payload) = bytes.split_at_checked(4)?;
        if crc32c::crc32c(payload).to_le_bytes() != crc {
            return None;
        }
        let mut aligned: AlignedVec<16> = AlignedVec::with_capacity(payload.len());
        aligned.extend_from_slice(payload);
        let index = rkyv::from_bytes::<Index, rancor::Error>(&aligned).ok()?;
        Some(SegMeta {
            first: index.first,
            last: index.last,
            bytes: index.bytes,
            last_ts: index.last_ts,
            tenants: index
                .tenants
                .into_iter()
                .map(|(k, v)| (k.into_boxed_str(), v))
                .collect(),
        })
    }
}

/// `feed-<first seq>.log`
pub fn file_name(first: u64) -> String {
    format!("feed-{first:020}.log")
}

/// `feed-<first seq>.idx`
pub fn index_name(first: u64) -> String {
    format!("feed-{first:020}.idx")
}

/// The first sequence number a segment file's name carries.
pub fn first_of(name: &str) -> Option<u64> {
    name.strip_prefix("feed-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::super::record::{encode, Change, Op, Place};
    use super::*;
    use crate::ids::DocId;

    fn records(n: u64, pad: usize) -> Vec<u8> {
        let doc = format!("{{\"p\":\"{}\"}}", "x".repeat(pad));
        let mut out = Vec::new();
        for i in 1..=n {
            encode(
                &Change {
                    place: Place {
                        seq: 10 + i,
                        tseq: i,
                        epoch: 1,
                        ts: 1000 + i,
                    },
                    tenant: if i % 2 == 0 { "a" } else { "b" },
                    table: "t",
                    id: DocId(i as u128),
                    op: Op::Insert,
                    document: Some(doc.as_bytes()),
                },
                &mut out,
            );
        }
        out
    }

    #[test]
    fn a_segment_is_indexed_and_its_index_roundtrips() {
        let bytes = records(2000, 1000);
        let (meta, valid) = SegMeta::of_bytes(11, &bytes);
        assert_eq!(valid, bytes.len());
        assert_eq!((meta.first, meta.last, meta.last_ts), (11, 2010, 3000));
        let a = &meta.tenants["a"];
        assert_eq!((a.first, a.last), (2, 2000));
        assert!(a.marks.len() > 3, "{}", a.marks.len());
        // Reading from a mark finds every record after it.
        let from = a.start_for(1500) as usize;
        let (r, _) = read(&bytes, from).expect("a record at the mark");
        assert!(r.place.tseq <= 1501 && r.tenant == "a");
        let back = SegMeta::decode(&meta.encode()).expect("decodes");
        assert_eq!(back.tenants["a"].marks, a.marks);
        let mut bad = meta.encode();
        bad[10] ^= 1;
        assert!(SegMeta::decode(&bad).is_none());
    }
}
