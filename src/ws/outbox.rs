//! A connection's outbound queue: what the writer task sends, in order.
//!
//! Bounded by construction: live-query results are queued at most [`RESULTS_PER_SUB_MAX`]
//! times per subscription (past that, a newer result replaces the newest one still waiting,
//! so a reader that keeps up sees every version and a slow one always ends on the latest
//! state), and other frames (replies, errors, pongs) are capped; a client that makes the cap
//! overflow without reading is cut off.

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
#[derive(Default)]
pub struct Outbox {
    queue: RefCell<VecDeque<Out>>,
    subs: RefCell<hashbrown::HashMap<u32, SubInfo>>,
    others: Cell<usize>,
    /// A close frame is queued: nothing more is accepted.
    closing: Cell<bool>,
    /// The reader should stop (set with `closing`, or when the writer fails).
    ended: Cell<bool>,
    writer: RefCell<Option<Waker>>,
    reader: RefCell<Option<Waker>>,
}

impl Outbox {
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
        self.queue.borrow_mut().push_back(item);
        self.wake_writer();
        true
    }

    /// Queues a pong.
    pub fn push_pong(&self, payload: Vec<u8>) {
        if !self.closing.get() && self.others.get() < OTHER_FRAMES_MAX {
            self.others.set(self.others.get() + 1);
            self.queue.borrow_mut().push_back(Out::Pong(payload));
            self.wake_writer();
        }
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
        self.queue
            .borrow_mut()
            .retain(|o| !matches!(o, Out::Result { sub: s, .. } if *s == sub));
        known
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
        let mut q = self.queue.borrow_mut();
        let mut waiting = q.iter_mut().filter_map(|o| match o {
            Out::Result { sub: s, delivery } if *s == sub => Some(delivery),
            _ => None,
        });
        if let Some(newest) = waiting.by_ref().nth(RESULTS_PER_SUB_MAX - 1) {
            *waiting.last().unwrap_or(newest) = delivery;
            return;
        }
        q.push_back(Out::Result { sub, delivery });
        drop(q);
        self.wake_writer();
    }

    /// Calls `f` with the request id a subscription echoes; `None` if it ended.
    pub fn with_request_id<T>(&self, sub: u32, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        self.subs.borrow().get(&sub).map(|i| f(&i.request_id))
    }

    /// Takes the next frame if one waits.
    pub fn try_next(&self) -> Option<Out> {
        let item = self.queue.borrow_mut().pop_front()?;
        if matches!(item, Out::Text(_) | Out::Binary(_) | Out::Pong(_)) {
            self.others.set(self.others.get().saturating_sub(1));
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
            version,
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
    fn too_many_unread_replies_end_the_connection() {
        let o = Outbox::default();
        for _ in 0..OTHER_FRAMES_MAX {
            assert!(o.push_text(b"{}".to_vec()));
        }
        assert!(!o.push_text(b"{}".to_vec()));
        assert!(o.is_ended());
    }
}
