//! The deploy admin API: validate uploaded app artifacts, diff them against the active app
//! generation, and activate them atomically.
//!
//! Deploys are owned by shard 0: every `POST /api/admin/deploy` is executed there (as a
//! message from other shards), so activations are serialised without a lock, and the active
//! generation is one value in one place. Staging (writing files, hashing, loading) runs on a
//! helper thread; the diff and the swap happen in one synchronous step on shard 0, so a deploy
//! is activated whole or not at all.

pub mod app;
pub mod client;

use crate::error::{Error, Result};
use crate::json::{write_str, write_value};
use crate::value::Value;
use app::{load_app_dir, App, ConvexRegistry};
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The active app and its generation (process-local: 0 without an app, 1 when started with
/// one, +1 per activation).
#[derive(Debug, Default)]
pub struct Active {
    pub generation: u64,
    pub app: App,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

/// A parsed deploy request, staged and loaded.
pub struct Staged {
    pub dry_run: bool,
    pub app: App,
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(dir.join(name))
        .map_err(|e| Error::Internal(format!("staging {name}: {e}")))?;
    f.write_all(bytes)
        .map_err(|e| Error::Internal(format!("staging {name}: {e}")))
}

fn json_bytes(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, v);
    out
}

/// Writes one family's artifacts in the app-directory layout.
fn stage_family(
    root: &Path,
    family: &str,
    obj: &Value,
    files: &[(&str, &str, bool)],
) -> Result<()> {
    if obj.as_object().is_none() {
        return Err(bad(format!("artifacts.{family} must be an object")));
    }
    let dir = root.join(family);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::Internal(format!("staging: {e}")))?;
    for (field, file, required) in files {
        match obj.get(field) {
            Some(v) => write_file(&dir, file, &json_bytes(v))?,
            None if *required => {
                return Err(bad(format!("artifacts.{family}.{field} is required")))
            }
            None => {}
        }
    }
    let (js, sum) = (obj.get("bundle_mjs"), obj.get("bundle_sha256"));
    match (js, sum) {
        (Some(Value::Str(js)), Some(Value::Str(sum))) => {
            write_file(&dir, "bundle.mjs", js.as_bytes())?;
            write_file(&dir, "bundle.sha256", sum.as_bytes())?;
        }
        (None, None) if family == "convex" => {}
        (None, None) => {
            return Err(bad(format!(
                "artifacts.{family}.bundle_mjs and bundle_sha256 are required"
            )))
        }
        (Some(_), Some(_)) => {
            return Err(bad(format!(
                "artifacts.{family}.bundle_mjs and bundle_sha256 must be strings"
            )))
        }
        _ => {
            return Err(bad(format!(
            "artifacts.{family}.bundle_mjs and bundle_sha256 go together: supply both or neither"
        )))
        }
    }
    Ok(())
}

/// A private (0700), randomly named staging directory, removed when dropped.
struct StagingDir(PathBuf);

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks a request's shape, writes its artifacts to a private staging directory and loads
/// them with the same loader as `nimbus start --app DIR`.
pub fn stage(request: &Value) -> Result<Staged> {
    if request.as_object().is_none() {
        return Err(bad("the deploy request must be a JSON object"));
    }
    let dry_run = match request.get("dry_run") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("`dry_run` must be a boolean")),
    };
    let artifacts = request.get("artifacts");
    let convex = artifacts.and_then(|a| a.get("convex"));
    let cloud = artifacts.and_then(|a| a.get("cloud_functions"));
    if convex.is_none() && cloud.is_none() {
        return Err(bad(
            "neither artifacts.convex nor artifacts.cloud_functions is present",
        ));
    }
    let name = format!("nimbus-deploy-{}", crate::ids::DocId(ulid::Ulid::new().0));
    let dir = StagingDir(std::env::temp_dir().join(name));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir.0)
        .map_err(|e| Error::Internal(format!("staging: {e}")))?;
    if let Some(c) = convex {
        let files = [
            ("functions_json", "functions.json", true),
            ("http_routes_json", "http_routes.json", false),
            ("schema_json", "schema.json", false),
            ("auth_config_json", "auth_config.json", false),
        ];
        stage_family(&dir.0, "convex", c, &files)?;
    }
    if let Some(c) = cloud {
        let files = [
            ("artifact_json", "artifact.json", true),
            ("targets_json", "targets.json", true),
        ];
        stage_family(&dir.0, "cloud_functions", c, &files)?;
    }
    let app = load_app_dir(&dir.0)?;
    Ok(Staged { dry_run, app })
}

fn write_names(out: &mut Vec<u8>, key: &str, items: &[(String, Option<String>)]) {
    out.push(b'[');
    for (n, (name, kind)) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.push(b'{');
        write_str(out, key);
        out.push(b':');
        write_str(out, name);
        if let Some(kind) = kind {
            out.extend_from_slice(b",\"kind\":");
            write_str(out, kind);
        }
        out.push(b'}');
    }
    out.push(b']');
}

type Changes = (
    Vec<(String, Option<String>)>,
    Vec<(String, Option<String>)>,
    Vec<(String, Option<String>)>,
);

fn compare<V: PartialEq>(
    old: &std::collections::BTreeMap<String, V>,
    new: &std::collections::BTreeMap<String, V>,
    kind: impl Fn(&V) -> Option<String>,
) -> Changes {
    let mut added = Vec::new();
    let mut changed = Vec::new();
    let mut removed = Vec::new();
    for (k, v) in new {
        match old.get(k) {
            None => added.push((k.clone(), kind(v))),
            Some(o) if o != v => changed.push((k.clone(), kind(v))),
            Some(_) => {}
        }
    }
    for (k, v) in old {
        if !new.contains_key(k) {
            removed.push((k.clone(), kind(v)));
        }
    }
    (added, changed, removed)
}

/// Appends the diff object: Convex family only; a deploy without it changes nothing there.
pub fn write_diff(out: &mut Vec<u8>, old: Option<&ConvexRegistry>, new: Option<&ConvexRegistry>) {
    let empty = ConvexRegistry::default();
    let (old, new) = match new {
        Some(n) => (old.unwrap_or(&empty), n),
        None => (&empty, &empty),
    };
    let (fa, fc, fr) = compare(&old.functions, &new.functions, |(kind, _)| {
        Some(kind.clone())
    });
    let (ra, rc, rr) = compare(&old.routes, &new.routes, |_| None);
    out.extend_from_slice(b"{\"functions\":{\"added\":");
    write_names(out, "name", &fa);
    out.extend_from_slice(b",\"changed\":");
    write_names(out, "name", &fc);
    out.extend_from_slice(b",\"removed\":");
    write_names(out, "name", &fr);
    out.extend_from_slice(b"},\"http_routes\":{\"added\":");
    write_names(out, "key", &ra);
    out.extend_from_slice(b",\"changed\":");
    write_names(out, "key", &rc);
    out.extend_from_slice(b",\"removed\":");
    write_names(out, "key", &rr);
    let flag = |b: bool| if b { "true" } else { "false" };
    out.extend_from_slice(
        format!(
            "}},\"schema_changed\":{},\"indexes_changed\":{},\"runtime_bundle_changed\":{}}}",
            flag(old.schema != new.schema),
            flag(old.indexes != new.indexes),
            flag(old.bundle != new.bundle)
        )
        .as_bytes(),
    );
}

impl Active {
    /// Diffs `staged` against the active app and, unless it is a dry run, activates it.
    /// Appends the response body.
    pub fn apply(&mut self, staged: Staged, out: &mut Vec<u8>) {
        let previous = self.generation;
        let mut diff = Vec::new();
        write_diff(
            &mut diff,
            self.app.convex.as_ref(),
            staged.app.convex.as_ref(),
        );
        if !staged.dry_run {
            // A family absent from the deploy keeps its active registry.
            if let Some(c) = staged.app.convex {
                self.app.convex = Some(c);
            }
            if let Some(c) = staged.app.cloud {
                self.app.cloud = Some(c);
            }
            self.generation += 1;
        }
        let activated = !staged.dry_run;
        out.extend_from_slice(
            format!(
                "{{\"dry_run\":{},\"activated\":{activated},\"generation\":{},\"previous_generation\":{previous},\"diff\":",
                staged.dry_run, self.generation
            )
            .as_bytes(),
        );
        out.extend_from_slice(&diff);
        out.push(b'}');
    }
}
