//! Topics (DECISIONS §12): a named selection of a tenant's changes (tables and ops), and
//! the consumer groups reading it, each with a durable position: the offset (the tenant
//! sequence number) through which it has acked.

use super::Tenant;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Topics one tenant may have.
pub const TOPICS_PER_TENANT_MAX: usize = 100;
/// Consumer groups one topic may have.
pub const GROUPS_PER_TOPIC_MAX: usize = 100;

/// A topic as the store keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topic {
    /// Tables whose changes it carries (all when empty).
    pub tables: Vec<String>,
    /// Ops it carries, as `changes::record::Op` bits (all when 0).
    pub ops: u8,
    /// Each group's acked offset.
    pub groups: BTreeMap<String, u64>,
}

/// A topic as a log record and a snapshot hold it.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct TopicDef {
    pub name: String,
    pub tables: Vec<String>,
    pub ops: u8,
    /// (group, acked offset); empty in a `PutTopic` record.
    pub groups: Vec<(String, u64)>,
}

impl TopicDef {
    /// The topic it describes.
    pub fn topic(&self) -> Topic {
        Topic {
            tables: self.tables.clone(),
            ops: self.ops,
            groups: self.groups.iter().cloned().collect(),
        }
    }

    /// The definition of a stored topic, with its groups.
    pub fn of(name: &str, t: &Topic) -> TopicDef {
        TopicDef {
            name: name.to_string(),
            tables: t.tables.clone(),
            ops: t.ops,
            groups: t.groups.iter().map(|(g, o)| (g.clone(), *o)).collect(),
        }
    }
}

/// Refuses a topic the tenant has no room for.
pub(super) fn check_put(t: &Tenant, def: &TopicDef) -> Result<()> {
    if !t.topics.contains_key(&def.name) && t.topics.len() >= TOPICS_PER_TENANT_MAX {
        return Err(Error::LimitExceeded {
            what: format!("a tenant has at most {TOPICS_PER_TENANT_MAX} topics"),
            remedy: "delete a topic it no longer needs".into(),
        });
    }
    Ok(())
}

/// Refuses an ack of a topic that is not there, or a new group past the bound.
pub(super) fn check_ack(t: &Tenant, topic: &str, group: &str) -> Result<()> {
    let tp = t
        .topics
        .get(topic)
        .ok_or_else(|| Error::NotFound(format!("topic `{topic}` does not exist")))?;
    if !tp.groups.contains_key(group) && tp.groups.len() >= GROUPS_PER_TOPIC_MAX {
        return Err(Error::LimitExceeded {
            what: format!("a topic has at most {GROUPS_PER_TOPIC_MAX} consumer groups"),
            remedy: "reuse a group id".into(),
        });
    }
    Ok(())
}

/// Puts a topic, keeping the positions of its groups if it existed.
pub(super) fn put(t: &mut Tenant, def: TopicDef) {
    let groups = t
        .topics
        .remove(&def.name)
        .map(|old| old.groups)
        .unwrap_or_default();
    let mut topic = def.topic();
    topic.groups.extend(groups);
    t.topics.insert(def.name, topic);
}

/// Moves a group forward to `upto` (never back).
pub(super) fn ack(t: &mut Tenant, topic: &str, group: String, upto: u64) {
    if let Some(tp) = t.topics.get_mut(topic) {
        let at = tp.groups.entry(group).or_insert(upto);
        *at = (*at).max(upto);
    }
}
