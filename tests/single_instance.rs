//! SQLite serves one instance: a second `dify-bench serve` on the same file refuses to start
//! with a message naming the file, while the first goes on and the short-lived commands (`token
//! create`) still work beside it.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs a second `serve` on `database_url` to its exit (killed after `limit`); (exit code, stderr).
fn second_serve(database_url: &str, limit: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dify-bench"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .env("DIFY_BENCH_ALLOW_PRIVATE_TARGETS", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a second dify-bench");
    let deadline = Instant::now() + limit;
    while child
        .try_wait()
        .expect("wait for the second server")
        .is_none()
    {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child
                .wait_with_output()
                .expect("the second server's output");
            panic!(
                "a second serve on one SQLite file kept running; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child
        .wait_with_output()
        .expect("the second server's output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_one_sqlite_file_refuses_with_the_reason() {
    let (dir, url) = sqlite_url();
    let db = dir.path().join("bench.db");
    let mut first = Server::start(&url, &dir.path().join("server.log"), &[]);

    let (code, stderr) = second_serve(&url, Duration::from_secs(30));
    assert_eq!(code, Some(1), "stderr: {stderr}");
    for part in [
        db.display().to_string(),
        "another dify-bench process".to_string(),
        format!("(pid {})", first.child.id()),
        "PostgreSQL".to_string(),
    ] {
        assert!(stderr.contains(&part), "`{part}` missing from: {stderr}");
    }

    // The first server is untouched, and a command that opens the file briefly still works.
    let viewer = first.api_as("viewer");
    let versions = viewer.ok("list_versions", serde_json::json!({})).await;
    assert!(versions.is_array(), "{versions}");

    // The lock goes with its process, even one killed without warning.
    first.kill();
    let again = Server::start(&url, &dir.path().join("server.log"), &[]);
    let health = reqwest::get(format!("{}/healthz", again.base))
        .await
        .expect("the restarted server answers");
    assert_eq!(health.status(), 200);
}
