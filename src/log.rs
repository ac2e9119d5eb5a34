//! The server's log on stderr (DECISIONS §11): one line per event (start, recovery, stop,
//! error, slow request; every request only with `--access-log`), as plain text or, with
//! `--log-format json`, one JSON object per line for a log shipper.
//!
//! The format is chosen once at start; reading it is one atomic load. A line is built in a
//! buffer and written with one call, so lines of different threads do not interleave.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `nimbus: <message>`, as a person reads it.
    Text,
    /// `{"ts", "level", "event", "msg", ...fields}`.
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

static FORMAT: AtomicU8 = AtomicU8::new(0);

/// Sets the format for the rest of the process.
pub fn set_format(f: Format) {
    FORMAT.store(u8::from(f == Format::Json), Ordering::Relaxed);
}

fn format() -> Format {
    if FORMAT.load(Ordering::Relaxed) == 1 {
        Format::Json
    } else {
        Format::Text
    }
}

/// How much a line matters.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// A field's value in a JSON line.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    Str(&'a str),
    U64(u64),
    Bool(bool),
}

/// Writes one event. `msg` is the whole text line (after `nimbus: `); `fields` are what a
/// JSON line carries besides it.
pub fn emit(level: Level, event: &str, msg: &str, fields: &[(&str, Field<'_>)]) {
    let mut line = Vec::with_capacity(128 + msg.len());
    match format() {
        Format::Text => {
            line.extend_from_slice(b"nimbus: ");
            line.extend_from_slice(msg.as_bytes());
        }
        Format::Json => json_line(&mut line, level, event, msg, fields),
    }
    line.push(b'\n');
    let _ = std::io::stderr().write_all(&line);
}

fn json_line(
    out: &mut Vec<u8>,
    level: Level,
    event: &str,
    msg: &str,
    fields: &[(&str, Field<'_>)],
) {
    use crate::json::write_str;
    out.extend_from_slice(b"{\"ts\":");
    write_str(out, &crate::clock::rfc3339_ms(crate::clock::now_ms()));
    out.extend_from_slice(b",\"level\":\"");
    out.extend_from_slice(level.name().as_bytes());
    out.extend_from_slice(b"\",\"event\":");
    write_str(out, event);
    out.extend_from_slice(b",\"msg\":");
    write_str(out, msg);
    for (k, v) in fields {
        out.push(b',');
        write_str(out, k);
        out.push(b':');
        match v {
            Field::Str(s) => write_str(out, s),
            Field::U64(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
            Field::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        }
    }
    out.push(b'}');
}

/// An informational event.
pub fn info(event: &str, msg: &str, fields: &[(&str, Field<'_>)]) {
    emit(Level::Info, event, msg, fields);
}

/// Something went wrong but the server goes on.
pub fn warn(event: &str, msg: &str, fields: &[(&str, Field<'_>)]) {
    emit(Level::Warn, event, msg, fields);
}

/// A failure: a request's internal error, a lost shard.
pub fn error(event: &str, msg: &str, fields: &[(&str, Field<'_>)]) {
    emit(Level::Error, event, msg, fields);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_is_one_object() {
        let mut out = Vec::new();
        json_line(
            &mut out,
            Level::Warn,
            "slow_request",
            "a \"quoted\" message",
            &[
                ("status", Field::U64(200)),
                ("route", Field::Str("/x")),
                ("ok", Field::Bool(true)),
            ],
        );
        let v = crate::json::parse_once(&out).expect("json");
        assert_eq!(v.get("level").and_then(|l| l.as_str()), Some("warn"));
        assert_eq!(v.get("status").and_then(|s| s.as_u64()), Some(200));
        assert_eq!(
            v.get("msg").and_then(|s| s.as_str()),
            Some("a \"quoted\" message")
        );
        assert!(v
            .get("ts")
            .and_then(|s| s.as_str())
            .is_some_and(|t| t.ends_with('Z')));
    }
}
