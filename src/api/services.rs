//! Services and sandboxes: decoding their routes and bodies (commands, environments,
//! restart policies), and the service definitions kept in the tenant's store. Processes
//! themselves run in the supervisor thread (`proc`); the shard orchestrates the two
//! (`shard::procs`).

use super::input::{bad, tenant};
use super::{Input, Request};
use crate::error::{Error, Result};
use crate::http::parse::Method;
use crate::http::route::Route;
use crate::proc::service::{Restart, ServiceDef};
use crate::state::State;
use crate::store::Change;
use crate::value::Value;

/// An operation on the service definitions of one tenant.
#[derive(Debug)]
pub enum Op {
    /// Creates (`create`) or replaces a service definition; answers the definition.
    Put {
        def: ServiceDef,
        create: bool,
    },
    /// Answers a service definition.
    Get {
        name: String,
    },
    /// Answers every service definition of the tenant, as an array.
    List,
    Delete {
        name: String,
    },
}

pub fn decode(mut input: Input<'_, '_>) -> Result<Request> {
    let reads = input.reads();
    let service = |tenant, name, action| Request::Service {
        tenant,
        name,
        action,
    };
    let sandbox = |tenant, action| Request::Sandbox { tenant, action };
    Ok(match (input.route, input.method) {
        (Route::Services(t), Method::Post) => {
            let t = tenant(t)?;
            let def = service_def(&input.object()?, None)?;
            service(t, None, ServiceRequest::Create(def))
        }
        (Route::Services(t), _) if reads => service(tenant(t)?, None, ServiceRequest::List),
        (Route::Service(t, n), _) if reads => {
            let (t, n) = (tenant(t)?, service_name(n)?);
            service(t, Some(n), ServiceRequest::Get)
        }
        (Route::Service(t, n), Method::Put) => {
            let (t, n) = (tenant(t)?, service_name(n)?);
            let def = service_def(&input.object()?, Some(&n))?;
            service(t, Some(n), ServiceRequest::Update(def))
        }
        (Route::Service(t, n), Method::Delete) => {
            let (t, n) = (tenant(t)?, service_name(n)?);
            service(t, Some(n), ServiceRequest::Delete)
        }
        (Route::ServiceAction(t, n, a), Method::Post) => {
            let action = match a {
                "start" => crate::proc::Action::Start,
                "stop" => crate::proc::Action::Stop,
                _ => crate::proc::Action::Restart,
            };
            let (t, n) = (tenant(t)?, service_name(n)?);
            service(t, Some(n), ServiceRequest::Act(action))
        }
        (Route::Sandboxes(t), Method::Post) => {
            let t = tenant(t)?;
            let spec = sandbox_spec(&input.object()?)?;
            sandbox(t, SandboxAction::Run(spec))
        }
        (Route::Sandboxes(t), _) if reads => sandbox(tenant(t)?, SandboxAction::List),
        (Route::Sandbox(t, id), _) if reads => {
            sandbox(tenant(t)?, SandboxAction::Get(id.to_string()))
        }
        (Route::SandboxStop(t, id), Method::Post) => {
            sandbox(tenant(t)?, SandboxAction::Stop(id.to_string()))
        }
        _ => return Err(input.not_allowed()),
    })
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

pub fn execute(state: &mut State, tenant: String, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    match op {
        Op::Put { def, create } => {
            let exists = state
                .store
                .tenant(&tenant)?
                .services
                .contains_key(&def.name);
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
            write_def(out, &def);
            let seq = state.commit(Change::PutService { tenant, def })?;
            Ok((if create { 201 } else { 200 }, seq))
        }
        Op::Get { name } => {
            let t = state.store.tenant(&tenant)?;
            let def = t
                .services
                .get(&name)
                .ok_or_else(|| Error::NotFound(format!("service `{name}` does not exist")))?;
            write_def(out, def);
            Ok((200, 0))
        }
        Op::List => {
            let t = state.store.tenant(&tenant)?;
            crate::json::write_array(out, t.services.values(), write_def);
            Ok((200, 0))
        }
        Op::Delete { name } => {
            let seq = state.commit(Change::DeleteService { tenant, name })?;
            Ok((204, seq))
        }
    }
}

fn write_def(out: &mut Vec<u8>, def: &ServiceDef) {
    out.push(b'{');
    def.write_fields(out);
    out.push(b'}');
}
