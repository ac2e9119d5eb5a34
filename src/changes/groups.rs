//! What each consumer group of a topic has been handed and not acked yet (DECISIONS §12).
//!
//! A group's acked offset is durable (in the store, by `AckTopic` records); what it was
//! handed since is kept here, in memory: consumes go on from there until the visibility
//! timeout passes without an ack, and then start again from the ack. A restart forgets it,
//! so what was handed and not acked comes again at once.

use std::time::{Duration, Instant};

type Map<K, V> = hashbrown::HashMap<K, V, ahash::RandomState>;

/// (tenant, topic, group).
pub type Key = (String, String, String);

/// A batch handed out and not acked: through which offset, and until when it is the
/// group's (after that it is handed out again).
#[derive(Debug, Clone, Copy)]
struct InFlight {
    through: u64,
    until: Instant,
}

/// Every group's batch in flight, on one shard.
#[derive(Debug, Default)]
pub struct Groups {
    in_flight: Map<Key, InFlight>,
}

impl Groups {
    /// Where the group's next consume starts: past its batch in flight while that is still
    /// its own, else past its ack.
    pub fn start(&mut self, key: &Key, acked: u64, now: Instant) -> u64 {
        match self.in_flight.get(key) {
            Some(f) if f.until > now && f.through > acked => f.through,
            Some(_) => {
                self.in_flight.remove(key);
                acked
            }
            None => acked,
        }
    }

    /// The group was handed everything through `through`, its own for `visibility`.
    pub fn handed(&mut self, key: &Key, through: u64, now: Instant, visibility: Duration) {
        let until = now + visibility;
        self.in_flight
            .insert(key.clone(), InFlight { through, until });
    }

    /// The last offset the group was handed (its ack when nothing is in flight): an ack
    /// may not go past it.
    pub fn handed_through(&self, key: &Key, acked: u64) -> u64 {
        self.in_flight
            .get(key)
            .map_or(acked, |f| f.through.max(acked))
    }

    /// The group acked through `upto`: a batch wholly acked is no longer in flight.
    pub fn acked(&mut self, key: &Key, upto: u64) {
        if self.in_flight.get(key).is_some_and(|f| f.through <= upto) {
            self.in_flight.remove(key);
        }
    }

    /// Forgets a tenant's groups (the tenant was deleted) or one topic's.
    pub fn forget(&mut self, tenant: &str, topic: Option<&str>) {
        self.in_flight
            .retain(|(t, tp, _), _| t != tenant || topic.is_some_and(|x| x != tp));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_the_groups_until_acked_or_timed_out() {
        let mut g = Groups::default();
        let k: Key = ("t".into(), "orders".into(), "billing".into());
        let t0 = Instant::now();
        let vis = Duration::from_secs(30);
        assert_eq!(g.start(&k, 10, t0), 10);
        g.handed(&k, 15, t0, vis);
        assert_eq!(
            g.start(&k, 10, t0 + Duration::from_secs(1)),
            15,
            "in flight: go on"
        );
        assert_eq!(g.handed_through(&k, 10), 15);
        assert_eq!(
            g.start(&k, 10, t0 + Duration::from_secs(31)),
            10,
            "timed out: again"
        );
        g.handed(&k, 15, t0, vis);
        g.acked(&k, 15);
        assert_eq!(g.start(&k, 15, t0), 15);
        let other: Key = ("t".into(), "orders".into(), "audit".into());
        assert_eq!(g.start(&other, 0, t0), 0, "groups are independent");
    }
}
