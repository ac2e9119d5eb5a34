//! The shard's timer index: when each pending job and cron of its tenants is next due.
//!
//! One ordered set per shard, read by one timer task that sleeps until the earliest entry
//! (or until an earlier one is added): no thread per job and no polling, so thousands of
//! pending jobs cost nothing until they are due. Entries are hints: a job cancelled, a cron
//! deleted or a tenant dropped meanwhile is simply skipped when its time comes.

use crate::ids::DocId;
use crate::store::Store;
use std::collections::BTreeSet;
use std::task::Waker;

/// What is due.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    Job { tenant: String, id: DocId },
    Cron { tenant: String, name: String },
}

/// Due times, earliest first.
#[derive(Default)]
pub struct Timers {
    due: BTreeSet<(u64, Due)>,
    /// Bumped whenever an entry is added, so the timer task re-arms.
    generation: u64,
    waker: Option<Waker>,
}

impl Timers {
    /// Every job and cron of `store`, as recovery left them.
    pub fn from_store(store: &Store) -> Timers {
        let mut t = Timers::default();
        for tenant in store.tenant_ids() {
            if let Ok(data) = store.tenant(tenant) {
                for job in data.jobs.values() {
                    t.due.insert((
                        job.run_at,
                        Due::Job {
                            tenant: tenant.to_string(),
                            id: job.id,
                        },
                    ));
                }
                for cron in data.crons.values() {
                    t.due.insert((
                        cron.next_run,
                        Due::Cron {
                            tenant: tenant.to_string(),
                            name: cron.name.clone(),
                        },
                    ));
                }
            }
        }
        t
    }

    /// Adds an entry and wakes the timer task.
    pub fn add(&mut self, at_ms: u64, due: Due) {
        self.due.insert((at_ms, due));
        self.generation += 1;
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// When the earliest entry is due.
    pub fn next_at(&self) -> Option<u64> {
        self.due.first().map(|(at, _)| *at)
    }

    /// Removes and returns every entry due at `now_ms` or before.
    pub fn take_due(&mut self, now_ms: u64) -> Vec<Due> {
        let mut out = Vec::new();
        while let Some((at, _)) = self.due.first() {
            if *at > now_ms {
                break;
            }
            if let Some((_, d)) = self.due.pop_first() {
                out.push(d);
            }
        }
        out
    }

    /// The current generation (see [`Timers::changed_since`]).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether an entry was added since `generation`; if not, remembers `waker` for when one is.
    pub fn changed_since(&mut self, generation: u64, waker: &Waker) -> bool {
        if self.generation != generation {
            return true;
        }
        self.waker = Some(waker.clone());
        false
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.due.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_in_time_order() {
        let mut t = Timers::default();
        let job = |n: u128| Due::Job {
            tenant: "t".into(),
            id: DocId(n),
        };
        t.add(30, job(3));
        t.add(10, job(1));
        t.add(20, job(2));
        assert_eq!(t.next_at(), Some(10));
        assert_eq!(t.take_due(20), vec![job(1), job(2)]);
        assert_eq!(t.len(), 1);
        assert!(t.take_due(29).is_empty());
    }
}
