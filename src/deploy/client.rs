//! `nimbus deploy DIR`: reads an app directory, sends it to a running server's deploy admin
//! API, and prints the diff.

use super::app::sha256_hex;
use crate::json::{parse_once, write_str, write_value};
use crate::value::Value;
use std::io::{Read, Write};
use std::path::Path;

/// What the command was asked to do.
pub struct DeployArgs<'a> {
    pub dir: &'a Path,
    pub url: &'a str,
    pub dry_run: bool,
    pub json: bool,
    pub deploy_token: &'a str,
    pub admin_token: &'a str,
    /// Where the admin token was read (a variable or a file), for the messages.
    pub admin_token_from: &'a str,
}

fn json_file(dir: &Path, name: &str) -> Result<Option<Value>, String> {
    match std::fs::read(dir.join(name)) {
        Ok(b) => parse_once(&b)
            .map(Some)
            .map_err(|e| format!("{}: {}", dir.join(name).display(), e.0)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", dir.join(name).display())),
    }
}

/// Appends `"artifacts"`' family object from `dir`.
fn family(out: &mut Vec<u8>, dir: &Path, files: &[(&str, &str)]) -> Result<(), String> {
    out.push(b'{');
    let mut first = true;
    for (file, field) in files {
        if let Some(v) = json_file(dir, file)? {
            if !first {
                out.push(b',');
            }
            first = false;
            write_str(out, field);
            out.push(b':');
            write_value(out, &v);
        }
    }
    if let Ok(js) = std::fs::read(dir.join("bundle.mjs")) {
        let text = String::from_utf8(js)
            .map_err(|_| format!("{}/bundle.mjs is not UTF-8", dir.display()))?;
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"bundle_mjs\":");
        write_str(out, &text);
        out.extend_from_slice(b",\"bundle_sha256\":");
        write_str(out, &sha256_hex(text.as_bytes()));
    }
    out.push(b'}');
    Ok(())
}

/// The request body for an app directory.
pub fn request_body(dir: &Path, dry_run: bool) -> Result<Vec<u8>, String> {
    let mut out = format!("{{\"dry_run\":{dry_run},\"artifacts\":{{").into_bytes();
    let mut any = false;
    let convex = dir.join("convex");
    if convex.is_dir() {
        out.extend_from_slice(b"\"convex\":");
        let files = [
            ("functions.json", "functions_json"),
            ("http_routes.json", "http_routes_json"),
            ("schema.json", "schema_json"),
            ("auth_config.json", "auth_config_json"),
        ];
        family(&mut out, &convex, &files)?;
        any = true;
    }
    let cloud = dir.join("cloud_functions");
    if cloud.is_dir() {
        if any {
            out.push(b',');
        }
        out.extend_from_slice(b"\"cloud_functions\":");
        family(
            &mut out,
            &cloud,
            &[
                ("artifact.json", "artifact_json"),
                ("targets.json", "targets_json"),
            ],
        )?;
        any = true;
    }
    if !any {
        return Err(format!(
            "{} holds neither convex/ nor cloud_functions/",
            dir.display()
        ));
    }
    out.extend_from_slice(b"}}");
    Ok(out)
}

/// POSTs `body` and returns (status, response body).
fn post(
    url: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let host = rest.trim_end_matches('/');
    let mut s =
        std::net::TcpStream::connect(host).map_err(|e| format!("cannot reach {url}: {e}"))?;
    let mut req = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    s.write_all(req.as_bytes())
        .and_then(|_| s.write_all(body))
        .map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or("malformed status line")?;
    Ok((status, resp[split + 4..].to_vec()))
}

fn names(v: Option<&Value>, key: &str) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                let name = i.get(key).and_then(Value::as_str).unwrap_or("?");
                match i.get("kind").and_then(Value::as_str) {
                    Some(kind) => format!("{name} ({kind})"),
                    None => name.to_string(),
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Prints the diff of a successful response for people.
fn print_readable(v: &Value) {
    let num = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    if matches!(v.get("activated"), Some(Value::Bool(true))) {
        println!(
            "activated generation {} (was {})",
            num("generation"),
            num("previous_generation")
        );
    } else {
        println!(
            "dry run: generation {} stays active; nothing was changed",
            num("generation")
        );
    }
    let diff = v.get("diff");
    for (section, key) in [("functions", "name"), ("http_routes", "key")] {
        let s = diff.and_then(|d| d.get(section));
        for (what, sign) in [("added", '+'), ("changed", '~'), ("removed", '-')] {
            for n in names(s.and_then(|s| s.get(what)), key) {
                println!("  {sign} {section}: {n}");
            }
        }
    }
    for flag in [
        "schema_changed",
        "indexes_changed",
        "runtime_bundle_changed",
    ] {
        let on = matches!(diff.and_then(|d| d.get(flag)), Some(Value::Bool(true)));
        println!("  {flag}: {}", if on { "yes" } else { "no" });
    }
}

/// Runs the command; the process exit code.
pub fn run(args: &DeployArgs<'_>) -> i32 {
    let body = match request_body(args.dir, args.dry_run) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("nimbus deploy: {e}");
            return 1;
        }
    };
    let bearer = format!("Bearer {}", args.deploy_token);
    let headers = [
        ("Authorization", bearer.as_str()),
        ("X-Nimbus-Admin-Token", args.admin_token),
    ];
    let (status, resp) = match post(args.url, "/api/admin/deploy", &headers, &body) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("nimbus deploy: {e}");
            return 1;
        }
    };
    let parsed = parse_once(&resp).ok();
    if status != 200 {
        let e = parsed.as_ref().and_then(|v| v.get("error"));
        let field = |k: &str| {
            e.and_then(|e| e.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let hint = e
            .and_then(|e| e.get("remediation"))
            .and_then(|r| r.get("message"))
            .and_then(Value::as_str);
        eprintln!(
            "nimbus deploy: {status} {}: {}",
            field("code"),
            field("message")
        );
        if let Some(hint) = hint {
            eprintln!("  {hint}");
        }
        if status == 401 || status == 403 {
            eprintln!(
                "  sent: the deploy token from NIMBUS_DEPLOY_TOKEN, the admin token from {}",
                args.admin_token_from
            );
        }
        return 1;
    }
    if args.json {
        println!("{}", String::from_utf8_lossy(&resp));
    } else if let Some(v) = parsed {
        print_readable(&v);
    }
    0
}
