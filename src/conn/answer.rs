//! Answering an admitted request: the routes the connection handles itself (deploys, the
//! WebSocket upgrade, `/health`, lists gathered from every shard) and the rest, decoded by
//! [`crate::api`] and executed on the shard that owns the tenant.

use super::access::{target_of, Who};
use super::live::Live;
use super::sse::Events;
use super::stream::Stream;
use super::ws::Upgrade;
use super::Ask;
use crate::api::changes::Read;
use crate::api::{decode, Input, Request};
use crate::changes::Render;
use crate::error::{Error, Result};
use crate::http::route::{path_of, query_param, route, Route};
use crate::shard::{ConnKey, Shard, TopicRequest};
use crate::subs::ConnRef;

/// Test builds: a WebSocket upgrade on `/` is the Autobahn echo endpoint.
#[cfg(feature = "autobahn")]
pub fn echo_upgrade(head: &crate::http::parse::Head, path: &str) -> bool {
    path == "/" && head.upgrade_websocket && head.ws_version_13 && head.ws_key.is_some()
}

/// Answers an admitted request (see [`super::access::admit`]).
pub async fn answer(
    shard: &Shard,
    ask: &Ask<'_>,
    body: &mut [u8],
    resp: &mut Vec<u8>,
    upgrade_slot: &mut Option<Upgrade>,
    stream_slot: &mut Option<Stream>,
) -> Result<u16> {
    let (head, head_bytes) = (ask.head, ask.head_bytes);
    let target = target_of(head, head_bytes)?;
    let path = path_of(target);
    #[cfg(feature = "autobahn")]
    if echo_upgrade(head, path) {
        if let Some(key) = &head.ws_key {
            let accept = crate::ws::accept_key(&head_bytes[key.clone()]);
            let conn = shard.new_conn_id();
            *upgrade_slot = Some(Upgrade {
                tenant: String::new(),
                conn,
                session_id: String::new(),
                accept,
                echo: true,
                key: None,
            });
            return Ok(101);
        }
    }
    let Some(found) = route(path) else {
        return Err(Error::Internal("an admitted request has no route".into()));
    };
    if found == Route::Deploy {
        return deploy(shard, body, resp).await;
    }
    if found == Route::Ws {
        *upgrade_slot = Some(upgrade(shard, ask, target).await?);
        return Ok(101);
    }
    let request = decode(Input {
        method: head.method,
        route: found,
        target,
        body,
        parser: &mut shard.parser.borrow_mut(),
    })?;
    match request {
        Request::Health => {
            resp.extend_from_slice(b"{\"ok\":true}");
            Ok(200)
        }
        Request::Metrics => {
            shard.scrape(resp).await?;
            Ok(200)
        }
        Request::Export { tenant } => {
            if let Some(e) = ask.who.refuses_tenant(&tenant) {
                return Err(e);
            }
            let id = shard.export_id();
            let done = shard.export_page(&tenant, id, true, resp).await?;
            *stream_slot = Some(Stream::Export { tenant, id, done });
            Ok(200)
        }
        Request::Changes(read) => {
            if let Some(e) = ask.who.refuses_tenant(&read.tenant) {
                return Err(e);
            }
            let page = shard.changes(read, Render::Change).await?;
            resp.extend_from_slice(b"{\"changes\":[");
            resp.extend_from_slice(&page.body);
            resp.extend_from_slice(b"],\"last_seq\":");
            crate::json::write_u64(resp, page.last);
            resp.extend_from_slice(if page.has_more {
                b",\"has_more\":true}"
            } else {
                b",\"has_more\":false}"
            });
            Ok(200)
        }
        Request::Events(mut read) => {
            if let Some(e) = ask.who.refuses_tenant(&read.tenant) {
                return Err(e);
            }
            if let Some(r) = &ask.head.last_event_id {
                let text = String::from_utf8_lossy(&ask.head_bytes[r.clone()]);
                read.after = crate::api::changes::position(&text)?;
            }
            // Refused now, with a status, rather than as a `reset` event after the head.
            shard
                .changes(
                    Read {
                        wait_ms: 0,
                        limit: 1,
                        ..read.clone()
                    },
                    Render::Change,
                )
                .await?;
            *stream_slot = Some(Stream::Events(Box::new(Events::new(read))));
            Ok(200)
        }
        Request::Live { tenant, query } => {
            if let Some(e) = ask.who.refuses_tenant(&tenant) {
                return Err(e);
            }
            let has = match &ask.head.last_event_id {
                Some(r) => Some(crate::api::changes::position(&String::from_utf8_lossy(
                    &ask.head_bytes[r.clone()],
                ))?),
                None => None,
            };
            let live = Live::open(shard, tenant, query, has).await?;
            *stream_slot = Some(Stream::Live(Box::new(live)));
            Ok(200)
        }
        Request::Consume(c) => match ask.who.refuses_tenant(&c.tenant) {
            Some(e) => Err(e),
            None => shard.topic(TopicRequest::Consume(c), resp).await,
        },
        Request::Ack(a) => match ask.who.refuses_tenant(&a.tenant) {
            Some(e) => Err(e),
            None => shard.topic(TopicRequest::Ack(a), resp).await,
        },
        Request::Backup => {
            let backup = shard.backup_begin().await?;
            *stream_slot = Some(Stream::Backup(Box::new(backup)));
            Ok(200)
        }
        Request::ListTenants => {
            let ids = shard.list_tenants().await?;
            resp.extend_from_slice(b"{\"tenants\":[");
            for (n, id) in ids.iter().enumerate() {
                if n > 0 {
                    resp.push(b',');
                }
                crate::json::write_str(resp, id);
            }
            resp.extend_from_slice(b"]}");
            Ok(200)
        }
        Request::Service {
            tenant,
            name,
            action,
        } => {
            let (status, body) = shard.service(tenant, name, action).await?;
            resp.extend_from_slice(&body);
            Ok(status)
        }
        Request::Sandbox { tenant, action } => {
            let created = matches!(action, crate::api::SandboxAction::Run(_));
            resp.extend_from_slice(&shard.sandbox(tenant, action).await?);
            Ok(if created { 201 } else { 200 })
        }
        Request::SessionById { id, close } => {
            let only = match &ask.who {
                Who::Key(g) => Some(&*g.tenant),
                _ => None,
            };
            resp.extend_from_slice(&shard.session_by_id(&id, close, only).await?);
            Ok(200)
        }
        Request::Op(op) => match ask.who.refuses_tenant(op.tenant()) {
            Some(e) => Err(e),
            None => shard.execute(op, resp).await,
        },
    }
}

/// `POST /api/admin/deploy`, admitted: shard 0 does the work.
async fn deploy(shard: &Shard, body: &mut [u8], resp: &mut Vec<u8>) -> Result<u16> {
    let request = shard
        .parser
        .borrow_mut()
        .parse(body)
        .map_err(|e| Error::InvalidInput(e.0))?;
    let out = shard.deploy(request).await?;
    resp.extend_from_slice(&out);
    Ok(200)
}

/// The `101` answer to a WebSocket upgrade.
pub fn write_switching(out: &mut Vec<u8>, accept: &str, nimbus: bool) {
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    out.extend_from_slice(accept.as_bytes());
    if nimbus {
        out.extend_from_slice(b"\r\nSec-WebSocket-Protocol: nimbus.v2");
    }
    out.extend_from_slice(b"\r\n\r\n");
}

/// Checks a `GET /ws` and registers the connection with its tenant's shard. A key's
/// socket is for the key's tenant (the default when none is named).
async fn upgrade(shard: &Shard, ask: &Ask<'_>, target: &str) -> Result<Upgrade> {
    let (head, head_bytes) = (ask.head, ask.head_bytes);
    let named = match &head.tenant {
        Some(r) => Some(String::from_utf8_lossy(&head_bytes[r.clone()]).into_owned()),
        None => query_param(target, "tenant_id"),
    };
    let tenant = match (named, &ask.who) {
        (Some(t), _) => t,
        (None, Who::Key(g)) => g.tenant.to_string(),
        (None, _) => {
            return Err(Error::InvalidInput(
                "the tenant is required: an X-Tenant-Id header or a tenant_id query parameter"
                    .into(),
            ))
        }
    };
    if !crate::ids::valid_tenant_id(&tenant) {
        return Err(Error::InvalidInput(format!("invalid tenant id `{tenant}`")));
    }
    if let Some(e) = ask.who.refuses_tenant(&tenant) {
        return Err(e);
    }
    if !head.offers_nimbus_v2 {
        return Err(Error::InvalidInput(
            "the nimbus.v2 subprotocol is required (Sec-WebSocket-Protocol: nimbus.v2)".into(),
        ));
    }
    let key = match &head.ws_key {
        Some(k) if head.upgrade_websocket && head.ws_version_13 => &head_bytes[k.clone()],
        _ => {
            return Err(Error::InvalidInput(
                "not a WebSocket upgrade: needs Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key".into(),
            ))
        }
    };
    let conn = shard.new_conn_id();
    let session_id = crate::ids::DocId(ulid::Ulid::new().0).to_string();
    let me = ConnRef {
        shard: shard.id,
        conn,
    };
    shard.attach(&tenant, me, &session_id).await?;
    Ok(Upgrade {
        tenant,
        conn,
        session_id,
        accept: crate::ws::accept_key(key),
        echo: false,
        key: match &ask.who {
            Who::Key(g) => Some((
                g.scope,
                ConnKey {
                    hash: g.hash,
                    expires_at: g.expires_at,
                },
            )),
            _ => None,
        },
    })
}
