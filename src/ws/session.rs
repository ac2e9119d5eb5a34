//! One WebSocket connection after the upgrade: a reader (this task) that handles the
//! client's frames, and a writer task that drains the connection's [`Outbox`].
//!
//! The connection belongs to one tenant, fixed at the upgrade. Its subscriptions live on the
//! shard that owns the tenant; results come back to this shard as shared bytes and are
//! queued in the outbox, where a newer result replaces an older unsent one.

use super::frames;
use super::outbox::{Out, Outbox};
use super::{race, Either};
use crate::error::Error;
use crate::ops::decode_mutation;
use crate::query::Query;
use crate::shard::Shard;
use crate::subs::ConnRef;
use crate::value::Value;
use fastwebsockets::{FragmentCollectorRead, Frame, OpCode, Payload, Role, WebSocketError};
use monoio::net::TcpStream;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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
}

/// A stream that first yields bytes that arrived with the upgrade request.
struct Prefixed<S> {
    pre: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.pre.len() {
            let n = (self.pre.len() - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.pre[start..start + n]);
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Ends a connection with a `fatal_error` frame and a close frame.
pub fn fatal(shard: &Shard, outbox: &Outbox, e: &Error, close_code: u16) {
    let trace = shard.request_id();
    outbox.push_text(frames::error("fatal_error", e, trace.as_str()));
    outbox.close(close_code, e.code());
}

/// Serves a connection whose upgrade was answered; `leftover` are bytes read past the
/// upgrade request.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream, leftover: Vec<u8>, up: Upgrade) {
    let outbox = Rc::new(Outbox::default());
    shard.register_conn(up.conn, outbox.clone());
    if !up.echo {
        outbox.push_text(frames::hello(&up.session_id));
    }
    if let Ok(io) = stream.try_into_poll_io() {
        let (r, w) = tokio::io::split(Prefixed {
            pre: leftover,
            pos: 0,
            inner: io,
        });
        let (mut rd, mut wr) = fastwebsockets::after_handshake_split(r, w, Role::Server);
        // The conformance echo takes Autobahn's largest messages (16 MiB); nimbus.v2 its limit.
        rd.set_max_message_size(if up.echo {
            32 << 20
        } else {
            shard.config.ws_message_size_max
        });
        rd.set_auto_close(true);
        rd.set_auto_pong(true);
        wr.set_writev(true);
        let rd = FragmentCollectorRead::new(rd);
        let timeout = Duration::from_millis(shard.config.ws_write_timeout_ms);
        let writer = monoio::spawn(write_loop(wr, outbox.clone(), timeout));
        if up.echo {
            echo_loop(rd, &outbox).await;
        } else {
            read_loop(&shard, rd, &outbox, &up).await;
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

/// Sends control frames the reader owes the peer (pong, close echo) through the outbox.
fn obligated(outbox: &Outbox, f: &Frame<'_>) -> std::future::Ready<Result<(), io::Error>> {
    match f.opcode {
        OpCode::Pong => outbox.push_pong(f.payload.to_vec()),
        OpCode::Close => {
            // A control frame carries at most 125 bytes (RFC 6455 §5.5).
            let code = match f.payload.len() {
                0 | 1 => 1000,
                126.. => 1002,
                _ => u16::from_be_bytes([f.payload[0], f.payload[1]]),
            };
            outbox.close(code, "");
        }
        _ => {}
    }
    std::future::ready(Ok(()))
}

/// Echoes every message back: the conformance-test session.
async fn echo_loop<S: AsyncRead + Unpin>(mut rd: FragmentCollectorRead<S>, outbox: &Outbox) {
    loop {
        let mut send = |f: Frame<'_>| obligated(outbox, &f);
        let frame = match race(rd.read_frame(&mut send), outbox.ended()).await {
            Either::Left(Ok(f)) => f,
            Either::Left(Err(e)) => {
                if let Some(code) = close_code(&e) {
                    outbox.close(code, "");
                }
                return;
            }
            Either::Right(()) => return,
        };
        let ok = match frame.opcode {
            OpCode::Text => outbox.push_text(frame.payload.to_vec()),
            OpCode::Binary => outbox.push_binary(frame.payload.to_vec()),
            OpCode::Close => return,
            _ => true,
        };
        if !ok {
            return;
        }
    }
}

async fn write_loop<S: AsyncWrite + Unpin>(
    mut wr: fastwebsockets::WebSocketWrite<S>,
    outbox: Rc<Outbox>,
    timeout: Duration,
) {
    let mut buf = Vec::with_capacity(1024);
    while let Some(item) = outbox.next().await {
        let mut last = false;
        let frame = match item {
            Out::Text(t) => Frame::text(Payload::Owned(t)),
            Out::Binary(b) => Frame::binary(Payload::Owned(b)),
            Out::Result { sub, delivery } => {
                let Some(request_id) = outbox.request_id(sub) else {
                    continue;
                };
                buf.clear();
                frames::subscription_result(
                    &mut buf,
                    &frames::sub_id(sub),
                    &request_id,
                    &delivery.data,
                    delivery.version,
                );
                Frame::text(Payload::Borrowed(&buf))
            }
            Out::Pong(p) => Frame::pong(Payload::Owned(p)),
            Out::Close { code, reason } => {
                last = true;
                Frame::close(code, reason.as_bytes())
            }
        };
        // A client that does not take a frame within the timeout has stopped reading.
        match monoio::time::timeout(timeout, wr.write_frame(frame)).await {
            Ok(Ok(())) => {}
            _ => {
                outbox.end();
                return;
            }
        }
        if last {
            return;
        }
    }
}

/// The close code for a framing error from the client.
fn close_code(e: &WebSocketError) -> Option<u16> {
    match e {
        WebSocketError::ConnectionClosed
        | WebSocketError::UnexpectedEOF
        | WebSocketError::IoError(_) => None,
        WebSocketError::InvalidUTF8 => Some(1007),
        WebSocketError::FrameTooLarge => Some(1009),
        _ => Some(1002),
    }
}

async fn read_loop<S: AsyncRead + Unpin>(
    shard: &Shard,
    mut rd: FragmentCollectorRead<S>,
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
        let mut send = |f: Frame<'_>| obligated(outbox, &f);
        let read = rd.read_frame(&mut send);
        let frame = if state.hello_done {
            match race(read, outbox.ended()).await {
                Either::Left(f) => f,
                Either::Right(()) => return,
            }
        } else {
            let left = handshake_deadline.saturating_duration_since(Instant::now());
            match race(read, race(outbox.ended(), monoio::time::sleep(left))).await {
                Either::Left(f) => f,
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
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                if let Some(code) = close_code(&e) {
                    outbox.close(code, "");
                }
                return;
            }
        };
        match frame.opcode {
            OpCode::Text => {
                state.scratch.clear();
                state.scratch.extend_from_slice(&frame.payload);
                if !handle_text(shard, outbox, up, &mut state).await {
                    return;
                }
            }
            OpCode::Binary => {
                let e = Error::Protocol {
                    code: "ws.unsupported_frame",
                    message: "binary frames are not supported; send JSON text frames".into(),
                };
                return fatal(shard, outbox, &e, 1003);
            }
            OpCode::Close => return,
            _ => {}
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
    let reply = match kind {
        "subscribe" => {
            let query = match v.get("query").map(Query::from_value) {
                Some(Ok(q)) => q,
                Some(Err(e)) => {
                    return outbox.push_text(frames::op_error(&request_id, &e, trace.as_str()))
                }
                None => {
                    let e = Error::InvalidInput("`query` is required".into());
                    return outbox.push_text(frames::op_error(&request_id, &e, trace.as_str()));
                }
            };
            let sub = state.next_sub;
            state.next_sub += 1;
            outbox.add_sub(sub, request_id.clone());
            match shard.subscribe(&up.tenant, me, sub, query).await {
                Ok(first) => {
                    outbox.push_result(sub, first);
                    return true;
                }
                Err(e) => {
                    outbox.remove_sub(sub);
                    frames::op_error(&request_id, &e, trace.as_str())
                }
            }
        }
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
