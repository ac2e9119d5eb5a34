//! Executing an [`Op`] against the shard's store and writing the response body.
//!
//! Synchronous and I/O-free: it runs on the owning shard, between awaits. Writes become a
//! [`Change`] that the store checks, the log records and the store applies, so every write
//! has exactly one record; the caller acknowledges it once the record is durable.

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::json::write_str;
use crate::ops::Op;
use crate::query::{self, Cursor, Limits, Query};
use crate::schedule::{Due, Timers};
use crate::sessions::{Kind as SessionKind, Session, Sessions};
use crate::store::{Change, Cron, Doc, Effect, Job, Mutation, Store, Table};
use crate::subs::{ConnRef, Subs};
use crate::wal::writer::Log;

fn write_id(out: &mut Vec<u8>, id: DocId) {
    out.extend_from_slice(b"{\"id\":\"");
    id.write(out);
    out.extend_from_slice(b"\"}");
}

/// Writes `{"data":[…]`; refused once it would pass `bytes_max` (checked as it goes, so
/// an oversized answer is never built whole).
fn write_docs<'a>(
    out: &mut Vec<u8>,
    docs: impl IntoIterator<Item = &'a Doc>,
    bytes_max: usize,
) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(b"{\"data\":[");
    for (n, d) in docs.into_iter().enumerate() {
        if out.len() - start + d.json().len() > bytes_max {
            let seen = out.len() - start + d.json().len();
            out.truncate(start);
            return Err(Error::result_too_large(seen, bytes_max));
        }
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(d.json());
    }
    out.push(b']');
    Ok(())
}

/// Appends `,"plan":{…}` when the query asked for it.
fn write_plan(out: &mut Vec<u8>, table: Option<&Table>, query: &Query, answer: &query::Answer) {
    if query.explain {
        out.extend_from_slice(b",\"plan\":");
        answer
            .plan
            .write_json(table, query, answer.examined, answer.docs.len(), out);
    }
}

/// What one shard owns: its data, its log and its live queries.
pub struct State {
    pub store: Store,
    pub log: Log,
    pub subs: Subs,
    /// Connections to end because their tenant was deleted (drained by the shard).
    pub ended: Vec<ConnRef>,
    /// When this shard's jobs and crons are next due.
    pub timers: Timers,
    /// Sessions of this shard's tenants.
    pub sessions: Sessions,
    /// Tenants deleted by the last op (their processes are stopped by the shard).
    pub deleted: Vec<String>,
    /// How much one request may read and answer.
    pub limits: Limits,
}

impl State {
    /// The parts a commit needs, and the timers beside them.
    fn split(&mut self) -> (Committer<'_>, &mut Timers) {
        let State {
            store,
            log,
            subs,
            ended,
            timers,
            sessions,
            deleted,
            limits,
        } = self;
        (
            Committer {
                store,
                log,
                subs,
                ended,
                sessions,
                deleted,
                limits: *limits,
            },
            timers,
        )
    }
}

/// The parts of [`State`] a commit needs.
struct Committer<'a> {
    store: &'a mut Store,
    log: &'a mut Log,
    subs: &'a mut Subs,
    ended: &'a mut Vec<ConnRef>,
    sessions: &'a mut Sessions,
    deleted: &'a mut Vec<String>,
    limits: Limits,
}

/// Checks a change, logs it, applies it, and lets live queries see it; returns its sequence
/// number, which the caller waits to be durable before acknowledging.
fn commit(c: &mut Committer<'_>, change: Change) -> Result<u64> {
    if c.log.failing() {
        return Err(Error::Unavailable(
            "the shard's log cannot be written right now (disk failing or full); writes are refused until it recovers".into(),
        ));
    }
    c.store.check(&change)?;
    let watched = change
        .doc_target()
        .filter(|(t, ..)| c.subs.watches(t))
        .map(|(t, tb, id)| (t.to_string(), tb.to_string(), id));
    if let Some((t, tb, id)) = &watched {
        c.subs.before(c.store, t, tb, *id);
    }
    let (seq, change) = c.log.append(change);
    let deleted_tenant = match &change {
        Change::DeleteTenant { tenant } => Some(tenant.clone()),
        _ => None,
    };
    c.store.apply(change);
    if let Some((t, tb, id)) = watched {
        c.subs.after(c.store, &t, &tb, id, seq);
    }
    if let Some(t) = deleted_tenant {
        c.ended.extend(c.subs.drop_tenant(&t));
        c.sessions.drop_tenant(&t);
        c.deleted.push(t);
    }
    Ok(seq)
}

/// Executes `op`, writing the response body to `out`; returns the success status and, for a
/// write, its sequence number (0 for a read).
pub fn execute(state: &mut State, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    let (mut committer, timers) = state.split();
    let c = &mut committer;
    match op {
        Op::CreateTenant { tenant } => {
            let seq = commit(
                c,
                Change::CreateTenant {
                    tenant: tenant.clone(),
                },
            )?;
            out.extend_from_slice(b"{\"id\":");
            write_str(out, &tenant);
            out.push(b'}');
            Ok((201, seq))
        }
        Op::DeleteTenant { tenant } => {
            let seq = commit(c, Change::DeleteTenant { tenant })?;
            Ok((204, seq))
        }
        Op::Insert {
            tenant,
            table,
            id,
            fields,
        } => {
            let now = now_ms();
            let t = c.store.tenant_mut(&tenant)?;
            // A client-chosen id keeps its own time part; `_creationTime` is now.
            let (id, at_ms) = match id {
                Some(id) => {
                    crate::ids::check_client_id(id, now).map_err(Error::InvalidInput)?;
                    (id, now)
                }
                None => {
                    let id = t.ids.next(now);
                    (id, id.millis())
                }
            };
            let seq = commit(
                c,
                Change::Insert {
                    tenant,
                    table,
                    id,
                    at_ms,
                    fields,
                },
            )?;
            write_id(out, id);
            Ok((201, seq))
        }
        Op::List { tenant, table } => {
            let t = c.store.tenant(&tenant)?;
            let docs = t.table(&table).map_or(0, |t| t.docs.len());
            if docs > c.limits.docs_examined_max {
                return Err(Error::LimitExceeded {
                    what: format!(
                        "table `{table}` holds {docs} documents, more than one request may read ({})",
                        c.limits.docs_examined_max
                    ),
                    remedy: format!("Read table `{table}` in pages with `query/paginated`."),
                });
            }
            write_docs(
                out,
                t.table(&table).into_iter().flat_map(|t| t.docs.values()),
                c.limits.result_bytes_max,
            )?;
            out.push(b'}');
            Ok((200, 0))
        }
        Op::Get { tenant, table, id } => {
            let t = c.store.tenant(&tenant)?;
            let doc = t
                .table(&table)
                .and_then(|t| t.docs.get(&id))
                .ok_or_else(|| {
                    Error::NotFound(format!("document `{id}` does not exist in table `{table}`"))
                })?;
            out.extend_from_slice(b"{\"document\":");
            out.extend_from_slice(doc.json());
            out.push(b'}');
            Ok((200, 0))
        }
        Op::Patch {
            tenant,
            table,
            id,
            patch,
        } => {
            let at_ms = now_ms();
            let seq = commit(
                c,
                Change::Patch {
                    tenant,
                    table,
                    id,
                    at_ms,
                    patch,
                },
            )?;
            write_id(out, id);
            Ok((200, seq))
        }
        Op::Delete { tenant, table, id } => {
            let seq = commit(c, Change::Delete { tenant, table, id })?;
            Ok((204, seq))
        }
        Op::Query { tenant, query } => {
            let table = c.store.tenant(&tenant)?.table(&query.table);
            let answer = query::run_within(table, &query, c.limits.docs_examined_max);
            if answer.cut {
                return Err(c.limits.too_much_read(&query));
            }
            write_docs(out, answer.docs.iter().copied(), c.limits.result_bytes_max)?;
            write_plan(out, table, &query, &answer);
            out.push(b'}');
            Ok((200, 0))
        }
        Op::Paginate {
            tenant,
            query,
            page_size,
            after,
        } => {
            let table = c.store.tenant(&tenant)?.table(&query.table);
            let cursor = after
                .map(|c| Cursor::decode(&c, &query.order))
                .transpose()?;
            let limits = c.limits;
            let answer = query::page(
                table,
                &query,
                cursor.as_ref(),
                page_size,
                limits.docs_examined_max,
            );
            if answer.cut {
                return Err(limits.too_much_read(&query));
            }
            let more = answer.more;
            let next = answer
                .docs
                .last()
                .filter(|_| more)
                .map(|d| Cursor::at(&query.order, d));
            write_docs(out, answer.docs.iter().copied(), limits.result_bytes_max)?;
            write_plan(out, table, &query, &answer);
            out.extend_from_slice(b",\"next_cursor\":");
            match next {
                Some(c) => c.write_json(out),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(if more {
                b",\"has_more\":true}"
            } else {
                b",\"has_more\":false}"
            });
            Ok((200, 0))
        }
        Op::GetSchemas { tenant } => {
            let t = c.store.tenant(&tenant)?;
            out.extend_from_slice(b"{\"tables\":{");
            for (n, (name, schema)) in t.schemas.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_str(out, name);
                out.push(b':');
                schema.write_json(out, |ix| t.index_building(name, ix));
            }
            out.extend_from_slice(b"}}");
            Ok((200, 0))
        }
        Op::GetSchema { tenant, table } => {
            let t = c.store.tenant(&tenant)?;
            let schema = t
                .schemas
                .get(&table)
                .ok_or_else(|| Error::NotFound(format!("table `{table}` has no schema")))?;
            schema.write_json(out, |ix| t.index_building(&table, ix));
            Ok((200, 0))
        }
        Op::PutSchema { tenant, schema } => {
            let seq = commit(c, Change::PutSchema { tenant, schema })?;
            Ok((204, seq))
        }
        Op::DeleteSchema { tenant, table } => {
            let seq = commit(c, Change::DeleteSchema { tenant, table })?;
            Ok((204, seq))
        }
        Op::PutService {
            tenant,
            def,
            create,
        } => {
            let exists = c.store.tenant(&tenant)?.services.contains_key(&def.name);
            if create && exists {
                return Err(Error::Conflict(format!(
                    "service `{}` already exists",
                    def.name
                )));
            }
            if !create && !exists {
                return Err(Error::NotFound(format!(
                    "service `{}` does not exist",
                    def.name
                )));
            }
            write_service_def(out, &def);
            let seq = commit(c, Change::PutService { tenant, def })?;
            Ok((if create { 201 } else { 200 }, seq))
        }
        Op::GetService { tenant, name } => {
            let t = c.store.tenant(&tenant)?;
            let def = t
                .services
                .get(&name)
                .ok_or_else(|| Error::NotFound(format!("service `{name}` does not exist")))?;
            write_service_def(out, def);
            Ok((200, 0))
        }
        Op::ListServices { tenant } => {
            let t = c.store.tenant(&tenant)?;
            write_array(out, t.services.values(), write_service_def);
            Ok((200, 0))
        }
        Op::DeleteService { tenant, name } => {
            let seq = commit(c, Change::DeleteService { tenant, name })?;
            Ok((204, seq))
        }
        Op::CheckTenant { tenant } => {
            c.store.tenant(&tenant)?;
            Ok((200, 0))
        }
        Op::OpenSession {
            tenant,
            metadata,
            ttl_ms,
        } => {
            c.store.tenant(&tenant)?;
            let now = now_ms();
            let session = Session {
                id: DocId(ulid::Ulid::new().0).to_string(),
                tenant,
                kind: SessionKind::Http,
                closed: false,
                created_at: now,
                expires_at: Some(now.saturating_add(ttl_ms)),
                metadata,
            };
            session.write_json(now, out);
            c.sessions.open(session);
            Ok((201, 0))
        }
        Op::ListSessions { tenant } => {
            c.store.tenant(&tenant)?;
            let now = now_ms();
            out.extend_from_slice(b"{\"sessions\":");
            write_array(out, c.sessions.list(&tenant), |out, s| {
                s.write_json(now, out)
            });
            out.push(b'}');
            Ok((200, 0))
        }
        Op::ScheduleJob {
            tenant,
            run_after_ms,
            mutation,
        } => {
            let now = now_ms();
            let id = c.store.tenant_mut(&tenant)?.ids.next(now);
            let run_at = now.saturating_add(run_after_ms);
            let job = Job {
                id,
                run_at,
                created_at: now,
                mutation,
            };
            let seq = commit(
                c,
                Change::ScheduleJob {
                    tenant: tenant.clone(),
                    job,
                },
            )?;
            timers.add(run_at, Due::Job { tenant, id });
            out.extend_from_slice(b"{\"job_id\":\"");
            id.write(out);
            out.extend_from_slice(b"\"}");
            Ok((201, seq))
        }
        Op::ListJobs { tenant } => {
            let t = c.store.tenant(&tenant)?;
            let mut jobs: Vec<&Job> = t.jobs.values().collect();
            jobs.sort_by_key(|j| (j.run_at, j.id));
            out.extend_from_slice(b"{\"jobs\":");
            write_array(out, jobs, |out, j| j.write_json(out));
            out.push(b'}');
            Ok((200, 0))
        }
        Op::CancelJob { tenant, id } => {
            let seq = commit(c, Change::CancelJob { tenant, id })?;
            Ok((204, seq))
        }
        Op::JobHistory { tenant, id } => {
            let t = c.store.tenant(&tenant)?;
            let Some(result) = t.history.iter().rev().find(|r| r.job.id == id) else {
                let why = if t.jobs.contains_key(&id) {
                    "is still pending"
                } else {
                    "has no recorded result"
                };
                return Err(Error::NotFound(format!("job `{id}` {why}")));
            };
            out.extend_from_slice(b"{\"result\":");
            result.write_json(out);
            out.push(b'}');
            Ok((200, 0))
        }
        Op::CreateCron {
            tenant,
            name,
            seconds,
            mutation,
        } => {
            let now = now_ms();
            let next_run = now.saturating_add(seconds.saturating_mul(1000));
            let cron = Cron {
                name: name.clone(),
                seconds,
                mutation,
                created_at: now,
                last_run: None,
                next_run,
                last_error: None,
            };
            cron.write_json(out);
            let seq = commit(
                c,
                Change::CreateCron {
                    tenant: tenant.clone(),
                    cron,
                },
            )?;
            timers.add(next_run, Due::Cron { tenant, name });
            Ok((201, seq))
        }
        Op::ListCrons { tenant } => {
            let t = c.store.tenant(&tenant)?;
            out.extend_from_slice(b"{\"crons\":");
            write_array(out, t.crons.values(), |out, cron| cron.write_json(out));
            out.push(b'}');
            Ok((200, 0))
        }
        Op::DeleteCron { tenant, name } => {
            let seq = commit(c, Change::DeleteCron { tenant, name })?;
            Ok((204, seq))
        }
    }
}

/// The write a mutation performs now (resolved to ids and a time), or why it cannot run:
/// exactly one of the two is `Some`.
fn resolve(
    store: &mut Store,
    tenant: &str,
    m: &Mutation,
    now: u64,
) -> (Option<Effect>, Option<String>) {
    match resolve_effect(store, tenant, m, now) {
        Ok(e) => (Some(e), None),
        Err(why) => (None, Some(why)),
    }
}

fn resolve_effect(
    store: &mut Store,
    tenant: &str,
    m: &Mutation,
    now: u64,
) -> std::result::Result<Effect, String> {
    let effect = match m.clone() {
        Mutation::Insert { table, id, fields } => {
            let (id, at_ms) = match id {
                Some(id) => {
                    crate::ids::check_client_id(id, now)?;
                    (id, now)
                }
                None => {
                    let id = store
                        .tenant_mut(tenant)
                        .map_err(|e| e.message())?
                        .ids
                        .next(now);
                    (id, id.millis())
                }
            };
            Effect::Insert {
                table,
                id,
                at_ms,
                fields,
            }
        }
        Mutation::Update { table, id, patch } => Effect::Patch {
            table,
            id,
            at_ms: now,
            patch,
        },
        Mutation::Delete { table, id } => Effect::Delete { table, id },
    };
    store
        .check(&effect.to_change(tenant))
        .map_err(|e| e.message())?;
    Ok(effect)
}

/// Runs a due job: one record moves it to the history with its write (or its failure).
/// `Ok(None)`: nothing to run (cancelled, or its tenant is gone).
pub fn run_job(state: &mut State, tenant: &str, id: DocId, now: u64) -> Result<Option<u64>> {
    let Some(mutation) = state
        .store
        .tenant(tenant)
        .ok()
        .and_then(|t| t.jobs.get(&id))
        .map(|j| j.mutation.clone())
    else {
        return Ok(None);
    };
    let (effect, error) = resolve(&mut state.store, tenant, &mutation, now);
    let (mut c, _) = state.split();
    let change = Change::RunJob {
        tenant: tenant.to_string(),
        id,
        finished_at: now,
        error,
        effect,
    };
    commit(&mut c, change).map(Some)
}

/// Runs a due cron and schedules its next run. `Ok(None)`: the cron or its tenant is gone.
pub fn run_cron(state: &mut State, tenant: &str, name: &str, now: u64) -> Result<Option<u64>> {
    let Some(cron) = state
        .store
        .tenant(tenant)
        .ok()
        .and_then(|t| t.crons.get(name))
        .cloned()
    else {
        return Ok(None);
    };
    if cron.next_run > now {
        // Re-armed by a later run already; this entry is stale.
        return Ok(None);
    }
    let (effect, error) = resolve(&mut state.store, tenant, &cron.mutation, now);
    let next_run = cron.next_after(cron.next_run, now);
    let (mut c, timers) = state.split();
    let change = Change::RunCron {
        tenant: tenant.to_string(),
        name: name.to_string(),
        ran_at: now,
        next_run,
        error,
        effect,
    };
    let seq = commit(&mut c, change)?;
    timers.add(
        next_run,
        Due::Cron {
            tenant: tenant.to_string(),
            name: name.to_string(),
        },
    );
    Ok(Some(seq))
}

fn write_service_def(out: &mut Vec<u8>, def: &crate::proc::service::ServiceDef) {
    out.push(b'{');
    def.write_fields(out);
    out.push(b'}');
}

/// Appends a JSON array, writing each item with `each`.
fn write_array<T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(b'[');
    for (n, item) in items.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        each(out, item);
    }
    out.push(b']');
}
