//! `nimbus restore FILE --data-dir DIR`: checks a whole archive (every entry against the
//! manifest's size and SHA-256) before it writes anything, then lays each shard's part out
//! as that shard's own files in an empty data directory.

use super::{hex, read_tar, Entry, FORMAT_VERSION, MANIFEST, ROOT};
use crate::json::parse_once;
use crate::value::Value;
use crate::wal::disk::{Disk, OsDisk};
use crate::wal::files::{segment_name, snapshot_name};
use crate::wal::manifest::{Manifest, Segment};
use sha2::{Digest, Sha256};
use std::path::Path;

/// What a restore wrote.
#[derive(Debug, PartialEq, Eq)]
pub struct Restored {
    pub shards: usize,
    pub tenants: u64,
    pub documents: u64,
    pub bytes: u64,
}

/// One shard's part, checked.
struct ShardPart<'a> {
    shard: usize,
    seq: u64,
    through: u64,
    tenants: u64,
    documents: u64,
    snapshot: &'a [u8],
    tail: &'a [u8],
}

/// Restores `archive` into `data_dir`, which must be empty or absent.
pub fn restore(archive: &Path, data_dir: &Path) -> Result<Restored, String> {
    if let Ok(mut d) = std::fs::read_dir(data_dir) {
        if d.next().is_some() {
            return Err(format!(
                "{} is not empty: a restore goes into an empty (or new) data directory only; nothing was written",
                data_dir.display()
            ));
        }
    }
    let bytes =
        std::fs::read(archive).map_err(|e| format!("cannot read {}: {e}", archive.display()))?;
    let parts = check(&bytes).map_err(|e| format!("{e}; nothing was written"))?;
    let disk = OsDisk;
    let mut done = Restored {
        shards: parts.len(),
        tenants: 0,
        documents: 0,
        bytes: bytes.len() as u64,
    };
    let shards_dir = data_dir.join("shards");
    for p in &parts {
        let dir = shards_dir.join(p.shard.to_string());
        let io = |e: std::io::Error| format!("cannot write {}: {e}", dir.display());
        disk.create_dir_all(&dir).map_err(io)?;
        // Label 0: nothing had been committed before the copy, which is then empty.
        if p.seq > 0 {
            disk.write_synced(&dir.join(snapshot_name(p.seq)), p.snapshot)
                .map_err(io)?;
        }
        disk.write_synced(&dir.join(segment_name(p.seq + 1)), p.tail)
            .map_err(io)?;
        let manifest = Manifest {
            snapshot: p.seq,
            segments: vec![Segment {
                first: p.seq + 1,
                through: p.through,
            }],
        };
        manifest.write(&disk, &dir).map_err(io)?;
        disk.sync_dir(&dir).map_err(io)?;
        done.tenants += p.tenants;
        done.documents += p.documents;
    }
    disk.sync_dir(&shards_dir)
        .and_then(|()| disk.sync_dir(data_dir))
        .map_err(|e| format!("cannot sync {}: {e}", data_dir.display()))?;
    Ok(done)
}

/// Checks an archive whole: its manifest, every entry's size and SHA-256, and that each
/// shard has its three entries. Names the first bad part.
fn check(bytes: &[u8]) -> Result<Vec<ShardPart<'_>>, String> {
    let entries = read_tar(bytes)?;
    let manifest = entries.iter().find(|e| e.name == MANIFEST).ok_or(
        "the archive has no manifest: it is truncated, or not a Nimbus backup".to_string(),
    )?;
    let m = parse_once(manifest.data).map_err(|e| format!("the manifest is damaged: {}", e.0))?;
    if m.get("format").and_then(Value::as_str) != Some("nimbus-backup") {
        return Err("not a Nimbus backup (its manifest names another format)".into());
    }
    let version = m.get("format_version").and_then(Value::as_u64).unwrap_or(0);
    if version == 0 || version > FORMAT_VERSION {
        return Err(format!(
            "archive format version {version}: this nimbus reads version {FORMAT_VERSION}"
        ));
    }
    let Some(Value::Array(listed)) = m.get("entries") else {
        return Err("the manifest lists no entries".into());
    };
    for l in listed {
        let name = l.get("name").and_then(Value::as_str).unwrap_or("?");
        let found = entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| format!("part `{name}` is missing from the archive"))?;
        let want_bytes = l.get("bytes").and_then(Value::as_u64);
        if want_bytes != Some(found.data.len() as u64) {
            return Err(format!(
                "part `{name}` is {} bytes; the manifest says {want_bytes:?}",
                found.data.len()
            ));
        }
        let sum = hex(&Sha256::digest(found.data));
        if l.get("sha256").and_then(Value::as_str) != Some(sum.as_str()) {
            return Err(format!(
                "part `{name}` does not match its SHA-256 in the manifest: the archive is damaged or was altered"
            ));
        }
    }
    if let Some(extra) = entries.iter().find(|e| {
        e.name != MANIFEST
            && !listed
                .iter()
                .any(|l| l.get("name").and_then(Value::as_str) == Some(&e.name))
    }) {
        return Err(format!("entry `{}` is not in the manifest", extra.name));
    }
    let shards = m.get("shards").and_then(Value::as_u64).unwrap_or(0) as usize;
    (0..shards).map(|n| shard_part(&entries, n)).collect()
}

/// Shard `n`'s three entries.
fn shard_part<'a>(entries: &[Entry<'a>], n: usize) -> Result<ShardPart<'a>, String> {
    let dir = format!("{ROOT}/shards/{n}/");
    let info_name = format!("{dir}part.json");
    let data = |name: &str| {
        entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.data)
            .ok_or_else(|| format!("part `{name}` is missing from the archive"))
    };
    let info = parse_once(data(&info_name)?).map_err(|e| format!("`{info_name}`: {}", e.0))?;
    let num = |k: &str| {
        info.get(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("`{info_name}` has no `{k}`"))
    };
    let (seq, through) = (num("seq")?, num("through")?);
    Ok(ShardPart {
        shard: n,
        seq,
        through,
        tenants: num("tenants")?,
        documents: num("documents")?,
        snapshot: data(&format!("{dir}{}", snapshot_name(seq)))?,
        tail: data(&format!("{dir}{}", segment_name(seq + 1)))?,
    })
}
