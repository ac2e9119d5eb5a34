//! Following the log: a write waits here until its record is durable; the shard wakes those
//! writes as the log writer reports progress, hands it the next batch, and takes snapshots
//! when the log has grown enough.

use super::{Shard, YieldNow};
use crate::error::{Error, Result};
use crate::wal::snapshot::{persist, Copier};
use crate::wal::writer::Progress;
use futures_channel::oneshot;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Documents copied per step of a snapshot, between which requests are served.
const SNAPSHOT_STEP_DOCS: usize = 2048;
/// How long after a failed snapshot the next is tried.
const SNAPSHOT_RETRY: Duration = Duration::from_secs(5);

impl Shard {
    /// Waits until the record `seq` is durable (0: nothing to wait for).
    pub(super) async fn durable(&self, seq: u64) -> Result<()> {
        if seq == 0 {
            return Ok(());
        }
        let wait = Duration::from_millis(self.config.durable_wait_ms);
        monoio::time::timeout(wait, WaitDurable { shard: self, seq }).await.map_err(|_| {
            Error::Unavailable(
                "the write could not be made durable in time (the disk is failing or full); it was not acknowledged".into(),
            )
        })
    }

    /// Follows the log writer: wakes the writes it made durable, hands it the next batch, and
    /// starts a snapshot when the log has grown past the threshold.
    pub async fn serve_log(self: Rc<Self>) {
        let shared = self.wal.shared.clone();
        let mut seen = (0, false);
        loop {
            seen = Progress {
                shared: shared.clone(),
                seen,
            }
            .await;
            let (want_snapshot, batches) = {
                let mut state = self.state.borrow_mut();
                state.log.progress();
                let durable = state.log.durable();
                let batches = state.subs.take_durable(durable, self.mesh.cores());
                (
                    state.log.bytes_since_snapshot
                        >= self
                            .config
                            .snapshot_log_bytes
                            .max(self.snapshot_bytes.get()),
                    batches,
                )
            };
            self.fan_out(batches);
            let waiting = self
                .snapshot_retry_at
                .get()
                .is_some_and(|at| std::time::Instant::now() < at);
            if want_snapshot && !self.snapshotting.get() && !waiting {
                self.snapshotting.set(true);
                monoio::spawn(self.clone().snapshot());
            }
        }
    }

    /// Takes a snapshot: rotates the log, copies the state in steps between requests, and
    /// has a helper thread write it and drop the log segments it covers.
    async fn snapshot(self: Rc<Self>) {
        let (mut copier, rotated_bytes) = {
            let mut state = self.state.borrow_mut();
            let rotated_bytes = state.log.bytes_since_snapshot;
            let label = state.log.rotate();
            (Copier::new(&state.store, label), rotated_bytes)
        };
        let snapshot = loop {
            let done = copier.step(&self.state.borrow().store, SNAPSHOT_STEP_DOCS);
            match done {
                Some(s) => break s,
                None => YieldNow(false).await,
            }
        };
        // The log records the snapshot covers go once it is written; recovery rebuilds lost
        // feed records from them, so the feed must first hold everything through the end of
        // the copy (a replay over the fuzzy snapshot before that point would read later state).
        if let Err(e) = self.feed_settled().await {
            let msg = format!(
                "shard {}: snapshot put off: the change feed could not be synced: {e}",
                self.id
            );
            crate::log::warn("snapshot", &msg, &[]);
            self.state.borrow_mut().log.bytes_since_snapshot += rotated_bytes;
            self.snapshot_retry_at
                .set(Some(std::time::Instant::now() + SNAPSHOT_RETRY));
            self.snapshotting.set(false);
            return;
        }
        let (tx, rx) = oneshot::channel();
        let (disk, dir, shared) = (
            self.wal.disk.clone(),
            self.wal.dir.clone(),
            self.wal.shared.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("nimbus-snapshot".into())
            .spawn(move || {
                let _ = tx.send(persist(&*disk, &dir, &snapshot, &shared));
            });
        let outcome = match spawned {
            Ok(_) => rx
                .await
                .unwrap_or_else(|_| Err(std::io::Error::other("snapshot thread died"))),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(size) => {
                self.snapshot_bytes.set(size);
                self.snapshot_retry_at.set(None);
            }
            Err(e) => {
                let msg = format!(
                    "shard {}: snapshot failed (the log still has everything; retrying in {} s): {e}",
                    self.id,
                    SNAPSHOT_RETRY.as_secs()
                );
                crate::log::warn("snapshot", &msg, &[]);
                // Still due: the log it would have replaced is all still there.
                self.state.borrow_mut().log.bytes_since_snapshot += rotated_bytes;
                self.snapshot_retry_at
                    .set(Some(std::time::Instant::now() + SNAPSHOT_RETRY));
            }
        }
        self.snapshotting.set(false);
    }
}

impl Shard {
    /// Waits until the feed's records of every commit so far are written and synced.
    async fn feed_settled(&self) -> Result<()> {
        let end = self.state.borrow().log.seq();
        self.durable(end).await?;
        let synced = self.state.borrow().log.sync_feed();
        synced
            .await
            .map_err(|_| Error::Internal("the log writer went away".into()))?
            .map_err(|e| Error::Unavailable(e.to_string()))
    }

    /// Lets retention drop change-feed segments, every 10 s (more often for a retention
    /// shorter than that).
    pub async fn serve_feed_retention(self: Rc<Self>) {
        let every = Duration::from_millis(self.config.changes_retention_ms / 2)
            .clamp(Duration::from_millis(100), FEED_TRIM_EVERY);
        loop {
            monoio::time::sleep(every).await;
            let mut state = self.state.borrow_mut();
            let gone = state.log.feed.trim(crate::clock::now_ms());
            if !gone.is_empty() {
                state.log.drop_feed(gone);
            }
        }
    }
}

/// How often retention looks for change-feed segments to drop.
const FEED_TRIM_EVERY: Duration = Duration::from_secs(10);

/// Resolves when a record is durable.
struct WaitDurable<'a> {
    shard: &'a Shard,
    seq: u64,
}

impl Future for WaitDurable<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.shard.state.borrow_mut();
        if state.log.durable() >= self.seq {
            return Poll::Ready(());
        }
        state.log.kick();
        state.log.wait_for(self.seq, cx.waker());
        Poll::Pending
    }
}
