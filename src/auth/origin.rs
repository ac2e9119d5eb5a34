//! Origins (DECISIONS §4, §10): which web pages may call the API. A request with an
//! `Origin` header is allowed when the origin is loopback on the server's own port, listed
//! in `--allowed-origins`, or listed in the origins of the key it carries.
//!
//! Origins are `scheme://host[:port]`, matched exactly, case-insensitively on scheme and
//! host (they are stored lowercased, so one `eq_ignore_ascii_case` compares them).

/// Whether an `Origin` header value is a loopback HTTP origin on `port`.
pub fn origin_allowed(origin: &[u8], port: u16) -> bool {
    let Some(rest) = origin.strip_prefix(b"http://") else {
        return false;
    };
    let Some(colon) = rest.iter().rposition(|&b| b == b':') else {
        return false;
    };
    let (host, port_text) = (&rest[..colon], &rest[colon + 1..]);
    let host_ok = matches!(host, b"localhost" | b"127.0.0.1" | b"[::1]");
    host_ok && port_text == port.to_string().as_bytes()
}

/// Reads an origin as an operator or a key names it: `http` or `https`, a host (a DNS
/// name, an IPv4 address or a bracketed IPv6 one), an optional port, and nothing else (no
/// path, not even `/`). Returns it lowercased.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let bad = |why: &str| {
        Err(format!(
            "invalid origin `{text}`: {why} (scheme://host[:port])"
        ))
    };
    let lower = text.to_ascii_lowercase();
    let Some((scheme, rest)) = lower.split_once("://") else {
        return bad("no scheme");
    };
    if scheme != "http" && scheme != "https" {
        return bad("the scheme must be http or https");
    }
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, after))
                if !addr.is_empty()
                    && addr
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') =>
            {
                (addr, after)
            }
            _ => return bad("a bracketed IPv6 host is malformed"),
        },
        None => match rest.find(':') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        },
    };
    let host_ok = rest.starts_with('[')
        || (!host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    if !host_ok {
        return bad("the host must be a name or an address, with nothing after it but a port");
    }
    if !port.is_empty() {
        let digits = port.strip_prefix(':').unwrap_or("");
        let ok = !digits.is_empty()
            && digits.len() <= 5
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits
                .parse::<u32>()
                .is_ok_and(|p| (1..=65535).contains(&p));
        if !ok {
            return bad("the port must be a number from 1 to 65535");
        }
    }
    Ok(lower)
}

/// Reads `--allowed-origins`: a comma-separated list of origins (empty items skipped),
/// each lowercased.
pub fn parse_list(list: &str) -> Result<Vec<String>, String> {
    let mut all = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        all.push(parse_origin(item)?);
    }
    Ok(all)
}

/// Whether an `Origin` header value is among `origins` (each stored lowercased).
pub fn listed(origins: &[String], origin: &[u8]) -> bool {
    origins
        .iter()
        .any(|o| o.as_bytes().eq_ignore_ascii_case(origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins() {
        assert!(origin_allowed(b"http://localhost:8080", 8080));
        assert!(origin_allowed(b"http://127.0.0.1:8080", 8080));
        assert!(origin_allowed(b"http://[::1]:8080", 8080));
        assert!(!origin_allowed(b"http://localhost:8081", 8080));
        assert!(!origin_allowed(b"https://localhost:8080", 8080));
        assert!(!origin_allowed(b"http://evil.com:8080", 8080));
        assert!(!origin_allowed(b"http://localhost:8080/", 8080));
        assert!(!origin_allowed(b"null", 8080));
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for ok in [
            "https://app.example.com",
            "http://localhost:3000",
            "HTTPS://App.Example.COM:8443",
            "http://10.0.0.1",
            "http://[::1]:8080",
        ] {
            assert!(parse_origin(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            parse_origin("HTTPS://App.Example.COM").as_deref(),
            Ok("https://app.example.com")
        );
        for bad in [
            "app.example.com",
            "ftp://x.com",
            "https://x.com/",
            "https://x.com/path",
            "https://",
            "https://x.com:0",
            "https://x.com:70000",
            "https://x.com:",
            "https://user@x.com",
            "https://x.com?q",
            "*",
            "null",
            "https://[zz]",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_ignores_case_of_scheme_and_host() {
        let list = parse_list("https://app.example.com, http://localhost:3000").expect("list");
        assert!(listed(&list, b"https://app.example.com"));
        assert!(listed(&list, b"HTTPS://APP.example.com"));
        assert!(!listed(&list, b"https://app.example.com:443"));
        assert!(!listed(&list, b"https://evil.example.com"));
        assert!(!listed(&list, b"http://localhost:3001"));
        assert!(parse_list("https://x.com, nope").is_err());
    }
}
