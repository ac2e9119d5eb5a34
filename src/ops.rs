//! Operations: requests decoded from HTTP into typed, validated values that can cross to
//! the shard owning their tenant.
//!
//! Decoding (JSON parsing, name and id checks) runs on the core that received the
//! request, so the owner only executes. Invariant: an `Op` is `Send` and owns its data.

use crate::error::{Error, Result};
use crate::http::parse::Method;
use crate::http::route::Route;
use crate::ids::{valid_table_name, valid_tenant_id, DocId};
use crate::json::Parser;
use crate::proc::service::{Restart, ServiceDef};
use crate::query::Query;
use crate::store::{Mutation, TableSchema};
use crate::value::{Object, Value};

/// A request for the shard that owns `tenant`.
#[derive(Debug)]
pub enum Op {
    CreateTenant {
        tenant: String,
    },
    DeleteTenant {
        tenant: String,
    },
    /// `id`: a client-chosen id (mutations may name one); `None` generates one.
    Insert {
        tenant: String,
        table: String,
        id: Option<DocId>,
        fields: Object,
    },
    List {
        tenant: String,
        table: String,
    },
    Get {
        tenant: String,
        table: String,
        id: DocId,
    },
    Patch {
        tenant: String,
        table: String,
        id: DocId,
        patch: Object,
    },
    Delete {
        tenant: String,
        table: String,
        id: DocId,
    },
    Query {
        tenant: String,
        query: Query,
    },
    Paginate {
        tenant: String,
        query: Query,
        page_size: usize,
        after: Option<String>,
    },
    GetSchemas {
        tenant: String,
    },
    GetSchema {
        tenant: String,
        table: String,
    },
    PutSchema {
        tenant: String,
        schema: TableSchema,
    },
    DeleteSchema {
        tenant: String,
        table: String,
    },
    ScheduleJob {
        tenant: String,
        run_after_ms: u64,
        mutation: Mutation,
    },
    ListJobs {
        tenant: String,
    },
    CancelJob {
        tenant: String,
        id: DocId,
    },
    JobHistory {
        tenant: String,
        id: DocId,
    },
    CreateCron {
        tenant: String,
        name: String,
        seconds: u64,
        mutation: Mutation,
    },
    ListCrons {
        tenant: String,
    },
    DeleteCron {
        tenant: String,
        name: String,
    },
    OpenSession {
        tenant: String,
        metadata: Value,
        ttl_ms: u64,
    },
    ListSessions {
        tenant: String,
    },
    /// Succeeds when the tenant exists (before work done elsewhere, like sandboxes).
    CheckTenant {
        tenant: String,
    },
    /// Creates (`create`) or replaces a service definition; answers the definition.
    PutService {
        tenant: String,
        def: ServiceDef,
        create: bool,
    },
    /// Answers a service definition.
    GetService {
        tenant: String,
        name: String,
    },
    /// Answers every service definition of the tenant, as an array.
    ListServices {
        tenant: String,
    },
    DeleteService {
        tenant: String,
        name: String,
    },
}

impl Op {
    /// The tenant whose shard executes this op.
    pub fn tenant(&self) -> &str {
        match self {
            Op::CreateTenant { tenant }
            | Op::DeleteTenant { tenant }
            | Op::Insert { tenant, .. }
            | Op::List { tenant, .. }
            | Op::Get { tenant, .. }
            | Op::Patch { tenant, .. }
            | Op::Delete { tenant, .. }
            | Op::Query { tenant, .. }
            | Op::Paginate { tenant, .. }
            | Op::GetSchemas { tenant }
            | Op::GetSchema { tenant, .. }
            | Op::PutSchema { tenant, .. }
            | Op::DeleteSchema { tenant, .. }
            | Op::ScheduleJob { tenant, .. }
            | Op::ListJobs { tenant }
            | Op::CancelJob { tenant, .. }
            | Op::JobHistory { tenant, .. }
            | Op::CreateCron { tenant, .. }
            | Op::ListCrons { tenant }
            | Op::DeleteCron { tenant, .. }
            | Op::OpenSession { tenant, .. }
            | Op::ListSessions { tenant }
            | Op::CheckTenant { tenant }
            | Op::PutService { tenant, .. }
            | Op::GetService { tenant, .. }
            | Op::ListServices { tenant }
            | Op::DeleteService { tenant, .. } => tenant,
        }
    }
}

impl Op {
    /// The document a write names, when the client named it.
    pub fn doc_id(&self) -> Option<DocId> {
        match self {
            Op::Insert { id, .. } => *id,
            Op::Patch { id, .. } | Op::Delete { id, .. } => Some(*id),
            _ => None,
        }
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
pub fn decode_mutation(tenant_id: &str, m: &Value) -> Result<Op> {
    let tenant = tenant(tenant_id)?;
    Ok(match parse_mutation(m)? {
        Mutation::Insert { table, id, fields } => Op::Insert {
            tenant,
            table,
            id,
            fields,
        },
        Mutation::Update { table, id, patch } => Op::Patch {
            tenant,
            table,
            id,
            patch,
        },
        Mutation::Delete { table, id } => Op::Delete { tenant, table, id },
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

/// What a service request asks for.
#[derive(Debug)]
pub enum ServiceRequest {
    Create(ServiceDef),
    Update(ServiceDef),
    Get,
    List,
    Delete,
    Act(crate::proc::Action),
}

fn service_name(name: &str) -> Result<String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(name.to_string())
    } else {
        Err(bad(format!(
            "invalid service name `{name}` (1-64 of A-Z a-z 0-9 _ -)"
        )))
    }
}

/// Reads a service definition; `path_name` is the name in the path (for `PUT`).
pub fn service_def(v: &Value, path_name: Option<&str>) -> Result<ServiceDef> {
    if v.as_object().is_none() {
        return Err(bad("a service must be a JSON object"));
    }
    let name = match (v.get("name"), path_name) {
        (Some(Value::Str(n)), Some(p)) if &**n != p => {
            return Err(bad(format!(
                "the body's name `{n}` does not match the path's `{p}`"
            )))
        }
        (Some(Value::Str(n)), _) => service_name(n)?,
        (None, Some(p)) => service_name(p)?,
        _ => return Err(bad("`name` is required")),
    };
    let (command, env) = command_and_env(v)?;
    let restart = match v.get("restart") {
        None | Some(Value::Null) => Restart::Never,
        Some(Value::Str(r)) => {
            Restart::parse(r).ok_or_else(|| bad("`restart` must be never, on-failure or always"))?
        }
        Some(_) => return Err(bad("`restart` must be a string")),
    };
    let autostart = match v.get("autostart") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("`autostart` must be a boolean")),
    };
    Ok(ServiceDef {
        name,
        command,
        env,
        restart,
        autostart,
    })
}

/// What a sandbox request asks for.
#[derive(Debug)]
pub enum SandboxAction {
    Run(crate::proc::sandbox::Spec),
    List,
    Get(String),
    Stop(String),
}

/// An argv and an environment.
type CommandEnv = (Vec<String>, Vec<(String, String)>);

/// The `command` (a non-empty argv) and `env` (strings) of a service or sandbox.
fn command_and_env(v: &Value) -> Result<CommandEnv> {
    let command: Vec<String> = match v.get("command") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|a| {
                a.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("`command` must be an array of strings"))
            })
            .collect::<Result<_>>()?,
        _ => return Err(bad("`command` is required: a non-empty array of strings")),
    };
    if command.iter().any(|a| a.contains('\0')) {
        return Err(bad("`command` arguments must not contain NUL"));
    }
    let env = match v.get("env") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| {
                // What execve can carry: `NAME=value` with no `=` in the name, no NUL.
                if k.is_empty() || k.contains('=') || k.contains('\0') {
                    return Err(bad(format!(
                        "invalid `env` name `{}`: names are non-empty, without `=` or NUL",
                        k.escape_debug()
                    )));
                }
                match v.as_str() {
                    Some(s) if s.contains('\0') => {
                        Err(bad(format!("`env` value of `{k}` contains NUL")))
                    }
                    Some(s) => Ok((k.to_string(), s.to_string())),
                    None => Err(bad("`env` values must be strings")),
                }
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(bad("`env` must be an object of strings")),
    };
    Ok((command, env))
}

fn sandbox_spec(v: &Value) -> Result<crate::proc::sandbox::Spec> {
    let (command, env) = command_and_env(v)?;
    let stdin = match v.get("stdin") {
        None | Some(Value::Null) => String::new(),
        Some(Value::Str(s)) => s.to_string(),
        Some(_) => return Err(bad("`stdin` must be a string")),
    };
    let number = |key: &str, default: u64, max: u64| match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(n) => match n.as_u64() {
            Some(x) if (1..=max).contains(&x) => Ok(x),
            _ => Err(bad(format!("`{key}` must be an integer from 1 to {max}"))),
        },
    };
    Ok(crate::proc::sandbox::Spec {
        command,
        env,
        stdin,
        timeout_ms: number("timeout_ms", 30_000, 3_600_000)?,
        memory_mb: number("memory_mb", 512, 65_536)?,
    })
}

/// What a routed request asks for.
#[derive(Debug)]
pub enum Request {
    /// `GET /health`.
    Health,
    /// `GET /api/tenants`: gathered from every shard.
    ListTenants,
    /// `GET /api/sessions/{id}` (or `.../close` with `close`): asked of every shard.
    SessionById { id: String, close: bool },
    /// A request for the process supervisor, once the tenant is known to exist.
    Sandbox {
        tenant: String,
        action: SandboxAction,
    },
    /// A service request: definitions on the tenant's shard, processes in the supervisor.
    Service {
        tenant: String,
        name: Option<String>,
        action: ServiceRequest,
    },
    /// Anything owned by one tenant's shard.
    Op(Op),
}

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

fn tenant(id: &str) -> Result<String> {
    if valid_tenant_id(id) {
        Ok(id.to_string())
    } else {
        Err(bad(format!(
            "invalid tenant id `{id}` (1-64 of A-Z a-z 0-9 _ -)"
        )))
    }
}

fn table(name: &str) -> Result<String> {
    if valid_table_name(name) {
        Ok(name.to_string())
    } else {
        Err(bad(format!(
            "invalid table name `{name}` (1-64 chars, [A-Za-z][A-Za-z0-9_]*)"
        )))
    }
}

fn job_id(id: &str) -> Result<DocId> {
    DocId::parse(id).ok_or_else(|| bad(format!("invalid job id `{id}`")))
}

fn doc_id(id: &str) -> Result<DocId> {
    DocId::parse(id).ok_or_else(|| bad(format!("invalid document id `{id}`")))
}

/// User fields: an object whose keys do not start with `_`.
fn user_fields(v: Option<Value>, what: &str) -> Result<Object> {
    match v {
        Some(Value::Object(o)) => {
            if let Some((k, _)) = o.iter().find(|(k, _)| k.starts_with('_') || k.is_empty()) {
                return Err(bad(format!(
                    "field `{k}` in {what} is reserved: user field names must not be empty or start with `_`"
                )));
            }
            Ok(o)
        }
        Some(other) => Err(bad(format!(
            "{what} must be an object, not {}",
            other.type_name()
        ))),
        None => Err(bad(format!("{what} is required"))),
    }
}

fn take(v: &mut Value, key: &str) -> Option<Value> {
    match v {
        Value::Object(o) => o
            .iter()
            .position(|(k, _)| &**k == key)
            .map(|i| o.swap_remove(i).1),
        _ => None,
    }
}

fn body_object(parser: &mut Parser, body: &mut [u8]) -> Result<Value> {
    let v = parser.parse(body).map_err(|e| Error::InvalidInput(e.0))?;
    if v.as_object().is_none() {
        return Err(bad(format!(
            "request body must be a JSON object, not {}",
            v.type_name()
        )));
    }
    Ok(v)
}

/// Decodes a routed request whose method the route allows.
pub fn decode(
    method: Method,
    route: Route<'_>,
    body: &mut [u8],
    parser: &mut Parser,
) -> Result<Request> {
    use Method::{Delete, Get, Head, Patch, Post, Put};
    let read = matches!(method, Get | Head);
    Ok(Request::Op(match (route, method) {
        (Route::Health, _) => return Ok(Request::Health),
        (Route::Services(t), Post) => {
            let tenant = tenant(t)?;
            let def = service_def(&body_object(parser, body)?, None)?;
            return Ok(Request::Service {
                tenant,
                name: None,
                action: ServiceRequest::Create(def),
            });
        }
        (Route::Services(t), _) if read => {
            return Ok(Request::Service {
                tenant: tenant(t)?,
                name: None,
                action: ServiceRequest::List,
            })
        }
        (Route::Service(t, n), _) if read => {
            return Ok(Request::Service {
                tenant: tenant(t)?,
                name: Some(service_name(n)?),
                action: ServiceRequest::Get,
            })
        }
        (Route::Service(t, n), Put) => {
            let (tenant, name) = (tenant(t)?, service_name(n)?);
            let def = service_def(&body_object(parser, body)?, Some(&name))?;
            return Ok(Request::Service {
                tenant,
                name: Some(name),
                action: ServiceRequest::Update(def),
            });
        }
        (Route::Service(t, n), Delete) => {
            return Ok(Request::Service {
                tenant: tenant(t)?,
                name: Some(service_name(n)?),
                action: ServiceRequest::Delete,
            })
        }
        (Route::ServiceAction(t, n, a), Post) => {
            let action = match a {
                "start" => crate::proc::Action::Start,
                "stop" => crate::proc::Action::Stop,
                _ => crate::proc::Action::Restart,
            };
            let (tenant, name) = (tenant(t)?, service_name(n)?);
            return Ok(Request::Service {
                tenant,
                name: Some(name),
                action: ServiceRequest::Act(action),
            });
        }
        (Route::Sandboxes(t), Post) => {
            let tenant = tenant(t)?;
            let spec = sandbox_spec(&body_object(parser, body)?)?;
            return Ok(Request::Sandbox {
                tenant,
                action: SandboxAction::Run(spec),
            });
        }
        (Route::Sandboxes(t), _) if read => {
            return Ok(Request::Sandbox {
                tenant: tenant(t)?,
                action: SandboxAction::List,
            })
        }
        (Route::Sandbox(t, id), _) if read => {
            return Ok(Request::Sandbox {
                tenant: tenant(t)?,
                action: SandboxAction::Get(id.to_string()),
            })
        }
        (Route::SandboxStop(t, id), Post) => {
            return Ok(Request::Sandbox {
                tenant: tenant(t)?,
                action: SandboxAction::Stop(id.to_string()),
            })
        }
        (Route::Session(id), _) if read => {
            return Ok(Request::SessionById {
                id: id.to_string(),
                close: false,
            })
        }
        (Route::SessionClose(id), Post) => {
            return Ok(Request::SessionById {
                id: id.to_string(),
                close: true,
            })
        }
        (Route::Sessions, Post) => {
            let v = body_object(parser, body)?;
            let t = match v.get("tenant_id") {
                Some(Value::Str(t)) => tenant(t)?,
                _ => return Err(bad("`tenant_id` is required")),
            };
            let metadata = match v.get("metadata") {
                None | Some(Value::Null) => Value::Object(vec![]),
                Some(m @ Value::Object(_)) => m.clone(),
                Some(_) => return Err(bad("`metadata` must be an object")),
            };
            let ttl_ms = match v.get("ttl_ms") {
                None | Some(Value::Null) => 3_600_000,
                Some(n) => match n.as_u64() {
                    Some(ms) if ms >= 1 => ms,
                    _ => return Err(bad("`ttl_ms` must be an integer >= 1")),
                },
            };
            Op::OpenSession {
                tenant: t,
                metadata,
                ttl_ms,
            }
        }
        (Route::Tenants, _) if read => return Ok(Request::ListTenants),
        (Route::Tenants, Post) => {
            let mut v = body_object(parser, body)?;
            match take(&mut v, "id") {
                Some(Value::Str(id)) => Op::CreateTenant {
                    tenant: tenant(&id)?,
                },
                Some(_) => return Err(bad("`id` must be a string")),
                None => return Err(bad("`id` is required")),
            }
        }
        (Route::Tenant(t), Delete) => Op::DeleteTenant { tenant: tenant(t)? },
        (Route::Documents(t), Post) => {
            let mut v = body_object(parser, body)?;
            let name = match take(&mut v, "table") {
                Some(Value::Str(s)) => table(&s)?,
                Some(_) => return Err(bad("`table` must be a string")),
                None => return Err(bad("`table` is required")),
            };
            let fields = user_fields(take(&mut v, "fields"), "`fields`")?;
            Op::Insert {
                tenant: tenant(t)?,
                table: name,
                id: None,
                fields,
            }
        }
        (Route::Table(t, tb), _) if read => Op::List {
            tenant: tenant(t)?,
            table: table(tb)?,
        },
        (Route::Document(t, tb, id), _) if read => Op::Get {
            tenant: tenant(t)?,
            table: table(tb)?,
            id: doc_id(id)?,
        },
        (Route::Document(t, tb, id), Patch) => {
            let (t, tb, id) = (tenant(t)?, table(tb)?, doc_id(id)?);
            let mut v = body_object(parser, body)?;
            let patch = user_fields(take(&mut v, "patch"), "`patch`")?;
            Op::Patch {
                tenant: t,
                table: tb,
                id,
                patch,
            }
        }
        (Route::Document(t, tb, id), Delete) => Op::Delete {
            tenant: tenant(t)?,
            table: table(tb)?,
            id: doc_id(id)?,
        },
        (Route::Query(t), Post) => {
            let t = tenant(t)?;
            Op::Query {
                tenant: t,
                query: Query::from_value(&body_object(parser, body)?)?,
            }
        }
        (Route::QueryPaginated(t), Post) => {
            let t = tenant(t)?;
            let v = body_object(parser, body)?;
            let query =
                Query::from_value(v.get("query").ok_or_else(|| bad("`query` is required"))?)?;
            let page_size = match v.get("page_size").map(Value::as_u64) {
                Some(Some(n @ 1..=1000)) => n as usize,
                Some(_) => return Err(bad("`page_size` must be an integer from 1 to 1000")),
                None => return Err(bad("`page_size` is required")),
            };
            let after = match v.get("after") {
                None | Some(Value::Null) => None,
                Some(Value::Str(c)) => Some(c.to_string()),
                Some(_) => return Err(bad("`after` must be a cursor string")),
            };
            Op::Paginate {
                tenant: t,
                query,
                page_size,
                after,
            }
        }
        (Route::Schemas(t), _) if read => Op::GetSchemas { tenant: tenant(t)? },
        (Route::Schema(t, tb), _) if read => Op::GetSchema {
            tenant: tenant(t)?,
            table: table(tb)?,
        },
        (Route::Schema(t, tb), Put) => {
            let (t, tb) = (tenant(t)?, table(tb)?);
            let schema = TableSchema::from_value(&body_object(parser, body)?, &tb)?;
            Op::PutSchema { tenant: t, schema }
        }
        (Route::Schedule(t), Post) => {
            let t = tenant(t)?;
            let v = body_object(parser, body)?;
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
            Op::ScheduleJob {
                tenant: t,
                run_after_ms,
                mutation,
            }
        }
        (Route::Schedule(t), _) if read => Op::ListJobs { tenant: tenant(t)? },
        (Route::Job(t, id), Delete) => Op::CancelJob {
            tenant: tenant(t)?,
            id: job_id(id)?,
        },
        (Route::JobHistory(t, id), _) if read => Op::JobHistory {
            tenant: tenant(t)?,
            id: job_id(id)?,
        },
        (Route::Crons(t), Post) => {
            let t = tenant(t)?;
            let v = body_object(parser, body)?;
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
            Op::CreateCron {
                tenant: t,
                name,
                seconds,
                mutation,
            }
        }
        (Route::Crons(t), _) if read => Op::ListCrons { tenant: tenant(t)? },
        (Route::Cron(t, name), Delete) => Op::DeleteCron {
            tenant: tenant(t)?,
            name: cron_name(name)?,
        },
        (Route::Schema(t, tb), Delete) => Op::DeleteSchema {
            tenant: tenant(t)?,
            table: table(tb)?,
        },
        (r, _) => {
            return Err(Error::MethodNotAllowed {
                method: String::new(),
                allow: r.allow(),
            });
        }
    }))
}

/// Whether `method` is one that `route` answers.
pub fn allowed(method: Method, route: Route<'_>) -> bool {
    let name = match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Other => return false,
    };
    route.allow().split(", ").any(|m| m == name)
}
