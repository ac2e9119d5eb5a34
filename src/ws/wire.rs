//! WebSocket framing (RFC 6455) on the connection's socket: reading client frames into
//! messages, and writing server frames in batches.
//!
//! Written for this server rather than taken from a library so that an idle connection
//! costs almost nothing: bytes are read into one buffer per shard thread and only a partial
//! frame is kept per connection, and everything the outbox holds is framed into one buffer
//! and written with one call.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Frame opcodes.
pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// What the client sent, message by message.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole text message (valid UTF-8).
    Text(Vec<u8>),
    /// A whole binary message.
    Binary(Vec<u8>),
    /// A ping; its payload must come back in a pong.
    Ping(Vec<u8>),
    /// A close frame with its status code (1005 when it had none).
    Close(u16),
}

/// Why reading stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum WireError {
    /// The peer broke the protocol: close with this code (1002, 1007 or 1009).
    Protocol(u16),
    /// The socket closed or failed: nothing more can be sent either.
    Gone,
}

/// The connection's socket, shared by its reader and writer tasks. Both run on one thread
/// and each borrow lasts a single poll, so they never overlap.
pub type Sock<S> = Rc<RefCell<S>>;

thread_local! {
    /// Where reads land before the bytes are parsed; one per shard thread.
    static READ_SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 * 1024]);
}

/// Reads client frames into messages.
pub struct Reader {
    /// Received bytes; those before `pos` are parsed (a partial frame, usually nothing).
    buf: Vec<u8>,
    pos: usize,
    /// The data message being reassembled from fragments, and its opcode.
    message: Vec<u8>,
    message_op: Option<u8>,
    max_message: usize,
}

/// Whether a close code may appear on the wire (RFC 6455 §7.4).
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// XORs `data` with the 4-byte mask, 8 bytes at a time where it can.
fn unmask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

impl Reader {
    /// A reader that starts with `leftover` (bytes that came with the upgrade request) and
    /// refuses messages over `max_message` bytes.
    pub fn new(leftover: Vec<u8>, max_message: usize) -> Reader {
        Reader {
            buf: leftover,
            pos: 0,
            message: Vec::new(),
            message_op: None,
            max_message,
        }
    }

    /// The next message or control frame.
    pub async fn next<S: AsyncRead + Unpin>(&mut self, sock: &Sock<S>) -> Result<Event, WireError> {
        loop {
            if let Some(event) = self.parse_buffered()? {
                return Ok(event);
            }
            // Keep only the unparsed tail; an idle connection keeps no buffer at all.
            self.buf.drain(..self.pos);
            self.pos = 0;
            if self.buf.is_empty() && self.buf.capacity() > 4096 {
                self.buf = Vec::new();
            }
            self.fill(sock).await?;
        }
    }

    /// Appends what the socket has to `buf`, waiting until it has something.
    async fn fill<S: AsyncRead + Unpin>(&mut self, sock: &Sock<S>) -> Result<(), WireError> {
        let n = poll_fn(|cx| {
            READ_SCRATCH.with_borrow_mut(|scratch| {
                let mut rb = ReadBuf::new(scratch);
                let mut s = sock.borrow_mut();
                match Pin::new(&mut *s).poll_read(cx, &mut rb) {
                    std::task::Poll::Ready(Ok(())) => {
                        let got = rb.filled();
                        self.buf.extend_from_slice(got);
                        std::task::Poll::Ready(Ok(got.len()))
                    }
                    std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
                    std::task::Poll::Pending => std::task::Poll::Pending,
                }
            })
        })
        .await;
        match n {
            Ok(0) | Err(_) => Err(WireError::Gone),
            Ok(_) => Ok(()),
        }
    }

    /// Appends bytes as if the socket had delivered them (for fuzzing and tests: the
    /// parser is the same code with no socket under it).
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Parses frames from what is buffered until one completes an event (`Ok(None)`: more
    /// bytes are needed).
    pub fn parse_buffered(&mut self) -> Result<Option<Event>, WireError> {
        loop {
            let Some((fin, op, payload_at, len)) = self.header()? else {
                return Ok(None);
            };
            let (start, end) = (self.pos + payload_at, self.pos + payload_at + len);
            if self.buf.len() < end {
                return Ok(None);
            }
            let mut mask = [0u8; 4];
            mask.copy_from_slice(&self.buf[start - 4..start]);
            let payload = &mut self.buf[start..end];
            unmask(payload, mask);
            let event = match op {
                PING => Some(Event::Ping(payload.to_vec())),
                PONG => None,
                CLOSE => Some(Event::Close(close_frame(payload)?)),
                _ => {
                    if self.message.len() + len > self.max_message {
                        return Err(WireError::Protocol(1009));
                    }
                    let data_op = match (op, self.message_op) {
                        (CONTINUATION, Some(first)) => first,
                        (TEXT | BINARY, None) => op,
                        _ => return Err(WireError::Protocol(1002)),
                    };
                    if fin && self.message.is_empty() {
                        // The common case: a whole message in one frame, no reassembly.
                        Some(finish(data_op, payload.to_vec())?)
                    } else {
                        self.message.extend_from_slice(payload);
                        self.message_op = Some(data_op);
                        if fin {
                            self.message_op = None;
                            Some(finish(data_op, std::mem::take(&mut self.message))?)
                        } else {
                            None
                        }
                    }
                }
            };
            self.pos = end;
            if let Some(e) = event {
                return Ok(Some(e));
            }
        }
    }

    /// The next frame's header: (fin, opcode, where the payload starts, its length).
    fn header(&self) -> Result<Option<(bool, u8, usize, usize)>, WireError> {
        let b = &self.buf[self.pos..];
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, rsv, op) = (b[0] & 0x80 != 0, b[0] & 0x70, b[0] & 0x0F);
        let masked = b[1] & 0x80 != 0;
        if rsv != 0 || !masked || !matches!(op, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG)
        {
            return Err(WireError::Protocol(1002));
        }
        let (len, at) = match b[1] & 0x7F {
            126 => match b.get(2..4) {
                Some(l) => (u64::from(u16::from_be_bytes([l[0], l[1]])), 4),
                None => return Ok(None),
            },
            127 => match b.get(2..10) {
                Some(l) => {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(l);
                    (u64::from_be_bytes(w), 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if op >= CLOSE && (!fin || len > 125) {
            return Err(WireError::Protocol(1002)); // control frames: whole and small
        }
        if len > self.max_message as u64 {
            return Err(WireError::Protocol(1009)); // refused before it is buffered
        }
        if b.len() < at + 4 {
            return Ok(None);
        }
        Ok(Some((fin, op, at + 4, len as usize)))
    }
}

fn finish(op: u8, data: Vec<u8>) -> Result<Event, WireError> {
    if op == TEXT {
        if std::str::from_utf8(&data).is_err() {
            return Err(WireError::Protocol(1007));
        }
        Ok(Event::Text(data))
    } else {
        Ok(Event::Binary(data))
    }
}

/// A close frame's status code, checking its code and reason.
fn close_frame(payload: &[u8]) -> Result<u16, WireError> {
    match payload.len() {
        0 => Ok(1005),
        1 => Err(WireError::Protocol(1002)),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !valid_close_code(code) {
                return Err(WireError::Protocol(1002));
            }
            if std::str::from_utf8(&payload[2..]).is_err() {
                return Err(WireError::Protocol(1007));
            }
            Ok(code)
        }
    }
}

/// Appends an unmasked server frame header for a payload of `len` bytes.
pub fn frame_header(out: &mut Vec<u8>, op: u8, len: usize) {
    out.push(0x80 | op);
    match len {
        0..=125 => out.push(len as u8),
        126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
}

/// Appends a whole server frame.
pub fn frame(out: &mut Vec<u8>, op: u8, payload: &[u8]) {
    frame_header(out, op, payload.len());
    out.extend_from_slice(payload);
}

/// Appends a close frame.
pub fn close(out: &mut Vec<u8>, code: u16, reason: &[u8]) {
    let reason = &reason[..reason.len().min(123)];
    frame_header(out, CLOSE, 2 + reason.len());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason);
}

/// Writes all of `data`.
pub async fn write_all<S: AsyncWrite + Unpin>(sock: &Sock<S>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *sock.borrow_mut()).poll_write(cx, data)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with a fixed key.
    fn client(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | op];
        let mask = [1, 2, 3, 4];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n @ 126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn events(bytes: &[u8], max: usize) -> Result<Vec<Event>, WireError> {
        let mut r = Reader::new(bytes.to_vec(), max);
        let mut out = Vec::new();
        while let Some(e) = r.parse_buffered()? {
            out.push(e);
        }
        Ok(out)
    }

    #[test]
    fn reassembles_fragments_around_control_frames() {
        let mut b = client(false, TEXT, b"hel");
        b.extend(client(true, PING, b"p"));
        b.extend(client(false, CONTINUATION, b"lo "));
        b.extend(client(true, CONTINUATION, "wörld".as_bytes()));
        b.extend(client(true, BINARY, &[0; 300]));
        b.extend(client(true, CLOSE, &[3, 232, b'o', b'k']));
        assert_eq!(
            events(&b, 1 << 20),
            Ok(vec![
                Event::Ping(b"p".to_vec()),
                Event::Text("hello wörld".as_bytes().to_vec()),
                Event::Binary(vec![0; 300]),
                Event::Close(1000),
            ])
        );
    }

    #[test]
    fn refuses_what_the_rfc_forbids() {
        let unmasked = [0x81, 0x01, b'x'];
        assert_eq!(events(&unmasked, 100), Err(WireError::Protocol(1002)));
        let rsv = [&[0xC1][..], &client(true, TEXT, b"x")[1..]].concat();
        assert_eq!(events(&rsv, 100), Err(WireError::Protocol(1002)));
        let bad_op = client(true, 0x3, b"");
        assert_eq!(events(&bad_op, 100), Err(WireError::Protocol(1002)));
        let split_ping = client(false, PING, b"");
        assert_eq!(events(&split_ping, 100), Err(WireError::Protocol(1002)));
        let big_ping = client(true, PING, &[0; 126]);
        assert_eq!(events(&big_ping, 1000), Err(WireError::Protocol(1002)));
        let stray = client(true, CONTINUATION, b"x");
        assert_eq!(events(&stray, 100), Err(WireError::Protocol(1002)));
        let mut nested = client(false, TEXT, b"a");
        nested.extend(client(true, TEXT, b"b"));
        assert_eq!(events(&nested, 100), Err(WireError::Protocol(1002)));
        let utf8 = client(true, TEXT, &[0xFF]);
        assert_eq!(events(&utf8, 100), Err(WireError::Protocol(1007)));
        let big = client(true, BINARY, &[0; 200]);
        assert_eq!(events(&big, 100), Err(WireError::Protocol(1009)));
        let code = client(true, CLOSE, &[3, 237]); // 1005 may not be sent
        assert_eq!(events(&code, 100), Err(WireError::Protocol(1002)));
        let one = client(true, CLOSE, &[3]);
        assert_eq!(events(&one, 100), Err(WireError::Protocol(1002)));
    }

    #[test]
    fn waits_for_whole_frames_byte_by_byte() {
        let b = client(true, TEXT, &[b'a'; 70_000]);
        let mut r = Reader::new(Vec::new(), 1 << 20);
        let mut got = None;
        for chunk in b.chunks(997) {
            assert!(got.is_none());
            r.buf.extend_from_slice(chunk);
            got = r.parse_buffered().expect("valid");
        }
        assert_eq!(got, Some(Event::Text(vec![b'a'; 70_000])));
        assert_eq!(r.pos, r.buf.len(), "all parsed");
    }

    #[test]
    fn server_frames_have_the_right_length_forms() {
        for len in [0, 125, 126, 65_535, 65_536] {
            let mut out = Vec::new();
            frame(&mut out, TEXT, &vec![b'x'; len]);
            let header = match len {
                0..=125 => 2,
                126..=65_535 => 4,
                _ => 10,
            };
            assert_eq!(out.len(), header + len);
            assert_eq!(out[0], 0x81);
        }
    }
}
