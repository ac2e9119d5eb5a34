//! A WebSocket client speaking raw frames, so a test can send what no library would (and
//! stop reading at will).

use super::TestServer;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;

/// A WebSocket client speaking raw frames, so a test can stop reading at will.
pub struct RawWs {
    pub sock: TcpStream,
    /// The status code of the close frame the server sent, once it sent one.
    pub closed: Option<u16>,
}

impl RawWs {
    pub fn open(s: &TestServer, tenant: &str) -> RawWs {
        let mut ws = RawWs::upgrade(s, tenant);
        ws.send(0x1, br#"{"type":"client_hello","protocol":"nimbus.v2"}"#);
        ws
    }

    /// The upgraded connection, before any `client_hello`.
    pub fn upgrade(s: &TestServer, tenant: &str) -> RawWs {
        let mut c = s.raw();
        let req = format!(
            "GET /ws?tenant_id={tenant} HTTP/1.1\r\nHost: x\r\n{}Upgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: nimbus.v2\r\n\r\n",
            s.auth_header()
        );
        c.write_all(req.as_bytes()).expect("upgrade");
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            c.read_exact(&mut b).expect("101");
            head.push(b[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"));
        RawWs {
            sock: c,
            closed: None,
        }
    }

    pub fn send(&mut self, op: u8, payload: &[u8]) {
        self.send_frame(true, op, payload, true);
    }

    /// One frame, with its FIN bit and masking chosen (a client must mask; a test may not).
    pub fn send_frame(&mut self, fin: bool, op: u8, payload: &[u8], masked: bool) {
        let m = if masked { 0x80 } else { 0 };
        let mut f = vec![if fin { 0x80 | op } else { op }];
        match payload.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n < 65536 => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if masked {
            let mask = [1u8, 2, 3, 4];
            f.extend_from_slice(&mask);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        } else {
            f.extend_from_slice(payload);
        }
        // The server may already have closed on an earlier frame: that is for the test to see.
        let _ = self.sock.write_all(&f);
    }

    /// The next text frame's JSON (server frames are unmasked).
    pub fn recv(&mut self) -> Option<Value> {
        loop {
            let mut h = [0u8; 2];
            self.sock.read_exact(&mut h).ok()?;
            let len = match h[1] & 0x7f {
                126 => {
                    let mut l = [0u8; 2];
                    self.sock.read_exact(&mut l).ok()?;
                    u16::from_be_bytes(l) as usize
                }
                127 => {
                    let mut l = [0u8; 8];
                    self.sock.read_exact(&mut l).ok()?;
                    u64::from_be_bytes(l) as usize
                }
                n => n as usize,
            };
            let mut p = vec![0u8; len];
            self.sock.read_exact(&mut p).ok()?;
            match h[0] & 0x0f {
                0x1 => return serde_json::from_slice(&p).ok(),
                0x8 => {
                    self.closed = Some(if p.len() >= 2 {
                        u16::from_be_bytes([p[0], p[1]])
                    } else {
                        1005
                    });
                    return None;
                }
                _ => continue,
            }
        }
    }

    /// Reads frames until one of `type`.
    pub fn until(&mut self, kind: &str) -> Value {
        loop {
            let v = self
                .recv()
                .unwrap_or_else(|| panic!("closed before a {kind}"));
            if v["type"] == kind {
                return v;
            }
        }
    }

    /// Reads until the server's close frame and returns its code (`None`: the connection
    /// ended without one).
    pub fn close_code(&mut self) -> Option<u16> {
        while self.closed.is_none() {
            if self.recv().is_none() && self.closed.is_none() {
                return None;
            }
        }
        self.closed
    }
}
