//! Metrics (DECISIONS §11): what each shard counts, and the Prometheus text a scrape
//! answers. Knows nothing of routes but their count and names, which the caller passes.
//!
//! A shard counts its own requests, durations and pushes in plain integers ([`Counters`]):
//! no lock, no atomic, no allocation when a request is counted. A scrape asks every shard for
//! a [`Report`] by message and merges them here; labels are bounded (the route's pattern and
//! the status, never a raw path or a tenant), so a scrape's size does not grow with tenants.

pub mod process;
mod text;

pub use process::Process;
pub use text::render;

/// The `Content-Type` of a scrape.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Histogram bucket bounds, in seconds (`le`), shared by every histogram.
pub const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
const BUCKET_NS: [u64; 16] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// The statuses counted by name; any other is counted as `other`.
pub const STATUSES: [u16; 14] = [
    101, 200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 431, 500, 503,
];
const STATUS_SLOTS: usize = STATUSES.len() + 1;

fn status_slot(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == status)
        .unwrap_or(STATUSES.len())
}

/// A histogram with the fixed [`BUCKETS`]: per-bucket counts (the last is `+Inf`) and the
/// sum in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    counts: [u64; BUCKETS.len() + 1],
    sum_ns: u64,
}

impl Histogram {
    pub fn observe_ns(&mut self, ns: u64) {
        let slot = BUCKET_NS.partition_point(|&b| b < ns);
        self.counts[slot] += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    /// A histogram from counts and a sum kept elsewhere (the log writer's atomics).
    pub fn from_parts(counts: [u64; BUCKETS.len() + 1], sum_ns: u64) -> Histogram {
        Histogram { counts, sum_ns }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The bucket index an observation of `ns` falls in (the log writer counts with it).
    pub fn slot_of(ns: u64) -> usize {
        BUCKET_NS.partition_point(|&b| b < ns)
    }
}

/// What one shard counts as it serves: requests by route pattern and status, their
/// durations by route, and live pushes (commit to frame written).
#[derive(Debug, Clone)]
pub struct Counters {
    requests: Vec<[u64; STATUS_SLOTS]>,
    durations: Vec<Histogram>,
    pub push: Histogram,
    /// How late the last due job or cron ran, in ms.
    pub scheduler_lag_ms: u64,
}

impl Counters {
    /// Counters for `routes` route patterns; one more slot counts paths no route has.
    pub fn new(routes: usize) -> Counters {
        let routes = routes + 1;
        Counters {
            requests: vec![[0; STATUS_SLOTS]; routes],
            durations: vec![Histogram::default(); routes],
            push: Histogram::default(),
            scheduler_lag_ms: 0,
        }
    }

    /// Counts one answered request: `route` is the route's index, or `None` for a path no
    /// route has.
    pub fn request(&mut self, route: Option<usize>, status: u16, ns: u64) {
        let unmatched = self.requests.len() - 1;
        let r = route.filter(|&r| r < unmatched).unwrap_or(unmatched);
        self.requests[r][status_slot(status)] += 1;
        self.durations[r].observe_ns(ns);
    }

    pub fn merge(&mut self, other: &Counters) {
        for (a, b) in self.requests.iter_mut().zip(&other.requests) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        for (a, b) in self.durations.iter_mut().zip(&other.durations) {
            a.merge(b);
        }
        self.push.merge(&other.push);
        self.scheduler_lag_ms = self.scheduler_lag_ms.max(other.scheduler_lag_ms);
    }
}

/// What one shard reports to a scrape: its counters and its gauges, read at that moment.
#[derive(Debug, Clone)]
pub struct Report {
    pub shard: usize,
    pub counters: Counters,
    pub ws_connections: u64,
    pub live_subscriptions: u64,
    pub commits: u64,
    pub wal_bytes: u64,
    pub wal_sync: Histogram,
    pub tenants: u64,
    pub documents: u64,
    /// CPU time of the shard's thread, in seconds.
    pub busy_seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_upper_bounds_and_merges_add() {
        let mut h = Histogram::default();
        h.observe_ns(100_000); // exactly 0.0001 s: in the first bucket (le)
        h.observe_ns(100_001);
        h.observe_ns(20_000_000_000); // past 10 s: +Inf
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[1], 1);
        assert_eq!(h.counts[BUCKETS.len()], 1);
        let mut sum = h.clone();
        sum.merge(&h);
        assert_eq!(sum.count(), 6);
        assert_eq!(sum.sum_ns, 2 * h.sum_ns);
        for (b, ns) in BUCKETS.iter().zip(BUCKET_NS) {
            assert_eq!((b * 1e9).round() as u64, ns);
        }
    }

    #[test]
    fn requests_count_by_route_and_status() {
        let mut c = Counters::new(3);
        c.request(Some(0), 200, 1000);
        c.request(Some(0), 299, 1000);
        c.request(None, 404, 1000);
        c.request(Some(7), 404, 1000);
        assert_eq!(c.requests[0][status_slot(200)], 1);
        assert_eq!(
            c.requests[0][STATUSES.len()],
            1,
            "an unnamed status is `other`"
        );
        assert_eq!(
            c.requests[3][status_slot(404)],
            2,
            "no route, or out of range"
        );
        let mut all = Counters::new(3);
        all.merge(&c);
        all.merge(&c);
        assert_eq!(all.durations[0].count(), 4);
    }
}
