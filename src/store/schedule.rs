//! Scheduled work a tenant owns: one-off jobs, their results, and interval crons. Plain data;
//! the shard's timer decides when they run, and running one is a single log record
//! ([`super::Change::RunJob`], [`super::Change::RunCron`]) that carries the job's write.

use super::Change;
use crate::ids::DocId;
use crate::json::{write_str, write_u64, write_value};
use crate::value::{Object, Value};

/// A write to run later: the mutation objects of the scheduling routes.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Mutation {
    Insert {
        table: String,
        id: Option<DocId>,
        fields: Object,
    },
    Update {
        table: String,
        id: DocId,
        patch: Object,
    },
    Delete {
        table: String,
        id: DocId,
    },
}

/// The document write a job or cron run performed, fully resolved (ids, time).
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Effect {
    Insert {
        table: String,
        id: DocId,
        at_ms: u64,
        fields: Object,
    },
    Patch {
        table: String,
        id: DocId,
        at_ms: u64,
        patch: Object,
    },
    Delete {
        table: String,
        id: DocId,
    },
}

impl Effect {
    /// The same write as a change of `tenant`.
    pub fn to_change(&self, tenant: &str) -> Change {
        let tenant = tenant.to_string();
        match self.clone() {
            Effect::Insert {
                table,
                id,
                at_ms,
                fields,
            } => Change::Insert {
                tenant,
                table,
                id,
                at_ms,
                fields,
            },
            Effect::Patch {
                table,
                id,
                at_ms,
                patch,
            } => Change::Patch {
                tenant,
                table,
                id,
                at_ms,
                patch,
            },
            Effect::Delete { table, id } => Change::Delete { tenant, table, id },
        }
    }

    /// The document it writes.
    pub fn target(&self) -> (&str, DocId) {
        match self {
            Effect::Insert { table, id, .. }
            | Effect::Patch { table, id, .. }
            | Effect::Delete { table, id } => (table, *id),
        }
    }
}

/// A pending one-off job.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Job {
    pub id: DocId,
    pub run_at: u64,
    pub created_at: u64,
    pub mutation: Mutation,
}

/// A finished job.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct JobResult {
    pub job: Job,
    pub finished_at: u64,
    /// `None`: completed; `Some(message)`: failed.
    pub error: Option<String>,
}

/// An interval cron.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Cron {
    pub name: String,
    pub seconds: u64,
    pub mutation: Mutation,
    pub created_at: u64,
    pub last_run: Option<u64>,
    pub next_run: u64,
    /// The last run's failure, if it failed.
    pub last_error: Option<String>,
}

/// Results kept per tenant, at least (DECISIONS §6).
pub const HISTORY_KEPT: usize = 1000;

impl Mutation {
    /// Appends the mutation object.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let (kind, table) = match self {
            Mutation::Insert { table, .. } => ("insert", table),
            Mutation::Update { table, .. } => ("update", table),
            Mutation::Delete { table, .. } => ("delete", table),
        };
        out.extend_from_slice(b"{\"type\":");
        write_str(out, kind);
        out.extend_from_slice(b",\"table\":");
        write_str(out, table);
        let id = match self {
            Mutation::Insert { id, .. } => *id,
            Mutation::Update { id, .. } | Mutation::Delete { id, .. } => Some(*id),
        };
        if let Some(id) = id {
            out.extend_from_slice(b",\"id\":");
            write_str(out, &id.to_string());
        }
        match self {
            Mutation::Insert { fields, .. } => {
                out.extend_from_slice(b",\"fields\":");
                write_value(out, &Value::Object(fields.clone()));
            }
            Mutation::Update { patch, .. } => {
                out.extend_from_slice(b",\"patch\":");
                write_value(out, &Value::Object(patch.clone()));
            }
            Mutation::Delete { .. } => {}
        }
        out.push(b'}');
    }
}

fn write_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(n) => write_u64(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

impl Job {
    /// `{"id","run_at","mutation","created_at"}`
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        write_str(out, &self.id.to_string());
        out.extend_from_slice(b",\"run_at\":");
        write_u64(out, self.run_at);
        out.extend_from_slice(b",\"mutation\":");
        self.mutation.write_json(out);
        out.extend_from_slice(b",\"created_at\":");
        write_u64(out, self.created_at);
        out.push(b'}');
    }
}

impl JobResult {
    /// `{"id","run_at","finished_at","mutation","outcome","error"}`
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        write_str(out, &self.job.id.to_string());
        out.extend_from_slice(b",\"run_at\":");
        write_u64(out, self.job.run_at);
        out.extend_from_slice(b",\"finished_at\":");
        write_u64(out, self.finished_at);
        out.extend_from_slice(b",\"mutation\":");
        self.job.mutation.write_json(out);
        match &self.error {
            None => out.extend_from_slice(b",\"outcome\":\"completed\",\"error\":null}"),
            Some(e) => {
                out.extend_from_slice(b",\"outcome\":\"failed\",\"error\":");
                write_str(out, e);
                out.push(b'}');
            }
        }
    }
}

impl Cron {
    /// `{"name","schedule","mutation","enabled","last_run","next_run","created_at","last_error"}`
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"name\":");
        write_str(out, &self.name);
        out.extend_from_slice(b",\"schedule\":{\"type\":\"interval\",\"seconds\":");
        write_u64(out, self.seconds);
        out.extend_from_slice(b"},\"mutation\":");
        self.mutation.write_json(out);
        out.extend_from_slice(b",\"enabled\":true,\"last_run\":");
        write_opt_u64(out, self.last_run);
        out.extend_from_slice(b",\"next_run\":");
        write_u64(out, self.next_run);
        out.extend_from_slice(b",\"created_at\":");
        write_u64(out, self.created_at);
        out.extend_from_slice(b",\"last_error\":");
        match &self.last_error {
            Some(e) => write_str(out, e),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }

    /// The first run time after `now` on this cron's grid, after the run due at `due`: a
    /// server that was down runs a missed cron once, not once per missed interval.
    pub fn next_after(&self, due: u64, now: u64) -> u64 {
        let step = self.seconds.saturating_mul(1000).max(1);
        let mut next = due.saturating_add(step);
        if next <= now {
            next += (now - next) / step * step + step;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_grid_skips_missed_runs() {
        let c = Cron {
            name: "c".into(),
            seconds: 10,
            mutation: Mutation::Delete {
                table: "t".into(),
                id: DocId(1),
            },
            created_at: 0,
            last_run: None,
            next_run: 10_000,
            last_error: None,
        };
        assert_eq!(c.next_after(10_000, 10_500), 20_000);
        assert_eq!(c.next_after(10_000, 95_000), 100_000);
        assert_eq!(c.next_after(10_000, 100_000), 110_000);
    }
}
