//! Supervised services: a definition (durable, in the tenant's store) and a run (here, in the
//! supervisor): started, restarted by policy with backoff, stopped with SIGTERM then SIGKILL.

use crate::json::{write_str, write_u64};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// When a service is started again after its process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Restart {
    Never,
    OnFailure,
    Always,
}

impl Restart {
    /// Reads `never`, `on-failure`, `always`.
    pub fn parse(s: &str) -> Option<Restart> {
        Some(match s {
            "never" => Restart::Never,
            "on-failure" => Restart::OnFailure,
            "always" => Restart::Always,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Restart::Never => "never",
            Restart::OnFailure => "on-failure",
            Restart::Always => "always",
        }
    }
}

/// A service definition.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ServiceDef {
    pub name: String,
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub restart: Restart,
    pub autostart: bool,
}

impl ServiceDef {
    /// The definition's fields, without braces (the service object adds its run state).
    pub fn write_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\"name\":");
        write_str(out, &self.name);
        out.extend_from_slice(b",\"command\":[");
        for (n, a) in self.command.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_str(out, a);
        }
        out.extend_from_slice(b"],\"env\":{");
        for (n, (k, v)) in self.env.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_str(out, k);
            out.push(b':');
            write_str(out, v);
        }
        out.extend_from_slice(b"},\"restart\":");
        write_str(out, self.restart.name());
        out.extend_from_slice(if self.autostart {
            b",\"autostart\":true"
        } else {
            b",\"autostart\":false"
        });
    }
}

/// The run state of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Stopped,
    Running,
    Exited,
    Failed,
}

/// A service as the supervisor runs it.
pub struct Service {
    pub tenant: String,
    pub def: ServiceDef,
    pub dir: PathBuf,
    pub state: RunState,
    pub child: Option<Child>,
    pub pid: Option<u32>,
    pub started_at: Option<u64>,
    /// The last run's exit code, kept while the next run goes (with [`Service::exited_at`]).
    pub exit_code: Option<i32>,
    pub exited_at: Option<u64>,
    pub restarts: u64,
    /// The API asked for it to run (restarts follow the policy only then).
    pub wanted: bool,
    /// When to start it again after it ended.
    pub restart_at: Option<u64>,
    /// A stop in progress: when SIGKILL follows the SIGTERM.
    pub kill_at: Option<u64>,
    /// Processes started so far (an answer to `start` waits for the next one).
    pub spawns: u64,
}

/// Time from SIGTERM to SIGKILL.
pub const STOP_GRACE_MS: u64 = 5_000;

impl Service {
    /// A stopped service.
    pub fn new(tenant: String, def: ServiceDef, dir: PathBuf) -> Service {
        Service {
            tenant,
            def,
            dir,
            state: RunState::Stopped,
            child: None,
            pid: None,
            started_at: None,
            exit_code: None,
            exited_at: None,
            restarts: 0,
            wanted: false,
            restart_at: None,
            kill_at: None,
            spawns: 0,
        }
    }

    /// Starts the process (in its own process group), output appended to files in its
    /// directory. A failure to start counts as a failed run.
    pub fn spawn(&mut self, now: u64) {
        self.spawns += 1;
        self.restart_at = None;
        self.kill_at = None;
        let started = (|| -> std::io::Result<Child> {
            // Private to the server's user, like the rest of the data directory.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)?;
            let log = |name: &str| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(self.dir.join(name))
            };
            let (program, args) = self
                .def
                .command
                .split_first()
                .ok_or_else(|| std::io::Error::other("empty command"))?;
            let mut cmd = Command::new(program);
            cmd.args(args)
                .current_dir(&self.dir)
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("HOME", &self.dir)
                .envs(self.def.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(Stdio::from(log("stdout.log")?))
                .stderr(Stdio::from(log("stderr.log")?));
            // SAFETY: setpgid is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    libc::setpgid(0, 0);
                    super::reset_signals_in_child();
                    Ok(())
                });
            }
            cmd.spawn()
        })();
        match started {
            Ok(child) => {
                self.pid = Some(child.id());
                self.child = Some(child);
                self.state = RunState::Running;
                self.started_at = Some(now);
            }
            Err(e) => {
                let _ = std::fs::write(self.dir.join("stderr.log"), format!("cannot start: {e}\n"));
                self.state = RunState::Failed;
                self.exit_code = Some(127);
                self.exited_at = Some(now);
                self.pid = None;
            }
        }
    }

    fn signal(&self, sig: i32) {
        if let Some(pid) = self.pid {
            // SAFETY: signalling our own child's process group.
            unsafe { libc::kill(-(pid as i32), sig) };
        }
    }

    /// Begins a stop: SIGTERM now, SIGKILL after the grace period.
    pub fn stop(&mut self, now: u64) {
        self.wanted = false;
        self.restart_at = None;
        if self.child.is_some() {
            self.signal(libc::SIGTERM);
            self.kill_at = Some(now + STOP_GRACE_MS);
        } else if self.state != RunState::Stopped {
            self.state = RunState::Stopped;
        }
    }

    /// Reaps, escalates stops, restarts by policy. Returns whether anything is still pending.
    pub fn poll(&mut self, now: u64) -> bool {
        if let Some(at) = self.kill_at {
            if now >= at {
                self.signal(libc::SIGKILL);
            }
        }
        if let Some(child) = &mut self.child {
            if let Ok(Some(status)) = child.try_wait() {
                use std::os::unix::process::ExitStatusExt;
                self.signal(libc::SIGKILL); // anything the service left in its group
                self.child = None;
                self.pid = None;
                self.exit_code = status.code().or(status.signal().map(|s| 128 + s));
                self.exited_at = Some(now);
                let stopping = self.kill_at.take().is_some() || !self.wanted;
                self.state = if stopping {
                    RunState::Stopped
                } else if self.exit_code == Some(0) {
                    RunState::Exited
                } else {
                    RunState::Failed
                };
                let again = match self.def.restart {
                    Restart::Always => true,
                    Restart::OnFailure => self.state == RunState::Failed,
                    Restart::Never => false,
                };
                if self.wanted && again {
                    let backoff = (100u64 << self.restarts.min(8)).min(30_000);
                    self.restart_at = Some(now + backoff);
                }
            }
        }
        if let Some(at) = self.restart_at {
            if now >= at && self.wanted {
                self.restarts += 1;
                self.spawn(now);
            }
        }
        self.child.is_some() || self.restart_at.is_some()
    }

    /// The service object: definition and run state.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        self.def.write_fields(out);
        out.extend_from_slice(b",\"state\":");
        write_str(
            out,
            match self.state {
                RunState::Stopped => "stopped",
                RunState::Running => "running",
                RunState::Exited => "exited",
                RunState::Failed => "failed",
            },
        );
        out.extend_from_slice(b",\"pid\":");
        match self.pid {
            Some(p) => write_u64(out, u64::from(p)),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"started_at\":");
        match self.started_at {
            Some(t) => write_u64(out, t),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"exit_code\":");
        match self.exit_code {
            Some(c) => crate::json::write_i64(out, i64::from(c)),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"exited_at\":");
        match self.exited_at {
            Some(t) => write_u64(out, t),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"restarts\":");
        write_u64(out, self.restarts);
        out.push(b'}');
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.signal(libc::SIGKILL);
            let _ = child.wait();
        }
    }
}
