//! A shard's part in metrics: counting what it serves (plain fields of its own, no lock or
//! atomic), its report to a scrape, and the scrape itself, which asks every shard.

use super::{Shard, ShardMsg};
use crate::error::{Error, Result};
use crate::http::route::ROUTE_PATTERNS;
use crate::log::{self, Field};
use crate::metrics::{process, render, Counters, Process, Report};
use futures_channel::oneshot;
use std::time::Instant;

/// An answered request, as metrics and the log see it.
pub struct Answered<'a> {
    pub route: Option<usize>,
    pub method: &'a str,
    pub status: u16,
    pub began: Instant,
    pub request_id: &'a str,
}

/// The shard's counters, before any request.
pub(super) fn counters() -> Counters {
    Counters::new(ROUTE_PATTERNS.len())
}

impl Shard {
    /// Counts one answered request that began at `began`, and logs it when it was slow
    /// (or `--access-log` asks for every request).
    pub fn count_request(&self, done: Answered<'_>) {
        let ns = u64::try_from(done.began.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.metrics
            .borrow_mut()
            .request(done.route, done.status, ns);
        let ms = ns / 1_000_000;
        let slow = ms >= self.config.slow_ms;
        if !(slow || self.config.access_log) {
            return;
        }
        let route = done
            .route
            .and_then(|r| ROUTE_PATTERNS.get(r).copied())
            .unwrap_or("unmatched");
        let (event, what) = if slow {
            ("slow_request", "slow request")
        } else {
            ("request", "request")
        };
        let msg = format!(
            "{what} {} {} {route} {} in {ms} ms",
            done.request_id, done.method, done.status
        );
        let fields = [
            ("request_id", Field::Str(done.request_id)),
            ("method", Field::Str(done.method)),
            ("route", Field::Str(route)),
            ("status", Field::U64(u64::from(done.status))),
            ("duration_ms", Field::U64(ms)),
            ("shard", Field::U64(self.id as u64)),
        ];
        if slow {
            log::warn(event, &msg, &fields);
        } else {
            log::info(event, &msg, &fields);
        }
    }

    /// Counts live results written to a socket: their commits were evaluated at `at`.
    pub fn count_pushes(&self, at: &[Instant]) {
        let now = Instant::now();
        let mut m = self.metrics.borrow_mut();
        for t in at {
            let ns =
                u64::try_from(now.saturating_duration_since(*t).as_nanos()).unwrap_or(u64::MAX);
            m.push.observe_ns(ns);
        }
    }

    /// Notes how late a due job or cron ran.
    pub(super) fn count_scheduler_lag(&self, late_ms: u64) {
        self.metrics.borrow_mut().scheduler_lag_ms = late_ms;
    }

    /// This shard's figures, now.
    pub(super) fn report_here(&self) -> Report {
        let state = self.state.borrow();
        let (_, subscribers) = state.subs.counts();
        Report {
            shard: self.id,
            counters: self.metrics.borrow().clone(),
            ws_connections: self.conns.borrow().len() as u64,
            live_subscriptions: subscribers as u64,
            commits: state.log.appended,
            wal_bytes: state.log.bytes_total,
            wal_sync: self.wal.shared.sync_histogram(),
            tenants: state.store.tenant_ids().count() as u64,
            documents: state.store.document_count(),
            busy_seconds: process::thread_cpu_seconds(),
        }
    }

    /// `GET /metrics`: every shard's report, merged, in the Prometheus text format.
    pub async fn scrape(&self, out: &mut Vec<u8>) -> Result<()> {
        let mut waiting = Vec::new();
        for to in (0..self.mesh.cores()).filter(|&s| s != self.id) {
            let (reply, rx) = oneshot::channel();
            self.mesh
                .send(to, ShardMsg::Report { reply })
                .map_err(|_| Error::Unavailable(format!("shard {to} is overloaded")))?;
            waiting.push(rx);
        }
        let mut reports = vec![self.report_here()];
        for rx in waiting {
            reports.push(
                rx.await
                    .map_err(|_| Error::Internal("a shard dropped a metrics request".into()))?,
            );
        }
        reports.sort_by_key(|r| r.shard);
        render(&reports, Process::read(), &ROUTE_PATTERNS, out);
        Ok(())
    }
}
