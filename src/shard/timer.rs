//! The shard's timer task: sleeps until the earliest due job or cron (or until an earlier
//! one is scheduled), then runs what is due, each as one log record.

use super::Shard;
use crate::clock::now_ms;
use crate::schedule::Due;
use crate::ws::{race, Either};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long a job waits before another try when the log refused it (disk failing).
const RETRY_MS: u64 = 1000;

/// Resolves when a timer entry is added after `generation`.
struct Added<'a> {
    shard: &'a Shard,
    generation: u64,
}

impl Future for Added<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self
            .shard
            .state
            .borrow_mut()
            .timers
            .changed_since(self.generation, cx.waker())
        {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Shard {
    /// Runs due jobs and crons for as long as the shard runs.
    pub async fn serve_timers(self: Rc<Self>) {
        loop {
            let (next, generation) = {
                let state = self.state.borrow();
                (state.timers.next_at(), state.timers.generation())
            };
            let now = now_ms();
            match next {
                Some(at) if at <= now => {
                    self.count_scheduler_lag(now - at);
                    self.run_due(now);
                }
                Some(at) => {
                    let sleep = monoio::time::sleep(Duration::from_millis(at - now));
                    if let Either::Left(()) = race(
                        sleep,
                        Added {
                            shard: &self,
                            generation,
                        },
                    )
                    .await
                    {
                        let now = now_ms();
                        self.count_scheduler_lag(now.saturating_sub(at));
                        self.run_due(now);
                    }
                }
                None => {
                    Added {
                        shard: &self,
                        generation,
                    }
                    .await
                }
            }
        }
    }

    /// Runs everything due at `now`.
    fn run_due(&self, now: u64) {
        let due = self.state.borrow_mut().timers.take_due(now);
        for d in due {
            let mut state = self.state.borrow_mut();
            let result = match &d {
                Due::Job { tenant, id } => crate::api::run_job(&mut state, tenant, *id, now),
                Due::Cron { tenant, name } => crate::api::run_cron(&mut state, tenant, name, now),
            };
            if let Err(e) = result {
                // The log refused the record (disk failing): nothing ran; try again later.
                crate::log::warn(
                    "scheduler",
                    &format!("shard {}: a due {d:?} could not run yet: {e}", self.id),
                    &[],
                );
                state.timers.add(now + RETRY_MS, d);
            }
        }
        // Nobody waits on these records: hand them to the log writer now.
        self.state.borrow_mut().log.kick();
    }
}
