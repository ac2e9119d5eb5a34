//! Starting and stopping: the listening line, the token file, signals, overload.

mod common;

use common::TestServer;
use nimbus::api::{Op, TenantOp};
use nimbus::error::Error;
use nimbus::shard::ShardMsg;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

#[test]
fn sigterm_and_sigint_exit_zero_promptly() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut s = TestServer::start(2);
        s.create_tenant("t");
        let status = s
            .signal_and_wait(sig, Duration::from_secs(5))
            .expect("exited within 5 s");
        assert!(status.success(), "signal {sig}: {status:?}");
    }
}

#[test]
fn token_file_is_private_and_reused() {
    let s = TestServer::start(1);
    let token_path = s.data_dir.join("auth/token");
    let mode = std::fs::metadata(&token_path)
        .expect("token")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(s.data_dir.join("auth"))
        .expect("dir")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    assert_eq!(s.token.len(), 64);
    assert!(s
        .token
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    // A second server on the same data directory uses the same token.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_nimbus"))
        .args(["start", "--port", "0", "--shards", "1", "--data-dir"])
        .arg(&s.data_dir)
        .stdout(std::process::Stdio::null())
        .spawn();
    let mut child = again.expect("spawn");
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let file = std::fs::read_to_string(&token_path).expect("token");
    assert!(file.contains(&s.token));
}

#[test]
fn a_bad_command_line_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nimbus"))
        .args(["start", "--shards", "0", "--port", "0"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nimbus"))
        .args(["start", "--io", "carrier-pigeon"])
        .output()
        .expect("run");
    assert!(!out.status.success());
}

/// A full inbox answers `503 service.unavailable` (retryable) at once instead of queueing
/// without bound.
#[test]
fn a_full_inbox_is_service_unavailable() {
    let remote = common::tenant_on(1, "busy");
    common::with_bare_shards(1, false, |shard0, mesh| async move {
        // Nobody serves shard 1's inbox; fill it.
        let (tx, _rx) = futures_channel::oneshot::channel();
        assert!(mesh.send(1, ShardMsg::ListTenants { reply: tx }).is_ok());
        let mut body = Vec::new();
        let err = shard0
            .execute(Op::of(remote, TenantOp::Create), &mut body)
            .await
            .expect_err("503");
        assert!(matches!(err, Error::Unavailable(_)));
        assert_eq!(
            (err.status(), err.code(), err.retryable()),
            (503, "service.unavailable", true)
        );
    });
}
