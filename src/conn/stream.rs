//! Answers sent while they are made: an export's pages, a backup's archive, an event
//! stream. The head
//! goes out with `Transfer-Encoding: chunked` (to an HTTP/1.0 client: no length, and the
//! connection closes at the end); then each piece the producer makes is one chunk.
//!
//! A failure after the head cannot change the status: the connection closes without the
//! last chunk, so the client sees an incomplete answer (and an export, no `end` line).

use super::live::Live;
use super::sse::Events;
use crate::error::Result;
use crate::shard::{Backup, Shard};

/// What produces the rest of a streamed answer.
pub enum Stream {
    /// Export `id` of `tenant`, paged by its owner.
    /// (`done`: its first page was the whole of it.)
    Export { tenant: String, id: u64, done: bool },
    /// A backup, coordinated by this connection's shard.
    Backup(Box<Backup>),
    /// Server-Sent Events of a tenant's changes.
    Events(Box<Events>),
    /// A live query as Server-Sent Events.
    Live(Box<Live>),
}

impl Stream {
    /// Writes the next piece into `out`; `Ok(false)` when it was the last.
    pub async fn next(&mut self, shard: &Shard, out: &mut Vec<u8>) -> Result<bool> {
        match self {
            Stream::Export { done: true, .. } => Ok(false),
            Stream::Export { tenant, id, done } => {
                *done = shard.export_page(tenant, *id, false, out).await?;
                Ok(!*done)
            }
            Stream::Backup(b) => b.next(shard, out).await,
            Stream::Events(e) => e.next(shard, out).await,
            Stream::Live(l) => l.next(out).await,
        }
    }

    /// Ends the stream before its end (an error, or the client went away), releasing what
    /// its producer holds.
    pub async fn abandon(self, shard: &Shard) {
        match self {
            Stream::Export { tenant, id, .. } => shard.export_end(&tenant, id),
            Stream::Backup(mut b) => b.release(shard).await,
            Stream::Events(_) => {}
            Stream::Live(l) => l.close(shard),
        }
    }
}

/// Appends `piece` as one chunk (or as is, to an HTTP/1.0 client).
pub fn write_chunk(out: &mut Vec<u8>, piece: &[u8], chunked: bool) {
    if piece.is_empty() {
        return;
    }
    if chunked {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(piece);
    }
}

/// The end of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

impl Stream {
    /// The stream came to its end: what it still holds goes.
    fn finished(self, shard: &Shard) {
        if let Stream::Live(l) = self {
            l.close(shard);
        }
    }

    /// The answer's `Content-Type`.
    pub fn content_type(&self) -> &'static str {
        match self {
            Stream::Export { .. } => "application/x-ndjson",
            Stream::Backup(_) => "application/x-tar",
            Stream::Events(_) | Stream::Live(_) => "text/event-stream",
        }
    }

    /// How long the client may take to accept a piece before it is cut off: an event
    /// stream's reader has the WebSocket write timeout; a download, the idle timeout.
    fn write_timeout(&self, shard: &Shard, idle: std::time::Duration) -> std::time::Duration {
        match self {
            Stream::Events(_) | Stream::Live(_) => {
                std::time::Duration::from_millis(shard.config.ws_write_timeout_ms)
            }
            _ => idle,
        }
    }
}

impl super::Conn {
    /// Sends the rest of a streamed answer, a piece at a time; `false` if the connection
    /// must close (the client went away, or the stream failed part way).
    pub(super) async fn send_stream(
        &mut self,
        shard: &Shard,
        socket: &mut monoio::net::TcpStream,
        mut stream: Stream,
        chunked: bool,
        idle: std::time::Duration,
    ) -> bool {
        let idle = stream.write_timeout(shard, idle);
        loop {
            if !self.flush(socket, idle).await {
                stream.abandon(shard).await;
                return false;
            }
            self.resp.clear();
            let more = match stream.next(shard, &mut self.resp).await {
                Ok(more) => more,
                Err(e) => {
                    let msg = format!("a streamed answer stopped part way: {e}");
                    crate::log::warn("stream_failed", &msg, &[]);
                    stream.abandon(shard).await;
                    self.flush(socket, idle).await;
                    return false;
                }
            };
            write_chunk(&mut self.out, &self.resp, chunked);
            if !more {
                stream.finished(shard);
                if chunked {
                    self.out.extend_from_slice(LAST_CHUNK);
                }
                return true;
            }
        }
    }
}
