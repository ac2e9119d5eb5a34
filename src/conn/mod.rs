//! One client connection: read → parse → route → execute (here or on the owning shard) →
//! respond, for as many requests as the connection carries.
//!
//! Buffers belong to the connection and are reused for every request: the input buffer
//! (heads and bodies, parsed in place), the decoded chunked body, the response body and the
//! output buffer. Pipelined responses accumulate in the output buffer and are written when
//! the connection would otherwise wait for input.

mod access;
mod answer;
mod live;
mod sse;
mod stream;
mod ws;

use crate::clock::{now_ms, rfc3339};
use crate::error::{Error, Result};
use crate::http::chunked::ChunkedDecoder;
use crate::http::parse::{parse_head, BodyKind, Head, Method};
use crate::http::respond::{write_response, ResponseMeta, CONTINUE};
use crate::http::route::Route;
use crate::shard::{Answered, RequestId, Shard};
use access::{admit, Who};
use answer::{answer, write_switching};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};
use stream::Stream;
use ws::Upgrade;

/// Responses buffered beyond this are written even if more pipelined requests wait.
const OUT_FLUSH_BYTES: usize = 256 * 1024;
/// Buffers larger than this are released once the request that grew them is answered.
const BUFFER_KEEP_BYTES: usize = 1 << 20;
/// Bytes read per read call at least.
const READ_CHUNK: usize = 16 * 1024;
/// A body's buffer grows by at most this much ahead of the bytes that arrived.
const BODY_GROW_BYTES: usize = 256 * 1024;
/// A refused request's body up to this size is read (and dropped) to keep the connection;
/// a larger one closes it instead.
const REFUSED_BODY_READ_MAX: u64 = 64 * 1024;
/// How long, and how much, a closing connection keeps reading (and discarding) of what the
/// client still sends, so that a client still writing a refused body reads the answer.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 << 20;

struct Conn {
    inbuf: Vec<u8>,
    /// Where the next request starts in `inbuf`.
    start: usize,
    out: Vec<u8>,
    chunked: Vec<u8>,
    resp: Vec<u8>,
    /// A request is in progress or its answer not yet written (`shard::drain` waits for it).
    busy: bool,
}

/// Answers a connection past `--connections-max` with a `503` and closes it.
pub async fn refuse(shard: Rc<Shard>, mut stream: TcpStream) {
    let (mut resp, mut out) = (Vec::new(), Vec::new());
    let e = Error::Unavailable(format!(
        "the server holds its most connections ({}); retry later",
        shard.config.connections_max
    ));
    let meta = Meta::new(&shard, None, Instant::now());
    finish(&shard, Err(e), None, meta, &mut resp, &mut out);
    let _ = monoio::time::timeout(Duration::from_secs(1), stream.write_all(out)).await;
    let _ = stream.shutdown().await;
}

/// Serves one accepted connection until it closes.
pub async fn serve(shard: Rc<Shard>, mut stream: TcpStream) {
    let _open = shard.open_conn();
    let mut conn = Conn {
        inbuf: Vec::with_capacity(READ_CHUNK),
        start: 0,
        out: Vec::with_capacity(READ_CHUNK),
        chunked: Vec::new(),
        resp: Vec::with_capacity(1024),
        busy: false,
    };
    // Each phase's future is boxed: the task itself stays small, and a WebSocket does not
    // carry the HTTP phase's (larger) state for its whole life.
    match Box::pin(conn.run(&shard, &mut stream)).await {
        Some((upgrade, leftover)) => {
            // A WebSocket is not a request in progress: shutdown ends it its own way.
            conn.set_busy(&shard, false);
            // The HTTP buffers are not needed by a WebSocket; an idle socket keeps only its own.
            drop(conn);
            Box::pin(ws::serve(shard, stream, leftover, upgrade)).await
        }
        None => {
            conn.set_busy(&shard, false);
            conn.linger_close(&mut stream).await
        }
    }
}

impl Conn {
    fn set_busy(&mut self, shard: &Shard, busy: bool) {
        if self.busy != busy {
            self.busy = busy;
            shard.set_busy(busy);
        }
    }

    fn buffered(&self) -> usize {
        self.inbuf.len() - self.start
    }

    /// Reads more bytes before `deadline`; `false` on EOF, error or timeout.
    async fn read_more(&mut self, stream: &mut TcpStream, deadline: Instant, want: usize) -> bool {
        if self.start > 0 {
            self.inbuf.drain(..self.start);
            self.start = 0;
        }
        let spare = self.inbuf.capacity() - self.inbuf.len();
        if spare < want.max(READ_CHUNK) {
            self.inbuf.reserve(want.max(READ_CHUNK));
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return false;
        };
        let buf = std::mem::take(&mut self.inbuf);
        let (len, cap) = (buf.len(), buf.capacity());
        match monoio::time::timeout(left, stream.read(buf.slice_mut(len..cap))).await {
            Ok((res, slice)) => {
                self.inbuf = slice.into_inner();
                matches!(res, Ok(n) if n > 0)
            }
            // The buffer went with the cancelled read; the connection is closing anyway.
            Err(_) => false,
        }
    }

    /// Writes the buffered responses; `false` if the client is gone or stopped reading.
    async fn flush(&mut self, stream: &mut TcpStream, timeout: Duration) -> bool {
        if self.out.is_empty() {
            return true;
        }
        let buf = std::mem::take(&mut self.out);
        match monoio::time::timeout(timeout, stream.write_all(buf)).await {
            Ok((res, mut buf)) => {
                buf.clear();
                if buf.capacity() > BUFFER_KEEP_BYTES {
                    // One large answer must not pin its buffer for the connection's life.
                    buf = Vec::with_capacity(READ_CHUNK);
                }
                self.out = buf;
                res.is_ok()
            }
            Err(_) => false,
        }
    }

    /// Serves requests until the connection closes, or until a WebSocket upgrade, which is
    /// returned with the bytes already read past it.
    async fn run(&mut self, shard: &Shard, stream: &mut TcpStream) -> Option<(Upgrade, Vec<u8>)> {
        let cfg = &shard.config;
        let idle = Duration::from_millis(cfg.idle_timeout_ms);
        let head_time = Duration::from_millis(cfg.head_timeout_ms);
        // The first request's head must arrive within the head timeout of the accept.
        let mut head_deadline = Some(Instant::now() + head_time);
        loop {
            let head = loop {
                match parse_head(&self.inbuf[self.start..], cfg.head_size_max) {
                    Ok(Some(h)) => break h,
                    Ok(None) => {
                        if !self.flush(stream, idle).await {
                            return None;
                        }
                        self.set_busy(shard, false);
                        let deadline = head_deadline.unwrap_or_else(|| Instant::now() + idle);
                        if !self.read_more(stream, deadline, 0).await {
                            return None;
                        }
                        head_deadline.get_or_insert_with(|| Instant::now() + head_time);
                    }
                    Err(e) => {
                        self.fail_early(shard, stream, e, idle).await;
                        return None;
                    }
                }
            };
            head_deadline = None;
            let began = Instant::now();
            self.set_busy(shard, true);
            let gate = admit(shard, &head, &self.inbuf[self.start..self.start + head.len]);
            let refused = gate.who.as_ref().err().cloned();
            if let Some(e) = refused.as_ref().filter(|_| !small_body(&head)) {
                // Refused on its head: its body is not worth receiving (nor room made for it).
                self.fail_early(shard, stream, e.clone(), idle).await;
                return None;
            }
            let body_len = match self
                .receive_body(shard, stream, &head, idle, refused.is_none())
                .await
            {
                Ok(Some(n)) => n,
                Ok(None) => return None,
                Err(e) => {
                    self.fail_early(shard, stream, e, idle).await;
                    return None;
                }
            };
            let total = head.len + body_len;
            let req = &mut self.inbuf[self.start..self.start + total];
            let (head_bytes, rest) = req.split_at_mut(head.len);
            let body: &mut [u8] = match head.body {
                BodyKind::Chunked => &mut self.chunked[..],
                _ => rest,
            };
            let mut upgrade = None;
            let mut streamed = None;
            let cors = Cors {
                origin: head
                    .origin
                    .clone()
                    .filter(|_| gate.cors)
                    .map(|r| &head_bytes[r]),
                preflight: None,
            };
            let keep = match gate.who {
                Ok(who) => {
                    let ask = Ask {
                        head: &head,
                        head_bytes,
                        who,
                        cors,
                        route: gate.route,
                        began,
                    };
                    let after = After {
                        upgrade: &mut upgrade,
                        stream: &mut streamed,
                    };
                    respond(shard, ask, body, &mut self.resp, &mut self.out, after).await
                }
                Err(e) => {
                    self.resp.clear();
                    let meta = Meta {
                        cors,
                        ..Meta::new(shard, gate.route, began)
                    };
                    let (resp, out) = (&mut self.resp, &mut self.out);
                    finish(shard, Err(e), Some(&head), meta, resp, out)
                }
            };
            self.start += total;
            let chunked = head.minor > 0;
            if let Some(up) = upgrade {
                write_switching(&mut self.out, &up.accept, !up.echo);
                if !self.flush(stream, idle).await {
                    return None;
                }
                return Some((up, self.inbuf[self.start..].to_vec()));
            }
            if self.start == self.inbuf.len() {
                self.inbuf.clear();
                self.start = 0;
                self.shrink_after_large_request();
            } else {
                // Pipelined bytes of the next request are here: its head clock starts now.
                head_deadline = Some(Instant::now() + head_time);
            }
            if let Some(rest) = streamed {
                if !self.send_stream(shard, stream, rest, chunked, idle).await {
                    return None;
                }
            }
            if !keep {
                self.flush(stream, idle).await;
                return None;
            }
            if self.out.len() >= OUT_FLUSH_BYTES && !self.flush(stream, idle).await {
                return None;
            }
        }
    }

    /// Gives back memory a large body or response left behind, so an idle keep-alive
    /// connection costs its usual few kilobytes.
    fn shrink_after_large_request(&mut self) {
        for buf in [&mut self.inbuf, &mut self.chunked, &mut self.resp] {
            if buf.capacity() > BUFFER_KEEP_BYTES {
                *buf = Vec::new();
            }
        }
    }

    /// Makes sure the whole body is buffered; returns its encoded length, or `None` if the
    /// connection ended first. The buffer grows as bytes arrive: a declared length is a
    /// claim, not an allocation. `100 Continue` is sent only for an `admitted` request.
    async fn receive_body(
        &mut self,
        shard: &Shard,
        stream: &mut TcpStream,
        head: &Head,
        idle: Duration,
        admitted: bool,
    ) -> Result<Option<usize>> {
        let size_max = shard.config.body_size_max;
        let continue_if_waiting = |conn: &mut Conn, need: usize| {
            if admitted && head.expect_continue && conn.buffered() < need {
                conn.out.extend_from_slice(CONTINUE);
            }
        };
        match head.body {
            BodyKind::None => Ok(Some(0)),
            BodyKind::Length(n) => {
                if n > size_max {
                    return Err(Error::PayloadTooLarge {
                        size: Some(n),
                        size_max,
                    });
                }
                let need = head.len + n as usize;
                continue_if_waiting(self, need);
                while self.buffered() < need {
                    if !self.flush(stream, idle).await {
                        return Ok(None);
                    }
                    // Doubling as bytes arrive, so room is made only for what came.
                    let grow = self.buffered().clamp(READ_CHUNK, BODY_GROW_BYTES);
                    let want = (need - self.buffered()).min(grow);
                    if !self.read_more(stream, Instant::now() + idle, want).await {
                        return Ok(None);
                    }
                }
                Ok(Some(n as usize))
            }
            BodyKind::Chunked => {
                continue_if_waiting(self, head.len + 1);
                let mut decoder = ChunkedDecoder::default();
                self.chunked.clear();
                loop {
                    let body_start = self.start + head.len;
                    let encoded = &self.inbuf[body_start..];
                    if let Some(n) = decoder.feed(encoded, &mut self.chunked, size_max)? {
                        return Ok(Some(n));
                    }
                    // What is decoded is dropped from the input, so chunk framing and
                    // extensions cannot make it hold more than the body limit allows.
                    let done = decoder.take_consumed();
                    self.inbuf.drain(body_start..body_start + done);
                    if !self.flush(stream, idle).await {
                        return Ok(None);
                    }
                    if !self.read_more(stream, Instant::now() + idle, 0).await {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Answers a request whose framing failed, then the connection closes.
    async fn fail_early(
        &mut self,
        shard: &Shard,
        stream: &mut TcpStream,
        e: Error,
        idle: Duration,
    ) {
        let meta = Meta::new(shard, None, Instant::now());
        let (resp, out) = (&mut self.resp, &mut self.out);
        finish(shard, Err(e), None, meta, resp, out);
        self.flush(stream, idle).await;
    }

    /// Closes politely: stop sending, then read and drop what the client still sends for a
    /// moment, so a response to a request whose body was refused is not lost to a reset.
    async fn linger_close(&mut self, stream: &mut TcpStream) {
        let _ = stream.shutdown().await;
        let deadline = Instant::now() + LINGER;
        let mut dropped = 0usize;
        while dropped < LINGER_BYTES {
            self.inbuf.clear();
            self.start = 0;
            if !self.read_more(stream, deadline, 0).await {
                break;
            }
            dropped += self.inbuf.len();
        }
    }
}

/// Whether a body is small enough to read past when its request was refused.
fn small_body(head: &Head) -> bool {
    match head.body {
        BodyKind::None => true,
        BodyKind::Length(n) => n <= REFUSED_BODY_READ_MAX && !head.expect_continue,
        BodyKind::Chunked => false,
    }
}

/// An admitted request: its head, who sent it, and the CORS headers its answer carries.
pub struct Ask<'a> {
    pub head: &'a Head,
    pub head_bytes: &'a [u8],
    pub who: Who,
    pub cors: Cors<'a>,
    /// The route's index for metrics (`None`: no route has its path).
    pub route: Option<usize>,
    pub began: Instant,
}

/// What an answer needs besides its result: its request id, its CORS headers, and what
/// metrics count it under.
struct Meta<'a> {
    request_id: RequestId,
    cors: Cors<'a>,
    route: Option<usize>,
    began: Instant,
    /// The body is not JSON (the metrics scrape, streams): its `Content-Type`.
    content_type: Option<&'static str>,
    /// The body is streamed after this first piece (see `conn::stream`).
    streamed: bool,
}

/// Where an answer leaves what follows it: a WebSocket, or the rest of a streamed body.
struct After<'a> {
    upgrade: &'a mut Option<Upgrade>,
    stream: &'a mut Option<Stream>,
}

impl Meta<'_> {
    fn new(shard: &Shard, route: Option<usize>, began: Instant) -> Meta<'static> {
        Meta {
            request_id: shard.request_id(),
            cors: Cors::default(),
            route,
            began,
            content_type: None,
            streamed: false,
        }
    }
}

/// The CORS part of an answer: the allowed origin it names, and for a preflight the
/// methods of its route.
#[derive(Clone, Copy, Default)]
pub struct Cors<'a> {
    pub origin: Option<&'a [u8]>,
    pub preflight: Option<&'static str>,
}

/// Answers one request into `out`; returns whether the connection stays open.
async fn respond(
    shard: &Shard,
    ask: Ask<'_>,
    body: &mut [u8],
    resp: &mut Vec<u8>,
    out: &mut Vec<u8>,
    after: After<'_>,
) -> bool {
    let After { upgrade, stream } = after;
    resp.clear();
    let mut meta = Meta {
        cors: ask.cors,
        ..Meta::new(shard, ask.route, ask.began)
    };
    let result = match ask.who {
        Who::Preflight(methods) => {
            meta.cors.preflight = Some(methods);
            Ok(204)
        }
        _ => answer(shard, &ask, body, resp, upgrade, stream).await,
    };
    if upgrade.is_some() {
        shard.count_request(Answered {
            route: ask.route,
            method: ask.head.method.name(),
            status: 101,
            began: ask.began,
            request_id: meta.request_id.as_str(),
        });
        return true;
    }
    if result.is_ok() && ask.route == Some(Route::Metrics.index()) {
        meta.content_type = Some(crate::metrics::CONTENT_TYPE);
    }
    if let (Ok(_), Some(s)) = (&result, stream.as_ref()) {
        meta.streamed = true;
        meta.content_type = Some(s.content_type());
    }
    finish(shard, result, Some(ask.head), meta, resp, out)
}

/// Writes the response for `result` (an error becomes its envelope) into `out`; `head` is
/// `None` when the request head itself could not be read. Returns whether the connection
/// stays open.
fn finish(
    shard: &Shard,
    result: Result<u16>,
    head: Option<&Head>,
    meta: Meta<'_>,
    resp: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> bool {
    let (request_id, cors) = (&meta.request_id, meta.cors);
    let (status, allow, closes) = match result {
        Ok(status) => (status, None, false),
        Err(e) => {
            if let Error::Internal(why) = &e {
                let id = request_id.as_str();
                crate::log::error(
                    "internal_error",
                    &format!("{id} internal error: {why}"),
                    &[("request_id", crate::log::Field::Str(id))],
                );
            }
            resp.clear();
            e.write_envelope(resp, request_id.as_str(), &rfc3339(now_ms()));
            let allow = match &e {
                Error::MethodNotAllowed { allow, .. } => Some(*allow),
                _ => None,
            };
            (e.status(), allow, e.closes_connection())
        }
    };
    shard.count_request(Answered {
        route: meta.route,
        method: head.map_or("-", |h| h.method.name()),
        status,
        began: meta.began,
        request_id: request_id.as_str(),
    });
    // A stopping server answers what it read, then closes (and says so); a body streamed
    // to HTTP/1.0 ends with the connection.
    let http10 = head.is_some_and(|h| h.minor == 0);
    let keep_alive = head.is_some_and(|h| h.keep_alive)
        && !closes
        && !shard.draining()
        && (!meta.streamed || !http10);
    shard.with_date(|date| {
        let meta = ResponseMeta {
            request_id: request_id.as_str(),
            date,
            keep_alive,
            http10,
            head_only: head.is_some_and(|h| h.method == Method::Head),
            allow,
            cors_origin: cors.origin,
            preflight: cors.preflight,
            content_type: meta.content_type,
            streamed: meta.streamed && status < 300,
        };
        write_response(out, status, resp, &meta);
    });
    keep_alive
}
