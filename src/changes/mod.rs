//! The change feed (DECISIONS §12): every document change of every tenant, numbered by the
//! tenant's sequence number, in commit order, retained for `--changes-retention-ms`.
//!
//! Pure and I/O-free like `store`: this part encodes records ([`record`]), keeps the
//! newest of them in memory and knows what each segment file holds ([`feed`],
//! [`segment`]), and builds pages of changes. The log writer thread writes the records to
//! the segment files (`wal::writer`), recovery rebuilds what a crash kept from being
//! written (`wal::feed`), and the shard answers reads and long polls (`shard::changes`).

pub mod feed;
pub mod groups;
pub mod record;
pub mod segment;

pub use feed::Feed;
use record::Record;

/// How much history a feed keeps, and where.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Changes are kept at least this long (0: no feed at all).
    pub retention_ms: u64,
    /// At most this many bytes of segment files (the oldest go first past it).
    pub disk_max: u64,
    /// The newest records kept in memory, in bytes (older reads go to the files).
    pub memory_max: usize,
    /// A segment file is sealed and a new one started past this size.
    pub segment_max: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            retention_ms: 7 * 24 * 3600 * 1000,
            disk_max: 16 << 30,
            memory_max: 32 << 20,
            segment_max: 64 << 20,
        }
    }
}

/// Which changes a read wants: of these tables (all when empty), of these ops (a set of
/// [`record::Op::bit`]s; all when 0).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub tables: Vec<String>,
    pub ops: u8,
}

impl Filter {
    /// Whether `r` is wanted.
    pub fn admits(&self, r: &Record) -> bool {
        (self.tables.is_empty() || self.tables.iter().any(|t| t == r.table))
            && (self.ops == 0 || self.ops & r.op.bit() != 0)
    }
}

/// How a page writes each change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    /// As `GET /changes` does: the change object.
    Change,
    /// As a topic message: the change with `"offset"` (its `seq`) first.
    Message,
}

/// Changes one page holds at most, whatever the limit.
pub const PAGE_MAX: usize = 1000;
/// Bytes of changes one page holds at most (one more change may pass it).
pub const PAGE_BYTES_MAX: usize = 4 << 20;
/// Records a page may look at and pass over (filtered out) before it ends.
pub const PAGE_SCAN_MAX: usize = 20_000;

/// A page of changes: their JSON, comma-separated, and where the reader is now.
#[derive(Debug, Clone)]
pub struct Page {
    pub body: Vec<u8>,
    pub count: usize,
    /// The tenant sequence number the reader has come to: every change up to it was looked
    /// at (returned, or not wanted). The reader's next `after`.
    pub last: u64,
    /// More changes are there to read now.
    pub has_more: bool,
    /// Each change in `body`: its sequence number and byte range, in order.
    pub spans: Vec<(u64, std::ops::Range<usize>)>,
    scanned: usize,
    render: Render,
}

impl Page {
    /// An empty page of a reader at `after`.
    pub fn new(after: u64, render: Render) -> Page {
        Page {
            body: Vec::new(),
            count: 0,
            last: after,
            has_more: false,
            spans: Vec::new(),
            scanned: 0,
            render,
        }
    }

    /// Whether the page can take no more (`limit` changes, or the byte or scan bound).
    pub fn full(&self, limit: usize) -> bool {
        self.count >= limit.min(PAGE_MAX)
            || self.body.len() >= PAGE_BYTES_MAX
            || self.scanned >= PAGE_SCAN_MAX
    }

    fn push(&mut self, r: &Record) {
        if self.count > 0 {
            self.body.push(b',');
        }
        let start = self.body.len();
        match self.render {
            Render::Change => self.body.extend_from_slice(r.json),
            Render::Message => {
                self.body.extend_from_slice(b"{\"offset\":");
                crate::json::write_u64(&mut self.body, r.place.tseq);
                self.body.push(b',');
                self.body.extend_from_slice(&r.json[1..]);
            }
        }
        self.spans.push((r.place.tseq, start..self.body.len()));
        self.count += 1;
    }

    /// Adds a record if the filter admits it; moves the position past it either way.
    pub fn offer(&mut self, r: &Record, filter: &Filter) {
        self.last = r.place.tseq;
        self.scanned += 1;
        if filter.admits(r) {
            self.push(r);
        }
    }

    /// Appends the changes of `later`, a page read on from where this one ended.
    pub fn extend(&mut self, later: Page) {
        if later.count > 0 {
            if self.count > 0 {
                self.body.push(b',');
            }
            let base = self.body.len();
            self.body.extend_from_slice(&later.body);
            let moved = later
                .spans
                .into_iter()
                .map(|(s, r)| (s, r.start + base..r.end + base));
            self.spans.extend(moved);
        }
        self.count += later.count;
        self.scanned += later.scanned;
        self.last = self.last.max(later.last);
        self.has_more = later.has_more;
    }
}
