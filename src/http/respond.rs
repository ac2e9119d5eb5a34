//! Writing responses into a connection's reused output buffer.

/// What the response head needs besides the status.
pub struct ResponseMeta<'a> {
    pub request_id: &'a str,
    /// The current `Date` header value.
    pub date: &'a str,
    /// Whether the connection stays open after this response.
    pub keep_alive: bool,
    /// The client spoke HTTP/1.0 (which needs an explicit keep-alive).
    pub http10: bool,
    /// A `HEAD` request: headers as for `GET`, no body.
    pub head_only: bool,
    /// `Allow` header for `405`.
    pub allow: Option<&'static str>,
    /// The request's `Origin`, when it is allowed: the CORS headers name it.
    pub cors_origin: Option<&'a [u8]>,
    /// A CORS preflight's answer: the methods its route allows.
    pub preflight: Option<&'static str>,
    /// The body's type when it is not JSON.
    pub content_type: Option<&'static str>,
    /// The body follows in pieces (`Transfer-Encoding: chunked`; to HTTP/1.0, until
    /// close): `body` is its first piece.
    pub streamed: bool,
}

/// Request headers a page may send (a preflight's `Access-Control-Allow-Headers`).
const CORS_ALLOW_HEADERS: &[u8] =
    b"Authorization, Content-Type, X-Nimbus-Admin-Token, X-Tenant-Id, Last-Event-ID";

/// The CORS headers of an answer to an allowed origin (never `*`).
fn write_cors(out: &mut Vec<u8>, origin: &[u8], preflight: Option<&str>) {
    out.extend_from_slice(b"\r\nAccess-Control-Allow-Origin: ");
    out.extend_from_slice(origin);
    out.extend_from_slice(b"\r\nVary: Origin\r\nAccess-Control-Expose-Headers: X-Request-Id");
    if let Some(methods) = preflight {
        out.extend_from_slice(b"\r\nAccess-Control-Allow-Methods: ");
        out.extend_from_slice(methods.as_bytes());
        out.extend_from_slice(b"\r\nAccess-Control-Allow-Headers: ");
        out.extend_from_slice(CORS_ALLOW_HEADERS);
        out.extend_from_slice(b"\r\nAccess-Control-Max-Age: 600");
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Appends a whole response (head, then `body` unless it is `204` or a `HEAD` answer).
pub fn write_response(out: &mut Vec<u8>, status: u16, body: &[u8], meta: &ResponseMeta<'_>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(meta.date.as_bytes());
    out.extend_from_slice(b"\r\nX-Request-Id: ");
    out.extend_from_slice(meta.request_id.as_bytes());
    if let Some(origin) = meta.cors_origin {
        write_cors(out, origin, meta.preflight);
    }
    if status != 204 {
        out.extend_from_slice(b"\r\nContent-Type: ");
        let kind = meta.content_type.unwrap_or("application/json");
        out.extend_from_slice(kind.as_bytes());
        if !meta.streamed {
            out.extend_from_slice(b"\r\nContent-Length: ");
            out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        } else if !meta.http10 {
            out.extend_from_slice(b"\r\nTransfer-Encoding: chunked");
        }
    }
    if let Some(allow) = meta.allow {
        out.extend_from_slice(b"\r\nAllow: ");
        out.extend_from_slice(allow.as_bytes());
    }
    if !meta.keep_alive {
        out.extend_from_slice(b"\r\nConnection: close");
    } else if meta.http10 {
        out.extend_from_slice(b"\r\nConnection: keep-alive");
    }
    out.extend_from_slice(b"\r\n\r\n");
    if meta.streamed && !meta.http10 && !body.is_empty() {
        out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    } else if status != 204 && !meta.head_only {
        out.extend_from_slice(body);
    }
}

/// The interim response sent before reading a body the client is waiting to send.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_complete_response() {
        let mut out = Vec::new();
        let meta = ResponseMeta {
            request_id: "req-1",
            date: "D",
            keep_alive: false,
            http10: false,
            head_only: false,
            allow: None,
            cors_origin: None,
            preflight: None,
            content_type: None,
            streamed: false,
        };
        write_response(&mut out, 200, b"{}", &meta);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nDate: D\r\nX-Request-Id: req-1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
    }
}
