//! A connection's outbound queue: what the writer task sends, in order.
//!
//! Bounded in bytes and in frames: live-query results are queued at most
//! [`RESULTS_PER_SUB_MAX`] times per subscription, and only while the queue holds less than
//! its byte limit; past either, a newer result replaces the newest one still waiting, so a
//! reader that keeps up sees every version and a slow one always ends on the latest state.
//! A subscription with nothing waiting whose result would pass the byte limit, or a client
//! that lets other frames (replies, errors) pile up past their cap, is cut off. The reader
//! stops reading client frames while the writer is behind ([`Outbox::room`]), so a ping
//! flood is answered pong for ping, at the pace the client reads them.

use crate::subs::Delivery;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Frames waiting besides live-query results, at most.
const OTHER_FRAMES_MAX: usize = 1024;
/// Results waiting per subscription, at most (as many as one hand-out sends).
pub const RESULTS_PER_SUB_MAX: usize = crate::subs::RESULTS_KEPT;

/// One queued frame.
pub enum Out {
    /// A text frame of JSON.
    Text(Vec<u8>),
    /// A binary frame (only the conformance echo session sends these).
    Binary(Vec<u8>),
    /// The latest result of subscription `sub`.
    Result { sub: u32, delivery: Arc<Delivery> },
    /// A pong answering a ping.
    Pong(Vec<u8>),
    /// A close frame; the writer stops after it.
    Close { code: u16, reason: String },
}

/// Per subscription: the request id to echo and the last version queued.
struct SubInfo {
    request_id: Vec<u8>,
    version: Option<u64>,
}

/// The queue, shared (`Rc`) by the connection's reader, its writer, and the shard.
pub struct Outbox {
    queue: RefCell<VecDeque<Out>>,
    subs: RefCell<hashbrown::HashMap<u32, SubInfo>>,
    others: Cell<usize>,
    /// Payload bytes queued, and the most allowed.
    bytes: Cell<usize>,
    bytes_max: usize,
    /// A close frame is queued: nothing more is accepted.
    closing: Cell<bool>,
    /// The reader should stop (set with `closing`, or when the writer fails).
    ended: Cell<bool>,
    writer: RefCell<Option<Waker>>,
    reader: RefCell<Option<Waker>>,
}

impl Default for Outbox {
    fn default() -> Outbox {
        Outbox::new(16 << 20)
    }
}

fn size_of(item: &Out) -> usize {
    match item {
        Out::Text(b) | Out::Binary(b) | Out::Pong(b) => b.len(),
        Out::Result { delivery, .. } => delivery.data.len(),
        Out::Close { .. } => 0,
    }
}

impl Outbox {
    /// An empty queue that holds at most `bytes_max` bytes of payloads.
    pub fn new(bytes_max: usize) -> Outbox {
        Outbox {
            queue: RefCell::default(),
            subs: RefCell::default(),
            others: Cell::new(0),
            bytes: Cell::new(0),
            bytes_max,
            closing: Cell::new(false),
            ended: Cell::new(false),
            writer: RefCell::default(),
            reader: RefCell::default(),
        }
    }

    /// Subscriptions open on this connection.
    pub fn sub_count(&self) -> usize {
        self.subs.borrow().len()
    }

    /// Bytes of payload waiting.
    pub fn bytes(&self) -> usize {
        self.bytes.get()
    }

    fn add_bytes(&self, n: usize) {
        self.bytes.set(self.bytes.get() + n);
    }

    fn sub_bytes(&self, n: usize) {
        self.bytes.set(self.bytes.get().saturating_sub(n));
    }

    fn wake_writer(&self) {
        if let Some(w) = self.writer.borrow_mut().take() {
            w.wake();
        }
    }

    /// Ends the connection from the server side: the reader stops at its next turn.
    pub fn end(&self) {
        self.ended.set(true);
        if let Some(w) = self.reader.borrow_mut().take() {
            w.wake();
        }
        self.wake_writer();
    }

    /// Whether the connection is ending.
    pub fn is_ended(&self) -> bool {
        self.ended.get()
    }

    /// Queues a text frame; `false` (and the connection ends) when the client has let too
    /// many pile up.
    pub fn push_text(&self, frame: Vec<u8>) -> bool {
        self.push_other(Out::Text(frame))
    }

    /// Queues a binary frame, under the same cap as text frames.
    pub fn push_binary(&self, frame: Vec<u8>) -> bool {
        self.push_other(Out::Binary(frame))
    }

    fn push_other(&self, item: Out) -> bool {
        if self.closing.get() {
            return true;
        }
        if self.others.get() >= OTHER_FRAMES_MAX {
            self.close(1008, "too many unread frames");
            return false;
        }
        self.others.set(self.others.get() + 1);
        self.add_bytes(size_of(&item));
        self.queue.borrow_mut().push_back(item);
        self.wake_writer();
        true
    }

    /// Queues a pong. The reader waits for [`Outbox::room`] before reading the next frame,
    /// so the cap is reached only by a client that stopped reading; then the newest pong
    /// waiting answers for the pings before it, as RFC 6455 §5.5.3 allows.
    pub fn push_pong(&self, payload: Vec<u8>) {
        if self.closing.get() {
            return;
        }
        let mut q = self.queue.borrow_mut();
        if self.others.get() >= OTHER_FRAMES_MAX {
            if let Some(Out::Pong(p)) = q.iter_mut().rev().find(|o| matches!(o, Out::Pong(_))) {
                let (old, new) = (p.len(), payload.len());
                *p = payload;
                self.sub_bytes(old);
                self.add_bytes(new);
            }
            return;
        }
        self.others.set(self.others.get() + 1);
        self.add_bytes(payload.len());
        q.push_back(Out::Pong(payload));
        drop(q);
        self.wake_writer();
    }

    /// Resolves when the writer has caught up enough for the reader to take the next
    /// client frame (or the connection ended).
    pub fn room(&self) -> Room<'_> {
        Room { outbox: self }
    }

    fn has_room(&self) -> bool {
        self.others.get() < OTHER_FRAMES_MAX / 2
    }

    /// Queues a close frame (after what is queued) and ends the connection.
    pub fn close(&self, code: u16, reason: &str) {
        if !self.closing.replace(true) {
            self.queue.borrow_mut().push_back(Out::Close {
                code,
                reason: reason.to_string(),
            });
        }
        self.end();
    }

    /// Ends the connection with a `fatal_error` frame carrying `e`, then a close frame.
    pub fn fatal(&self, e: &crate::error::Error, trace_id: &str, close_code: u16) {
        self.push_text(super::frames::error("fatal_error", e, trace_id));
        self.close(close_code, e.code());
    }

    /// Starts a subscription whose results echo `request_id` (JSON text).
    pub fn add_sub(&self, sub: u32, request_id: Vec<u8>) {
        self.subs.borrow_mut().insert(
            sub,
            SubInfo {
                request_id,
                version: None,
            },
        );
    }

    /// Ends a subscription; its queued result, if any, is dropped. `false` if unknown.
    pub fn remove_sub(&self, sub: u32) -> bool {
        let known = self.subs.borrow_mut().remove(&sub).is_some();
        let mut dropped = 0;
        self.queue.borrow_mut().retain(|o| match o {
            Out::Result { sub: s, delivery } if *s == sub => {
                dropped += delivery.data.len();
                false
            }
            _ => true,
        });
        self.sub_bytes(dropped);
        known
    }

    /// The client has `sub`'s result of `version`: only newer ones are queued.
    pub fn seen_version(&self, sub: u32, version: u64) {
        if let Some(info) = self.subs.borrow_mut().get_mut(&sub) {
            info.version = Some(version);
        }
    }

    /// Queues a result for `sub` unless it is not newer than one already queued or sent;
    /// when the subscription already has its fill waiting, the newest of those is replaced.
    pub fn push_result(&self, sub: u32, delivery: Arc<Delivery>) {
        if self.closing.get() {
            return;
        }
        {
            let mut subs = self.subs.borrow_mut();
            let Some(info) = subs.get_mut(&sub) else {
                return;
            };
            if info.version.is_some_and(|v| delivery.version <= v) {
                return;
            }
            info.version = Some(delivery.version);
        }
        let new = delivery.data.len();
        let mut q = self.queue.borrow_mut();
        let mut waiting = q.iter_mut().filter_map(|o| match o {
            Out::Result { sub: s, delivery } if *s == sub => Some(delivery),
            _ => None,
        });
        let full = self.bytes.get() + new > self.bytes_max;
        let newest = if full {
            waiting.last()
        } else {
            match waiting.by_ref().nth(RESULTS_PER_SUB_MAX - 1) {
                Some(first) => Some(waiting.last().unwrap_or(first)),
                None => None,
            }
        };
        if let Some(slot) = newest {
            let old = slot.data.len();
            *slot = delivery;
            drop(q);
            self.sub_bytes(old);
            self.add_bytes(new);
            return;
        }
        if full && self.bytes.get() > 0 {
            drop(q);
            // Nothing of this subscription waits, and its result does not fit beside what
            // does: the client reads far slower than its results change.
            self.close(1008, "the client reads too slowly");
            return;
        }
        q.push_back(Out::Result { sub, delivery });
        drop(q);
        self.add_bytes(new);
        self.wake_writer();
    }

    /// Calls `f` with the request id a subscription echoes; `None` if it ended.
    pub fn with_request_id<T>(&self, sub: u32, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        self.subs.borrow().get(&sub).map(|i| f(&i.request_id))
    }

    /// Takes the next frame if one waits.
    pub fn try_next(&self) -> Option<Out> {
        let item = self.queue.borrow_mut().pop_front()?;
        self.sub_bytes(size_of(&item));
        if matches!(item, Out::Text(_) | Out::Binary(_) | Out::Pong(_)) {
            self.others.set(self.others.get().saturating_sub(1));
            if self.has_room() {
                if let Some(w) = self.reader.borrow_mut().take() {
                    w.wake();
                }
            }
        }
        Some(item)
    }

    /// Takes the next frame to send; waits when there is none. `None`: the connection ended
    /// and everything queued was taken.
    pub fn next(&self) -> Next<'_> {
        Next { outbox: self }
    }

    /// Resolves when the connection is ended by the server.
    pub fn ended(&self) -> Ended<'_> {
        Ended { outbox: self }
    }

    /// Frames waiting (for tests and limits).
    pub fn len(&self) -> usize {
        self.queue.borrow().len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.borrow().is_empty()
    }
}

/// Future of [`Outbox::next`].
pub struct Next<'a> {
    outbox: &'a Outbox,
}

impl Future for Next<'_> {
    type Output = Option<Out>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Out>> {
        let o = self.outbox;
        if let Some(item) = o.try_next() {
            return Poll::Ready(Some(item));
        }
        if o.ended.get() {
            return Poll::Ready(None);
        }
        *o.writer.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Future of [`Outbox::room`].
pub struct Room<'a> {
    outbox: &'a Outbox,
}

impl Future for Room<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.outbox.ended.get() || self.outbox.has_room() {
            return Poll::Ready(());
        }
        *self.outbox.reader.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Future of [`Outbox::ended`].
pub struct Ended<'a> {
    outbox: &'a Outbox,
}

impl Future for Ended<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.outbox.ended.get() {
            return Poll::Ready(());
        }
        *self.outbox.reader.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(version: u64, text: &str) -> Arc<Delivery> {
        Arc::new(Delivery {
            data: text.as_bytes().into(),
            error: None,
            at: std::time::Instant::now(),
            version,
            seq: version,
        })
    }

    #[test]
    fn a_slow_reader_keeps_a_bounded_queue_ending_on_the_latest() {
        let o = Outbox::default();
        o.add_sub(1, b"\"r\"".to_vec());
        o.add_sub(2, b"\"q\"".to_vec());
        for v in 1..=1000 {
            o.push_result(1, d(v, "[1]"));
        }
        o.push_result(2, d(5, "[2]"));
        o.push_result(1, d(3, "[old]"));
        let n = RESULTS_PER_SUB_MAX;
        assert_eq!(o.len(), n + 1, "bounded whatever the number of commits");
        let versions: Vec<u64> = o
            .queue
            .borrow()
            .iter()
            .filter_map(|q| match q {
                Out::Result { sub: 1, delivery } => Some(delivery.version),
                _ => None,
            })
            .collect();
        let mut want: Vec<u64> = (1..n as u64).collect();
        want.push(1000);
        assert_eq!(versions, want, "the first in order, then the latest");
        assert!(o.remove_sub(1));
        assert_eq!(o.len(), 1);
        o.push_result(1, d(2000, "[x]"));
        assert_eq!(o.len(), 1, "results of an ended subscription are dropped");
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_and_keeps_the_latest() {
        let o = Outbox::new(1000);
        o.add_sub(1, b"1".to_vec());
        o.add_sub(2, b"2".to_vec());
        let big = |v| {
            Arc::new(Delivery {
                data: vec![b'x'; 400].into(),
                version: v,
                seq: v,
                error: None,
                at: std::time::Instant::now(),
            })
        };
        o.push_result(1, big(1));
        o.push_result(1, big(2));
        o.push_result(1, big(3)); // past the limit: replaces version 2
        assert_eq!((o.len(), o.bytes()), (2, 800));
        o.push_result(2, big(4)); // nothing of sub 2 waits and it does not fit: cut off
        assert!(o.is_ended());
        assert!(o.bytes() <= 1000);
    }

    #[test]
    fn too_many_unread_replies_end_the_connection() {
        let o = Outbox::default();
        for _ in 0..OTHER_FRAMES_MAX {
            assert!(o.push_text(b"{}".to_vec()));
        }
        assert!(!o.push_text(b"{}".to_vec()));
        assert!(o.is_ended());
    }
}
