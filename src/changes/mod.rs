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
    /// As a Server-Sent Event `change` with the `seq` as its `id:`, whole and ready to send:
    /// an event stream writes the page as it is, with no second pass over it per reader.
    Event,
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

    /// Puts the separator between two changes in `body` when it holds one already.
    fn separate(&mut self) {
        if self.count > 0 && self.render != Render::Event {
            self.body.push(b',');
        }
    }

    fn push(&mut self, r: &Record) {
        if self.body.capacity() == 0 {
            // Most pages of a stream hold a change or two: one allocation, not six growths.
            self.body.reserve(r.json.len().max(240) * 2);
        }
        self.separate();
        let start = self.body.len();
        let body = &mut self.body;
        match self.render {
            Render::Change => body.extend_from_slice(r.json),
            Render::Message => {
                body.extend_from_slice(b"{\"offset\":");
                crate::json::write_u64(body, r.place.tseq);
                body.push(b',');
                body.extend_from_slice(&r.json[1..]);
            }
            Render::Event => {
                body.extend_from_slice(b"id: ");
                crate::json::write_u64(body, r.place.tseq);
                body.extend_from_slice(b"\nevent: change\n");
                // Stored JSON has no raw line breaks; were one there, each line is its own
                // `data:`, as the standard reads them.
                if r.json.contains(&b'\n') {
                    for line in r.json.split(|&b| b == b'\n') {
                        body.extend_from_slice(b"data: ");
                        body.extend_from_slice(line);
                        body.push(b'\n');
                    }
                } else {
                    body.extend_from_slice(b"data: ");
                    body.extend_from_slice(r.json);
                    body.push(b'\n');
                }
                body.push(b'\n');
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
            self.separate();
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

#[cfg(test)]
mod tests {
    use super::record::{Op, Place, Record};
    use super::*;

    fn record(tseq: u64, json: &[u8]) -> Record<'_> {
        Record {
            place: Place {
                seq: tseq,
                tseq,
                epoch: 1,
                ts: 0,
            },
            op: Op::Insert,
            tenant: "acme",
            table: "orders",
            json,
        }
    }

    #[test]
    fn an_event_page_is_whole_server_sent_events() {
        let mut page = Page::new(0, Render::Event);
        page.offer(&record(1, br#"{"seq":1}"#), &Filter::default());
        page.offer(&record(2, b"{\"seq\":\n2}"), &Filter::default());
        let text = String::from_utf8(page.body.clone()).expect("utf-8");
        assert_eq!(
            text,
            "id: 1\nevent: change\ndata: {\"seq\":1}\n\nid: 2\nevent: change\ndata: {\"seq\":\ndata: 2}\n\n"
        );
        assert_eq!((page.count, page.last), (2, 2));
        let mut later = Page::new(2, Render::Event);
        later.offer(&record(3, b"{}"), &Filter::default());
        page.extend(later);
        assert!(page
            .body
            .ends_with(b"\n\nid: 3\nevent: change\ndata: {}\n\n"));
        assert_eq!(
            &page.body[page.spans[2].1.clone()],
            b"id: 3\nevent: change\ndata: {}\n\n"
        );
    }

    #[test]
    fn a_change_page_is_comma_separated() {
        let mut page = Page::new(0, Render::Change);
        page.offer(&record(1, b"{\"a\":1}"), &Filter::default());
        page.offer(&record(2, b"{\"a\":2}"), &Filter::default());
        assert_eq!(page.body, b"{\"a\":1},{\"a\":2}");
    }
}
