//! Consuming topics (DECISIONS §12), on the shard that owns the tenant: a consume reads the
//! topic's changes past the group's position (waiting up to its timeout for one), hands
//! them to the group until the visibility timeout, and a group's first consume makes its
//! position durable; an ack moves the position forward, never back, and never past what
//! the group was handed.

use super::{Shard, ShardMsg};
use crate::api::changes::Read;
use crate::api::topics::{Ack, Consume, Start};
use crate::changes::groups::Key;
use crate::changes::{Filter, Render};
use crate::error::{Error, Result};
use crate::store::Change;
use futures_channel::oneshot;
use std::time::{Duration, Instant};

/// A topic request for the owner.
#[derive(Debug)]
pub enum TopicRequest {
    Consume(Consume),
    Ack(Ack),
}

impl TopicRequest {
    fn tenant(&self) -> &str {
        match self {
            TopicRequest::Consume(c) => &c.tenant,
            TopicRequest::Ack(a) => &a.tenant,
        }
    }
}

fn unknown_topic(topic: &str) -> Error {
    Error::InvalidInput(format!(
        "topic `{topic}` does not exist (PUT /topics/{topic} creates it)"
    ))
}

impl Shard {
    /// Runs a consume or an ack on the tenant's owner; the response body goes to `out`.
    pub async fn topic(&self, req: TopicRequest, out: &mut Vec<u8>) -> Result<u16> {
        let owner = super::owner_of(req.tenant(), self.mesh.cores());
        let body = if owner == self.id {
            self.topic_here(req).await?
        } else {
            let (reply, rx) = oneshot::channel();
            self.mesh
                .send(owner, ShardMsg::Topic { req, reply })
                .map_err(|_| Error::Unavailable(format!("shard {owner} is overloaded")))?;
            rx.await
                .map_err(|_| Error::Internal(format!("shard {owner} dropped a request")))??
        };
        out.extend_from_slice(&body);
        Ok(200)
    }

    /// [`Shard::topic`] on the owner.
    pub(super) async fn topic_here(&self, req: TopicRequest) -> Result<Vec<u8>> {
        match req {
            TopicRequest::Consume(c) => self.consume_here(c).await,
            TopicRequest::Ack(a) => self.ack_here(a).await,
        }
    }

    /// The group's acked offset (`None` before its first consume), and the topic's filter.
    fn group_position(&self, key: &Key) -> Result<(Option<u64>, Filter, u64)> {
        let state = self.state.borrow();
        let t = state.store.tenant(&key.0)?;
        let topic = t.topics.get(&key.1).ok_or_else(|| unknown_topic(&key.1))?;
        let filter = Filter {
            tables: topic.tables.clone(),
            ops: topic.ops,
        };
        Ok((topic.groups.get(&key.2).copied(), filter, t.seq))
    }

    /// Makes the group's position `upto` durable (creating the group, or moving it on).
    async fn commit_ack(&self, key: &Key, upto: u64) -> Result<()> {
        let change = Change::AckTopic {
            tenant: key.0.clone(),
            topic: key.1.clone(),
            group: key.2.clone(),
            upto,
        };
        let seq = self.state.borrow_mut().commit(change)?;
        self.durable(seq).await
    }

    async fn consume_here(&self, c: Consume) -> Result<Vec<u8>> {
        let key: Key = (c.tenant, c.topic, c.group);
        let deadline = Instant::now() + Duration::from_millis(c.timeout_ms);
        let visibility = Duration::from_millis(self.config.topic_visibility_ms);
        let (acked, filter, now_seq) = self.group_position(&key)?;
        if acked.is_none() {
            let at = match c.start {
                Start::Latest => now_seq,
                Start::Earliest => 0,
                Start::Offset(n) => n.saturating_sub(1),
            };
            self.commit_ack(&key, at).await?;
        }
        loop {
            let (acked, ..) = self.group_position(&key)?;
            let acked = acked.unwrap_or(0);
            let from = self
                .state
                .borrow_mut()
                .groups
                .start(&key, acked, Instant::now());
            let read = Read {
                tenant: key.0.clone(),
                after: from,
                limit: c.limit,
                wait_ms: deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis() as u64,
                filter: filter.clone(),
            };
            let page = match self.changes_here(read, Render::Message).await {
                Err(Error::CursorExpired(_)) => return Err(self.skip_expired(&key, from).await),
                page => page?,
            };
            let mut state = self.state.borrow_mut();
            let now = Instant::now();
            // Another consumer of the group took a batch while this one waited: read on
            // from where that one ended instead of handing out the same messages.
            if state.groups.start(&key, acked, now) != from && now < deadline {
                continue;
            }
            if page.last > from {
                state.groups.handed(&key, page.last, now, visibility);
            }
            let mut out = Vec::with_capacity(page.body.len() + 64);
            out.extend_from_slice(b"{\"messages\":[");
            out.extend_from_slice(&page.body);
            out.extend_from_slice(b"],\"next_offset\":");
            crate::json::write_u64(&mut out, page.last + 1);
            out.extend_from_slice(if page.has_more {
                b",\"has_more\":true}"
            } else {
                b",\"has_more\":false}"
            });
            return Ok(out);
        }
    }

    /// The group's position `from` is older than the feed keeps: the group moves on to the
    /// oldest change kept, and this consume says so (`410`); the next one goes on from there.
    async fn skip_expired(&self, key: &Key, from: u64) -> Error {
        let earliest = {
            let state = self.state.borrow();
            match state.store.tenant(&key.0) {
                Ok(t) => state.log.feed.earliest(&key.0, t.epoch, t.seq),
                Err(e) => return e,
            }
        };
        if from + 1 >= earliest {
            // Ahead of the tenant (its history was reset): a position never moves back.
            return Error::CursorExpired(format!(
                "group `{}` is at offset {from}, ahead of the tenant's changes (its history was reset); consume with a new group",
                key.2
            ));
        }
        if let Err(e) = self.commit_ack(key, earliest - 1).await {
            return e;
        }
        self.state.borrow_mut().groups.acked(key, earliest - 1);
        Error::CursorExpired(format!(
            "group `{}` was at offset {from}, older than the change feed keeps: the changes up to {} are gone; the group now starts at offset {earliest}, consume again",
            key.2,
            earliest - 1
        ))
    }

    async fn ack_here(&self, a: Ack) -> Result<Vec<u8>> {
        let key: Key = (a.tenant, a.topic, a.group);
        let (acked, ..) = self.group_position(&key)?;
        let Some(acked) = acked else {
            return Err(Error::InvalidInput(format!(
                "group `{}` has consumed nothing from topic `{}` yet",
                key.2, key.1
            )));
        };
        let handed = self.state.borrow().groups.handed_through(&key, acked);
        if a.upto > handed {
            return Err(Error::InvalidInput(format!(
                "upto_offset {} is past the last offset handed to group `{}` ({handed}); consume first",
                a.upto, key.2
            )));
        }
        let now = if a.upto > acked {
            self.commit_ack(&key, a.upto).await?;
            self.state.borrow_mut().groups.acked(&key, a.upto);
            a.upto
        } else {
            acked
        };
        Ok(format!("{{\"acked\":{now}}}").into_bytes())
    }
}
