//! The one error type of Nimbus and its envelope.
//!
//! Invariant: the only place that knows HTTP statuses, envelope codes, severities and
//! remediations. HTTP responses and (later) WebSocket `error` frames both render through
//! [`Error::write_envelope`].

use crate::json::{write_str, write_value};
use crate::value::Value;

/// Everything that can go wrong with a request, as the client will be told.
#[derive(Debug, Clone)]
pub enum Error {
    /// `400 op.invalid_input`: malformed JSON, a missing or ill-typed field, a bad name or id.
    InvalidInput(String),
    /// `400 op.invalid_input` for HTTP framing faults after which the connection is closed.
    BadFraming(String),
    /// `431 op.invalid_input`: the request head is over the limit.
    HeadTooLarge { size_max: usize },
    /// `400 schema.validation_failed`, naming the offending document when there is one.
    SchemaViolation {
        message: String,
        doc_id: Option<String>,
    },
    /// `401 auth.unauthorized`.
    Unauthorized,
    /// `401 auth.unauthorized` with a specific reason (the deploy route's credentials).
    UnauthorizedBecause(String),
    /// `403 auth.forbidden`: a disallowed `Origin`.
    Forbidden(String),
    /// `404 session.tenant_not_found`.
    TenantNotFound(String),
    /// `404 op.not_found`.
    NotFound(String),
    /// `405 op.method_not_allowed`; `allow` is the `Allow` header value.
    MethodNotAllowed { method: String, allow: &'static str },
    /// `409 op.conflict`.
    Conflict(String),
    /// `413 op.payload_too_large`.
    PayloadTooLarge { size: Option<u64>, size_max: u64 },
    /// `503 service.unavailable`, retryable.
    Unavailable(String),
    /// `500 service.internal`: a bug. The message is logged, not sent.
    Internal(String),
    /// A WebSocket protocol fault with its own code (`ws.handshake_timeout`, ...).
    Protocol { code: &'static str, message: String },
    /// `400 op.limit_exceeded`: the request asks for more work or bytes than one request
    /// may take (a bound that protects the other tenants of the shard); `remedy` says how
    /// to ask instead (an index to declare, a limit, pagination).
    LimitExceeded { what: String, remedy: String },
    /// `410 op.cursor_expired`: a change-feed position older than what is retained (or
    /// ahead of the tenant, whose history was reset).
    CursorExpired(String),
}

impl Error {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidInput(_) | Error::BadFraming(_) | Error::SchemaViolation { .. } => 400,
            Error::Protocol { .. } | Error::LimitExceeded { .. } => 400,
            Error::HeadTooLarge { .. } => 431,
            Error::Unauthorized | Error::UnauthorizedBecause(_) => 401,
            Error::Forbidden(_) => 403,
            Error::TenantNotFound(_) | Error::NotFound(_) => 404,
            Error::MethodNotAllowed { .. } => 405,
            Error::Conflict(_) => 409,
            Error::CursorExpired(_) => 410,
            Error::PayloadTooLarge { .. } => 413,
            Error::Unavailable(_) => 503,
            Error::Internal(_) => 500,
        }
    }

    /// The envelope's `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) | Error::BadFraming(_) | Error::HeadTooLarge { .. } => {
                "op.invalid_input"
            }
            Error::SchemaViolation { .. } => "schema.validation_failed",
            Error::Unauthorized | Error::UnauthorizedBecause(_) => "auth.unauthorized",
            Error::Forbidden(_) => "auth.forbidden",
            Error::TenantNotFound(_) => "session.tenant_not_found",
            Error::NotFound(_) => "op.not_found",
            Error::MethodNotAllowed { .. } => "op.method_not_allowed",
            Error::Conflict(_) => "op.conflict",
            Error::PayloadTooLarge { .. } => "op.payload_too_large",
            Error::Unavailable(_) => "service.unavailable",
            Error::Internal(_) => "service.internal",
            Error::Protocol { code, .. } => code,
            Error::LimitExceeded { .. } => "op.limit_exceeded",
            Error::CursorExpired(_) => "op.cursor_expired",
        }
    }

    /// Whether the same request may succeed later.
    pub fn retryable(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }

    /// Whether the connection must be closed after this error (its framing is untrusted).
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            Error::BadFraming(_) | Error::HeadTooLarge { .. } | Error::PayloadTooLarge { .. }
        )
    }

    /// The human-readable message (no code).
    pub fn message(&self) -> String {
        match self {
            Error::InvalidInput(m) | Error::BadFraming(m) | Error::Conflict(m) => m.clone(),
            Error::NotFound(m) | Error::Forbidden(m) | Error::Unavailable(m) => m.clone(),
            Error::CursorExpired(m) => m.clone(),
            Error::HeadTooLarge { size_max } => {
                format!("request head is larger than {size_max} bytes")
            }
            Error::SchemaViolation { message, .. } | Error::Protocol { message, .. } => {
                message.clone()
            }
            Error::Unauthorized => "missing or invalid credential".into(),
            Error::UnauthorizedBecause(why) => why.clone(),
            Error::TenantNotFound(t) => format!("tenant `{t}` does not exist"),
            Error::MethodNotAllowed { method, allow } => {
                format!("method {method} is not allowed here (allowed: {allow})")
            }
            Error::PayloadTooLarge {
                size: Some(size),
                size_max,
            } => {
                format!("request body of {size} bytes is larger than the limit of {size_max} bytes")
            }
            Error::PayloadTooLarge {
                size: None,
                size_max,
            } => {
                format!("request body is larger than the limit of {size_max} bytes")
            }
            Error::Internal(_) => {
                "internal error; the operator can find it by its requestId".into()
            }
            Error::LimitExceeded { what, .. } => what.clone(),
        }
    }

    /// A result of `size` bytes where at most `size_max` are allowed.
    pub fn result_too_large(size: usize, size_max: usize) -> Error {
        Error::LimitExceeded {
            what: format!(
                "the result is {size} bytes, more than the {size_max} bytes one result may have"
            ),
            remedy: "Add a `limit` to the query, or read it in pages with `query/paginated`."
                .into(),
        }
    }

    fn detail(&self) -> Value {
        match self {
            Error::SchemaViolation {
                doc_id: Some(id), ..
            } => Value::Object(vec![("_id".into(), Value::Str(id.as_str().into()))]),
            Error::PayloadTooLarge { size_max, .. } => {
                Value::Object(vec![("size_max".into(), Value::UInt(*size_max))])
            }
            Error::HeadTooLarge { size_max } => {
                Value::Object(vec![("size_max".into(), Value::UInt(*size_max as u64))])
            }
            Error::MethodNotAllowed { allow, .. } => {
                Value::Object(vec![("allow".into(), Value::Str((*allow).into()))])
            }
            _ => Value::Null,
        }
    }

    fn severity(&self) -> &'static str {
        match self.status() {
            500 => "critical",
            503 => "warning",
            _ => "error",
        }
    }

    fn remediation(&self) -> (&'static str, std::borrow::Cow<'_, str>) {
        let (action, hint) = match self {
            Error::LimitExceeded { remedy, .. } => return ("fix_request", remedy.as_str().into()),
            Error::UnauthorizedBecause(_) => (
                "authenticate",
                "Send the deploy token as `Authorization: Bearer` and the local admin token as `X-Nimbus-Admin-Token`.",
            ),
            Error::Unauthorized => (
                "authenticate",
                "Send the admin token as `Authorization: Bearer <token>` or `X-Nimbus-Admin-Token`: it is the `token` in <data-dir>/auth/token (the server names the file when it starts), which clients such as `nimbus deploy` read as NIMBUS_TOKEN.",
            ),
            Error::Unavailable(_) => ("retry", "Retry the request after a short delay."),
            Error::CursorExpired(_) => (
                "fix_request",
                "Read the current state again (an export or a query), then follow the changes from the `seq` it was read at (or from `after=0`, the oldest change retained).",
            ),
            Error::Internal(_) => {
                ("contact_operator", "Report the requestId to the server's operator.")
            }
            Error::Forbidden(_) => (
                "fix_request",
                "Call from a loopback origin on the server's port, or send no Origin header.",
            ),
            _ => ("fix_request", "Correct the request payload before retrying."),
        };
        (action, hint.into())
    }

    /// Appends `{"error": {...}}` to `out`.
    pub fn write_envelope(&self, out: &mut Vec<u8>, request_id: &str, timestamp: &str) {
        let (action, hint) = self.remediation();
        out.extend_from_slice(b"{\"error\":{\"code\":");
        write_str(out, self.code());
        out.extend_from_slice(b",\"message\":");
        write_str(out, &self.message());
        out.extend_from_slice(b",\"requestId\":");
        write_str(out, request_id);
        out.extend_from_slice(b",\"timestamp\":");
        write_str(out, timestamp);
        out.extend_from_slice(b",\"severity\":");
        write_str(out, self.severity());
        out.extend_from_slice(if self.retryable() {
            b",\"retryable\":true,\"detail\":"
        } else {
            b",\"retryable\":false,\"detail\":"
        });
        write_value(out, &self.detail());
        out.extend_from_slice(b",\"remediation\":{\"action\":");
        write_str(out, action);
        out.extend_from_slice(b",\"message\":");
        write_str(out, &hint);
        out.extend_from_slice(b"}}}");
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

/// Shorthand for request-level results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        let table: Vec<(Error, u16, &str)> = vec![
            (Error::InvalidInput("x".into()), 400, "op.invalid_input"),
            (
                Error::SchemaViolation {
                    message: "x".into(),
                    doc_id: None,
                },
                400,
                "schema.validation_failed",
            ),
            (Error::Unauthorized, 401, "auth.unauthorized"),
            (Error::Forbidden("x".into()), 403, "auth.forbidden"),
            (
                Error::TenantNotFound("t".into()),
                404,
                "session.tenant_not_found",
            ),
            (Error::NotFound("x".into()), 404, "op.not_found"),
            (
                Error::MethodNotAllowed {
                    method: "PUT".into(),
                    allow: "GET",
                },
                405,
                "op.method_not_allowed",
            ),
            (Error::Conflict("x".into()), 409, "op.conflict"),
            (
                Error::PayloadTooLarge {
                    size: Some(9),
                    size_max: 1,
                },
                413,
                "op.payload_too_large",
            ),
            (Error::HeadTooLarge { size_max: 1 }, 431, "op.invalid_input"),
            (Error::result_too_large(9, 1), 400, "op.limit_exceeded"),
            (Error::Internal("x".into()), 500, "service.internal"),
            (Error::Unavailable("x".into()), 503, "service.unavailable"),
        ];
        for (e, status, code) in table {
            assert_eq!((e.status(), e.code()), (status, code));
            let mut out = Vec::new();
            e.write_envelope(&mut out, "req-1", "2026-01-01T00:00:00Z");
            let v = crate::json::parse_once(&out).expect("envelope is JSON");
            let inner = v.get("error").expect("error object");
            assert_eq!(inner.get("code").and_then(Value::as_str), Some(code));
            assert_eq!(
                inner.get("requestId").and_then(Value::as_str),
                Some("req-1")
            );
        }
    }

    #[test]
    fn internal_details_are_not_echoed() {
        let mut out = Vec::new();
        Error::Internal("secret path /x".into()).write_envelope(&mut out, "r", "t");
        assert!(!String::from_utf8_lossy(&out).contains("secret"));
    }
}
