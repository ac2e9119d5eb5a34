//! App directories: the artifact files of a deploy, loaded and validated by one loader, used
//! both by `nimbus start --app DIR` and by deploy staging.
//!
//! Layout (DECISIONS §7): `convex/functions.json`, `convex/http_routes.json`,
//! `convex/schema.json`, `convex/auth_config.json`, `convex/bundle.mjs` with
//! `convex/bundle.sha256`; `cloud_functions/artifact.json`, `cloud_functions/targets.json`,
//! `cloud_functions/bundle.mjs`, `cloud_functions/bundle.sha256`. A family is present when its
//! directory is.

use crate::error::{Error, Result};
use crate::json::{parse_once, write_str, write_value};
use crate::value::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// A loaded, validated Convex family, reduced to what diffs and activation need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConvexRegistry {
    /// Function name → (kind, fingerprint).
    pub functions: BTreeMap<String, (String, String)>,
    /// `"METHOD path"` → fingerprint.
    pub routes: BTreeMap<String, String>,
    /// Fingerprint of the schema without its indexes.
    pub schema: String,
    /// Fingerprint of every table's indexes.
    pub indexes: String,
    /// sha256 of the runtime bundle, if there is one.
    pub bundle: Option<String>,
}

/// A loaded, validated Cloud Functions family.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CloudRegistry {
    pub artifact: String,
    pub targets: String,
    pub bundle: String,
}

/// An app: either family may be absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct App {
    pub convex: Option<ConvexRegistry>,
    pub cloud: Option<CloudRegistry>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

/// Lowercase hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// JSON text with object keys sorted at every level: equal for equal values.
pub fn canonical(v: &Value) -> String {
    fn walk(out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::Object(o) => {
                let mut entries: Vec<&(Box<str>, Value)> = o.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                out.push(b'{');
                for (n, (k, v)) in entries.into_iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    write_str(out, k);
                    out.push(b':');
                    walk(out, v);
                }
                out.push(b'}');
            }
            Value::Array(items) => crate::json::write_array(out, items, walk),
            other => write_value(out, other),
        }
    }
    let mut out = Vec::new();
    walk(&mut out, v);
    String::from_utf8(out).unwrap_or_default()
}

fn fingerprint(v: &Value) -> String {
    sha256_hex(canonical(v).as_bytes())
}

fn read(dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    match std::fs::read(dir.join(name)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(bad(format!("{name} cannot be read: {e}"))),
    }
}

fn read_json(dir: &Path, name: &str) -> Result<Option<Value>> {
    match read(dir, name)? {
        Some(b) => parse_once(&b)
            .map(Some)
            .map_err(|e| bad(format!("{name}: {}", e.0))),
        None => Ok(None),
    }
}

fn required_json(dir: &Path, name: &str) -> Result<Value> {
    read_json(dir, name)?.ok_or_else(|| bad(format!("{name} is missing")))
}

/// Checks a bundle against its declared sha256; returns the digest.
fn bundle(dir: &Path, family: &str, required: bool) -> Result<Option<String>> {
    let (js, sum) = (read(dir, "bundle.mjs")?, read(dir, "bundle.sha256")?);
    match (js, sum) {
        (None, None) if !required => Ok(None),
        (Some(js), Some(sum)) => {
            let declared = String::from_utf8_lossy(&sum).trim().to_string();
            if declared.len() != 64
                || !declared
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(bad(format!(
                    "{family}/bundle.sha256 must be 64 lowercase hex characters"
                )));
            }
            let actual = sha256_hex(&js);
            if actual != declared {
                return Err(bad(format!(
                    "{family}/bundle.mjs does not match its sha256: declared {declared}, actual {actual}"
                )));
            }
            Ok(Some(actual))
        }
        (None, None) => Err(bad(format!(
            "{family}/bundle.mjs and bundle.sha256 are required"
        ))),
        _ => Err(bad(format!(
            "{family}/bundle.mjs and {family}/bundle.sha256 go together"
        ))),
    }
}

fn entries<'a>(v: &'a Value, key: &str, file: &str) -> Result<&'a [Value]> {
    match v.get(key) {
        Some(Value::Array(items)) => Ok(items),
        _ => Err(bad(format!(
            "{file} must be an object with a `{key}` array"
        ))),
    }
}

fn without(v: &Value, keys: &[&str]) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !keys.contains(&&**k))
                .cloned()
                .collect(),
        ),
        other => other.clone(),
    }
}

fn load_convex(dir: &Path) -> Result<ConvexRegistry> {
    let mut reg = ConvexRegistry::default();
    let functions =
        required_json(dir, "functions.json").map_err(|e| bad(format!("convex/{}", e.message())))?;
    for f in entries(&functions, "functions", "convex/functions.json")? {
        let name = f
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let kind = f.get("kind").and_then(Value::as_str);
        let (Some(name), Some(kind)) = (name, kind) else {
            return Err(bad(
                "convex/functions.json: every function needs a `name` and a `kind`",
            ));
        };
        if !matches!(kind, "query" | "mutation" | "action" | "httpAction") {
            return Err(bad(format!(
                "convex/functions.json: function `{name}` has unknown kind `{kind}`"
            )));
        }
        let fp = fingerprint(&without(f, &["name"]));
        if reg
            .functions
            .insert(name.to_string(), (kind.to_string(), fp))
            .is_some()
        {
            return Err(bad(format!(
                "convex/functions.json: function `{name}` is declared twice"
            )));
        }
    }
    if let Some(routes) =
        read_json(dir, "http_routes.json").map_err(|e| bad(format!("convex/{}", e.message())))?
    {
        for r in entries(&routes, "routes", "convex/http_routes.json")? {
            let method = r.get("method").and_then(Value::as_str).unwrap_or("");
            let path = r.get("path").and_then(Value::as_str).unwrap_or("");
            let known = matches!(
                method,
                "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "HEAD"
            );
            if !known || !path.starts_with('/') {
                return Err(bad(format!(
                    "convex/http_routes.json: route `{method} {path}` needs an HTTP method and a path starting with /"
                )));
            }
            let key = format!("{method} {path}");
            if reg
                .routes
                .insert(key.clone(), fingerprint(&without(r, &["method", "path"])))
                .is_some()
            {
                return Err(bad(format!(
                    "convex/http_routes.json: route `{key}` is declared twice"
                )));
            }
        }
    }
    let schema =
        read_json(dir, "schema.json").map_err(|e| bad(format!("convex/{}", e.message())))?;
    let schema =
        schema.unwrap_or_else(|| Value::Object(vec![("tables".into(), Value::Object(vec![]))]));
    let Some(Value::Object(tables)) = schema.get("tables") else {
        return Err(bad(
            "convex/schema.json must be an object with a `tables` object",
        ));
    };
    let mut indexes: Vec<(Box<str>, Value)> = Vec::new();
    let mut bare: Vec<(Box<str>, Value)> = Vec::new();
    for (table, def) in tables {
        if def.as_object().is_none() {
            return Err(bad(format!(
                "convex/schema.json: table `{table}` must be an object"
            )));
        }
        let idx = def.get("indexes").cloned().unwrap_or(Value::Array(vec![]));
        let Value::Array(list) = &idx else {
            return Err(bad(format!(
                "convex/schema.json: `{table}.indexes` must be an array"
            )));
        };
        let mut names = std::collections::BTreeSet::new();
        for i in list {
            let fields_ok = matches!(i.get("fields"), Some(Value::Array(f)) if !f.is_empty() && f.iter().all(|x| x.as_str().is_some()));
            let name = i
                .get("name")
                .or_else(|| i.get("indexDescriptor"))
                .and_then(Value::as_str);
            if !fields_ok || name.is_none() {
                return Err(bad(format!(
                    "convex/schema.json: every index of `{table}` needs a name and a non-empty `fields` array of strings"
                )));
            }
            if let Some(n) = name {
                if !names.insert(n.to_string()) {
                    return Err(bad(format!(
                        "convex/schema.json: index `{n}` of `{table}` is declared twice"
                    )));
                }
            }
        }
        indexes.push((table.clone(), idx));
        bare.push((table.clone(), without(def, &["indexes"])));
    }
    reg.schema = fingerprint(&Value::Object(bare));
    reg.indexes = fingerprint(&Value::Object(indexes));
    if let Some(auth) =
        read_json(dir, "auth_config.json").map_err(|e| bad(format!("convex/{}", e.message())))?
    {
        if auth.as_object().is_none() {
            return Err(bad("convex/auth_config.json must be a JSON object"));
        }
    }
    reg.bundle = bundle(dir, "convex", false)?;
    Ok(reg)
}

fn load_cloud(dir: &Path) -> Result<CloudRegistry> {
    let artifact = required_json(dir, "artifact.json")
        .map_err(|e| bad(format!("cloud_functions/{}", e.message())))?;
    let targets = required_json(dir, "targets.json")
        .map_err(|e| bad(format!("cloud_functions/{}", e.message())))?;
    let bundle = bundle(dir, "cloud_functions", true)?.unwrap_or_default();
    Ok(CloudRegistry {
        artifact: fingerprint(&artifact),
        targets: fingerprint(&targets),
        bundle,
    })
}

/// Loads and validates an app directory.
pub fn load_app_dir(dir: &Path) -> Result<App> {
    let convex_dir = dir.join("convex");
    let cloud_dir = dir.join("cloud_functions");
    let app = App {
        convex: if convex_dir.is_dir() {
            Some(load_convex(&convex_dir)?)
        } else {
            None
        },
        cloud: if cloud_dir.is_dir() {
            Some(load_cloud(&cloud_dir)?)
        } else {
            None
        },
    };
    if app.convex.is_none() && app.cloud.is_none() {
        return Err(bad(format!(
            "{} holds neither convex/ nor cloud_functions/",
            dir.display()
        )));
    }
    Ok(app)
}
