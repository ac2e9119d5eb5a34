//! A tenant's keys as the store keeps them (DECISIONS §10): everything but the secret,
//! which is never stored; only its SHA-256 is. Keys are data of their tenant: logged like
//! any write, in snapshots, and gone with the tenant.

use super::{Store, Tenant};
use crate::auth::keys::{Entry, Scope};
use crate::error::{Error, Result};
use crate::ids::DocId;

/// Live keys one tenant may hold: creating another is refused until one is revoked.
pub const KEYS_PER_TENANT_MAX: usize = 1000;

/// One key of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Key {
    pub id: DocId,
    pub name: String,
    pub scope: Scope,
    /// Origins a page calling with this key may have, lowercased `scheme://host[:port]`.
    pub origins: Vec<String>,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    /// SHA-256 of the secret.
    pub hash: [u8; 32],
}

impl Key {
    /// What every shard's directory keeps of this key.
    pub fn entry(&self, tenant: &str) -> Entry {
        Entry {
            tenant: tenant.into(),
            id: self.id.to_string().into(),
            scope: self.scope,
            origins: self.origins.clone(),
            expires_at: self.expires_at,
            hash: self.hash,
        }
    }

    /// The key as `GET /keys` lists it: everything but the secret (and its hash).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":\"");
        self.id.write(out);
        out.extend_from_slice(b"\",\"name\":");
        crate::json::write_str(out, &self.name);
        out.extend_from_slice(b",\"scope\":\"");
        out.extend_from_slice(self.scope.name().as_bytes());
        out.extend_from_slice(b"\",\"origins\":");
        crate::json::write_array(out, &self.origins, |out, o| crate::json::write_str(out, o));
        out.extend_from_slice(b",\"created_at\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.created_at).as_bytes());
        out.extend_from_slice(b",\"expires_at\":");
        match self.expires_at {
            Some(at) => out.extend_from_slice(itoa::Buffer::new().format(at).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
}

impl Store {
    /// Documents of every tenant here (metrics).
    pub fn document_count(&self) -> u64 {
        self.tenants
            .values()
            .flat_map(|t| t.tables.values())
            .map(|tb| tb.docs.len() as u64)
            .sum()
    }

    /// Every key of every tenant here, as directory entries (startup).
    pub fn key_entries(&self) -> Vec<Entry> {
        self.tenants
            .iter()
            .flat_map(|(t, tenant)| tenant.keys.values().map(|k| k.entry(t)))
            .collect()
    }
}

/// Refuses a key that cannot be added to `t`.
pub(super) fn check_create(t: &Tenant, key: &Key) -> Result<()> {
    if t.keys.contains_key(&key.id) {
        return Err(Error::Conflict(format!("key `{}` already exists", key.id)));
    }
    if t.keys.len() >= KEYS_PER_TENANT_MAX {
        return Err(Error::LimitExceeded {
            what: format!("this tenant holds {KEYS_PER_TENANT_MAX} keys, the most allowed"),
            remedy: "revoke keys no longer used".into(),
        });
    }
    Ok(())
}

/// Refuses revoking a key `t` does not have.
pub(super) fn check_revoke(t: &Tenant, id: DocId) -> Result<()> {
    if t.keys.contains_key(&id) {
        Ok(())
    } else {
        Err(Error::NotFound(format!("key `{id}` does not exist")))
    }
}
