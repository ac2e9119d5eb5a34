//! A real `nimbus` process on a free port, and small clients to talk to it.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub mod raw_ws;

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A running server; dropped, it is killed and its data directory removed.
pub struct TestServer {
    child: Child,
    pub port: u16,
    pub token: String,
    pub data_dir: PathBuf,
    /// Keep the data directory when dropped (it is handed to a restarted server).
    keep_dir: bool,
}

/// A response as the tests see it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub request_id: Option<String>,
    pub allow: Option<String>,
}

impl TestServer {
    /// Starts `nimbus start --port 0` with `shards` shards and extra arguments.
    pub fn start_with(shards: usize, extra: &[&str]) -> TestServer {
        let data_dir = std::env::temp_dir().join(format!(
            "nimbus-test-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&data_dir);
        Self::start_in(data_dir, shards, extra)
    }

    /// Stops this server with `signal` (waiting for it to exit) and starts a new one on the
    /// same data directory.
    pub fn restart(self, signal: i32, shards: usize, extra: &[&str]) -> TestServer {
        self.restart_after(signal, Duration::ZERO, shards, extra)
    }

    /// Stops this server with `signal` and waits for it; returns its data directory, which
    /// is kept (the caller removes it).
    pub fn stop(mut self, signal: i32) -> PathBuf {
        let status = self.signal_and_wait(signal, Duration::from_secs(10));
        assert!(status.is_some(), "server did not stop on signal {signal}");
        self.keep_dir = true;
        self.data_dir.clone()
    }

    /// As [`TestServer::restart`], with the server down for `down` in between.
    pub fn restart_after(
        mut self,
        signal: i32,
        down: Duration,
        shards: usize,
        extra: &[&str],
    ) -> TestServer {
        let status = self.signal_and_wait(signal, Duration::from_secs(10));
        assert!(status.is_some(), "server did not stop on signal {signal}");
        if signal != libc::SIGKILL {
            assert!(
                status.is_some_and(|s| s.success()),
                "clean stop: {status:?}"
            );
        }
        self.keep_dir = true;
        let dir = self.data_dir.clone();
        drop(self);
        std::thread::sleep(down);
        Self::start_in(dir, shards, extra)
    }

    /// Starts a server on an existing (or new) data directory.
    pub fn start_in(data_dir: PathBuf, shards: usize, extra: &[&str]) -> TestServer {
        Self::start_env(data_dir, shards, extra, &[])
    }

    /// Starts a server with extra environment variables.
    pub fn start_env(
        data_dir: PathBuf,
        shards: usize,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> TestServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nimbus"))
            .arg("start")
            .args(["--port", "0", "--shards", &shards.to_string()])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(extra)
            .env_remove("NIMBUS_DEPLOY_TOKEN")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn nimbus");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the listening line");
        // "nimbus listening on http://HOST:PORT (N shards, data DIR)"
        let port = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|hp| hp.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        let token_file = std::fs::read_to_string(data_dir.join("auth/token")).expect("token file");
        let token = serde_json::from_str::<Value>(&token_file).expect("token json")["token"]
            .as_str()
            .expect("token field")
            .to_string();
        TestServer {
            child,
            port,
            token,
            data_dir,
            keep_dir: false,
        }
    }

    /// A fresh data directory for a server started by hand.
    pub fn fresh_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "nimbus-test-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Starts a server with `shards` shards and default options.
    pub fn start(shards: usize) -> TestServer {
        Self::start_with(shards, &[])
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sends a request with the admin token; `body` is JSON text.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        self.call_with(
            method,
            path,
            body,
            &[("Authorization", &format!("Bearer {}", self.token))],
        )
    }

    /// Sends a request with exactly the given headers.
    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = ureq::request(method, &self.url(path));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: transport error {e}"),
        };
        let status = resp.status();
        let request_id = resp.header("X-Request-Id").map(str::to_string);
        let allow = resp.header("Allow").map(str::to_string);
        // Not `into_string`: it stops at 10 MB, and a long crash run lists more than that.
        let mut text = String::new();
        resp.into_reader().read_to_string(&mut text).expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        Resp {
            status,
            body,
            request_id,
            allow,
        }
    }

    pub fn create_tenant(&self, id: &str) {
        let r = self.call("POST", "/api/tenants", Some(&format!(r#"{{"id":"{id}"}}"#)));
        assert_eq!(r.status, 201, "{r:?}");
    }

    /// Inserts a document and returns its id.
    pub fn insert(&self, tenant: &str, table: &str, fields: Value) -> String {
        let body = serde_json::json!({"table": table, "fields": fields}).to_string();
        let r = self.call(
            "POST",
            &format!("/api/tenants/{tenant}/documents"),
            Some(&body),
        );
        assert_eq!(r.status, 201, "{r:?}");
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Inserts `n` documents, `fields(i)` each, pipelined over one connection (fast enough
    /// for tests that need thousands of documents).
    pub fn insert_many(
        &self,
        tenant: &str,
        table: &str,
        n: usize,
        fields: impl Fn(usize) -> Value,
    ) {
        let mut conn = self.raw();
        let auth = self.auth_header();
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        for chunk in (0..n).collect::<Vec<_>>().chunks(256) {
            let mut batch = Vec::new();
            for &i in chunk {
                let body = serde_json::json!({"table": table, "fields": fields(i)}).to_string();
                batch.extend_from_slice(
                    format!(
                        "POST /api/tenants/{tenant}/documents HTTP/1.1\r\nHost: x\r\n{auth}\
                         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
            conn.write_all(&batch).expect("write");
            for _ in chunk {
                let (status, _, _) = read_response(&mut reader).expect("response");
                assert_eq!(status, 201);
            }
        }
    }

    /// Walks every page of query `q` in `tenant`, calling `between(page number)` after each
    /// page; returns the `_id`s seen, in order.
    pub fn walk(
        &self,
        tenant: &str,
        q: &Value,
        page_size: u64,
        mut between: impl FnMut(usize),
    ) -> Vec<String> {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        for n in 0.. {
            let body = serde_json::json!({"query": q, "page_size": page_size, "after": after});
            let r = self.call(
                "POST",
                &format!("/api/tenants/{tenant}/query/paginated"),
                Some(&body.to_string()),
            );
            assert_eq!(r.status, 200, "{r:?}");
            seen.extend(ids(&r.body));
            between(n);
            if !r.body["has_more"].as_bool().expect("has_more") {
                assert!(r.body["next_cursor"].is_null());
                break;
            }
            after = Some(r.body["next_cursor"].as_str().expect("cursor").to_string());
        }
        seen
    }

    /// A raw TCP connection to the server.
    pub fn raw(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        s
    }

    pub fn auth_header(&self) -> String {
        format!("Authorization: Bearer {}\r\n", self.token)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// A tenant id starting with `prefix` that shard `shard` of a 2-shard server owns.
pub fn tenant_on(shard: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .find(|t| nimbus::shard::owner_of(t, 2) == shard)
        .expect("some tenant lands on every shard")
}

/// The string field `name` of each document in a `{"data": [...]}` answer.
pub fn column(v: &Value, name: &str) -> Vec<String> {
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d[name].as_str().expect("a string field").to_string())
        .collect()
}

/// The `_id`s of a `{"data": [...]}` answer, in order.
pub fn ids(v: &Value) -> Vec<String> {
    column(v, "_id")
}

/// Asserts an error envelope with `status` and `code`, and that its requestId is the header's.
pub fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{r:?}");
    let e = &r.body["error"];
    assert_eq!(e["code"], code, "{r:?}");
    for key in ["message", "requestId", "timestamp", "severity"] {
        assert!(e[key].is_string(), "envelope lacks {key}: {r:?}");
    }
    assert!(
        e["retryable"].is_boolean() && e.get("detail").is_some(),
        "{r:?}"
    );
    assert!(e["remediation"]["action"].is_string() && e["remediation"]["message"].is_string());
    assert_eq!(
        r.request_id.as_deref(),
        e["requestId"].as_str(),
        "X-Request-Id matches"
    );
}

/// Reads one HTTP/1.1 response from a raw stream: (status, head text, body).
pub fn read_response(s: &mut impl Read) -> Option<(u16, String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8(head).expect("utf8 head");
    let status = head[9..12].parse().expect("status");
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map(|v| v.trim().parse::<usize>().expect("length"))
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some((status, head, body))
}

impl TestServer {
    /// One request as bytes on a fresh connection, the target sent exactly as given (no
    /// client library normalising `..` or encodings): (status, body as JSON, body text).
    pub fn exchange(&self, method: &str, target: &str, body: &[u8]) -> (u16, Value, String) {
        let mut c = self.raw();
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: x\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.auth_header(),
            body.len()
        );
        c.write_all(&[head.as_bytes(), body].concat())
            .expect("request");
        let (status, _, body) = read_response(&mut c).expect("a response");
        let text = String::from_utf8(body).expect("utf8 body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        )
    }
}

/// Whether the server closed the stream (EOF or reset) within the read timeout.
pub fn is_closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

/// Writes all of `bytes`.
pub fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).expect("write");
}

impl TestServer {
    /// Sends `signal` to the server and waits up to `within` for it to exit.
    pub fn signal_and_wait(
        &mut self,
        signal: i32,
        within: Duration,
    ) -> Option<std::process::ExitStatus> {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Two shards driven by hand, without sockets, on simulated disks: shard 1 serves its inbox
/// on a thread of its own unless `serve_remote` is false; `f` runs on shard 0's runtime.
pub fn with_bare_shards<F, Fut>(inbox_capacity: usize, serve_remote: bool, f: F)
where
    F: FnOnce(
        std::rc::Rc<nimbus::shard::Shard>,
        std::sync::Arc<nimbus::mesh::Mesh<nimbus::shard::ShardMsg>>,
    ) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use nimbus::config::Config;
    use nimbus::mesh::Mesh;
    use nimbus::shard::Shard;
    use nimbus::wal::disk::SimDisk;
    use std::rc::Rc;
    use std::sync::Arc;
    let config = Arc::new(Config::new("127.0.0.1".into(), 0, std::env::temp_dir(), 2));
    let mesh = Arc::new(Mesh::new(2, inbox_capacity));
    let token: Arc<str> = "t".repeat(64).into();
    let open = |id: usize| {
        let disk = Arc::new(SimDisk::new());
        let dir = std::path::PathBuf::from(format!("/sim/{id}"));
        Shard::open(
            id,
            config.clone(),
            0,
            token.clone(),
            mesh.clone(),
            disk,
            dir,
            Default::default(),
        )
        .expect("open shard")
        .0
    };
    if serve_remote {
        let remote = open(1);
        std::thread::spawn(move || {
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
                .expect("rt");
            let remote = Rc::new(remote.start());
            rt.block_on(async move {
                monoio::spawn(remote.clone().serve_log());
                remote.serve_inbox().await
            });
        });
    }
    let local = open(0);
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("rt");
    rt.block_on(async move {
        let local = Rc::new(local.start());
        monoio::spawn(local.clone().serve_log());
        monoio::spawn(local.clone().serve_inbox());
        f(local, mesh).await
    });
}

/// How one start of the binary went: whether it came up, its exit status, and what it said
/// on stderr.
#[derive(Debug)]
pub struct Attempt {
    pub listening: bool,
    pub status: Option<std::process::ExitStatus>,
    pub stderr: String,
}

/// Starts `nimbus start` on `data_dir`; if it comes up, stops it again with SIGTERM. For
/// tests of starts that must be refused, and of what a start reports.
pub fn try_start(data_dir: &std::path::Path, extra: &[&str]) -> Attempt {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nimbus"))
        .arg("start")
        .args(["--port", "0", "--shards", "1", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nimbus");
    let mut stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
    let listening = line.starts_with("nimbus listening on");
    if listening {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    }
    // A start that neither fails nor stops within 15 s is killed.
    let killer = {
        let pid = child.id() as i32;
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(15));
            // SAFETY: signalling our own child (a no-op if it already exited and was reaped
            // moments ago; pids are not reused that fast in a test run).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        })
    };
    drop(killer);
    let status = child.wait().ok();
    let stderr = err_reader.join().unwrap_or_default();
    Attempt {
        listening,
        status,
        stderr,
    }
}
