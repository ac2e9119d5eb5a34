//! Stopping a shard without cutting off a request it already read.
//!
//! At SIGTERM a shard stops accepting (its listener is shut down, which also wakes the
//! pending accept), ends its WebSockets and event streams, and then waits until no connection has a request
//! in progress or an answer not yet written: a write being answered has its commit made
//! durable first, as always. Connections answer what they are doing and then close. Idle
//! keep-alive connections hold no request, so they are simply closed when the process ends.
//!
//! Also the count of open connections, for `--connections-max`.

use super::Shard;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a stopping shard waits for the requests in progress.
pub const DRAIN_MAX: Duration = Duration::from_millis(2500);
/// How long no connection must be busy before a stopping shard is done.
const DRAIN_IDLE: Duration = Duration::from_millis(30);

impl Shard {
    /// Remembers the listening socket, to shut it down when the server stops.
    pub fn set_listener_fd(&self, fd: i32) {
        self.listener_fd.set(fd);
    }

    /// Counts an open connection until the guard is dropped.
    pub fn open_conn(self: &Rc<Self>) -> OpenConn {
        self.open_conns.set(self.open_conns.get() + 1);
        OpenConn {
            shard: self.clone(),
        }
    }

    /// Whether this shard holds its share of `--connections-max`.
    pub fn conns_full(&self) -> bool {
        let share = self.config.connections_max.div_ceil(self.mesh.cores());
        self.open_conns.get() as usize >= share
    }

    /// Whether the server is stopping: connections close after their current answer.
    pub fn draining(&self) -> bool {
        self.draining.get()
    }

    /// A connection started a request (`true`) or wrote out all it answered (`false`).
    pub fn set_busy(&self, busy: bool) {
        let n = self.busy_conns.get();
        self.busy_conns
            .set(if busy { n + 1 } else { n.saturating_sub(1) });
    }

    /// Stops accepting, ends WebSockets, and waits (at most [`DRAIN_MAX`]) for the
    /// requests in progress to be answered.
    pub async fn drain(&self) {
        self.draining.set(true);
        let fd = self.listener_fd.replace(-1);
        if fd >= 0 {
            // SAFETY: shutting down (not closing) the listener this shard owns; the accept
            // loop sees its pending accept fail and stops.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
        let deadline = Instant::now() + DRAIN_MAX;
        // Long polls of the change feed answer what they have, and event streams end.
        self.state.borrow_mut().log.feed.wake_all();
        self.close_all_sockets().await;
        // Idle for a moment in a row: a request already on its way to an idle keep-alive
        // connection is read and answered too.
        let mut idle_since = None;
        while Instant::now() < deadline {
            if self.busy_conns.get() > 0 {
                idle_since = None;
            } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= DRAIN_IDLE {
                break;
            }
            monoio::time::sleep(Duration::from_millis(2)).await;
        }
        if self.busy_conns.get() > 0 {
            crate::log::warn(
                "drain",
                &format!(
                    "shard {}: {} connections still busy at shutdown",
                    self.id,
                    self.busy_conns.get()
                ),
                &[],
            );
        }
    }
}

/// An open connection, counted while it lives.
pub struct OpenConn {
    shard: Rc<Shard>,
}

impl Drop for OpenConn {
    fn drop(&mut self) {
        let n = self.shard.open_conns.get();
        self.shard.open_conns.set(n.saturating_sub(1));
    }
}
