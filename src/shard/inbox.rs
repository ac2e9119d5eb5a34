//! The inbox loop: what other shards ask of this one, answered here or handed to the
//! part of the shard that owns it (a spawned task for what waits, so the inbox never does).

use super::{Reply, Shard, ShardMsg};
use std::rc::Rc;

impl Shard {
    /// Answers messages from other shards until the mesh closes.
    pub async fn serve_inbox(self: Rc<Self>) {
        while let Some(msg) = self.mesh.recv(self.id).await {
            match msg {
                ShardMsg::Execute { op, reply } => {
                    let mut body = Vec::new();
                    match self.run_local(op, &mut body) {
                        Ok((status, seq, keys)) if seq > 0 || !keys.is_empty() => {
                            // Answer once settled, without holding up the inbox.
                            let me = self.clone();
                            monoio::spawn(async move {
                                let result = me.settle(seq, keys).await.map(|()| status);
                                let _ = reply.send(Reply { result, body });
                            });
                        }
                        result => {
                            let _ = reply.send(Reply {
                                result: result.map(|(s, ..)| s),
                                body,
                            });
                        }
                    }
                }
                ShardMsg::ListTenants { reply } => {
                    let _ = reply.send(self.local_tenant_ids());
                }
                ShardMsg::Report { reply } => {
                    let _ = reply.send(self.report_here());
                }
                ShardMsg::Export {
                    tenant,
                    id,
                    first,
                    reply,
                } => {
                    let mut page = Vec::new();
                    let done = self.export_page_here(&tenant, id, first, &mut page);
                    let _ = reply.send(done.map(|d| (page, d)));
                }
                ShardMsg::BackupClaim { take, reply } => {
                    let _ = reply.send(self.backup_claim_here(take));
                }
                ShardMsg::BackupPart { reply } => {
                    let me = self.clone();
                    monoio::spawn(async move {
                        let _ = reply.send(me.backup_part_here().await);
                    });
                }
                ShardMsg::Changes {
                    read,
                    render,
                    reply,
                } => {
                    let me = self.clone();
                    monoio::spawn(async move {
                        let _ = reply.send(me.changes_here(read, render).await);
                    });
                }
                ShardMsg::Topic { req, reply } => {
                    let me = self.clone();
                    monoio::spawn(async move {
                        let _ = reply.send(me.topic_here(req).await);
                    });
                }
                ShardMsg::ExportEnd { id } => {
                    self.state.borrow_mut().exports.retain(|(i, _)| *i != id);
                }
                other => self.clone().handle_live(other),
            }
        }
    }
}
