//! The change record: one committed change to a shard's data, what it is about (its tenant,
//! the document it writes), and the unit the write-ahead log records.

use super::{Cron, Effect, Import, Job, Key, TableSchema, TopicDef};
use crate::ids::DocId;
use crate::value::Object;

/// One committed change to a shard's data: the unit of the write-ahead log.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Change {
    CreateTenant {
        tenant: String,
    },
    DeleteTenant {
        tenant: String,
    },
    Insert {
        tenant: String,
        table: String,
        id: DocId,
        at_ms: u64,
        fields: Object,
    },
    Patch {
        tenant: String,
        table: String,
        id: DocId,
        at_ms: u64,
        patch: Object,
    },
    Delete {
        tenant: String,
        table: String,
        id: DocId,
    },
    PutSchema {
        tenant: String,
        schema: TableSchema,
    },
    DeleteSchema {
        tenant: String,
        table: String,
    },
    /// A job is scheduled.
    ScheduleJob {
        tenant: String,
        job: Job,
    },
    /// A pending job is cancelled.
    CancelJob {
        tenant: String,
        id: DocId,
    },
    /// A job ran: it leaves the pending jobs, its write (if it succeeded) is applied, and its
    /// result is recorded — all in this one record, so it runs exactly once.
    RunJob {
        tenant: String,
        id: DocId,
        finished_at: u64,
        error: Option<String>,
        effect: Option<Effect>,
    },
    /// A cron is created.
    CreateCron {
        tenant: String,
        cron: Cron,
    },
    /// A cron is deleted.
    DeleteCron {
        tenant: String,
        name: String,
    },
    /// A service definition is created or replaced.
    PutService {
        tenant: String,
        def: crate::proc::service::ServiceDef,
    },
    /// A service definition is deleted.
    DeleteService {
        tenant: String,
        name: String,
    },
    /// A cron ran at `ran_at`; its next run is `next_run`.
    RunCron {
        tenant: String,
        name: String,
        ran_at: u64,
        next_run: u64,
        error: Option<String>,
        effect: Option<Effect>,
    },
    // New variants go last: the log archives a variant by its position.
    /// A tenant key is created (its secret is not in it: only its hash).
    CreateKey {
        tenant: String,
        key: Key,
    },
    /// A tenant key is revoked.
    RevokeKey {
        tenant: String,
        id: DocId,
    },
    /// Documents and schemas imported at once (all or nothing).
    Import {
        tenant: String,
        import: Import,
    },
    /// A topic is created or its selection replaced (its groups keep their positions).
    PutTopic {
        tenant: String,
        def: TopicDef,
    },
    /// A topic and its groups are deleted.
    DeleteTopic {
        tenant: String,
        name: String,
    },
    /// A consumer group acks a topic through `upto` (a new group starts there).
    AckTopic {
        tenant: String,
        topic: String,
        group: String,
        upto: u64,
    },
}

impl Change {
    /// The tenant a change is for.
    pub fn tenant(&self) -> &str {
        match self {
            Change::CreateTenant { tenant }
            | Change::DeleteTenant { tenant }
            | Change::Insert { tenant, .. }
            | Change::Patch { tenant, .. }
            | Change::Delete { tenant, .. }
            | Change::PutSchema { tenant, .. }
            | Change::DeleteSchema { tenant, .. }
            | Change::ScheduleJob { tenant, .. }
            | Change::CancelJob { tenant, .. }
            | Change::RunJob { tenant, .. }
            | Change::CreateCron { tenant, .. }
            | Change::DeleteCron { tenant, .. }
            | Change::PutService { tenant, .. }
            | Change::DeleteService { tenant, .. }
            | Change::RunCron { tenant, .. }
            | Change::CreateKey { tenant, .. }
            | Change::RevokeKey { tenant, .. }
            | Change::Import { tenant, .. }
            | Change::PutTopic { tenant, .. }
            | Change::DeleteTopic { tenant, .. }
            | Change::AckTopic { tenant, .. } => tenant,
        }
    }

    /// The document a change writes: (tenant, table, id).
    pub fn doc_target(&self) -> Option<(&str, &str, DocId)> {
        match self {
            Change::Insert {
                tenant, table, id, ..
            }
            | Change::Patch {
                tenant, table, id, ..
            }
            | Change::Delete { tenant, table, id } => Some((tenant, table, *id)),
            Change::RunJob {
                tenant,
                effect: Some(e),
                ..
            }
            | Change::RunCron {
                tenant,
                effect: Some(e),
                ..
            } => {
                let (table, id) = e.target();
                Some((tenant, table, id))
            }
            _ => None,
        }
    }
}
