//! One WebSocket connection after the upgrade: a reader (this task) that handles the
//! client's frames, and a writer task that drains the connection's [`Outbox`].
//!
//! The connection belongs to one tenant, fixed at the upgrade. Its subscriptions live on the
//! shard that owns the tenant; results come back to this shard as shared bytes and are
//! queued in the outbox, where a newer result replaces an older unsent one.

use crate::api::decode_mutation;
use crate::auth::keys::Scope;
use crate::error::Error;
use crate::query::Query;
use crate::shard::{ConnKey, Shard};
use crate::subs::ConnRef;
use crate::value::Value;
use crate::ws::frames;
use crate::ws::outbox::{Out, Outbox};
use crate::ws::wire::{self, Event, Reader, Sock, WireError};
use crate::ws::{race, Either};
use monoio::net::TcpStream;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};

/// What the upgrade established.
pub struct Upgrade {
    pub tenant: String,
    /// This connection's number on its shard.
    pub conn: u64,
    pub session_id: String,
    /// The `Sec-WebSocket-Accept` value.
    pub accept: String,
    /// A conformance-test echo session (feature `autobahn`), not `nimbus.v2`.
    pub echo: bool,
    /// Opened with a tenant key: its scope (frames need `read` or `write`) and the key,
    /// whose revocation or expiry ends the connection. `None`: the admin token.
    pub key: Option<(Scope, ConnKey)>,
}

impl Upgrade {
    /// Refuses a frame that needs `need` when the connection's key lacks it.
    fn refuses(&self, need: Scope, frame: &str) -> Option<Error> {
        let (scope, _) = self.key?;
        (!scope.allows(need)).then(|| {
            Error::Forbidden(format!(
                "`{frame}` needs scope `{}`; this connection's key has scope `{}`",
                need.name(),
                scope.name()
            ))
        })
    }
}

/// Bytes framed per write, at most (a batch ends early rather than grow past this).
const WRITE_BATCH_MAX: usize = 256 * 1024;

/// Ends a connection with a `fatal_error` frame and a close frame.
fn fatal(shard: &Shard, outbox: &Outbox, e: &Error, close_code: u16) {
    outbox.fatal(e, shard.request_id().as_str(), close_code);
}

/// Serves a connection whose upgrade was answered; `leftover` are bytes read past the
/// upgrade request.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream, leftover: Vec<u8>, up: Upgrade) {
    let outbox = Rc::new(Outbox::new(shard.config.ws_outbox_bytes_max));
    shard.register_conn(up.conn, outbox.clone());
    if !up.echo {
        outbox.push_text(frames::hello(&up.session_id));
    }
    if let Some((_, key)) = up.key {
        shard.keyed_conn(up.conn, key);
        // Revoked between the upgrade's check and now: the sweep that would end it is past.
        if !shard.keys().has_hash(&key.hash) {
            let e = Error::UnauthorizedBecause("the key was revoked".into());
            fatal(&shard, &outbox, &e, 1008);
        }
    }
    if let Ok(io) = stream.try_into_poll_io() {
        let sock: Sock<_> = Rc::new(RefCell::new(io));
        // The conformance echo takes Autobahn's largest messages (16 MiB); nimbus.v2 its limit.
        let max = if up.echo {
            32 << 20
        } else {
            shard.config.ws_message_size_max
        };
        let mut reader = Reader::new(leftover, max);
        let timeout = Duration::from_millis(shard.config.ws_write_timeout_ms);
        let writer = monoio::spawn(write_loop(
            sock.clone(),
            outbox.clone(),
            timeout,
            shard.clone(),
        ));
        if up.echo {
            echo_loop(&sock, &mut reader, &outbox).await;
        } else {
            read_loop(&shard, &sock, &mut reader, &outbox, &up).await;
        }
        outbox.end();
        writer.await;
    }
    shard.unregister_conn(up.conn);
    if !up.echo {
        let me = ConnRef {
            shard: shard.id,
            conn: up.conn,
        };
        shard.detach(&up.tenant, me);
    }
}

/// Answers what the protocol obliges (a pong for a ping, a close for a close or a framing
/// error); returns the data message, if the event was one, or `None` to read on. `Err(())`:
/// the connection is over.
fn obliged(outbox: &Outbox, event: Result<Event, WireError>) -> Result<Option<Event>, ()> {
    match event {
        Ok(Event::Ping(payload)) => {
            outbox.push_pong(payload);
            Ok(None)
        }
        Ok(Event::Close(code)) => {
            outbox.close(if code == 1005 { 1000 } else { code }, "");
            Err(())
        }
        Ok(message) => Ok(Some(message)),
        Err(WireError::Protocol(code)) => {
            outbox.close(code, "");
            Err(())
        }
        Err(WireError::Gone) => Err(()),
    }
}

/// Echoes every message back: the conformance-test session.
async fn echo_loop<S: AsyncRead + Unpin>(sock: &Sock<S>, reader: &mut Reader, outbox: &Outbox) {
    loop {
        let event = match race(reader.next(sock), outbox.ended()).await {
            Either::Left(e) => e,
            Either::Right(()) => return,
        };
        let ok = match obliged(outbox, event) {
            Ok(Some(Event::Text(t))) => outbox.push_text(t),
            Ok(Some(Event::Binary(b))) => outbox.push_binary(b),
            Ok(_) => true,
            Err(()) => return,
        };
        if !ok {
            return;
        }
    }
}

/// Frames one queued item into `buf`; true for the close frame, after which nothing goes.
/// A live result's commit time goes to `pushed` (metrics count it once written).
fn encode(
    buf: &mut Vec<u8>,
    payload: &mut Vec<u8>,
    item: Out,
    outbox: &Outbox,
    pushed: &mut Vec<Instant>,
) -> bool {
    match item {
        Out::Text(t) => wire::frame(buf, wire::TEXT, &t),
        Out::Binary(b) => wire::frame(buf, wire::BINARY, &b),
        Out::Result { sub, delivery } => {
            payload.clear();
            let known = outbox.with_request_id(sub, |request_id| {
                frames::subscription_result(
                    payload,
                    &frames::sub_id(sub),
                    request_id,
                    &delivery.data,
                    delivery.version,
                )
            });
            if known.is_some() {
                wire::frame(buf, wire::TEXT, payload);
                pushed.push(delivery.at);
            }
        }
        Out::Pong(p) => wire::frame(buf, wire::PONG, &p),
        Out::Close { code, reason } => {
            wire::close(buf, code, reason.as_bytes());
            return true;
        }
    }
    false
}

/// Sends what the outbox holds: everything waiting is framed into one buffer and written
/// with one call, so a burst of results costs one system call per connection.
async fn write_loop<S: AsyncWrite + Unpin>(
    sock: Sock<S>,
    outbox: Rc<Outbox>,
    timeout: Duration,
    shard: Rc<Shard>,
) {
    let (mut buf, mut payload, mut pushed) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(first) = outbox.next().await {
        buf.clear();
        pushed.clear();
        let mut last = encode(&mut buf, &mut payload, first, &outbox, &mut pushed);
        while !last && buf.len() < WRITE_BATCH_MAX {
            match outbox.try_next() {
                Some(item) => last = encode(&mut buf, &mut payload, item, &outbox, &mut pushed),
                None => break,
            }
        }
        // A client that does not take a batch within the timeout has stopped reading.
        match monoio::time::timeout(timeout, wire::write_all(&sock, &buf)).await {
            Ok(Ok(())) => shard.count_pushes(&pushed),
            _ => {
                outbox.end();
                return;
            }
        }
        if last {
            return;
        }
        if buf.capacity() > 64 * 1024 {
            (buf, payload) = (Vec::new(), Vec::new()); // an idle connection keeps no buffer
        }
    }
}

async fn read_loop<S: AsyncRead + Unpin>(
    shard: &Shard,
    sock: &Sock<S>,
    reader: &mut Reader,
    outbox: &Outbox,
    up: &Upgrade,
) {
    let handshake_deadline =
        Instant::now() + Duration::from_millis(shard.config.ws_handshake_timeout_ms);
    let mut state = State {
        hello_done: false,
        next_sub: 1,
        scratch: Vec::new(),
    };
    loop {
        // Client frames wait while the writer is behind: pings, requests and their answers
        // go at the pace the client reads.
        outbox.room().await;
        let read = reader.next(sock);
        let event = if state.hello_done {
            match race(read, outbox.ended()).await {
                Either::Left(e) => e,
                Either::Right(()) => return,
            }
        } else {
            let left = handshake_deadline.saturating_duration_since(Instant::now());
            match race(read, race(outbox.ended(), monoio::time::sleep(left))).await {
                Either::Left(e) => e,
                Either::Right(Either::Left(())) => return,
                Either::Right(Either::Right(())) => {
                    let e = Error::Protocol {
                        code: "ws.handshake_timeout",
                        message: "no client_hello within the handshake time".into(),
                    };
                    return fatal(shard, outbox, &e, 1008);
                }
            }
        };
        match obliged(outbox, event) {
            Ok(Some(Event::Text(text))) => {
                state.scratch = text;
                // Boxed: its (large) state exists only while a frame is being handled.
                if !Box::pin(handle_text(shard, outbox, up, &mut state)).await {
                    return;
                }
            }
            Ok(Some(Event::Binary(_))) => {
                let e = Error::Protocol {
                    code: "ws.unsupported_frame",
                    message: "binary frames are not supported; send JSON text frames".into(),
                };
                return fatal(shard, outbox, &e, 1003);
            }
            Ok(_) => {}
            Err(()) => return,
        }
    }
}

struct State {
    hello_done: bool,
    next_sub: u32,
    scratch: Vec<u8>,
}

fn json_text(v: Option<&Value>) -> Vec<u8> {
    let mut out = Vec::new();
    crate::json::write_value(&mut out, v.unwrap_or(&Value::Null));
    out
}

/// Handles one text frame; `false` when the connection must end.
async fn handle_text(shard: &Shard, outbox: &Outbox, up: &Upgrade, state: &mut State) -> bool {
    let trace = shard.request_id();
    let parsed = shard.parser.borrow_mut().parse(&mut state.scratch);
    let v = match parsed {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let e = Error::InvalidInput("a frame must be a JSON object with a `type`".into());
            return outbox.push_text(frames::error("error", &e, trace.as_str()));
        }
    };
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    if !state.hello_done {
        if kind != "client_hello" {
            let e = Error::Protocol {
                code: "ws.handshake_required",
                message: format!("the first frame must be client_hello, not `{kind}`"),
            };
            fatal(shard, outbox, &e, 1008);
            return false;
        }
        if v.get("protocol").and_then(Value::as_str) != Some("nimbus.v2") {
            let e = Error::Protocol {
                code: "ws.protocol_mismatch",
                message: "this server speaks nimbus.v2".into(),
            };
            fatal(shard, outbox, &e, 1002);
            return false;
        }
        state.hello_done = true;
        return true;
    }
    let request_id = json_text(v.get("request_id"));
    let me = ConnRef {
        shard: shard.id,
        conn: up.conn,
    };
    let need = match kind {
        "subscribe" => Some(Scope::Read),
        "mutate" => Some(Scope::Write),
        _ => None,
    };
    if let Some(e) = need.and_then(|n| up.refuses(n, kind)) {
        return outbox.push_text(frames::op_error(&request_id, &e, trace.as_str()));
    }
    let reply = match kind {
        "subscribe" => match subscribe(shard, outbox, up, state, &v, &request_id).await {
            Ok(()) => return true,
            Err(e) => frames::op_error(&request_id, &e, trace.as_str()),
        },
        "unsubscribe" => {
            let sub = v
                .get("subscription_id")
                .and_then(Value::as_str)
                .and_then(frames::parse_sub_id);
            match sub {
                Some(sub) if outbox.remove_sub(sub) => {
                    shard.unsubscribe(&up.tenant, me, sub);
                    frames::unsubscribed(&request_id, &frames::sub_id(sub))
                }
                _ => {
                    let e = Error::NotFound("no such subscription on this connection".into());
                    frames::op_error(&request_id, &e, trace.as_str())
                }
            }
        }
        "mutate" => match mutate(shard, up, v.get("mutation")).await {
            Ok(id) => frames::op_result(&request_id, &id),
            Err(e) => frames::op_error(&request_id, &e, trace.as_str()),
        },
        "client_hello" => {
            let e = Error::InvalidInput("the handshake is already complete".into());
            frames::error("error", &e, trace.as_str())
        }
        other => {
            let e = Error::InvalidInput(format!("unknown frame type `{other}`"));
            frames::error("error", &e, trace.as_str())
        }
    };
    outbox.push_text(reply)
}

/// Subscribes to the frame's query; the first result is queued in the outbox. On `Err`
/// nothing is subscribed.
async fn subscribe(
    shard: &Shard,
    outbox: &Outbox,
    up: &Upgrade,
    state: &mut State,
    v: &Value,
    request_id: &[u8],
) -> Result<(), Error> {
    let query = match v.get("query").map(Query::from_value) {
        Some(q) => q?,
        None => return Err(Error::InvalidInput("`query` is required".into())),
    };
    let since = match v.get("since_version") {
        None | Some(Value::Null) => None,
        Some(n) => Some(n.as_u64().ok_or_else(|| {
            Error::InvalidInput("`since_version` must be a non-negative integer".into())
        })?),
    };
    let max = shard.config.ws_subscriptions_max;
    if outbox.sub_count() >= max {
        return Err(Error::LimitExceeded {
            what: format!("this connection holds {max} subscriptions, the most allowed"),
            remedy: "unsubscribe from queries no longer needed, or open another connection".into(),
        });
    }
    let sub = state.next_sub;
    state.next_sub += 1;
    outbox.add_sub(sub, request_id.to_vec());
    let me = ConnRef {
        shard: shard.id,
        conn: up.conn,
    };
    let first = shard.subscribe(&up.tenant, me, sub, query).await;
    // A query past a bound subscribed nothing: the error is the answer.
    let first = first.and_then(|d| match &d.error {
        Some(e) => Err(e.clone()),
        None => Ok(d),
    });
    match first {
        // The client has this result already (DECISIONS §12): say so, without the data.
        Ok(first) if since == Some(first.version) => {
            outbox.seen_version(sub, first.version);
            let mut frame = Vec::with_capacity(128);
            frames::subscription_unchanged(
                &mut frame,
                &frames::sub_id(sub),
                request_id,
                first.version,
            );
            outbox.push_text(frame);
            Ok(())
        }
        Ok(first) => {
            outbox.push_result(sub, first);
            Ok(())
        }
        Err(e) => {
            outbox.remove_sub(sub);
            Err(e)
        }
    }
}

/// Runs a mutation; returns the id of the document it wrote.
async fn mutate(shard: &Shard, up: &Upgrade, m: Option<&Value>) -> Result<String, Error> {
    let m = m.ok_or_else(|| Error::InvalidInput("`mutation` is required".into()))?;
    let op = decode_mutation(&up.tenant, m)?;
    let known_id = op.doc_id();
    let mut out = Vec::new();
    shard.execute(op, &mut out).await?;
    match known_id {
        Some(id) => Ok(id.to_string()),
        None => crate::json::parse_once(&out)
            .ok()
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
            .ok_or_else(|| Error::Internal("insert answered without an id".into())),
    }
}
