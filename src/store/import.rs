//! An import (DECISIONS §11): many documents and schemas of one tenant in one change, so it
//! is all or nothing, and one log record. Documents keep the `_id` and times they had.

use super::{Doc, Store, TableSchema, Tenant};
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::value::Object;

/// One imported document, with the line of the request it came from (errors name it).
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ImportDoc {
    pub line: u32,
    pub table: String,
    pub id: DocId,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub fields: Object,
}

/// What an import does to a tenant.
#[derive(Debug, Clone, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Import {
    /// Tables emptied first (`mode=replace`: every table the import names).
    pub replace: Vec<String>,
    /// Schemas put, with the line each came from.
    pub schemas: Vec<(u32, TableSchema)>,
    pub docs: Vec<ImportDoc>,
}

/// `e`, its message prefixed with the request line it is about (`line N: ...`).
pub fn at_line(line: u32, e: Error) -> Error {
    match e {
        Error::InvalidInput(m) => Error::InvalidInput(format!("line {line}: {m}")),
        Error::Conflict(m) => Error::Conflict(format!("line {line}: {m}")),
        Error::SchemaViolation { message, doc_id } => Error::SchemaViolation {
            message: format!("line {line}: {message}"),
            doc_id,
        },
        other => other,
    }
}

/// The schema a document of `table` must meet after the import.
fn schema_for<'a>(t: &'a Tenant, import: &'a Import, table: &str) -> Option<&'a TableSchema> {
    import
        .schemas
        .iter()
        .rev()
        .find(|(_, s)| s.table == table)
        .map(|(_, s)| s)
        .or_else(|| t.schemas.get(table))
}

/// Refuses an import that cannot be applied whole; names the line at fault.
pub(super) fn check(t: &Tenant, import: &Import) -> Result<()> {
    let replaced = |table: &str| import.replace.iter().any(|r| r == table);
    for (line, schema) in &import.schemas {
        // Documents already there, and staying, must meet a schema the import puts.
        let kept = t.table(&schema.table).filter(|_| !replaced(&schema.table));
        for doc in kept.into_iter().flat_map(|tb| tb.docs.values()) {
            schema
                .validate(&doc.fields(), Some(&doc.id.to_string()))
                .map_err(|e| at_line(*line, e))?;
        }
    }
    for d in &import.docs {
        if !replaced(&d.table)
            && t.table(&d.table)
                .is_some_and(|tb| tb.docs.contains_key(&d.id))
        {
            let e = Error::Conflict(format!(
                "document `{}` already exists in table `{}` (mode=append)",
                d.id, d.table
            ));
            return Err(at_line(d.line, e));
        }
        if let Some(schema) = schema_for(t, import, &d.table) {
            schema
                .validate(&d.fields, Some(&d.id.to_string()))
                .map_err(|e| at_line(d.line, e))?;
        }
    }
    Ok(())
}

impl Store {
    /// Applies a checked import: replaced tables emptied, schemas put, documents written.
    pub(super) fn apply_import(&mut self, tenant: &str, import: Import) {
        let Some(t) = self.tenants.get_mut(tenant) else {
            return;
        };
        for table in &import.replace {
            // Made again on its first insert, with the schema's indexes.
            t.tables.remove(table.as_str());
        }
        let mut touched: Vec<String> = Vec::new();
        for (_, schema) in import.schemas {
            touched.push(schema.table.clone());
            t.schemas.insert(schema.table.clone(), schema);
        }
        for d in import.docs {
            t.insert(
                d.table,
                Doc::new(d.id, d.created_ms, d.updated_ms, &d.fields),
            );
        }
        for table in touched {
            self.sync_indexes(tenant, &table);
        }
    }
}
