//! Scheduling: jobs (`/schedule`, `/schedule/{id}`, `/schedule/history/{id}`) and crons
//! (`/crons`, `/crons/{name}`), the mutation objects they carry (also WebSocket `mutate`),
//! and running what falls due: one record per run, through the same commit path.

use super::input::{bad, doc_id, job_id, table, take, tenant, user_fields};
use super::{Input, Request};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::http::parse::Method;
use crate::http::route::Route;
use crate::ids::DocId;
use crate::schedule::Due;
use crate::state::State;
use crate::store::{Change, Cron, Effect, Job, Mutation, Store};
use crate::value::Value;

/// An operation on the jobs and crons of one tenant.
#[derive(Debug)]
pub enum Op {
    ScheduleJob {
        run_after_ms: u64,
        mutation: Mutation,
    },
    ListJobs,
    CancelJob {
        id: DocId,
    },
    JobHistory {
        id: DocId,
    },
    CreateCron {
        name: String,
        seconds: u64,
        mutation: Mutation,
    },
    ListCrons,
    DeleteCron {
        name: String,
    },
}

pub fn decode(mut input: Input<'_, '_>) -> Result<Request> {
    let reads = input.reads();
    let (t, op) = match (input.route, input.method) {
        (Route::Schedule(t), Method::Post) => {
            let t = tenant(t)?;
            (t, schedule_job(&input.object()?)?)
        }
        (Route::Schedule(t), _) if reads => (tenant(t)?, Op::ListJobs),
        (Route::Job(t, id), Method::Delete) => (tenant(t)?, Op::CancelJob { id: job_id(id)? }),
        (Route::JobHistory(t, id), _) if reads => (tenant(t)?, Op::JobHistory { id: job_id(id)? }),
        (Route::Crons(t), Method::Post) => {
            let t = tenant(t)?;
            (t, create_cron(&input.object()?)?)
        }
        (Route::Crons(t), _) if reads => (tenant(t)?, Op::ListCrons),
        (Route::Cron(t, name), Method::Delete) => {
            let (t, name) = (tenant(t)?, cron_name(name)?);
            (t, Op::DeleteCron { name })
        }
        _ => return Err(input.not_allowed()),
    };
    Ok(Request::Op(super::Op::of(t, op)))
}

fn schedule_job(v: &Value) -> Result<Op> {
    let run_after_ms = match v.get("run_after_ms") {
        Some(n) => n
            .as_u64()
            .ok_or_else(|| bad("`run_after_ms` must be an integer >= 0"))?,
        None => return Err(bad("`run_after_ms` is required")),
    };
    let mutation = parse_mutation(
        v.get("mutation")
            .ok_or_else(|| bad("`mutation` is required"))?,
    )?;
    Ok(Op::ScheduleJob {
        run_after_ms,
        mutation,
    })
}

fn create_cron(v: &Value) -> Result<Op> {
    let name = match v.get("name") {
        Some(Value::Str(n)) => cron_name(n)?,
        _ => return Err(bad("`name` is required and must be a string")),
    };
    let schedule = v
        .get("schedule")
        .ok_or_else(|| bad("`schedule` is required"))?;
    if schedule.get("type").and_then(Value::as_str) != Some("interval") {
        return Err(bad("schedule.type must be \"interval\""));
    }
    let seconds = match schedule.get("seconds").and_then(Value::as_u64) {
        Some(s) if s >= 1 => s,
        _ => return Err(bad("schedule.seconds must be an integer >= 1")),
    };
    let mutation = parse_mutation(
        v.get("mutation")
            .ok_or_else(|| bad("`mutation` is required"))?,
    )?;
    Ok(Op::CreateCron {
        name,
        seconds,
        mutation,
    })
}

fn cron_name(name: &str) -> Result<String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    if ok {
        Ok(name.to_string())
    } else {
        Err(bad(format!(
            "invalid cron name `{name}` (1-64 of A-Z a-z 0-9 _ . : -)"
        )))
    }
}

/// Reads a mutation object (scheduled jobs, crons, WebSocket `mutate`):
/// `{"type":"insert","table","fields","id"?}`, `{"type":"update","table","id","patch"}`,
/// `{"type":"delete","table","id"}`.
pub fn parse_mutation(m: &Value) -> Result<Mutation> {
    if m.as_object().is_none() {
        return Err(bad("a mutation must be an object with a `type`"));
    }
    let mut m = m.clone();
    let name = match take(&mut m, "table") {
        Some(Value::Str(s)) => table(&s)?,
        Some(_) => return Err(bad("mutation.table must be a string")),
        None => return Err(bad("mutation.table is required")),
    };
    let id = match take(&mut m, "id") {
        Some(Value::Str(s)) => Some(doc_id(&s)?),
        Some(Value::Null) | None => None,
        Some(_) => return Err(bad("mutation.id must be a document id string")),
    };
    let need_id = || id.ok_or_else(|| bad("mutation.id is required"));
    match take(&mut m, "type") {
        Some(Value::Str(t)) if &*t == "insert" => {
            let fields = user_fields(take(&mut m, "fields"), "mutation.fields")?;
            Ok(Mutation::Insert {
                table: name,
                id,
                fields,
            })
        }
        Some(Value::Str(t)) if &*t == "update" => {
            let patch = user_fields(take(&mut m, "patch"), "mutation.patch")?;
            Ok(Mutation::Update {
                table: name,
                id: need_id()?,
                patch,
            })
        }
        Some(Value::Str(t)) if &*t == "delete" => Ok(Mutation::Delete {
            table: name,
            id: need_id()?,
        }),
        Some(Value::Str(t)) => Err(bad(format!(
            "unknown mutation type `{t}` (insert, update, delete)"
        ))),
        _ => Err(bad("mutation.type is required (insert, update, delete)")),
    }
}

/// A mutation of `tenant` as the op that performs it now.
pub fn decode_mutation(tenant_id: &str, m: &Value) -> Result<super::Op> {
    use super::DocumentOp;
    let t = tenant(tenant_id)?;
    Ok(super::Op::of(
        t,
        match parse_mutation(m)? {
            Mutation::Insert { table, id, fields } => DocumentOp::Insert { table, id, fields },
            Mutation::Update { table, id, patch } => DocumentOp::Patch { table, id, patch },
            Mutation::Delete { table, id } => DocumentOp::Delete { table, id },
        },
    ))
}

pub fn execute(state: &mut State, tenant: String, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    match op {
        Op::ScheduleJob {
            run_after_ms,
            mutation,
        } => schedule(state, tenant, run_after_ms, mutation, out),
        Op::ListJobs => {
            let t = state.store.tenant(&tenant)?;
            let mut jobs: Vec<&Job> = t.jobs.values().collect();
            jobs.sort_by_key(|j| (j.run_at, j.id));
            out.extend_from_slice(b"{\"jobs\":");
            crate::json::write_array(out, jobs, |out, j| j.write_json(out));
            out.push(b'}');
            Ok((200, 0))
        }
        Op::CancelJob { id } => {
            let seq = state.commit(Change::CancelJob { tenant, id })?;
            Ok((204, seq))
        }
        Op::JobHistory { id } => {
            let t = state.store.tenant(&tenant)?;
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
            name,
            seconds,
            mutation,
        } => create(state, tenant, name, seconds, mutation, out),
        Op::ListCrons => {
            let t = state.store.tenant(&tenant)?;
            out.extend_from_slice(b"{\"crons\":");
            crate::json::write_array(out, t.crons.values(), |out, cron| cron.write_json(out));
            out.push(b'}');
            Ok((200, 0))
        }
        Op::DeleteCron { name } => {
            let seq = state.commit(Change::DeleteCron { tenant, name })?;
            Ok((204, seq))
        }
    }
}

fn schedule(
    state: &mut State,
    tenant: String,
    run_after_ms: u64,
    mutation: Mutation,
    out: &mut Vec<u8>,
) -> Result<(u16, u64)> {
    let now = now_ms();
    let id = state.store.tenant_mut(&tenant)?.ids.next(now);
    let run_at = now.saturating_add(run_after_ms);
    let job = Job {
        id,
        run_at,
        created_at: now,
        mutation,
    };
    let seq = state.commit(Change::ScheduleJob {
        tenant: tenant.clone(),
        job,
    })?;
    state.timers.add(run_at, Due::Job { tenant, id });
    out.extend_from_slice(b"{\"job_id\":\"");
    id.write(out);
    out.extend_from_slice(b"\"}");
    Ok((201, seq))
}

fn create(
    state: &mut State,
    tenant: String,
    name: String,
    seconds: u64,
    mutation: Mutation,
    out: &mut Vec<u8>,
) -> Result<(u16, u64)> {
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
    let seq = state.commit(Change::CreateCron {
        tenant: tenant.clone(),
        cron,
    })?;
    state.timers.add(next_run, Due::Cron { tenant, name });
    Ok((201, seq))
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
    let change = Change::RunJob {
        tenant: tenant.to_string(),
        id,
        finished_at: now,
        error,
        effect,
    };
    state.commit(change).map(Some)
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
    let change = Change::RunCron {
        tenant: tenant.to_string(),
        name: name.to_string(),
        ran_at: now,
        next_run,
        error,
        effect,
    };
    let seq = state.commit(change)?;
    let due = Due::Cron {
        tenant: tenant.to_string(),
        name: name.to_string(),
    };
    state.timers.add(next_run, due);
    Ok(Some(seq))
}
