//! Tenant keys (DECISIONS §10): their scopes, the text of a secret, its hash, and the
//! directory each shard keeps of every live key.
//!
//! A secret is `nimbus_<r|w|a|f>_<64 hex>`: 32 random bytes behind a prefix that names its
//! scope, so a leaked key is recognisable. The server keeps only its SHA-256. Secrets are
//! random, so a plain (unsalted) hash is as strong as a salted one, and looking the hash up
//! in a map leaks nothing about the secret; the stored hash is still compared in constant
//! time once found.
//!
//! Every shard holds a [`Directory`] of all keys (a request can arrive on any core), so
//! checking a key is one hash and one map lookup on the core that got the request. The
//! owner of a key's tenant updates every directory by message before it answers a create
//! or a revocation.

use sha2::{Digest, Sha256};

type Map<K, V> = hashbrown::HashMap<K, V, ahash::RandomState>;

/// What a key may do. `read` ⊂ `write` ⊂ `admin`; `functions` only calls an app's public
/// functions, which every scope may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub enum Scope {
    Read,
    Write,
    Admin,
    Functions,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "read" => Scope::Read,
            "write" => Scope::Write,
            "admin" => Scope::Admin,
            "functions" => Scope::Functions,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
            Scope::Functions => "functions",
        }
    }

    fn letter(self) -> u8 {
        match self {
            Scope::Read => b'r',
            Scope::Write => b'w',
            Scope::Admin => b'a',
            Scope::Functions => b'f',
        }
    }

    /// Whether a key of this scope may do what needs `need`.
    pub fn allows(self, need: Scope) -> bool {
        match need {
            Scope::Functions => true,
            Scope::Read => matches!(self, Scope::Read | Scope::Write | Scope::Admin),
            Scope::Write => matches!(self, Scope::Write | Scope::Admin),
            Scope::Admin => self == Scope::Admin,
        }
    }
}

/// Bytes of randomness in a secret.
const SECRET_BYTES: usize = 32;
/// `nimbus_r_` and 64 hex digits.
pub const SECRET_LEN: usize = 9 + 2 * SECRET_BYTES;

/// A new secret of `scope` from the OS random source.
pub fn new_secret(scope: Scope) -> std::io::Result<String> {
    let hex = super::random_hex(SECRET_BYTES)?;
    Ok(format!("nimbus_{}_{hex}", scope.letter() as char))
}

/// Whether a credential that [`looks_like_key`] is shaped as one: `nimbus_`, a scope
/// letter, `_`, and 64 hex digits.
pub fn well_formed(credential: &[u8]) -> bool {
    credential.len() == SECRET_LEN
        && [Scope::Read, Scope::Write, Scope::Admin, Scope::Functions]
            .iter()
            .any(|s| credential.get(7) == Some(&s.letter()))
        && credential.get(8) == Some(&b'_')
        && credential[9..].iter().all(u8::is_ascii_hexdigit)
}

/// Whether a credential has the shape of a key (and so is looked up as one).
pub fn looks_like_key(credential: &[u8]) -> bool {
    credential.starts_with(b"nimbus_")
}

/// The SHA-256 the server keeps of a secret.
pub fn hash(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// What every shard knows of one live key.
#[derive(Debug, Clone)]
pub struct Entry {
    pub tenant: std::sync::Arc<str>,
    /// The key's id (its ULID text).
    pub id: Box<str>,
    pub scope: Scope,
    /// Allowed origins, lowercased.
    pub origins: Vec<String>,
    pub expires_at: Option<u64>,
    pub hash: [u8; 32],
}

impl Entry {
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_ms)
    }
}

/// How a shard's directory changes (sent by the owner of the key's tenant to every shard).
#[derive(Debug, Clone)]
pub enum Update {
    Add(Entry),
    Revoke {
        hash: [u8; 32],
    },
    /// The tenant was deleted: every key of it goes.
    DropTenant {
        tenant: String,
    },
}

/// A shard's copy of every live key, by hash.
#[derive(Debug, Default)]
pub struct Directory {
    by_hash: Map<[u8; 32], Entry>,
    by_tenant: Map<std::sync::Arc<str>, Vec<[u8; 32]>>,
}

impl Directory {
    /// A directory of `entries` (what recovery found on every shard).
    pub fn new(entries: impl IntoIterator<Item = Entry>) -> Directory {
        let mut d = Directory::default();
        for e in entries {
            d.apply(Update::Add(e));
        }
        d
    }

    /// The live key whose secret is `secret`, if any (expired ones included: the caller
    /// says why it refuses).
    pub fn find(&self, secret: &[u8]) -> Option<&Entry> {
        let h = hash(secret);
        self.by_hash
            .get(&h)
            .filter(|e| super::constant_time_eq(&e.hash, &h))
    }

    pub fn apply(&mut self, update: Update) {
        match update {
            Update::Add(e) => {
                self.by_tenant
                    .entry(e.tenant.clone())
                    .or_default()
                    .push(e.hash);
                self.by_hash.insert(e.hash, e);
            }
            Update::Revoke { hash } => {
                if let Some(e) = self.by_hash.remove(&hash) {
                    if let Some(list) = self.by_tenant.get_mut(&e.tenant) {
                        list.retain(|h| *h != hash);
                    }
                }
            }
            Update::DropTenant { tenant } => {
                for h in self.by_tenant.remove(tenant.as_str()).unwrap_or_default() {
                    self.by_hash.remove(&h);
                }
            }
        }
    }

    /// Whether `origin` is among the origins of a live key of `tenant` (CORS preflights).
    pub fn tenant_allows_origin(&self, tenant: &str, origin: &[u8], now_ms: u64) -> bool {
        self.by_tenant.get(tenant).is_some_and(|hashes| {
            hashes
                .iter()
                .filter_map(|h| self.by_hash.get(h))
                .any(|e| !e.expired(now_ms) && super::origin::listed(&e.origins, origin))
        })
    }

    /// The live key of this hash.
    pub fn find_hash(&self, hash: &[u8; 32]) -> Option<&Entry> {
        self.by_hash.get(hash)
    }

    /// Whether the key of this hash is live (a WebSocket opened with it stays open).
    pub fn has_hash(&self, hash: &[u8; 32]) -> bool {
        self.by_hash.contains_key(hash)
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: &str, secret: &str, scope: Scope) -> Entry {
        Entry {
            tenant: tenant.into(),
            id: "k".into(),
            scope,
            origins: vec!["https://app.example.com".into()],
            expires_at: Some(1000),
            hash: hash(secret.as_bytes()),
        }
    }

    #[test]
    fn secrets_name_their_scope_and_are_random() {
        let a = new_secret(Scope::Read).expect("random");
        let b = new_secret(Scope::Read).expect("random");
        assert!(
            a.starts_with("nimbus_r_") && a.len() == SECRET_LEN && looks_like_key(a.as_bytes())
        );
        assert_ne!(a, b);
        assert!(new_secret(Scope::Functions)
            .expect("random")
            .starts_with("nimbus_f_"));
    }

    #[test]
    fn scopes_nest_and_functions_is_apart() {
        use Scope::*;
        assert!(Admin.allows(Write) && Admin.allows(Read) && Write.allows(Read));
        assert!(!Read.allows(Write) && !Write.allows(Admin));
        assert!(!Functions.allows(Read) && Functions.allows(Functions) && Read.allows(Functions));
    }

    #[test]
    fn the_directory_finds_revokes_and_drops() {
        let mut d = Directory::new([
            entry("t", "nimbus_r_1", Scope::Read),
            entry("t", "nimbus_w_2", Scope::Write),
            entry("u", "nimbus_a_3", Scope::Admin),
        ]);
        assert_eq!(d.find(b"nimbus_w_2").map(|e| e.scope), Some(Scope::Write));
        assert!(d.find(b"nimbus_w_9").is_none());
        assert!(d.tenant_allows_origin("t", b"https://APP.example.com", 999));
        assert!(
            !d.tenant_allows_origin("t", b"https://app.example.com", 1000),
            "expired"
        );
        assert!(!d.tenant_allows_origin("v", b"https://app.example.com", 0));
        d.apply(Update::Revoke {
            hash: hash(b"nimbus_w_2"),
        });
        assert!(d.find(b"nimbus_w_2").is_none() && d.len() == 2);
        d.apply(Update::DropTenant { tenant: "t".into() });
        assert!(d.find(b"nimbus_r_1").is_none() && d.len() == 1);
        assert!(d.find(b"nimbus_a_3").is_some());
    }
}
