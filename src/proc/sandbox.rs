//! One sandbox run: a command in a fresh private directory, with resource limits applied in
//! the child before `exec`, its output captured up to a cap, killed at its deadline.

use crate::json::{write_str, write_u64};
use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Output kept per stream.
pub const OUTPUT_MAX: usize = 1 << 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub stdin: String,
    pub timeout_ms: u64,
    pub memory_mb: u64,
}

/// `running`, `exited`, `killed`, `timed_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Exited,
    Killed,
    TimedOut,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Exited => "exited",
            State::Killed => "killed",
            State::TimedOut => "timed_out",
        }
    }
}

/// Output collected by a reader thread, capped.
type Captured = Arc<Mutex<(Vec<u8>, bool)>>;

fn capture(mut from: impl Read + Send + 'static) -> (Captured, JoinHandle<()>) {
    let out: Captured = Arc::new(Mutex::new((Vec::new(), false)));
    let sink = out.clone();
    let handle = std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        // Read to the end even past the cap, so the child never blocks on a full pipe.
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
            let room = OUTPUT_MAX.saturating_sub(s.0.len());
            s.0.extend_from_slice(&buf[..n.min(room)]);
            s.1 |= n > room;
        }
    });
    (out, handle)
}

/// A sandbox, running or finished.
pub struct Sandbox {
    pub id: String,
    pub tenant: String,
    pub spec: Spec,
    pub state: State,
    pub exit_code: Option<i32>,
    pub started_at: u64,
    pub finished_at: Option<u64>,
    pub deadline_ms: u64,
    child: Option<Child>,
    dir: Option<PathBuf>,
    stdout: Captured,
    stderr: Captured,
    readers: Vec<JoinHandle<()>>,
    /// Set when a stop or the deadline killed it.
    kill_reason: Option<State>,
}

fn limit(resource: libc::__rlimit_resource_t, value: u64) {
    let r = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: setrlimit is async-signal-safe and only touches this (child) process.
    unsafe { libc::setrlimit(resource, &r) };
}

impl Sandbox {
    /// Starts `spec` for `tenant`; a spawn failure is a finished sandbox with the reason in
    /// its stderr.
    pub fn start(id: String, tenant: String, spec: Spec, now: u64) -> Sandbox {
        let empty = || Arc::new(Mutex::new((Vec::new(), false)));
        let mut sb = Sandbox {
            id,
            tenant,
            deadline_ms: now.saturating_add(spec.timeout_ms),
            spec,
            state: State::Running,
            exit_code: None,
            started_at: now,
            finished_at: None,
            child: None,
            dir: None,
            stdout: empty(),
            stderr: empty(),
            readers: Vec::new(),
            kill_reason: None,
        };
        if let Err(e) = sb.spawn() {
            sb.stderr = Arc::new(Mutex::new((
                format!("cannot start: {e}").into_bytes(),
                false,
            )));
            sb.state = State::Exited;
            sb.exit_code = Some(127);
            sb.finished_at = Some(now);
            sb.remove_dir();
        }
        sb
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let dir = std::env::temp_dir().join(format!("nimbus-sandbox-{}", self.id));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        self.dir = Some(dir.clone());
        let (program, args) = self
            .spec
            .command
            .split_first()
            .ok_or_else(|| std::io::Error::other("empty command"))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(&dir)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &dir)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let memory = self.spec.memory_mb.saturating_mul(1 << 20);
        let cpu_s = self.spec.timeout_ms.div_ceil(1000) + 1;
        // SAFETY: only async-signal-safe calls (setpgid, setrlimit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::setpgid(0, 0);
                super::reset_signals_in_child();
                limit(libc::RLIMIT_AS, memory);
                limit(libc::RLIMIT_CPU, cpu_s);
                limit(libc::RLIMIT_NOFILE, 256);
                limit(libc::RLIMIT_NPROC, 256);
                limit(libc::RLIMIT_CORE, 0);
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        if let Some(out) = child.stdout.take() {
            let (c, h) = capture(out);
            self.stdout = c;
            self.readers.push(h);
        }
        if let Some(err) = child.stderr.take() {
            let (c, h) = capture(err);
            self.stderr = c;
            self.readers.push(h);
        }
        if let Some(mut input) = child.stdin.take() {
            let data = std::mem::take(&mut self.spec.stdin).into_bytes();
            // A child that does not read its input must not block the supervisor.
            self.readers.push(std::thread::spawn(move || {
                let _ = input.write_all(&data);
            }));
        }
        self.child = Some(child);
        Ok(())
    }

    /// Kills the whole process group (the command and anything it started).
    pub fn kill(&mut self, reason: State) {
        if let Some(child) = &self.child {
            self.kill_reason.get_or_insert(reason);
            // SAFETY: signalling our own child's process group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        }
    }

    /// Reaps the child if it ended; `true` once the sandbox is finished.
    pub fn poll(&mut self, now: u64) -> bool {
        if self.state != State::Running {
            return true;
        }
        if now >= self.deadline_ms {
            self.kill(State::TimedOut);
        }
        let Some(child) = &mut self.child else {
            return true;
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                use std::os::unix::process::ExitStatusExt;
                // Anything left in the group goes too, so the pipes close.
                // SAFETY: as in `kill`.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                self.exit_code = status.code().or(status.signal().map(|s| 128 + s));
                self.state = self.kill_reason.unwrap_or(State::Exited);
                self.finished_at = Some(now);
                self.child = None;
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                self.remove_dir();
                true
            }
            Ok(None) => false,
            Err(_) => false,
        }
    }

    fn remove_dir(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    /// The sandbox object.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        write_str(out, &self.id);
        out.extend_from_slice(b",\"command\":[");
        for (n, a) in self.spec.command.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_str(out, a);
        }
        out.extend_from_slice(b"],\"state\":");
        write_str(out, self.state.name());
        out.extend_from_slice(b",\"exit_code\":");
        match self.exit_code {
            Some(c) => crate::json::write_i64(out, i64::from(c)),
            None => out.extend_from_slice(b"null"),
        }
        for (name, cap) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let c = cap.lock().unwrap_or_else(|p| p.into_inner());
            out.extend_from_slice(format!(",\"{name}\":").as_bytes());
            write_str(out, &String::from_utf8_lossy(&c.0));
            out.extend_from_slice(format!(",\"{name}_truncated\":{}", c.1).as_bytes());
        }
        out.extend_from_slice(b",\"started_at\":");
        write_u64(out, self.started_at);
        out.extend_from_slice(b",\"finished_at\":");
        match self.finished_at {
            Some(t) => write_u64(out, t),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"timeout_ms\":");
        write_u64(out, self.spec.timeout_ms);
        out.extend_from_slice(b",\"memory_mb\":");
        write_u64(out, self.spec.memory_mb);
        out.push(b'}');
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: as in `kill`.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
        }
        self.remove_dir();
    }
}
