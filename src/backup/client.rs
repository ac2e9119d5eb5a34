//! `nimbus backup --url URL [--out FILE]`: asks a running server for a backup and writes
//! the archive as it arrives, with a progress line (bytes, tenants) when stderr is a
//! terminal. An archive is kept only if it arrived whole: with `--out` it is written to
//! `FILE.part` and renamed at the end.

use super::{tar_padding, BLOCK};
use crate::json::parse_once;
use crate::value::Value;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::Path;

/// Follows the tar entries going by, to count the tenants their `part.json` entries name.
#[derive(Default)]
struct Watch {
    header: Vec<u8>,
    /// Data bytes (then padding) of the current entry still to come.
    data_left: u64,
    pad_left: usize,
    /// The current entry is a `part.json`: its bytes.
    info: Option<Vec<u8>>,
    tenants: u64,
    ended: bool,
}

impl Watch {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.ended {
            if self.data_left > 0 {
                let n = bytes
                    .len()
                    .min(usize::try_from(self.data_left).unwrap_or(usize::MAX));
                if let Some(info) = &mut self.info {
                    info.extend_from_slice(&bytes[..n]);
                }
                self.data_left -= n as u64;
                bytes = &bytes[n..];
                if self.data_left == 0 {
                    self.entry_done();
                }
            } else if self.pad_left > 0 {
                let n = bytes.len().min(self.pad_left);
                self.pad_left -= n;
                bytes = &bytes[n..];
            } else {
                let n = bytes.len().min(BLOCK - self.header.len());
                self.header.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                if self.header.len() == BLOCK {
                    self.header_done();
                }
            }
        }
    }

    fn header_done(&mut self) {
        let h = std::mem::take(&mut self.header);
        if h.iter().all(|&b| b == 0) {
            self.ended = true;
            return;
        }
        let text = |r: std::ops::Range<usize>| {
            let f = &h[r];
            let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
            String::from_utf8_lossy(&f[..end]).trim().to_string()
        };
        let size = u64::from_str_radix(&text(124..136), 8).unwrap_or(0);
        self.info = text(0..100).ends_with("part.json").then(Vec::new);
        self.data_left = size;
        self.pad_left = tar_padding(size);
        if size == 0 {
            self.entry_done();
        }
    }

    fn entry_done(&mut self) {
        if let Some(info) = self.info.take() {
            let n = parse_once(&info)
                .ok()
                .and_then(|v| v.get("tenants").and_then(Value::as_u64));
            self.tenants += n.unwrap_or(0);
        }
    }
}

/// Reads a chunked body from `r` into `out`, calling `seen` with each piece; `Ok(false)`
/// if the body ended before its last chunk (the server stopped part way).
fn read_chunked(
    r: &mut impl BufRead,
    out: &mut dyn Write,
    mut seen: impl FnMut(&[u8]),
) -> Result<bool, String> {
    let mut line = String::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Ok(false);
        }
        let size_text = line.trim().split(';').next().unwrap_or("");
        let mut size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("malformed chunk size `{}`", line.trim()))?;
        if size == 0 {
            return Ok(true);
        }
        while size > 0 {
            let n = size.min(buf.len());
            if r.read_exact(&mut buf[..n]).is_err() {
                return Ok(false);
            }
            out.write_all(&buf[..n])
                .map_err(|e| format!("cannot write: {e}"))?;
            seen(&buf[..n]);
            size -= n;
        }
        line.clear();
        r.read_line(&mut line).map_err(|e| e.to_string())?;
    }
}

/// Sends the request; returns the reader positioned at the body, and the status and
/// response head.
fn request(url: &str, admin_token: &str) -> Result<(BufReader<std::net::TcpStream>, u16), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let host = rest.trim_end_matches('/');
    let mut s =
        std::net::TcpStream::connect(host).map_err(|e| format!("cannot reach {url}: {e}"))?;
    let req = format!(
        "POST /api/admin/backup HTTP/1.1\r\nHost: {host}\r\nX-Nimbus-Admin-Token: {admin_token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| e.to_string())?;
    let status = line
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or("malformed status line")?;
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 || line == "\r\n" {
            break;
        }
    }
    Ok((r, status))
}

/// Runs the command; the process exit code.
pub fn run(url: &str, out: Option<&Path>, admin_token: &str) -> i32 {
    match backup(url, out, admin_token) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("nimbus backup: {e}");
            1
        }
    }
}

fn backup(url: &str, out: Option<&Path>, admin_token: &str) -> Result<(), String> {
    if out.is_none() && std::io::stdout().is_terminal() {
        return Err("the archive is binary: give --out FILE or redirect stdout".into());
    }
    let (mut r, status) = request(url, admin_token)?;
    if status != 200 {
        let mut body = Vec::new();
        let _ = r.read_to_end(&mut body);
        let v = parse_once(&body).ok();
        let e = v.as_ref().and_then(|v| v.get("error"));
        let field = |k: &str| {
            e.and_then(|e| e.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        return Err(format!("{status} {}: {}", field("code"), field("message")));
    }
    let part = out.map(|p| p.with_extension("part"));
    let mut sink: Box<dyn Write> = match &part {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let tty = std::io::stderr().is_terminal();
    let (mut watch, mut bytes, mut shown) = (Watch::default(), 0u64, 0u64);
    let whole = read_chunked(&mut r, &mut *sink, |piece| {
        watch.feed(piece);
        bytes += piece.len() as u64;
        if tty && bytes - shown >= 1 << 20 {
            shown = bytes;
            eprint!("\r{:.1} MB, {} tenants", bytes as f64 / 1e6, watch.tenants);
        }
    })?;
    sink.flush().map_err(|e| format!("cannot write: {e}"))?;
    drop(sink);
    if tty {
        eprintln!("\r{:.1} MB, {} tenants", bytes as f64 / 1e6, watch.tenants);
    }
    if !whole || !watch.ended {
        let kept = match &part {
            Some(p) => {
                let _ = std::fs::remove_file(p);
                "no archive was kept"
            }
            None => "what was written to stdout is incomplete: discard it",
        };
        return Err(format!(
            "the server stopped the backup part way (its log says why); {kept}"
        ));
    }
    if let (Some(p), Some(out)) = (&part, out) {
        std::fs::File::open(p)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(p, out))
            .map_err(|e| format!("cannot finish {}: {e}", out.display()))?;
    }
    Ok(())
}
