//! The secret key from outside: `dify-bench rotate-secret-key` through the real binary (key file
//! and env var), and a re-run of a batch whose key was removed, refused before anything changes.

use dify_bench::model::*;
use dify_bench::server::dify::{ClientConfig, DifyClient};
use dify_bench::server::progress::Registry;
use dify_bench::server::runner::{Engine, EngineError};
use dify_bench::server::secret::{MasterKey, SecretKeyConfig};
use dify_bench::server::store::{NewBatch, Store};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const KEY: &str = "app-RotateMe4c1f7e22aa";
const JUDGE_KEY: &str = "sk-JudgeRotate9b2e51d0";
const HOOK_SECRET: &str = "whsec_HookRotate7d3f90c1e5";

fn version(name: &str, key: &str) -> VersionDraft {
    VersionDraft {
        name: name.into(),
        base_url: "http://127.0.0.1:5001/v1".into(),
        api_key: Some(key.into()),
        ..Default::default()
    }
}

fn case() -> CaseDraft {
    CaseDraft {
        query: "q".into(),
        expected_answer: "a".into(),
        ..Default::default()
    }
    .normalized()
    .unwrap()
}

/// A database with one version, one judge and one finished batch, its key file beside it.
async fn seeded(url: &str) -> (VersionId, BatchId) {
    let store = Store::open(url, &SecretKeyConfig::default()).await.unwrap();
    let v = store.insert_version(&version("v", KEY)).await.unwrap();
    let judge = JudgeDraft {
        name: "j".into(),
        base_url: "http://127.0.0.1:5001/v1".into(),
        model: "m".into(),
        api_key: Some(JUDGE_KEY.into()),
        ..Default::default()
    };
    store.insert_judge(&judge, None).await.unwrap();
    let hook = WebhookDraft {
        name: "h".into(),
        url: "https://hooks.example.com/x".into(),
        events: vec![WebhookEvent::BatchCompleted],
        enabled: true,
        secret: None,
    };
    store
        .insert_webhook(
            &hook,
            &dify_bench::server::secret::Secret::new(HOOK_SECRET),
            None,
        )
        .await
        .unwrap();
    let c = store.insert_cases(&[case()]).await.unwrap()[0];
    let batch = store
        .create_batch(&NewBatch {
            name: "b",
            repeats: 1,
            concurrency: 1,
            per_version_cap: None,
            scoring: &ScoringConfig::default(),
            versions: &[store.get_version(v).await.unwrap().unwrap()],
            cases: &[store.get_case(c).await.unwrap().unwrap()],
            created_by: None,
        })
        .await
        .unwrap();
    store
        .mark_batch_finished(batch, BatchStatus::Completed, None)
        .await
        .unwrap();
    store.close().await;
    (v, batch)
}

fn rotate(url: &str, env_key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dify-bench"));
    cmd.args(["rotate-secret-key", "--database-url", url])
        .env_remove("DIFY_BENCH_SECRET_KEY")
        .env_remove("DIFY_BENCH_SECRET_KEY_FILE")
        .env_remove("DATABASE_URL");
    if let Some(key) = env_key {
        cmd.env("DIFY_BENCH_SECRET_KEY", key);
    }
    cmd.output().expect("run dify-bench")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn key_in(path: &Path) -> MasterKey {
    MasterKey::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_secret_key_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let key_file = dir.path().join("secret.key");
    let (v, batch) = seeded(&url).await;
    let first = key_in(&key_file);

    // The key file: replaced by a new key, nothing printed on stdout.
    let out = rotate(&url, None);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "", "a key file rotation prints no key");
    assert!(
        stderr.contains(
            "Re-encrypted 1 version keys, 1 batch snapshots, 1 judge keys and 1 webhook secrets"
        ),
        "{stderr}"
    );
    let second = key_in(&key_file);
    assert_ne!(second.id(), first.id());
    assert!(stderr.contains(second.id().as_str()), "{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(!dir.path().join("secret.key.next").exists());
    let store = Store::open(&url, &SecretKeyConfig::default())
        .await
        .unwrap();
    assert_eq!(
        store
            .get_version(v)
            .await
            .unwrap()
            .unwrap()
            .api_key
            .expose(),
        KEY
    );
    let plan = store.batch_plan(batch).await.unwrap().unwrap();
    assert_eq!(plan.versions[0].api_key.as_ref().unwrap().expose(), KEY);
    let judges = store.list_judges().await.unwrap();
    assert_eq!(
        judges[0].api_key.expose(),
        JUDGE_KEY,
        "the judge's key re-sealed"
    );
    let hooks = store.list_webhooks().await.unwrap();
    assert_eq!(
        hooks[0].secret.expose(),
        HOOK_SECRET,
        "the webhook's secret re-sealed"
    );
    store.close().await;

    // The old key no longer opens the database: refused by id, nothing changed.
    let out = rotate(&url, Some(&first.encode()));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "this database was encrypted with another secret key (id {})",
            second.id()
        )),
        "{stderr}"
    );
    assert_eq!(
        text(&out.stdout),
        "",
        "no key is printed for a refused rotation"
    );
    assert_eq!(key_in(&key_file).id(), second.id());

    // The env var: the new key is printed once, on stdout only; the key file is left alone.
    let out = rotate(&url, Some(&second.encode()));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let third = MasterKey::parse(&stdout).expect("stdout is the new key");
    assert_eq!(stdout.trim().len(), 44);
    assert!(!stderr.contains(stdout.trim()), "the key is not in the log");
    assert!(stderr.contains("Set DIFY_BENCH_SECRET_KEY"), "{stderr}");
    assert_eq!(key_in(&key_file).id(), second.id());
    let env = SecretKeyConfig {
        key: Some(third.encode()),
        file: None,
    };
    let store = Store::open(&url, &env).await.unwrap();
    assert_eq!(
        store
            .get_version(v)
            .await
            .unwrap()
            .unwrap()
            .api_key
            .expose(),
        KEY
    );
    assert_eq!(
        store.list_judges().await.unwrap()[0].api_key.expose(),
        JUDGE_KEY
    );
    store.close().await;
    let file = text(&std::fs::read(dir.path().join("bench.db")).unwrap());
    assert!(!file.contains(KEY) && !file.contains(JUDGE_KEY));

    // An in-memory database has nothing to rotate.
    let out = rotate("sqlite::memory:", None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nothing to rotate"));
}

#[tokio::test]
async fn a_rerun_without_the_snapshot_key_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let (v, batch) = seeded(&url).await;
    let store = Store::open(&url, &SecretKeyConfig::default())
        .await
        .unwrap();
    let c = store.batch_case_ids(batch).await.unwrap()[0];
    store
        .insert_results(&[TestResult {
            batch_id: batch,
            version_id: v,
            case_id: c,
            repetition: 0,
            status: ResultStatus::Error,
            score: None,
            answer: None,
            latency_ms: None,
            ttft_ms: None,
            usage: Usage::default(),
            dify: DifyIds::default(),
            error_code: Some("too_many_requests".into()),
            error_message: Some("rate limited".into()),
            attempts: 3,
            detail: ScoreDetail::default(),
            finished_at: 1,
            trace: None,
            turns: Default::default(),
        }])
        .await
        .unwrap();
    // The version's key is replaced after the batch finished: the snapshot forgets the old one.
    let mut edit = version("v", "app-ANewKey0000000000");
    edit.enabled = None;
    assert!(store.update_version(v, &edit).await.unwrap());

    let client = DifyClient::new(ClientConfig::default()).unwrap();
    let engine = Engine::new(
        store.clone(),
        Registry::new(Duration::from_secs(60)),
        client,
    );
    let err = engine.rerun_failed(batch).await.unwrap_err();
    assert!(matches!(err, EngineError::Conflict(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("the key of version {v} (`v`) was removed")),
        "{msg}"
    );
    let results = store.list_results(batch).await.unwrap();
    assert_eq!(results.len(), 1, "the failed result is still there");
    let after = store.get_batch(batch).await.unwrap().unwrap();
    assert_eq!(after.status, BatchStatus::Completed);
}

/// The account commands open the store with the key `serve` uses: `--secret-key-file` is
/// honoured (no second key is made beside the database), and a wrong key is refused.
#[test]
fn account_commands_take_the_secret_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let key_file = dir.path().join("keys").join("custom.key");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dify-bench"))
            .args(args)
            .args(["--database-url", &url])
            .env_remove("DIFY_BENCH_SECRET_KEY")
            .env_remove("DIFY_BENCH_SECRET_KEY_FILE")
            .output()
            .unwrap()
    };
    let custom = key_file.to_str().unwrap();
    let out = run(&[
        "token",
        "create",
        "--name",
        "ci",
        "--secret-key-file",
        custom,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(key_file.exists(), "the named key file was made");
    assert!(
        !dir.path().join("secret.key").exists(),
        "no default key beside the database"
    );
    let out = run(&["token", "list", "--secret-key-file", custom]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ci"));
}
