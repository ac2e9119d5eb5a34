//! Credentials and the access rules (DECISIONS §1, §4, §10): the local admin token, tenant
//! keys and their scopes ([`keys`]), and which origins may call ([`origin`]).
//!
//! The token lives at `<data-dir>/auth/token` as `{"token": "<64 hex>"}`, created on first
//! boot from the OS random source with mode 0600 in a 0700 directory, and reused after.

pub mod keys;
pub mod origin;

pub use origin::origin_allowed;

use crate::json::parse_once;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Where the admin token of `data_dir` is kept.
pub fn token_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("auth").join("token")
}

/// Reads an existing token file (clients: `nimbus deploy`); errors name the file.
pub fn read_token(data_dir: &Path) -> io::Result<String> {
    let path = token_path(data_dir);
    let bytes = fs::read(&path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot read the token file {}: {e}", path.display()),
        )
    })?;
    let v = parse_once(&bytes).map_err(|e| bad_token(&path, &e.0))?;
    v.get("token")
        .and_then(|t| t.as_str())
        .map(str::to_string)
        .ok_or_else(|| bad_token(&path, "no `token` field"))
}

/// Reads the token file, creating it on first boot.
pub fn load_or_create_token(data_dir: &Path) -> io::Result<String> {
    let dir = data_dir.join("auth");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| crate::datadir::explain(e, "create", &dir))?;
    let path = token_path(data_dir);
    match fs::read(&path) {
        Ok(bytes) => {
            let v = parse_once(&bytes).map_err(|e| bad_token(&path, &e.0))?;
            match v.get("token").and_then(|t| t.as_str()) {
                Some(t) if t.len() >= 32 => Ok(t.to_string()),
                _ => Err(bad_token(
                    &path,
                    "no `token` field of at least 32 characters",
                )),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let token = random_hex(32)?;
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut f| {
                    f.write_all(format!("{{\"token\": \"{token}\"}}\n").as_bytes())?;
                    f.sync_all()
                })
                .map_err(|e| crate::datadir::explain(e, "write the token file", &path))?;
            Ok(token)
        }
        Err(e) => Err(crate::datadir::explain(e, "read the token file", &path)),
    }
}

fn bad_token(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("token file {}: {why}", path.display()),
    )
}

/// `bytes` bytes from the OS random source, as lowercase hex.
pub fn random_hex(bytes: usize) -> io::Result<String> {
    let mut raw = vec![0u8; bytes];
    fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_created_once_with_private_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("nimbus-auth-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let a = load_or_create_token(&dir).expect("create");
        let b = load_or_create_token(&dir).expect("reuse");
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("auth/token")), 0o600);
        assert_eq!(mode(&dir.join("auth")), 0o700);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
