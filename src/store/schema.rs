//! Table schemas: their shape on the wire, and validation of documents against them.

use crate::error::{Error, Result};
use crate::json::{write_str, write_value};
use crate::value::{Object, Value};

/// The declared type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum FieldType {
    String,
    Number,
    Boolean,
    Array,
    Object,
    Any,
}

impl FieldType {
    fn parse(s: &str) -> Option<FieldType> {
        Some(match s {
            "string" => FieldType::String,
            "number" => FieldType::Number,
            "boolean" => FieldType::Boolean,
            "array" => FieldType::Array,
            "object" => FieldType::Object,
            "any" => FieldType::Any,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Array => "array",
            FieldType::Object => "object",
            FieldType::Any => "any",
        }
    }

    fn admits(self, v: &Value) -> bool {
        match self {
            FieldType::Any => true,
            FieldType::String => matches!(v, Value::Str(_)),
            FieldType::Number => matches!(v, Value::Int(_) | Value::UInt(_) | Value::Float(_)),
            FieldType::Boolean => matches!(v, Value::Bool(_)),
            FieldType::Array => matches!(v, Value::Array(_)),
            FieldType::Object => matches!(v, Value::Object(_)),
        }
    }
}

/// A declared field.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct FieldDef {
    pub name: String,
    pub field_type: FieldType,
    pub required: bool,
}

/// A declared index: an ordered list of fields.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct IndexDef {
    pub name: String,
    pub fields: Vec<String>,
}

/// The schema of one table.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct TableSchema {
    pub table: String,
    pub fields: Vec<FieldDef>,
    pub indexes: Vec<IndexDef>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

fn str_field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str> {
    match v.get(key) {
        Some(Value::Str(s)) => Ok(s),
        Some(other) => Err(bad(format!(
            "{what}.{key} must be a string, not {}",
            other.type_name()
        ))),
        None => Err(bad(format!("{what}.{key} is required"))),
    }
}

fn array_field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a [Value]> {
    match v.get(key) {
        Some(Value::Array(items)) => Ok(items),
        None | Some(Value::Null) => Ok(&[]),
        Some(other) => Err(bad(format!(
            "{what}.{key} must be an array, not {}",
            other.type_name()
        ))),
    }
}

impl TableSchema {
    /// Reads the body of `PUT /schema/{table}`; its `table` must equal `path_table`.
    pub fn from_value(v: &Value, path_table: &str) -> Result<TableSchema> {
        if v.as_object().is_none() {
            return Err(bad("schema must be a JSON object"));
        }
        let table = str_field(v, "table", "schema")?;
        if table != path_table {
            return Err(bad(format!(
                "schema.table `{table}` does not match the table `{path_table}` in the path"
            )));
        }
        let mut fields: Vec<FieldDef> = Vec::new();
        for f in array_field(v, "fields", "schema")? {
            let name = str_field(f, "name", "field")?;
            if name.is_empty() || name.starts_with('_') {
                return Err(bad(format!(
                    "field name `{name}` is empty or starts with `_`"
                )));
            }
            if fields.iter().any(|d| d.name == name) {
                return Err(bad(format!("field `{name}` is declared twice")));
            }
            let ty = str_field(f, "field_type", "field")?;
            let field_type = FieldType::parse(ty).ok_or_else(|| {
                bad(format!(
                    "unknown field_type `{ty}` (string, number, boolean, array, object, any)"
                ))
            })?;
            let required = match f.get("required") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(bad("field.required must be a boolean")),
            };
            fields.push(FieldDef {
                name: name.to_string(),
                field_type,
                required,
            });
        }
        let mut indexes: Vec<IndexDef> = Vec::new();
        for i in array_field(v, "indexes", "schema")? {
            let name = str_field(i, "name", "index")?;
            if !crate::ids::valid_table_name(name) {
                return Err(bad(format!(
                    "index name `{name}` must match [A-Za-z][A-Za-z0-9_]*"
                )));
            }
            if indexes.iter().any(|d| d.name == name) {
                return Err(bad(format!("index `{name}` is declared twice")));
            }
            let mut cols = Vec::new();
            for c in array_field(i, "fields", "index")? {
                match c {
                    Value::Str(s) if !s.is_empty() => cols.push(s.to_string()),
                    _ => {
                        return Err(bad(format!(
                            "index `{name}` fields must be non-empty strings"
                        )))
                    }
                }
            }
            if cols.is_empty() {
                return Err(bad(format!("index `{name}` needs at least one field")));
            }
            indexes.push(IndexDef {
                name: name.to_string(),
                fields: cols,
            });
        }
        Ok(TableSchema {
            table: table.to_string(),
            fields,
            indexes,
        })
    }

    /// Checks a document's user fields; `id` names it in the error.
    pub fn validate(&self, fields: &Object, id: Option<&str>) -> Result<()> {
        for def in &self.fields {
            let value = crate::value::get(fields, &def.name);
            let fault = match value {
                None | Some(Value::Null) if def.required => Some("is required".to_string()),
                None | Some(Value::Null) => None,
                Some(v) if !def.field_type.admits(v) => Some(format!(
                    "must be of type {}, not {}",
                    def.field_type.name(),
                    v.type_name()
                )),
                Some(_) => None,
            };
            if let Some(why) = fault {
                let subject = match id {
                    Some(id) => format!("document `{id}` of table `{}`", self.table),
                    None => format!("document for table `{}`", self.table),
                };
                return Err(Error::SchemaViolation {
                    message: format!("{subject}: field `{}` {why}", def.name),
                    doc_id: id.map(str::to_string),
                });
            }
        }
        Ok(())
    }

    /// Appends the wire form, indexes with their server-managed `id` and `state`:
    /// `backfilling` while `building(name)` says the index is still being built, else
    /// `enabled`.
    pub fn write_json(&self, out: &mut Vec<u8>, building: impl Fn(&str) -> bool) {
        out.extend_from_slice(b"{\"table\":");
        write_str(out, &self.table);
        out.extend_from_slice(b",\"fields\":[");
        for (n, f) in self.fields.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"name\":");
            write_str(out, &f.name);
            out.extend_from_slice(b",\"field_type\":");
            write_str(out, f.field_type.name());
            out.extend_from_slice(b",\"required\":");
            write_value(out, &Value::Bool(f.required));
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"indexes\":[");
        for (n, i) in self.indexes.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"id\":");
            write_str(out, &format!("{}.{}", self.table, i.name));
            out.extend_from_slice(b",\"name\":");
            write_str(out, &i.name);
            out.extend_from_slice(b",\"fields\":[");
            for (m, c) in i.fields.iter().enumerate() {
                if m > 0 {
                    out.push(b',');
                }
                write_str(out, c);
            }
            out.extend_from_slice(if building(&i.name) {
                b"],\"state\":\"backfilling\"}"
            } else {
                b"],\"state\":\"enabled\"}"
            });
        }
        out.extend_from_slice(b"]}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_once;

    fn schema() -> TableSchema {
        let v = parse_once(
            br#"{"table":"m","fields":[{"name":"text","field_type":"string","required":true},
                {"name":"votes","field_type":"number"}],"indexes":[{"name":"by_text","fields":["text"]}]}"#,
        )
        .expect("json");
        TableSchema::from_value(&v, "m").expect("valid schema")
    }

    #[test]
    fn validates_types_and_required() {
        let s = schema();
        let ok = vec![
            ("text".into(), Value::Str("x".into())),
            ("extra".into(), Value::Bool(true)),
        ];
        assert!(s.validate(&ok, None).is_ok());
        assert!(s.validate(&vec![], None).is_err());
        assert!(s
            .validate(&vec![("text".into(), Value::Null)], None)
            .is_err());
        let wrong = vec![
            ("text".into(), Value::Str("x".into())),
            ("votes".into(), Value::Str("1".into())),
        ];
        assert!(s.validate(&wrong, Some("id")).is_err());
    }

    #[test]
    fn roundtrips_through_its_wire_form() {
        let s = schema();
        let mut out = Vec::new();
        s.write_json(&mut out, |_| false);
        let again = TableSchema::from_value(&parse_once(&out).expect("json"), "m").expect("valid");
        assert_eq!(s, again);
    }

    #[test]
    fn table_must_match_path() {
        let v = parse_once(br#"{"table":"a","fields":[]}"#).expect("json");
        assert!(TableSchema::from_value(&v, "b").is_err());
    }
}
