//! The native API by resource family: for each family, its operations (typed, validated
//! values that can cross to the shard owning their tenant), their decoding from HTTP, and
//! their execution against that shard's [`State`].
//!
//! Decoding (JSON parsing, name and id checks) runs on the core that received the request,
//! so the owner only executes. Execution is synchronous and I/O-free; writes go through
//! [`State::commit`]. Invariant: an [`Op`] is `Send` and owns its data.
//!
//! A new family adds a file here, a variant of [`Family`], its routes in
//! [`decode`] and its arm in [`execute`].

pub mod changes;
mod documents;
mod import;
mod input;
mod keys;
mod schedule;
mod schemas;
mod services;
mod sessions;
mod tenants;
pub mod topics;
mod usage;

pub use documents::Op as DocumentOp;
pub use keys::Op as KeyOp;
pub use schedule::{decode_mutation, parse_mutation, Op as ScheduleOp};
pub use schemas::Op as SchemaOp;
pub use services::{service_def, Op as ServiceOp, SandboxAction, ServiceRequest};
pub use sessions::Op as SessionOp;
pub use tenants::Op as TenantOp;

use crate::auth::keys::Scope;
use crate::error::{Error, Result};
use crate::http::parse::Method;
use crate::http::route::Route;
use crate::ids::DocId;
use crate::json::Parser;
use crate::state::State;

/// A request for the shard that owns `tenant`.
#[derive(Debug)]
pub struct Op {
    pub tenant: String,
    pub family: Family,
}

/// What an [`Op`] does, by resource family.
#[derive(Debug)]
pub enum Family {
    Tenants(TenantOp),
    Documents(DocumentOp),
    Schemas(SchemaOp),
    Schedule(ScheduleOp),
    Sessions(SessionOp),
    Services(ServiceOp),
    Keys(KeyOp),
    Usage(usage::Op),
    Import(import::Op),
    Topics(topics::Op),
}

macro_rules! family_from {
    ($($variant:ident($op:ty)),*) => {$(
        impl From<$op> for Family {
            fn from(op: $op) -> Family {
                Family::$variant(op)
            }
        }
    )*};
}
family_from!(
    Tenants(TenantOp),
    Documents(DocumentOp),
    Schemas(SchemaOp),
    Schedule(ScheduleOp),
    Sessions(SessionOp),
    Services(ServiceOp),
    Keys(KeyOp),
    Usage(usage::Op),
    Import(import::Op),
    Topics(topics::Op)
);

impl Op {
    /// An operation of `tenant`.
    pub fn of(tenant: impl Into<String>, op: impl Into<Family>) -> Op {
        Op {
            tenant: tenant.into(),
            family: op.into(),
        }
    }

    /// The tenant whose shard executes this op.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The document a write names, when the client named it.
    pub fn doc_id(&self) -> Option<DocId> {
        match &self.family {
            Family::Documents(op) => op.doc_id(),
            _ => None,
        }
    }
}

/// What a routed request asks for.
#[derive(Debug)]
pub enum Request {
    /// `GET /health`.
    Health,
    /// `GET /api/tenants`: gathered from every shard.
    ListTenants,
    /// `GET /metrics`: every shard's report, merged.
    Metrics,
    /// `POST /api/admin/backup`: every shard's part, streamed.
    Backup,
    /// `GET /api/tenants/{t}/export`: the owner's pages, streamed.
    Export { tenant: String },
    /// `GET /api/tenants/{t}/changes`: a page of the feed, maybe after a wait.
    Changes(changes::Read),
    /// `GET /api/tenants/{t}/events`: the feed as Server-Sent Events.
    Events(changes::Read),
    /// `GET /api/tenants/{t}/live?query=`: a live query as Server-Sent Events.
    Live {
        tenant: String,
        query: crate::query::Query,
    },
    /// `POST /topics/consume`: run by the owner, which may wait.
    Consume(topics::Consume),
    /// `POST /topics/ack`.
    Ack(topics::Ack),
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

/// What one family's decoder is given: the request, its target (for query parameters) and
/// its body, parsed in place by `parser`.
pub struct Input<'a, 'b> {
    pub method: Method,
    pub route: Route<'a>,
    pub target: &'a str,
    pub body: &'b mut [u8],
    pub parser: &'b mut Parser,
}

impl Input<'_, '_> {
    /// Whether the method only reads (`GET`, `HEAD`).
    fn reads(&self) -> bool {
        matches!(self.method, Method::Get | Method::Head)
    }

    /// The body, which must be a JSON object.
    fn object(&mut self) -> Result<crate::value::Value> {
        input::body_object(self.parser, self.body)
    }

    /// The refusal of a method the route does not answer.
    fn not_allowed(&self) -> Error {
        Error::MethodNotAllowed {
            method: String::new(),
            allow: self.route.allow(),
        }
    }
}

/// Decodes a routed request whose method the route allows.
pub fn decode(input: Input<'_, '_>) -> Result<Request> {
    match input.route {
        Route::Health => Ok(Request::Health),
        Route::Tenants | Route::Tenant(_) => tenants::decode(input),
        Route::Documents(_)
        | Route::Table(..)
        | Route::Document(..)
        | Route::Query(_)
        | Route::QueryPaginated(_) => documents::decode(input),
        Route::Schemas(_) | Route::Schema(..) => schemas::decode(input),
        Route::Schedule(_) | Route::Job(..) | Route::JobHistory(..) => schedule::decode(input),
        Route::Crons(_) | Route::Cron(..) => schedule::decode(input),
        Route::Sessions | Route::Session(_) | Route::SessionClose(_) => sessions::decode(input),
        Route::Services(_)
        | Route::Service(..)
        | Route::ServiceAction(..)
        | Route::Sandboxes(_)
        | Route::Sandbox(..)
        | Route::SandboxStop(..) => services::decode(input),
        Route::Keys(_) | Route::Key(..) => keys::decode(input),
        Route::Usage(_) => usage::decode(input),
        Route::Import(_) => import::decode(input),
        Route::Metrics => Ok(Request::Metrics),
        Route::Backup => Ok(Request::Backup),
        Route::Export(t) => Ok(Request::Export {
            tenant: input::tenant(t)?,
        }),
        Route::Changes(_) | Route::Events(_) | Route::Live(_) => changes::decode(input),
        Route::Topic(..) | Route::TopicConsume(_) | Route::TopicAck(_) => topics::decode(input),
        Route::Ws | Route::Deploy => Err(input.not_allowed()),
    }
}

/// Executes `op` on the shard that owns its tenant, writing the response body to `out`;
/// returns the success status and, for a write, its sequence number (0 for a read).
pub fn execute(state: &mut State, op: Op, out: &mut Vec<u8>) -> Result<(u16, u64)> {
    let tenant = op.tenant;
    match op.family {
        Family::Tenants(op) => tenants::execute(state, tenant, op, out),
        Family::Documents(op) => documents::execute(state, tenant, op, out),
        Family::Schemas(op) => schemas::execute(state, tenant, op, out),
        Family::Schedule(op) => schedule::execute(state, tenant, op, out),
        Family::Sessions(op) => sessions::execute(state, tenant, op, out),
        Family::Services(op) => services::execute(state, tenant, op, out),
        Family::Keys(op) => keys::execute(state, tenant, op, out),
        Family::Usage(op) => usage::execute(state, tenant, op, out),
        Family::Import(op) => import::execute(state, tenant, op, out),
        Family::Topics(op) => topics::execute(state, tenant, op, out),
    }
}

pub use schedule::{run_cron, run_job};

/// The scope a tenant key needs for `method` on `route` (DECISIONS §10); `None` where only
/// the admin token may go (tenants, services, sandboxes, deploys). `/ws` itself needs any
/// key: its frames need more (`subscribe` read, `mutate` write).
pub fn need(route: Route<'_>, method: Method) -> Option<Scope> {
    let reads = matches!(method, Method::Get | Method::Head);
    Some(match route {
        Route::Tenants
        | Route::Tenant(_)
        | Route::Deploy
        | Route::Services(_)
        | Route::Service(..)
        | Route::ServiceAction(..)
        | Route::Sandboxes(_)
        | Route::Sandbox(..)
        | Route::SandboxStop(..)
        | Route::Backup
        | Route::Metrics => return None,
        Route::Health | Route::Ws => Scope::Functions,
        Route::Query(_) | Route::QueryPaginated(_) => Scope::Read,
        Route::Changes(_) | Route::Events(_) | Route::Live(_) => Scope::Read,
        // A consumer moves only its own group's position: reading, not writing data.
        Route::TopicConsume(_) | Route::TopicAck(_) => Scope::Read,
        Route::Topic(..) if !reads => Scope::Admin,
        Route::Topic(..) => Scope::Read,
        Route::Schemas(_) | Route::Schema(..) if !reads => Scope::Admin,
        Route::Keys(_) | Route::Key(..) | Route::Export(_) => Scope::Admin,
        Route::Sessions
        | Route::Session(_)
        | Route::SessionClose(_)
        | Route::Documents(_)
        | Route::Table(..)
        | Route::Document(..)
        | Route::Schemas(_)
        | Route::Schema(..)
        | Route::Schedule(_)
        | Route::Job(..)
        | Route::JobHistory(..)
        | Route::Crons(_)
        | Route::Cron(..)
        | Route::Usage(_)
        | Route::Import(_) => {
            if reads {
                Scope::Read
            } else {
                Scope::Write
            }
        }
    })
}

/// Whether `method` is one that `route` answers.
pub fn allowed(method: Method, route: Route<'_>) -> bool {
    if matches!(method, Method::Options | Method::Other) {
        return false;
    }
    route.allow().split(", ").any(|m| m == method.name())
}
