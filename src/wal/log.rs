//! The shard's side of its log: sequence numbers, encoding records, handing batches (with
//! the change feed's records) to the writer thread, and who waits for what to be durable.

use super::record::{encode, Entry};
use super::writer::{Shared, WriterMsg};
use crate::changes::Feed;
use crate::store::Change;
use futures_channel::oneshot;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};

/// The shard's side of its log: assigns sequence numbers, encodes records, hands batches to
/// the writer, and tracks who waits for what.
pub struct Log {
    tx: mpsc::Sender<WriterMsg>,
    shared: Arc<Shared>,
    buf: Vec<u8>,
    /// The last sequence number assigned.
    seq: u64,
    /// The last sequence number handed to the writer.
    handed: u64,
    /// Log bytes written since the last snapshot began.
    pub bytes_since_snapshot: u64,
    /// Records and bytes appended since the process started (metrics).
    pub appended: u64,
    pub bytes_total: u64,
    /// While a backup copies this shard: every frame appended since it began.
    pub tap: Option<Vec<u8>>,
    waiters: Vec<(u64, Waker)>,
    /// The change feed: its records go to the writer with the log records they come from.
    pub feed: Feed,
}

impl Log {
    /// A log whose last durable record is `seq`, and its change feed.
    pub fn new(tx: mpsc::Sender<WriterMsg>, shared: Arc<Shared>, seq: u64, feed: Feed) -> Log {
        Log {
            feed,
            tx,
            shared,
            buf: Vec::with_capacity(64 * 1024),
            seq,
            handed: seq,
            bytes_since_snapshot: 0,
            appended: 0,
            bytes_total: 0,
            tap: None,
            waiters: Vec::new(),
        }
    }

    /// The last sequence number assigned.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Every record up to this one is durable.
    pub fn durable(&self) -> u64 {
        self.shared.durable_seq.load(Ordering::Acquire)
    }

    /// The disk is failing: writes must be refused.
    pub fn failing(&self) -> bool {
        self.shared.failing.load(Ordering::Acquire)
    }

    /// Records `change` under the next sequence number, with the tenant's sequence number
    /// `tseq` after it and its time `ts`; gives the change back to be applied.
    pub fn append(&mut self, change: Change, tseq: u64, ts: u64) -> (u64, Change) {
        self.seq += 1;
        let entry = Entry {
            seq: self.seq,
            change,
            tseq,
            ts,
        };
        let before = self.buf.len();
        encode(&entry, &mut self.buf);
        let bytes = (self.buf.len() - before) as u64;
        if let Some(tap) = &mut self.tap {
            tap.extend_from_slice(&self.buf[before..]);
        }
        self.bytes_since_snapshot += bytes;
        self.bytes_total += bytes;
        self.appended += 1;
        (entry.seq, entry.change)
    }

    /// Hands the pending records to the writer if it is idle (else they wait for the next
    /// round, and share its sync).
    pub fn kick(&mut self) {
        if (!self.buf.is_empty() || self.feed.has_pending()) && self.handed <= self.durable() {
            self.hand_off();
        }
    }

    fn hand_off(&mut self) {
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(64 * 1024));
        // A closed channel means the writer is gone (shutdown): nothing more becomes durable.
        let _ = self.tx.send(WriterMsg::Batch {
            data,
            last_seq: self.seq,
            feed: self.feed.take_batch(self.seq),
        });
        self.handed = self.seq;
    }

    /// Starts a new segment after the records so far; returns the last sequence number
    /// in the old segments (the label of the snapshot that allows dropping them).
    pub fn rotate(&mut self) -> u64 {
        if !self.buf.is_empty() {
            self.hand_off();
        }
        let _ = self.tx.send(WriterMsg::Rotate {
            first_seq: self.seq + 1,
        });
        self.bytes_since_snapshot = 0;
        self.seq
    }

    /// Asks the writer to sync the change feed's open segment (everything it has written);
    /// the answer comes once it has. With no feed, it answers at once.
    pub fn sync_feed(&self) -> oneshot::Receiver<io::Result<()>> {
        let (ack, rx) = oneshot::channel();
        if let Err(mpsc::SendError(WriterMsg::SyncFeed { ack })) =
            self.tx.send(WriterMsg::SyncFeed { ack })
        {
            let _ = ack.send(Err(io::Error::other("the log writer has stopped")));
        }
        rx
    }

    /// Has the writer remove change-feed segments retention let go.
    pub fn drop_feed(&self, firsts: Vec<u64>) {
        let _ = self.tx.send(WriterMsg::DropFeed { firsts });
    }

    /// Registers a waker for when `seq` is durable.
    pub fn wait_for(&mut self, seq: u64, waker: &Waker) {
        self.waiters.push((seq, waker.clone()));
    }

    /// Wakes everyone whose record is now durable, then hands off what has accumulated.
    pub fn progress(&mut self) {
        let durable = self.durable();
        self.feed.progress(durable);
        self.waiters.retain(|(seq, w)| {
            if *seq <= durable {
                w.wake_by_ref();
                false
            } else {
                true
            }
        });
        self.kick();
    }
}

/// Resolves when the writer reports progress (or a change in its failing state).
pub struct Progress {
    pub shared: Arc<Shared>,
    pub seen: (u64, bool),
}

impl Future for Progress {
    type Output = (u64, bool);
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(u64, bool)> {
        let now = || {
            (
                self.shared.durable_seq.load(Ordering::Acquire),
                self.shared.failing.load(Ordering::Acquire),
            )
        };
        if now() != self.seen {
            return Poll::Ready(now());
        }
        self.shared.waker.register(cx.waker());
        let n = now();
        if n != self.seen {
            Poll::Ready(n)
        } else {
            Poll::Pending
        }
    }
}
