//! Request heads: `httparse` does the tokenising; this module applies the rules of
//! RFC 9112 that decide how the body is framed and whether the connection survives.
//!
//! A head that has not fully arrived is `Ok(None)`, not an error. Header values that the
//! server needs later (path, credential, origin) are kept as byte ranges into the head, so
//! parsing allocates nothing.

use crate::error::Error;
use std::ops::Range;

/// Headers beyond this count make the head "too large" (`431`).
const HEADERS_MAX: usize = 96;

/// Request methods the server distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other,
}

impl Method {
    /// The method's name (`OTHER` for one the server does not know).
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other => "OTHER",
        }
    }

    fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head. Ranges index the bytes the head was parsed from.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: Method,
    pub method_text: Range<usize>,
    /// The request target, query string included.
    pub target: Range<usize>,
    /// HTTP/1.`minor`.
    pub minor: u8,
    pub body: BodyKind,
    /// Whether the client wants the connection kept open after this request.
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// The credential from `Authorization: Bearer` or `X-Nimbus-Admin-Token`.
    pub credential: Option<Range<usize>>,
    /// The `Authorization: Bearer` token alone (the deploy route keeps the two apart).
    pub bearer: Option<Range<usize>>,
    /// The `X-Nimbus-Admin-Token` value alone.
    pub admin_token: Option<Range<usize>>,
    pub origin: Option<Range<usize>>,
    /// `X-Tenant-Id`.
    pub tenant: Option<Range<usize>>,
    /// `Last-Event-ID` (an SSE client resuming).
    pub last_event_id: Option<Range<usize>>,
    /// `Upgrade: websocket` together with `Connection: upgrade`.
    pub upgrade_websocket: bool,
    /// `Sec-WebSocket-Key`.
    pub ws_key: Option<Range<usize>>,
    /// `Sec-WebSocket-Version: 13`.
    pub ws_version_13: bool,
    /// Whether a `Sec-WebSocket-Protocol` header offers `nimbus.v2`.
    pub offers_nimbus_v2: bool,
    /// An `Access-Control-Request-Method` header is present (with `OPTIONS` and `Origin`:
    /// a CORS preflight).
    pub cors_request_method: bool,
    /// Length of the head in bytes, final blank line included.
    pub len: usize,
}

fn range_of(buf: &[u8], part: &[u8]) -> Range<usize> {
    let start = part.as_ptr() as usize - buf.as_ptr() as usize;
    start..start + part.len()
}

fn framing(msg: &str) -> Error {
    Error::BadFraming(msg.to_string())
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

fn has_token(v: &[u8], token: &str) -> bool {
    v.split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
}

/// The path and query of a request target: an absolute-form target
/// (`http://host:port/path?q`, which RFC 9112 §3.2.2 says a server must accept) is read as
/// its origin form (`/path?q`).
fn origin_form(target: &str) -> &str {
    let lower = |n: usize| target.get(..n).map(str::to_ascii_lowercase);
    let rest = if lower(7).as_deref() == Some("http://") {
        &target[7..]
    } else if lower(8).as_deref() == Some("https://") {
        &target[8..]
    } else {
        return target;
    };
    match rest.find(['/', '?']) {
        Some(at) => &rest[at..],
        None => &rest[rest.len()..],
    }
}

/// Parses the head at the start of `buf`: `Ok(None)` when more bytes are needed.
pub fn parse_head(buf: &[u8], head_size_max: usize) -> Result<Option<Head>, Error> {
    let too_large = Error::HeadTooLarge {
        size_max: head_size_max,
    };
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > head_size_max => return Err(too_large),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(too_large),
        Err(e) => return Err(Error::BadFraming(format!("malformed request head: {e}"))),
    };
    if len > head_size_max {
        return Err(too_large);
    }
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(framing("malformed request line"));
    };
    // httparse takes a bare LF as a line end; a proxy in front may not, and the two would
    // then disagree on where headers (and bodies) end.
    if buf[..len]
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || buf[i - 1] != b'\r'))
    {
        return Err(framing("bare LF in the request head (lines end with CRLF)"));
    }
    let mut head = Head {
        method: Method::parse(method),
        method_text: range_of(buf, method.as_bytes()),
        target: range_of(buf, origin_form(path).as_bytes()),
        minor,
        body: BodyKind::None,
        keep_alive: minor >= 1,
        expect_continue: false,
        credential: None,
        bearer: None,
        admin_token: None,
        origin: None,
        tenant: None,
        last_event_id: None,
        upgrade_websocket: false,
        ws_key: None,
        ws_version_13: false,
        offers_nimbus_v2: false,
        cors_request_method: false,
        len,
    };
    let mut framing_of = Framing::default();
    for h in req.headers.iter() {
        framing_of.header(&mut head, buf, h.name, h.value)?;
    }
    framing_of.finish(&mut head)?;
    Ok(Some(head))
}

/// What the headers say about framing, gathered while the rest fills the [`Head`].
#[derive(Default)]
struct Framing {
    upgrade: bool,
    connection_upgrade: bool,
    content_length: Option<u64>,
    chunked: bool,
    hosts: usize,
}

impl Framing {
    /// Reads one header into `head` (or into what framing needs).
    #[inline]
    fn header(&mut self, head: &mut Head, buf: &[u8], name: &str, v: &[u8]) -> Result<(), Error> {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("content-length") {
            let text = trim(v);
            if text.is_empty() || !text.iter().all(u8::is_ascii_digit) || text.len() > 19 {
                return Err(framing("invalid Content-Length"));
            }
            let n: u64 = std::str::from_utf8(text)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| framing("invalid Content-Length"))?;
            if self.content_length.is_some_and(|prev| prev != n) {
                return Err(framing("conflicting Content-Length headers"));
            }
            self.content_length = Some(n);
        } else if is("transfer-encoding") {
            // Only a lone `chunked` is understood; anything else cannot be framed safely.
            if self.chunked || !trim(v).eq_ignore_ascii_case(b"chunked") {
                return Err(framing(
                    "unsupported Transfer-Encoding (only `chunked` is accepted)",
                ));
            }
            self.chunked = true;
        } else if is("connection") {
            if has_token(v, "close") {
                head.keep_alive = false;
            } else if has_token(v, "keep-alive") {
                head.keep_alive = true;
            }
            self.connection_upgrade |= has_token(v, "upgrade");
        } else if is("upgrade") {
            self.upgrade |= has_token(v, "websocket");
        } else if is("host") {
            self.hosts += 1;
        } else {
            return access_header(head, buf, name, v);
        }
        Ok(())
    }

    /// The framing rules that need every header seen.
    fn finish(self, head: &mut Head) -> Result<(), Error> {
        if self.chunked && self.content_length.is_some() {
            return Err(framing("Content-Length together with Transfer-Encoding"));
        }
        if self.chunked && head.minor == 0 {
            return Err(framing("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if head.minor >= 1 && self.hosts != 1 {
            return Err(framing("an HTTP/1.1 request needs exactly one Host header"));
        }
        head.upgrade_websocket = self.upgrade && self.connection_upgrade;
        head.body = match (self.chunked, self.content_length) {
            (true, _) => BodyKind::Chunked,
            (false, Some(n)) if n > 0 => BodyKind::Length(n),
            _ => BodyKind::None,
        };
        Ok(())
    }
}

/// Headers about who asks and for what: credentials, origin, tenant, the WebSocket
/// handshake, `Expect`. Others are ignored.
#[inline]
fn access_header(head: &mut Head, buf: &[u8], name: &str, v: &[u8]) -> Result<(), Error> {
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    if is("sec-websocket-key") {
        head.ws_key = Some(range_of(buf, trim(v)));
    } else if is("sec-websocket-version") {
        head.ws_version_13 = trim(v) == b"13";
    } else if is("sec-websocket-protocol") {
        head.offers_nimbus_v2 |= has_token(v, "nimbus.v2");
    } else if is("x-tenant-id") {
        head.tenant = Some(range_of(buf, trim(v)));
    } else if is("last-event-id") {
        head.last_event_id = Some(range_of(buf, trim(v)));
    } else if is("expect") {
        head.expect_continue = trim(v).eq_ignore_ascii_case(b"100-continue");
    } else if is("authorization") {
        let t = trim(v);
        if t.len() > 7 && t[..7].eq_ignore_ascii_case(b"bearer ") {
            head.bearer = Some(range_of(buf, trim(&t[7..])));
            head.credential = head.bearer.clone();
        }
    } else if is("x-nimbus-admin-token") {
        head.admin_token = Some(range_of(buf, trim(v)));
        if head.credential.is_none() {
            head.credential = head.admin_token.clone();
        }
    } else if is("access-control-request-method") {
        head.cors_request_method = true;
    } else if is("origin") {
        // Which of two would count is not for the server to guess.
        if head.origin.is_some() {
            return Err(framing("more than one Origin header"));
        }
        head.origin = Some(range_of(buf, trim(v)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<Option<Head>, Error> {
        parse_head(text.as_bytes(), 64 * 1024)
    }

    #[test]
    fn reads_framing_and_credentials() {
        let raw = "POST /api/x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nAuthorization: Bearer abc\r\n\r\nhello";
        let h = parse(raw).expect("ok").expect("complete");
        assert_eq!(h.method, Method::Post);
        assert_eq!(&raw[h.target.clone()], "/api/x?y=1");
        assert_eq!(h.body, BodyKind::Length(5));
        assert_eq!(&raw[h.credential.clone().expect("cred")], "abc");
        assert_eq!(h.len, raw.len() - 5);
        assert!(h.keep_alive);
    }

    #[test]
    fn an_absolute_form_target_is_read_as_its_path() {
        for (raw, want) in [
            (
                "GET http://h:8080/api/x?y=1 HTTP/1.1\r\nHost: h\r\n\r\n",
                "/api/x?y=1",
            ),
            (
                "GET HTTPS://h/health HTTP/1.1\r\nHost: h\r\n\r\n",
                "/health",
            ),
            ("GET /plain HTTP/1.1\r\nHost: h\r\n\r\n", "/plain"),
        ] {
            let h = parse(raw).expect("ok").expect("complete");
            assert_eq!(&raw[h.target.clone()], want);
        }
    }

    #[test]
    fn partial_is_not_an_error() {
        assert!(matches!(parse("GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None)));
    }

    #[test]
    fn refuses_smuggling_shapes() {
        let bad = [
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\nX-Smuggled: 1\r\n\r\n",
            "GET / HTTP/1.1\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nOrigin: http://a\r\nOrigin: http://b\r\n\r\n",
        ];
        for raw in bad {
            assert!(matches!(parse(raw), Err(Error::BadFraming(_))), "{raw:?}");
        }
    }

    #[test]
    fn http10_defaults_to_close() {
        let h = parse("GET / HTTP/1.0\r\n\r\n")
            .expect("ok")
            .expect("complete");
        assert!(!h.keep_alive);
        let h = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .expect("ok")
            .expect("complete");
        assert!(h.keep_alive);
    }

    #[test]
    fn head_limit() {
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
            "a".repeat(70_000)
        );
        assert!(matches!(parse(&big), Err(Error::HeadTooLarge { .. })));
        assert!(matches!(
            parse(&big[..66_000]),
            Err(Error::HeadTooLarge { .. })
        ));
    }

    proptest! {
        /// However a head is split into reads, every prefix is partial and the whole parses
        /// the same.
        #[test]
        fn any_split_parses_the_same(cut in 0usize..120) {
            let raw = "PATCH /api/tenants/t/documents/m/x HTTP/1.1\r\nHost: h\r\nX-Nimbus-Admin-Token: tok\r\nContent-Length: 2\r\n\r\n";
            let cut = cut.min(raw.len() - 1);
            prop_assert!(matches!(parse(&raw[..cut]), Ok(None)));
            let h = parse(raw).expect("ok").expect("complete");
            prop_assert_eq!(h.len, raw.len());
            prop_assert_eq!(&raw[h.credential.clone().expect("cred")], "tok");
        }
    }
}
