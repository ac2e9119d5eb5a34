//! Online backups (DECISIONS §11). The connection's shard coordinates: it claims the one
//! backup slot (held by shard 0, by message), then asks each shard in turn for its part and
//! streams it as tar entries (`crate::backup`), hashing each piece as it goes, and ends with
//! the manifest.
//!
//! A shard makes its part the way it makes a snapshot, without stopping: it notes its last
//! commit `S`, starts keeping a copy of every log frame appended from then on (`Log::tap`),
//! copies its state a few thousand documents per step between requests, and stops the tap at
//! its then last commit `T` once that is durable. The copy plus the frames is the shard at
//! `T`. Encoding the copy runs on a helper thread.

use super::{Shard, ShardMsg, YieldNow};
use crate::backup::{manifest_json, tar_header, tar_padding, Listed, Part, MANIFEST, TAR_END};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::wal::snapshot::{encode, Copier};
use futures_channel::oneshot;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;

/// Documents copied per step, between which requests are served.
const COPY_STEP_DOCS: usize = 2048;
/// Bytes of an entry sent per piece (one chunk of the answer).
const PIECE_BYTES: usize = 256 * 1024;
/// How long a full inbox is retried for the claim's release.
const RELEASE_TRIES: u32 = 1000;

/// One entry being sent.
struct Sending {
    name: String,
    data: Vec<u8>,
    sent: usize,
    /// Known already (large entries are hashed by the thread that encoded them), or made
    /// here as the pieces go.
    sum: Option<[u8; 32]>,
    hash: Sha256,
}

/// A backup in progress, driven by the connection that asked for it.
pub struct Backup {
    shards: usize,
    next_shard: usize,
    queue: VecDeque<(String, Vec<u8>, Option<[u8; 32]>)>,
    current: Option<Sending>,
    listed: Vec<Listed>,
    started_ms: u64,
    claimed: bool,
}

impl Shard {
    /// Claims the backup slot; `409` if a backup is running.
    pub async fn backup_begin(&self) -> Result<Backup> {
        if !self.backup_claim(true).await? {
            return Err(Error::Conflict(
                "a backup is already running; only one runs at a time".into(),
            ));
        }
        Ok(Backup {
            shards: self.mesh.cores(),
            next_shard: 0,
            queue: VecDeque::new(),
            current: None,
            listed: Vec::new(),
            started_ms: now_ms(),
            claimed: true,
        })
    }

    /// Takes (`take`) or gives back the slot on shard 0; whether it was taken.
    async fn backup_claim(&self, take: bool) -> Result<bool> {
        if self.id == 0 {
            return Ok(self.backup_claim_here(take));
        }
        let (reply, rx) = oneshot::channel();
        let mut msg = ShardMsg::BackupClaim { take, reply };
        for _ in 0..RELEASE_TRIES {
            match self.mesh.send(0, msg) {
                Ok(()) => {
                    return rx
                        .await
                        .map_err(|_| Error::Internal("shard 0 dropped a backup claim".into()));
                }
                Err(back) if !take => {
                    msg = back;
                    monoio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Err(_) => break,
            }
        }
        Err(Error::Unavailable("shard 0 is overloaded".into()))
    }

    pub(super) fn backup_claim_here(&self, take: bool) -> bool {
        let held = self.backup_held.get();
        self.backup_held.set(take);
        !(take && held)
    }

    /// This shard's part, or another's by message.
    async fn backup_part(&self, shard: usize) -> Result<Part> {
        if shard == self.id {
            return self.backup_part_here().await;
        }
        let (reply, rx) = oneshot::channel();
        self.mesh
            .send(shard, ShardMsg::BackupPart { reply })
            .map_err(|_| Error::Unavailable(format!("shard {shard} is overloaded")))?;
        rx.await
            .map_err(|_| Error::Internal(format!("shard {shard} dropped a backup")))?
    }

    /// Makes this shard's part (see the module's comment).
    pub(super) async fn backup_part_here(&self) -> Result<Part> {
        let (mut copier, seq) = {
            let mut state = self.state.borrow_mut();
            if state.log.tap.is_some() {
                return Err(Error::Conflict("this shard is being backed up".into()));
            }
            state.log.tap = Some(Vec::new());
            let seq = state.log.seq();
            (Copier::new(&state.store, seq), seq)
        };
        let snapshot = loop {
            let done = copier.step(&self.state.borrow().store, COPY_STEP_DOCS);
            match done {
                Some(s) => break s,
                None => YieldNow(false).await,
            }
        };
        let (through, tail) = {
            let mut state = self.state.borrow_mut();
            (state.log.seq(), state.log.tap.take().unwrap_or_default())
        };
        // The part holds no write that could still fail to become durable.
        self.durable(through).await?;
        let tenants = snapshot.tenants.len() as u64;
        let documents = snapshot
            .tenants
            .iter()
            .flat_map(|t| &t.tables)
            .map(|t| t.docs.len() as u64)
            .sum();
        // Encoding and hashing take a while for a big shard: not on the shard's thread.
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("nimbus-backup".into())
            .spawn(move || {
                let bytes = encode(&snapshot);
                drop(snapshot);
                let sums = [Sha256::digest(&bytes).into(), Sha256::digest(&tail).into()];
                let _ = tx.send((bytes, tail, sums));
            })
            .map_err(|e| Error::Internal(format!("cannot start a backup thread: {e}")))?;
        let (snapshot, tail, sums) = rx
            .await
            .map_err(|_| Error::Internal("the backup thread died".into()))?;
        Ok(Part {
            shard: self.id,
            seq,
            through,
            snapshot,
            tail,
            tenants,
            documents,
            sums,
        })
    }
}

impl Backup {
    /// Writes the next piece of the archive into `out`; `Ok(false)` after the last.
    pub async fn next(&mut self, shard: &Shard, out: &mut Vec<u8>) -> Result<bool> {
        loop {
            if let Some(s) = &mut self.current {
                if s.sent == 0 {
                    let mtime = self.started_ms / 1000;
                    out.extend_from_slice(&tar_header(&s.name, s.data.len() as u64, mtime));
                }
                let end = (s.sent + PIECE_BYTES).min(s.data.len());
                let piece = &s.data[s.sent..end];
                if s.sum.is_none() {
                    s.hash.update(piece);
                }
                out.extend_from_slice(piece);
                s.sent = end;
                if s.sent == s.data.len() {
                    out.extend(std::iter::repeat_n(0u8, tar_padding(s.data.len() as u64)));
                    if let Some(done) = self.current.take() {
                        self.listed.push(Listed {
                            bytes: done.data.len() as u64,
                            name: done.name,
                            sha256: done.sum.unwrap_or_else(|| done.hash.finalize().into()),
                        });
                    }
                }
                return Ok(true);
            }
            if let Some((name, data, sum)) = self.queue.pop_front() {
                self.current = Some(Sending {
                    name,
                    data,
                    sent: 0,
                    sum,
                    hash: Sha256::new(),
                });
                continue;
            }
            if self.next_shard < self.shards {
                let part = shard.backup_part(self.next_shard).await?;
                self.next_shard += 1;
                self.queue.extend(part.entries());
                continue;
            }
            let manifest = manifest_json(self.shards, self.started_ms, &self.listed);
            out.extend_from_slice(&tar_header(
                MANIFEST,
                manifest.len() as u64,
                self.started_ms / 1000,
            ));
            out.extend_from_slice(&manifest);
            out.extend(std::iter::repeat_n(0u8, tar_padding(manifest.len() as u64)));
            out.extend_from_slice(&TAR_END);
            self.release(shard).await;
            return Ok(false);
        }
    }

    /// Gives the backup slot back (at the end, or when the backup is abandoned).
    pub async fn release(&mut self, shard: &Shard) {
        if std::mem::take(&mut self.claimed) {
            if let Err(e) = shard.backup_claim(false).await {
                let msg = format!("a finished backup could not give its slot back: {e}");
                crate::log::error("backup", &msg, &[]);
            }
        }
    }
}
