//! `GET /live?query=`: a live query over Server-Sent Events (DECISIONS §12), for clients
//! that cannot open a WebSocket. The connection subscribes like a WebSocket one (an outbox
//! registered on this shard, the subscription on the tenant's owner), and each result is
//! an event `result` with `id: <version>` and `{"data": [...], "version": V}`: at once,
//! and after every commit that changes it. The outbox's bounds and the slow-reader rule
//! are the WebSocket's; a quiet stream gets a comment line every 15 s.

use super::sse::HEARTBEAT_MS;
use crate::error::Result;
use crate::query::Query;
use crate::shard::Shard;
use crate::subs::{ConnRef, Delivery};
use crate::ws::outbox::{Out, Outbox};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// The one subscription of a live stream.
const SUB: u32 = 1;

/// One live-query stream.
pub struct Live {
    tenant: String,
    me: ConnRef,
    outbox: Rc<Outbox>,
    /// The first result, not written yet (skipped when the reader already has it).
    first: Option<Arc<Delivery>>,
    /// The version the reader said it has (`Last-Event-ID`).
    has: Option<u64>,
    ended: bool,
}

impl Live {
    /// Subscribes this connection to `query` on `tenant`.
    pub async fn open(
        shard: &Shard,
        tenant: String,
        query: Query,
        has: Option<u64>,
    ) -> Result<Live> {
        let me = ConnRef {
            shard: shard.id,
            conn: shard.new_conn_id(),
        };
        let outbox = Rc::new(Outbox::new(shard.config.ws_outbox_bytes_max));
        outbox.add_sub(SUB, b"null".to_vec());
        shard.register_conn(me.conn, outbox.clone());
        let first = shard.subscribe(&tenant, me, SUB, query).await;
        let first = first.and_then(|d| match &d.error {
            Some(e) => Err(e.clone()),
            None => Ok(d),
        });
        match first {
            Ok(first) => Ok(Live {
                tenant,
                me,
                outbox,
                first: Some(first),
                has,
                ended: false,
            }),
            Err(e) => {
                shard.detach(&tenant, me);
                shard.unregister_conn(me.conn);
                Err(e)
            }
        }
    }

    /// Writes the next result (or a heartbeat) into `out`; `Ok(false)` once it has ended.
    pub async fn next(&mut self, out: &mut Vec<u8>) -> Result<bool> {
        if self.ended {
            return Ok(false);
        }
        if let Some(first) = self.first.take() {
            if self.has != Some(first.version) {
                write_result(&first, out);
            } else {
                out.extend_from_slice(b": unchanged\n\n");
            }
            return Ok(true);
        }
        let wait = Duration::from_millis(HEARTBEAT_MS);
        match monoio::time::timeout(wait, self.outbox.next()).await {
            Err(_) => out.extend_from_slice(b": keep-alive\n\n"),
            Ok(Some(Out::Result { delivery, .. })) => write_result(&delivery, out),
            Ok(Some(Out::Text(frame))) => {
                // The server ended the subscription (its tenant deleted, a bound passed, a
                // shutdown): the frame says why.
                out.extend_from_slice(b"event: error\ndata: ");
                out.extend_from_slice(&frame);
                out.extend_from_slice(b"\n\n");
                self.ended = true;
            }
            Ok(Some(Out::Binary(_) | Out::Pong(_))) => {}
            Ok(Some(Out::Close { .. }) | None) => self.ended = true,
        }
        Ok(true)
    }

    /// Ends the subscription (the stream ended, or its reader went away).
    pub fn close(self, shard: &Shard) {
        shard.unsubscribe(&self.tenant, self.me, SUB);
        shard.detach(&self.tenant, self.me);
        shard.unregister_conn(self.me.conn);
    }
}

fn write_result(d: &Delivery, out: &mut Vec<u8>) {
    if let Some(e) = &d.error {
        out.extend_from_slice(b"event: error\ndata: {\"code\":");
        crate::json::write_str(out, e.code());
        out.extend_from_slice(b",\"message\":");
        crate::json::write_str(out, &e.message());
        out.extend_from_slice(b"}\n\n");
        return;
    }
    out.extend_from_slice(b"id: ");
    crate::json::write_u64(out, d.version);
    out.extend_from_slice(b"\nevent: result\ndata: {\"data\":");
    out.extend_from_slice(&d.data);
    out.extend_from_slice(b",\"version\":");
    crate::json::write_u64(out, d.version);
    out.extend_from_slice(b"}\n\n");
}
