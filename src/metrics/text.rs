//! The Prometheus text exposition format, version 0.0.4: `# HELP`, `# TYPE`, then samples;
//! base units (seconds, bytes), `_total` on counters, histograms as cumulative `_bucket`
//! series with `le`, then `_sum` and `_count`.

use super::{Counters, Histogram, Process, Report, BUCKETS, STATUSES};
use std::io::Write;

fn head(out: &mut Vec<u8>, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut Vec<u8>, name: &str, labels: &str, value: f64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// A histogram's samples; `labels` (possibly empty) come before `le`.
fn histogram(out: &mut Vec<u8>, name: &str, labels: &str, h: &Histogram) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0;
    for (le, n) in BUCKETS.iter().zip(h.counts) {
        cumulative += n;
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
        h.count()
    );
    sample(out, &format!("{name}_sum"), labels, h.sum_ns as f64 / 1e9);
    sample(out, &format!("{name}_count"), labels, h.count() as f64);
}

fn route_name<'a>(patterns: &[&'a str], r: usize) -> &'a str {
    patterns.get(r).copied().unwrap_or("unmatched")
}

fn status_name(slot: usize) -> String {
    STATUSES
        .get(slot)
        .map_or_else(|| "other".to_string(), |s| s.to_string())
}

fn http(out: &mut Vec<u8>, c: &Counters, patterns: &[&str]) {
    head(
        out,
        "nimbus_http_requests_total",
        "counter",
        "HTTP requests answered, by route pattern and status.",
    );
    for (r, statuses) in c.requests.iter().enumerate() {
        for (slot, &n) in statuses.iter().enumerate().filter(|(_, &n)| n > 0) {
            let labels = format!(
                "route=\"{}\",status=\"{}\"",
                route_name(patterns, r),
                status_name(slot)
            );
            sample(out, "nimbus_http_requests_total", &labels, n as f64);
        }
    }
    head(
        out,
        "nimbus_http_request_duration_seconds",
        "histogram",
        "Time from a request's head to its answer being queued, by route pattern.",
    );
    for (r, h) in c
        .durations
        .iter()
        .enumerate()
        .filter(|(_, h)| h.count() > 0)
    {
        let labels = format!("route=\"{}\"", route_name(patterns, r));
        histogram(out, "nimbus_http_request_duration_seconds", &labels, h);
    }
}

/// The whole scrape: every shard's report merged, and the process's figures; `patterns`
/// name the routes the counters were indexed by.
pub fn render(reports: &[Report], process: Process, patterns: &[&str], out: &mut Vec<u8>) {
    let mut all = Counters::new(patterns.len());
    let mut sync = Histogram::default();
    let sum = |f: fn(&Report) -> u64| reports.iter().map(f).sum::<u64>() as f64;
    for r in reports {
        all.merge(&r.counters);
        sync.merge(&r.wal_sync);
    }
    http(out, &all, patterns);
    let gauges: [(&str, &str, &str, f64); 6] = [
        (
            "nimbus_ws_connections",
            "gauge",
            "Open WebSocket connections.",
            sum(|r| r.ws_connections),
        ),
        (
            "nimbus_live_subscriptions",
            "gauge",
            "Live query subscriptions.",
            sum(|r| r.live_subscriptions),
        ),
        (
            "nimbus_commits_total",
            "counter",
            "Changes committed to the write-ahead log since start.",
            sum(|r| r.commits),
        ),
        (
            "nimbus_wal_bytes_total",
            "counter",
            "Bytes appended to the write-ahead log since start.",
            sum(|r| r.wal_bytes),
        ),
        ("nimbus_tenants", "gauge", "Tenants.", sum(|r| r.tenants)),
        (
            "nimbus_documents",
            "gauge",
            "Documents, all tenants.",
            sum(|r| r.documents),
        ),
    ];
    for (name, kind, help, value) in gauges {
        head(out, name, kind, help);
        sample(out, name, "", value);
    }
    let histograms = [
        (
            "nimbus_live_push_duration_seconds",
            "Time from a commit to its live result's frame being written to the socket.",
            &all.push,
        ),
        (
            "nimbus_wal_sync_duration_seconds",
            "Time of one append and fdatasync of a batch of log records.",
            &sync,
        ),
    ];
    for (name, help, h) in histograms {
        head(out, name, "histogram", help);
        histogram(out, name, "", h);
    }
    head(
        out,
        "nimbus_shard_busy_seconds_total",
        "counter",
        "CPU time of each shard's thread.",
    );
    for r in reports {
        let labels = format!("shard=\"{}\"", r.shard);
        sample(
            out,
            "nimbus_shard_busy_seconds_total",
            &labels,
            r.busy_seconds,
        );
    }
    head(
        out,
        "nimbus_scheduler_lag_seconds",
        "gauge",
        "How late the last due job or cron ran, the most of any shard.",
    );
    sample(
        out,
        "nimbus_scheduler_lag_seconds",
        "",
        all.scheduler_lag_ms as f64 / 1e3,
    );
    let process: [(&str, &str, &str, f64); 3] = [
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            process.resident_bytes as f64,
        ),
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            process.cpu_seconds,
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            process.start_time_seconds,
        ),
    ];
    for (name, kind, help, value) in process {
        head(out, name, kind, help);
        sample(out, name, "", value);
    }
}
