//! Services and sandboxes, orchestrated: a service's definition lives in its tenant's store
//! (executed like any op, on the owning shard), its process in the supervisor thread
//! (`proc`), asked by message. Sandboxes live only in the supervisor, once the tenant is
//! known to exist.

use super::Shard;
use crate::api::{service_def, Op, SandboxAction, ServiceOp, ServiceRequest, TenantOp};
use crate::error::{Error, Result};
use crate::proc::service::ServiceDef;
use crate::proc::{Action, ProcMsg, Procs};
use futures_channel::oneshot;
use std::path::PathBuf;

/// Sends a request to the process supervisor and waits for its answer.
async fn ask<T>(procs: &Procs, make: impl FnOnce(oneshot::Sender<T>) -> ProcMsg) -> Result<T> {
    let (reply, rx) = oneshot::channel();
    if !procs.send(make(reply)) {
        return Err(gone());
    }
    rx.await.map_err(|_| gone())
}

fn gone() -> Error {
    Error::Unavailable("the process supervisor is stopping".into())
}

impl Shard {
    fn procs(&self) -> Result<&Procs> {
        self.procs
            .as_ref()
            .ok_or_else(|| Error::Unavailable("no process supervisor".into()))
    }

    /// Runs a sandbox request for an existing tenant.
    pub async fn sandbox(&self, tenant: String, action: SandboxAction) -> Result<Vec<u8>> {
        let mut check = Vec::new();
        self.execute(Op::of(tenant.clone(), TenantOp::Check), &mut check)
            .await?;
        let procs = self.procs()?;
        let missing = |id: &str| Error::NotFound(format!("sandbox `{id}` does not exist"));
        match action {
            SandboxAction::Run(spec) => {
                ask(procs, |reply| ProcMsg::RunSandbox {
                    tenant,
                    spec,
                    reply,
                })
                .await
            }
            SandboxAction::List => {
                ask(procs, |reply| ProcMsg::ListSandboxes { tenant, reply }).await
            }
            SandboxAction::Get(id) => {
                let found = ask(procs, |reply| ProcMsg::GetSandbox {
                    tenant,
                    id: id.clone(),
                    reply,
                })
                .await?;
                found.ok_or_else(|| missing(&id))
            }
            SandboxAction::Stop(id) => {
                let found = ask(procs, |reply| ProcMsg::StopSandbox {
                    tenant,
                    id: id.clone(),
                    reply,
                })
                .await?;
                found.ok_or_else(|| missing(&id))
            }
        }
    }

    /// The directory a service runs in.
    fn service_dir(&self, tenant: &str, name: &str) -> PathBuf {
        self.config
            .data_dir
            .join("tenants")
            .join(tenant)
            .join("services")
            .join(name)
    }

    /// Runs a service request: the definition on the tenant's shard, the process in the
    /// supervisor.
    pub async fn service(
        &self,
        tenant: String,
        name: Option<String>,
        action: ServiceRequest,
    ) -> Result<(u16, Vec<u8>)> {
        let procs = self.procs()?;
        let mut out = Vec::new();
        let (status, def, act) = match action {
            ServiceRequest::List => return self.list_services(procs, tenant).await,
            ServiceRequest::Delete => {
                let name = name.unwrap_or_default();
                let op = ServiceOp::Delete { name: name.clone() };
                self.execute(Op::of(tenant.clone(), op), &mut out).await?;
                procs.send(ProcMsg::ServiceRemove { tenant, name });
                return Ok((204, Vec::new()));
            }
            ServiceRequest::Create(def) | ServiceRequest::Update(def) => {
                let create = name.is_none();
                let op = ServiceOp::Put {
                    def: def.clone(),
                    create,
                };
                let status = self.execute(Op::of(tenant.clone(), op), &mut out).await?;
                procs.send(ProcMsg::ServiceDefine {
                    tenant: tenant.clone(),
                    def: def.clone(),
                    dir: self.service_dir(&tenant, &def.name),
                });
                (status, def, Action::Get)
            }
            ServiceRequest::Get | ServiceRequest::Act(_) => {
                let op = ServiceOp::Get {
                    name: name.unwrap_or_default(),
                };
                self.execute(Op::of(tenant.clone(), op), &mut out).await?;
                let act = match action {
                    ServiceRequest::Act(a) => a,
                    _ => Action::Get,
                };
                (200, def_of(&out)?, act)
            }
        };
        let dir = self.service_dir(&tenant, &def.name);
        let answer = ask(procs, |reply| ProcMsg::ServiceAction {
            tenant,
            def,
            dir,
            action: act,
            reply,
        });
        Ok((status, answer.await?))
    }

    /// Every service of the tenant: definitions from its store, states from the supervisor.
    async fn list_services(&self, procs: &Procs, tenant: String) -> Result<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        self.execute(Op::of(tenant.clone(), ServiceOp::List), &mut out)
            .await?;
        let list = crate::json::parse_once(&out).map_err(|e| Error::Internal(e.0))?;
        let mut defs = Vec::new();
        if let crate::value::Value::Array(items) = list {
            for item in &items {
                let def = service_def(item, None)?;
                let dir = self.service_dir(&tenant, &def.name);
                defs.push((def, dir));
            }
        }
        let answer = ask(procs, |reply| ProcMsg::ServiceList {
            tenant,
            defs,
            reply,
        });
        Ok((200, answer.await?))
    }
}

/// A definition read back from its stored JSON.
fn def_of(bytes: &[u8]) -> Result<ServiceDef> {
    crate::json::parse_once(bytes)
        .map_err(|e| Error::Internal(e.0))
        .and_then(|v| service_def(&v, None))
}
