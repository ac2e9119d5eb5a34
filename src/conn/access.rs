//! Access (DECISIONS §4, §10): what the request head alone decides, before any body is read
//! or room made for it: a CORS preflight's answer, the Origin rule, the credential (the admin
//! token or a tenant key), the route, the method, and what the key's scope and tenant allow.
//! Refusals here cost the server a parsed head, one hash and one lookup.

#[cfg(feature = "autobahn")]
use super::answer::echo_upgrade;
use crate::api::{allowed, need};
use crate::auth::keys::{looks_like_key, well_formed, Scope};
use crate::auth::{constant_time_eq, origin::listed, origin_allowed};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::http::parse::{Head, Method};
use crate::http::route::{path_of, query_param, route, Route};
use crate::shard::Shard;

/// Who an admitted request comes from.
#[derive(Debug, Clone)]
pub enum Who {
    /// No credential needed (`/health`).
    Anyone,
    /// The local admin token: everything.
    Admin,
    /// A tenant key: its own tenant, within its scope.
    Key(Grant),
    /// A CORS preflight, answered `204` with these methods and no credential.
    Preflight(&'static str),
}

/// What a tenant key grants.
#[derive(Debug, Clone)]
pub struct Grant {
    pub tenant: std::sync::Arc<str>,
    pub scope: Scope,
    pub hash: [u8; 32],
    pub expires_at: Option<u64>,
}

impl Who {
    /// The refusal of a key used on another tenant's data (`None` for the admin token).
    pub fn refuses_tenant(&self, tenant: &str) -> Option<Error> {
        match self {
            Who::Key(g) => g.refuses_tenant(tenant),
            _ => None,
        }
    }
}

impl Grant {
    fn refuses_tenant(&self, tenant: &str) -> Option<Error> {
        (*self.tenant != *tenant).then(|| {
            Error::Forbidden(format!(
                "this key belongs to tenant `{}`, not `{tenant}`",
                self.tenant
            ))
        })
    }
}

/// What [`admit`] decided: who asks (or why not), and whether the answer carries CORS
/// headers for the request's `Origin`.
pub struct Gate {
    pub who: Result<Who>,
    pub cors: bool,
    /// The route's index (metrics count under it); `None` for a path no route has.
    pub route: Option<usize>,
}

/// Decides on a request from its head. Order: a preflight is answered before any
/// credential; an origin that nothing allows is `403` before a missing credential's `401`
/// (so a stray page learns nothing more); then `401`, `404`, `405`, and a key's `403`s.
pub fn admit(shard: &Shard, head: &Head, head_bytes: &[u8]) -> Gate {
    let origin = head.origin.as_ref().map(|r| &head_bytes[r.clone()]);
    let mut cors = origin
        .is_some_and(|o| origin_allowed(o, shard.port) || listed(&shard.config.allowed_origins, o));
    let mut route = None;
    let who = decide(shard, head, head_bytes, origin, (&mut cors, &mut route));
    Gate { who, cors, route }
}

fn decide(
    shard: &Shard,
    head: &Head,
    head_bytes: &[u8],
    origin: Option<&[u8]>,
    (cors, route_index): (&mut bool, &mut Option<usize>),
) -> Result<Who> {
    let target = target_of(head, head_bytes)?;
    let path = path_of(target);
    let found = route(path);
    *route_index = found.map(|r| r.index());
    if let (Method::Options, Some(o), true) = (head.method, origin, head.cors_request_method) {
        return preflight(shard, found, o, cors);
    }
    #[cfg(feature = "autobahn")]
    if echo_upgrade(head, path) {
        return Ok(Who::Anyone);
    }
    let who = if found == Some(Route::Health) {
        Ok(Who::Anyone)
    } else if found == Some(Route::Deploy) {
        admit_deploy(shard, head, head_bytes).map(|()| Who::Admin)
    } else {
        credential(shard, head, head_bytes, by_query_allowed(found), target)
    };
    if let Some(o) = origin.filter(|_| !*cors) {
        match &who {
            Ok(Who::Key(g)) if key_lists_origin(shard, g, o) => *cors = true,
            _ => return Err(refused_origin(shard, o)),
        }
    }
    let who = who?;
    let method_text =
        || String::from_utf8_lossy(&head_bytes[head.method_text.clone()]).into_owned();
    let Some(found) = found else {
        return Err(Error::NotFound(format!(
            "no route for {} {path}",
            method_text()
        )));
    };
    if !allowed(head.method, found) {
        return Err(Error::MethodNotAllowed {
            method: method_text(),
            allow: found.allow(),
        });
    }
    if let Who::Key(g) = &who {
        key_may(g, found, head.method, || {
            format!("{} {path}", method_text())
        })?;
    }
    Ok(who)
}

/// Whether a key may use `route` with `method`: its tenant's routes only, within its scope.
fn key_may(g: &Grant, found: Route<'_>, method: Method, what: impl Fn() -> String) -> Result<()> {
    let Some(needs) = need(found, method) else {
        return Err(Error::Forbidden(format!(
            "{} needs the admin token; a tenant key cannot use it",
            what()
        )));
    };
    if let Some(e) = found
        .tenant()
        .and_then(|t| Who::Key(g.clone()).refuses_tenant(t))
    {
        return Err(e);
    }
    if !g.scope.allows(needs) {
        return Err(Error::Forbidden(format!(
            "{} needs scope `{}`; this key has scope `{}`",
            what(),
            needs.name(),
            g.scope.name()
        )));
    }
    Ok(())
}

/// Whether a route takes its credential from the `token` query parameter too: the
/// WebSocket and the event streams, which browsers open without headers of their own.
fn by_query_allowed(found: Option<Route<'_>>) -> bool {
    matches!(found, Some(Route::Ws | Route::Events(_) | Route::Live(_)))
}

/// The credential: the admin token or a key, from a header or (where
/// [`by_query_allowed`]) the `token` query parameter.
fn credential(
    shard: &Shard,
    head: &Head,
    head_bytes: &[u8],
    ws: bool,
    target: &str,
) -> Result<Who> {
    let by_header = head.credential.as_ref().map(|c| &head_bytes[c.clone()]);
    let by_query = if ws {
        query_param(target, "token")
    } else {
        None
    };
    let mut refusal = Error::Unauthorized;
    for cred in [by_header, by_query.as_deref().map(str::as_bytes)]
        .into_iter()
        .flatten()
    {
        match identify(shard, cred) {
            Ok(who) => return Ok(who),
            Err(e) => refusal = e,
        }
    }
    Err(refusal)
}

/// Who a credential is: the admin token, a live key, or a refusal saying why not.
fn identify(shard: &Shard, cred: &[u8]) -> Result<Who> {
    if constant_time_eq(cred, shard.token.as_bytes()) {
        return Ok(Who::Admin);
    }
    if !looks_like_key(cred) {
        return Err(Error::Unauthorized);
    }
    if !well_formed(cred) {
        return Err(Error::InvalidInput(
            "malformed key: a key is nimbus_<r|w|a|f>_ and 64 hex digits".into(),
        ));
    }
    let keys = shard.keys();
    let Some(entry) = keys.find(cred) else {
        return Err(Error::UnauthorizedBecause("unknown or revoked key".into()));
    };
    if entry.expired(now_ms()) {
        return Err(Error::UnauthorizedBecause("this key has expired".into()));
    }
    Ok(Who::Key(Grant {
        tenant: entry.tenant.clone(),
        scope: entry.scope,
        hash: entry.hash,
        expires_at: entry.expires_at,
    }))
}

fn key_lists_origin(shard: &Shard, g: &Grant, origin: &[u8]) -> bool {
    let keys = shard.keys();
    keys.find_hash(&g.hash)
        .is_some_and(|e| listed(&e.origins, origin))
}

fn refused_origin(shard: &Shard, origin: &[u8]) -> Error {
    Error::Forbidden(format!(
        "origin `{}` is not allowed: not loopback on port {}, not in --allowed-origins, not among the key's origins",
        String::from_utf8_lossy(origin),
        shard.port
    ))
}

/// A CORS preflight: allowed for an origin that loopback, `--allowed-origins` or a live key
/// of the tenant in the path allows; no credential is asked.
fn preflight(
    shard: &Shard,
    found: Option<Route<'_>>,
    origin: &[u8],
    cors: &mut bool,
) -> Result<Who> {
    let Some(found) = found else {
        return Err(Error::NotFound("no route for this preflight".into()));
    };
    if !*cors {
        let by_key = found
            .tenant()
            .is_some_and(|t| shard.keys().tenant_allows_origin(t, origin, now_ms()));
        if !by_key {
            return Err(refused_origin(shard, origin));
        }
        *cors = true;
    }
    Ok(Who::Preflight(found.allow()))
}

/// `POST /api/admin/deploy`'s own two credentials (DEPLOYS) and its method.
fn admit_deploy(shard: &Shard, head: &Head, head_bytes: &[u8]) -> Result<()> {
    let Some(expected) = &shard.config.deploy_token else {
        return Err(Error::UnauthorizedBecause(
            "the deploy admin API is disabled; set NIMBUS_DEPLOY_TOKEN before starting the server"
                .into(),
        ));
    };
    let bearer_ok = head
        .bearer
        .as_ref()
        .is_some_and(|b| constant_time_eq(&head_bytes[b.clone()], expected.as_bytes()));
    if !bearer_ok {
        return Err(Error::UnauthorizedBecause(
            "invalid deploy admin token (Authorization: Bearer <NIMBUS_DEPLOY_TOKEN>)".into(),
        ));
    }
    let admin_ok = head
        .admin_token
        .as_ref()
        .is_some_and(|t| constant_time_eq(&head_bytes[t.clone()], shard.token.as_bytes()));
    if !admin_ok {
        return Err(Error::UnauthorizedBecause(format!(
            "missing or invalid X-Nimbus-Admin-Token (the local admin token, in {})",
            crate::auth::token_path(&shard.config.data_dir).display()
        )));
    }
    if head.method != Method::Post {
        return Err(Error::MethodNotAllowed {
            method: String::from_utf8_lossy(&head_bytes[head.method_text.clone()]).into_owned(),
            allow: Route::Deploy.allow(),
        });
    }
    Ok(())
}

pub fn target_of<'a>(head: &Head, head_bytes: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(&head_bytes[head.target.clone()])
        .map_err(|_| Error::InvalidInput("request target is not UTF-8".into()))
}
