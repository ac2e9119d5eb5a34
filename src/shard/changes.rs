//! Reads of the change feed, on the shard that owns the tenant: a page now, or once a change
//! comes. A long poll parks as a waker in the feed (no thread, no CPU while it waits); a
//! page older than the feed's memory is read from its files on a helper thread, a few at a
//! time per shard.

use super::{Shard, ShardMsg};
use crate::api::changes::Read;
use crate::changes::feed::{DiskRead, Plan, Want};
use crate::changes::{Page, Render};
use crate::error::{Error, Result};
use futures_channel::oneshot;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Reads of feed files in flight at once, per shard.
const DISK_READS_MAX: u32 = 4;

fn expired(after: u64) -> Error {
    Error::CursorExpired(format!(
        "position {after} is not in the change feed: older than what is retained, or ahead of the tenant (its history was reset)"
    ))
}

impl Shard {
    /// A page of changes of `read`'s tenant, from its owner, waiting up to `read.wait_ms`
    /// for one.
    pub async fn changes(&self, read: Read, render: Render) -> Result<Page> {
        let owner = super::owner_of(&read.tenant, self.mesh.cores());
        if owner == self.id {
            return self.changes_here(read, render).await;
        }
        let (reply, rx) = oneshot::channel();
        self.mesh
            .send(
                owner,
                ShardMsg::Changes {
                    read,
                    render,
                    reply,
                },
            )
            .map_err(|_| Error::Unavailable(format!("shard {owner} is overloaded")))?;
        rx.await
            .map_err(|_| Error::Internal(format!("shard {owner} dropped a request")))?
    }

    /// [`Shard::changes`] on the owner.
    pub(super) async fn changes_here(&self, read: Read, render: Render) -> Result<Page> {
        let deadline = Instant::now() + Duration::from_millis(read.wait_ms);
        let mut want = Want {
            tenant: read.tenant,
            epoch: 0,
            now: 0,
            after: read.after,
            limit: read.limit,
            filter: read.filter,
            render,
        };
        let mut got: Option<Page> = None;
        loop {
            let (plan, durable) = {
                let state = self.state.borrow();
                let t = state.store.tenant(&want.tenant)?;
                if !state.log.feed.on() {
                    return Err(Error::NotFound(
                        "this server keeps no change feed (it runs with --changes-retention-ms 0)"
                            .into(),
                    ));
                }
                (want.epoch, want.now) = (t.epoch, t.seq);
                let durable = state.log.durable();
                (state.log.feed.plan(&want, durable), durable)
            };
            let (page, from_disk) = match plan {
                Plan::Gone => match got {
                    Some(p) => return Ok(p),
                    None => return Err(expired(want.after)),
                },
                Plan::Page(p) => (p, false),
                Plan::Disk(d) => {
                    let page = self.read_feed_files(want.clone(), d).await?;
                    if page.last <= want.after {
                        // The files do not hold what their index says: reading them again
                        // would find the same nothing.
                        return Err(Error::Internal(format!(
                            "the change feed's files hold nothing after {} where their index says they do",
                            want.after
                        )));
                    }
                    (page, true)
                }
            };
            want.after = page.last;
            let page = match got.take() {
                Some(mut earlier) => {
                    earlier.extend(page);
                    earlier
                }
                None => page,
            };
            if page.has_more || page.full(want.limit) {
                return Ok(page);
            }
            if from_disk {
                got = Some(page);
                continue; // On from where the files ended: memory, or more files.
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if page.count > 0 || left.is_zero() || self.draining() {
                return Ok(page);
            }
            got = Some(page);
            let wait = FeedWait {
                shard: self,
                tenant: &want.tenant,
                epoch: want.epoch,
                durable,
                token: None,
            };
            let _ = monoio::time::timeout(left, wait).await;
        }
    }

    /// Reads feed files on a helper thread.
    async fn read_feed_files(&self, want: Want, read: DiskRead) -> Result<Page> {
        if self.feed_reads.get() >= DISK_READS_MAX {
            return Err(Error::Unavailable(
                "too many reads of old changes at once on this shard".into(),
            ));
        }
        self.feed_reads.set(self.feed_reads.get() + 1);
        let (tx, rx) = oneshot::channel();
        let disk = self.wal.disk.clone();
        let dir = crate::wal::feed::dir_of(&self.wal.dir);
        let after = want.after;
        let spawned = std::thread::Builder::new()
            .name("nimbus-feed-read".into())
            .spawn(move || {
                let _ = tx.send(crate::wal::feed::read_segments(&*disk, &dir, &want, &read));
            });
        let result = match spawned {
            Ok(_) => rx
                .await
                .unwrap_or_else(|_| Err(std::io::Error::other("died"))),
            Err(e) => Err(e),
        };
        self.feed_reads.set(self.feed_reads.get() - 1);
        result.map_err(|e| match e.kind() {
            // Retention dropped the file between the plan and the read.
            std::io::ErrorKind::NotFound => expired(after),
            _ => Error::Unavailable(format!("reading the change feed's files failed: {e}")),
        })
    }
}

/// Resolves when the feed wakes it (a durable change of the tenant, or its deletion).
struct FeedWait<'a> {
    shard: &'a Shard,
    tenant: &'a str,
    epoch: u64,
    durable: u64,
    token: Option<u64>,
}

impl Future for FeedWait<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.token.is_some() {
            return Poll::Ready(());
        }
        let token = self.shard.state.borrow_mut().log.feed.wait(
            self.tenant,
            self.epoch,
            self.durable,
            cx.waker(),
        );
        self.token = Some(token);
        Poll::Pending
    }
}

impl Drop for FeedWait<'_> {
    fn drop(&mut self) {
        if let Some(token) = self.token {
            if let Ok(mut state) = self.shard.state.try_borrow_mut() {
                state.log.feed.unwait(self.tenant, token);
            }
        }
    }
}
