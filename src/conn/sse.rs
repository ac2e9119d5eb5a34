//! `GET /events`: the change feed as Server-Sent Events (DECISIONS §12). Each change is an
//! event `change` with its `seq` as `id:`; a reader resumes with `Last-Event-ID` (or
//! `?after=`). The stream pulls a page at a time from the owning shard, waiting up to 15 s
//! for one, so it holds at most one page for a reader that does not read, and a reader that
//! accepts nothing for the write timeout is cut off. A wait that ends with nothing sends a
//! comment line, the heartbeat that keeps proxies from closing an idle stream.

use crate::api::changes::Read;
use crate::changes::{Render, PAGE_MAX};
use crate::error::{Error, Result};
use crate::shard::Shard;

/// How long a page is waited for before a heartbeat goes out instead.
pub const HEARTBEAT_MS: u64 = 15_000;

/// The state of one event stream.
pub struct Events {
    read: Read,
    ended: bool,
}

impl Events {
    /// A stream of `read`'s changes from `read.after` on.
    pub fn new(read: Read) -> Events {
        Events { read, ended: false }
    }

    /// Writes the next events (or a heartbeat) into `out`; `Ok(false)` once it has ended.
    pub async fn next(&mut self, shard: &Shard, out: &mut Vec<u8>) -> Result<bool> {
        if self.ended || shard.draining() {
            return Ok(false);
        }
        let read = Read {
            wait_ms: HEARTBEAT_MS,
            limit: PAGE_MAX,
            ..self.read.clone()
        };
        match shard.changes(read, Render::Event).await {
            Ok(page) => {
                if page.count == 0 {
                    out.extend_from_slice(b": keep-alive\n\n");
                } else {
                    out.extend_from_slice(&page.body);
                }
                self.read.after = page.last;
                Ok(true)
            }
            Err(e @ Error::CursorExpired(_)) => {
                out.extend_from_slice(b"event: reset\ndata: {\"code\":");
                crate::json::write_str(out, e.code());
                out.extend_from_slice(b",\"message\":");
                crate::json::write_str(out, &e.message());
                out.extend_from_slice(b"}\n\n");
                self.ended = true;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }
}
