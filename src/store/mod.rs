//! The data one shard owns: its tenants, their tables, documents and schemas.
//!
//! Every change to the data is a [`Change`]: first [`Store::check`]ed (which may refuse it
//! and never mutates), then [`Store::apply`]ed (which cannot fail and never does I/O). A
//! change carries everything needed to apply it again, so the write-ahead log can record
//! it and recovery can replay it to the same state.
//!
//! Invariant: no other module mutates a tenant.

mod change;
mod doc;
pub mod export;
mod import;
pub mod index;
mod keys;
mod schedule;
mod schema;
mod table;
pub mod topics;

pub use change::Change;
pub use doc::Doc;
pub use import::{at_line, Import, ImportDoc};
pub use index::Index;
pub use keys::{Key, KEYS_PER_TENANT_MAX};
pub use schedule::{Cron, Effect, Job, JobResult, Mutation, HISTORY_KEPT};
pub use schema::{FieldDef, FieldType, IndexDef, TableSchema};
pub use table::Table;
pub use topics::{Topic, TopicDef};

use crate::error::{Error, Result};
use crate::ids::{DocId, IdGen};
use std::collections::BTreeMap;

/// Maps keyed by names: `hashbrown` with `ahash`.
pub type Map<K, V> = hashbrown::HashMap<K, V, ahash::RandomState>;

/// A tenant: isolated tables, schemas and id sequence.
#[derive(Debug, Default)]
pub struct Tenant {
    pub tables: Map<Box<str>, Table>,
    /// Sorted by table name, as `GET /schema` lists them.
    pub schemas: BTreeMap<String, TableSchema>,
    pub ids: IdGen,
    /// Pending jobs, by id.
    pub jobs: BTreeMap<DocId, Job>,
    /// The last results of finished jobs, oldest first.
    pub history: std::collections::VecDeque<JobResult>,
    /// Crons, by name.
    pub crons: BTreeMap<String, Cron>,
    /// Service definitions, by name.
    pub services: BTreeMap<String, crate::proc::service::ServiceDef>,
    /// Keys, by id.
    pub keys: BTreeMap<DocId, Key>,
    /// The tenant's sequence number: how many document changes it has committed (each
    /// change in the feed, and each live result, carries the number of its change).
    pub seq: u64,
    /// The shard sequence number of the record that created it: tells its change feed from
    /// that of a tenant of the same name deleted before.
    pub epoch: u64,
    /// Topics over its changes, by name.
    pub topics: BTreeMap<String, Topic>,
}

impl Tenant {
    /// A table's documents, if it was ever written.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }

    /// Whether index `index` of `table` is still being built.
    pub fn index_building(&self, table: &str, index: &str) -> bool {
        self.table(table)
            .and_then(|t| t.indexes.iter().find(|ix| ix.name == index))
            .is_some_and(|ix| !ix.ready())
    }

    fn doc(&self, table: &str, id: DocId) -> Option<&Doc> {
        self.tables.get(table).and_then(|t| t.docs.get(&id))
    }

    /// Inserts a document, making its table (with the schema's indexes, empty and so ready
    /// at once) on its first write.
    fn insert(&mut self, table: String, doc: Doc) {
        self.ids.observe(doc.id);
        let tbl = match self.tables.get_mut(table.as_str()) {
            Some(tbl) => tbl,
            None => {
                let mut tbl = Table::default();
                if let Some(s) = self.schemas.get(&table) {
                    tbl.sync_indexes(&s.indexes);
                }
                self.tables.entry(table.into_boxed_str()).or_insert(tbl)
            }
        };
        tbl.put(doc);
    }
}

/// All tenants a shard owns.
#[derive(Debug, Default)]
pub struct Store {
    tenants: Map<Box<str>, Tenant>,
    /// Tables with an index still to build: (tenant, table), oldest first.
    building: std::collections::VecDeque<(Box<str>, Box<str>)>,
}

fn doc_not_found(table: &str, id: DocId) -> Error {
    Error::NotFound(format!("document `{id}` does not exist in table `{table}`"))
}

impl Store {
    /// A tenant, or `session.tenant_not_found`.
    pub fn tenant(&self, id: &str) -> Result<&Tenant> {
        self.tenants
            .get(id)
            .ok_or_else(|| Error::TenantNotFound(id.to_string()))
    }

    /// A tenant for id generation, or `session.tenant_not_found`.
    pub fn tenant_mut(&mut self, id: &str) -> Result<&mut Tenant> {
        self.tenants
            .get_mut(id)
            .ok_or_else(|| Error::TenantNotFound(id.to_string()))
    }

    /// Puts a whole tenant in place (recovery and re-homing); indexes its schemas declare
    /// and its tables lack are built in the background.
    pub fn restore_tenant(&mut self, id: String, mut tenant: Tenant) {
        for t in tenant.tables.values_mut() {
            t.recount();
        }
        let tables: Vec<Box<str>> = tenant.tables.keys().cloned().collect();
        self.tenants.insert(id.clone().into_boxed_str(), tenant);
        for table in tables {
            self.sync_indexes(&id, &table);
        }
    }

    /// Whether some index is still being built.
    pub fn building(&self) -> bool {
        !self.building.is_empty()
    }

    /// Builds the oldest unfinished table's indexes by up to `budget` documents; the shard
    /// calls it between requests until [`Store::building`] is false.
    pub fn build_step(&mut self, budget: usize) {
        let Some((tenant, table)) = self.building.front() else {
            return;
        };
        let done = match self
            .tenants
            .get_mut(tenant)
            .and_then(|t| t.tables.get_mut(table))
        {
            Some(tbl) => tbl.build_step(budget),
            None => true, // dropped meanwhile
        };
        if done {
            self.building.pop_front();
        }
    }

    /// Brings `table`'s indexes in line with its schema.
    fn sync_indexes(&mut self, tenant: &str, table: &str) {
        let Some(t) = self.tenants.get_mut(tenant) else {
            return;
        };
        let defs = t.schemas.get(table).map_or(&[][..], |s| &s.indexes);
        if let Some(tbl) = t.tables.get_mut(table) {
            if tbl.sync_indexes(defs) {
                self.building.push_back((tenant.into(), table.into()));
            }
        }
    }

    /// Takes a tenant out (re-homing).
    pub fn take_tenant(&mut self, id: &str) -> Option<Tenant> {
        self.tenants.remove(id)
    }

    /// Ids of every tenant this store holds, unordered.
    pub fn tenant_ids(&self) -> impl Iterator<Item = &str> {
        self.tenants.keys().map(|k| &**k)
    }

    /// Refuses a change that cannot be applied; never mutates.
    pub fn check(&self, change: &Change) -> Result<()> {
        match change {
            Change::CreateTenant { tenant } => {
                if self.tenants.contains_key(tenant.as_str()) {
                    return Err(Error::Conflict(format!("tenant `{tenant}` already exists")));
                }
            }
            Change::DeleteTenant { tenant } => {
                self.tenant(tenant)?;
            }
            Change::Insert {
                tenant,
                table,
                id,
                fields,
                ..
            } => {
                let t = self.tenant(tenant)?;
                if t.doc(table, *id).is_some() {
                    return Err(Error::Conflict(format!("document `{id}` already exists")));
                }
                if let Some(schema) = t.schemas.get(table) {
                    schema.validate(fields, None)?;
                }
            }
            Change::Patch {
                tenant,
                table,
                id,
                at_ms,
                patch,
            } => {
                let t = self.tenant(tenant)?;
                let doc = t.doc(table, *id).ok_or_else(|| doc_not_found(table, *id))?;
                if let Some(schema) = t.schemas.get(table) {
                    let merged = doc.patched(patch, *at_ms);
                    schema.validate(&merged.fields(), Some(&id.to_string()))?;
                }
            }
            Change::Delete { tenant, table, id } => {
                self.tenant(tenant)?
                    .doc(table, *id)
                    .ok_or_else(|| doc_not_found(table, *id))?;
            }
            Change::PutSchema { tenant, schema } => {
                let t = self.tenant(tenant)?;
                if let Some(tbl) = t.table(&schema.table) {
                    for doc in tbl.docs.values() {
                        schema.validate(&doc.fields(), Some(&doc.id.to_string()))?;
                    }
                }
            }
            Change::DeleteSchema { tenant, table } => {
                if !self.tenant(tenant)?.schemas.contains_key(table) {
                    return Err(Error::NotFound(format!("table `{table}` has no schema")));
                }
            }
            Change::ScheduleJob { tenant, job } => {
                if self.tenant(tenant)?.jobs.contains_key(&job.id) {
                    return Err(Error::Conflict(format!("job `{}` already exists", job.id)));
                }
            }
            Change::CancelJob { tenant, id } | Change::RunJob { tenant, id, .. } => {
                if !self.tenant(tenant)?.jobs.contains_key(id) {
                    return Err(Error::NotFound(format!("job `{id}` is not pending")));
                }
                if let Change::RunJob {
                    effect: Some(e), ..
                } = change
                {
                    self.check(&e.to_change(tenant))?;
                }
            }
            Change::PutService { tenant, .. } => {
                self.tenant(tenant)?;
            }
            Change::DeleteService { tenant, name } => {
                if !self.tenant(tenant)?.services.contains_key(name) {
                    return Err(Error::NotFound(format!("service `{name}` does not exist")));
                }
            }
            Change::CreateCron { tenant, cron } => {
                if self.tenant(tenant)?.crons.contains_key(&cron.name) {
                    return Err(Error::Conflict(format!(
                        "cron `{}` already exists",
                        cron.name
                    )));
                }
            }
            Change::DeleteCron { tenant, name } | Change::RunCron { tenant, name, .. } => {
                if !self.tenant(tenant)?.crons.contains_key(name) {
                    return Err(Error::NotFound(format!("cron `{name}` does not exist")));
                }
                if let Change::RunCron {
                    effect: Some(e), ..
                } = change
                {
                    self.check(&e.to_change(tenant))?;
                }
            }
            Change::CreateKey { tenant, key } => keys::check_create(self.tenant(tenant)?, key)?,
            Change::RevokeKey { tenant, id } => keys::check_revoke(self.tenant(tenant)?, *id)?,
            Change::Import { tenant, import } => import::check(self.tenant(tenant)?, import)?,
            Change::PutTopic { tenant, def } => topics::check_put(self.tenant(tenant)?, def)?,
            Change::DeleteTopic { tenant, name } => {
                if !self.tenant(tenant)?.topics.contains_key(name) {
                    return Err(Error::NotFound(format!("topic `{name}` does not exist")));
                }
            }
            Change::AckTopic {
                tenant,
                topic,
                group,
                ..
            } => topics::check_ack(self.tenant(tenant)?, topic, group)?,
        }
        Ok(())
    }

    /// Applies a change that was logged as record `seq`, bringing the tenant's sequence
    /// number to `tseq` (when the change has one). Setting it, rather than counting, keeps
    /// a replay over a snapshot that already holds the change right.
    pub fn apply_logged(&mut self, change: Change, seq: u64, tseq: u64) {
        if let Change::CreateTenant { tenant } = &change {
            if !self.tenants.contains_key(tenant.as_str()) {
                let t = Tenant {
                    epoch: seq,
                    ..Tenant::default()
                };
                self.tenants.insert(tenant.as_str().into(), t);
            }
            return;
        }
        if tseq > 0 {
            if let Some(t) = self.tenants.get_mut(change.tenant()) {
                t.seq = t.seq.max(tseq);
            }
        }
        self.apply(change);
    }

    /// Applies a change that [`Store::check`] accepted. A change that no longer fits (which
    /// only a replay of a damaged log could produce) is ignored rather than half-applied.
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::CreateTenant { tenant } => {
                self.tenants.entry(tenant.into_boxed_str()).or_default();
            }
            Change::DeleteTenant { tenant } => {
                self.tenants.remove(tenant.as_str());
            }
            Change::Insert {
                tenant,
                table,
                id,
                at_ms,
                fields,
            } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    t.insert(table, Doc::new(id, at_ms, at_ms, &fields));
                }
            }
            Change::Patch {
                tenant,
                table,
                id,
                at_ms,
                patch,
            } => {
                let tbl = self
                    .tenants
                    .get_mut(tenant.as_str())
                    .and_then(|t| t.tables.get_mut(table.as_str()));
                if let Some(tbl) = tbl {
                    if let Some(doc) = tbl.docs.get(&id).map(|d| d.patched(&patch, at_ms)) {
                        tbl.put(doc);
                    }
                }
            }
            Change::Delete { tenant, table, id } => {
                if let Some(tbl) = self
                    .tenants
                    .get_mut(tenant.as_str())
                    .and_then(|t| t.tables.get_mut(table.as_str()))
                {
                    tbl.remove(id);
                }
            }
            Change::PutSchema { tenant, schema } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    let table = schema.table.clone();
                    t.schemas.insert(table.clone(), schema);
                    self.sync_indexes(&tenant, &table);
                }
            }
            Change::DeleteSchema { tenant, table } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    t.schemas.remove(&table);
                    self.sync_indexes(&tenant, &table);
                }
            }
            Change::ScheduleJob { tenant, job } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    t.ids.observe(job.id);
                    t.jobs.insert(job.id, job);
                }
            }
            Change::CancelJob { tenant, id } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    t.jobs.remove(&id);
                }
            }
            Change::RunJob {
                tenant,
                id,
                finished_at,
                error,
                effect,
            } => self.run_job(&tenant, id, finished_at, error, effect),
            Change::PutService { tenant, def } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    t.services.insert(def.name.clone(), def);
                }
            }
            Change::DeleteService { tenant, name } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    t.services.remove(&name);
                }
            }
            Change::CreateCron { tenant, cron } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    t.crons.insert(cron.name.clone(), cron);
                }
            }
            Change::DeleteCron { tenant, name } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    t.crons.remove(&name);
                }
            }
            Change::RunCron {
                tenant,
                name,
                ran_at,
                next_run,
                error,
                effect,
            } => self.run_cron(&tenant, &name, (ran_at, next_run), error, effect),
            Change::CreateKey { tenant, key } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    t.keys.insert(key.id, key);
                }
            }
            Change::RevokeKey { tenant, id } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    t.keys.remove(&id);
                }
            }
            Change::Import { tenant, import } => self.apply_import(&tenant, import),
            Change::PutTopic { tenant, def } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    topics::put(t, def);
                }
            }
            Change::DeleteTopic { tenant, name } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    t.topics.remove(&name);
                }
            }
            Change::AckTopic {
                tenant,
                topic,
                group,
                upto,
            } => {
                if let Some(t) = self.tenants.get_mut(tenant.as_str()) {
                    topics::ack(t, &topic, group, upto);
                }
            }
        }
    }

    /// A due job ran: its write (if it had one) and its move to the history.
    fn run_job(
        &mut self,
        tenant: &str,
        id: DocId,
        finished_at: u64,
        error: Option<String>,
        effect: Option<Effect>,
    ) {
        let Some(job) = self
            .tenants
            .get_mut(tenant)
            .and_then(|t| t.jobs.remove(&id))
        else {
            return;
        };
        if let Some(e) = effect {
            self.apply(e.to_change(tenant));
        }
        if let Some(t) = self.tenants.get_mut(tenant) {
            // A replay over a fuzzy snapshot may meet a result already recorded.
            t.history.retain(|r| r.job.id != id);
            t.history.push_back(JobResult {
                job,
                finished_at,
                error,
            });
            while t.history.len() > HISTORY_KEPT {
                t.history.pop_front();
            }
        }
    }

    /// A due cron ran at `times.0`: its write (if it had one), and `times.1` its next run.
    fn run_cron(
        &mut self,
        tenant: &str,
        name: &str,
        (ran_at, next_run): (u64, u64),
        error: Option<String>,
        effect: Option<Effect>,
    ) {
        let exists = self
            .tenants
            .get(tenant)
            .is_some_and(|t| t.crons.contains_key(name));
        if !exists {
            return;
        }
        if let Some(e) = effect {
            self.apply(e.to_change(tenant));
        }
        if let Some(c) = self
            .tenants
            .get_mut(tenant)
            .and_then(|t| t.crons.get_mut(name))
        {
            c.last_run = Some(ran_at);
            c.next_run = next_run;
            c.last_error = error;
        }
    }

    /// Checks and applies in one step.
    pub fn commit(&mut self, change: Change) -> Result<()> {
        self.check(&change)?;
        self.apply(change);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
