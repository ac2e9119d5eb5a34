//! Access: what the request head alone decides, before any body is read or room made for
//! it: the Origin rule, the credential, the route and the method. Refusals here cost the
//! server a parsed head and nothing more.

#[cfg(feature = "autobahn")]
use super::answer::echo_upgrade;
use crate::api::allowed;
use crate::auth::{constant_time_eq, origin_allowed};
use crate::error::{Error, Result};
use crate::http::parse::{Head, Method};
use crate::http::route::{path_of, query_param, route, Route};
use crate::shard::Shard;

/// What the head alone decides, checked before any body is read or room made for it:
/// the Origin rule (`403`), the credential (`401`, for every route but `/health`, so a
/// `401` comes before any `404`), the route (`404`) and the method (`405`).
pub fn admit(shard: &Shard, head: &Head, head_bytes: &[u8]) -> Result<()> {
    if let Some(origin) = &head.origin {
        if !origin_allowed(&head_bytes[origin.clone()], shard.port) {
            return Err(Error::Forbidden(format!(
                "origin `{}` is not a loopback origin on port {}",
                String::from_utf8_lossy(&head_bytes[origin.clone()]),
                shard.port
            )));
        }
    }
    let target = target_of(head, head_bytes)?;
    let path = path_of(target);
    #[cfg(feature = "autobahn")]
    if echo_upgrade(head, path) {
        return Ok(());
    }
    let found = route(path);
    if found == Some(Route::Deploy) {
        return admit_deploy(shard, head, head_bytes);
    }
    if found != Some(Route::Health) {
        let token = shard.token.as_bytes();
        let by_header = head
            .credential
            .as_ref()
            .is_some_and(|c| constant_time_eq(&head_bytes[c.clone()], token));
        // Browsers cannot set headers on a WebSocket: `/ws` also takes `?token=`.
        let by_query = found == Some(Route::Ws)
            && query_param(target, "token").is_some_and(|t| constant_time_eq(t.as_bytes(), token));
        if !(by_header || by_query) {
            return Err(Error::Unauthorized);
        }
    }
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
    Ok(())
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
