//! Demo mode (`serve --demo`, what `make run` uses): the simulator is mounted on the server's
//! own port under [`MOUNT`], and an empty database gets the simulator's demo apps as versions (of
//! different quality and app mode, one disabled), the simulator's judge and embeddings endpoint
//! as judges, plus the simulator's knowledge base as test cases — so a newcomer can launch a
//! batch, judged, at once.

use crate::model::{CaseDraft, JudgeDraft, JudgeKind, VersionDraft};
use crate::server::simulator::{demo_apps, knowledge, FaultProfile, SimConfig};
use crate::server::store::{Store, StoreResult};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Where the simulator lives on the server's port.
pub const MOUNT: &str = "/demo-dify";

/// Slow enough to watch (the 80-test demo batch at thread count 4 takes about 20 s), flaky enough to show
/// retries at work.
pub fn simulator_config() -> SimConfig {
    SimConfig {
        latency_ms: 700,
        jitter_ms: 400,
        ttft_ms: None,
        token_delay_ms: 25,
        faults: FaultProfile::Flaky,
        seed: 2025,
    }
}

/// The demo app left disabled, to show that only enabled versions can be selected.
const DISABLED_DEMO_KEY: &str = "app-agent-chat.q70.demo-agent";

/// Where the server calls its own simulator: the bound address, or loopback when bound to every
/// interface (`0.0.0.0`, `::`), which the outbound policy never calls. `serve --demo` allows
/// exactly this address and port.
pub fn simulator_addr(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

fn base_url(addr: SocketAddr) -> String {
    format!("http://{}{MOUNT}/v1", simulator_addr(addr))
}

/// Seeds an empty database; in a seeded one, points the demo versions at this run's address
/// (the port may differ from the last start).
pub async fn seed(store: &Store, addr: SocketAddr) -> StoreResult<()> {
    let url = base_url(addr);
    if store.count_versions().await? == 0 && store.count_cases().await? == 0 {
        for app in demo_apps() {
            let draft = VersionDraft {
                name: app.name.into(),
                description: app.description.into(),
                base_url: url.clone(),
                api_key: Some(app.api_key.into()),
                app_mode: app.app_mode,
                response_mode: app.response_mode,
                answer_field: None,
                inputs: None,
                enabled: Some(app.api_key != DISABLED_DEMO_KEY),
                workflow_id: None,
            };
            store.insert_version(&draft).await?;
        }
        let cases: Vec<CaseDraft> = knowledge::entries()
            .iter()
            .map(|e| CaseDraft {
                name: e.name.into(),
                query: e.query.into(),
                expected_answer: e.expected_answer.into(),
                keywords: e.keywords.iter().map(|k| k.to_string()).collect(),
                category: e.category.into(),
                tags: e.tags.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            })
            .collect();
        store.insert_cases(&cases).await?;
        for draft in demo_judges(&url) {
            store.insert_judge(&draft, None).await?;
        }
        tracing::info!(
            versions = demo_apps().len(),
            cases = cases.len(),
            "demo data seeded"
        );
        return Ok(());
    }
    for record in store.list_versions().await? {
        let v = &record.version;
        if v.base_url.ends_with(&format!("{MOUNT}/v1")) && v.base_url != url {
            let draft = VersionDraft {
                name: v.name.clone(),
                description: v.description.clone(),
                base_url: url.clone(),
                api_key: None,
                app_mode: v.app_mode,
                response_mode: v.response_mode,
                answer_field: v.answer_field.clone(),
                inputs: Some(v.inputs.clone()),
                enabled: None,
                workflow_id: v.workflow_id.clone(),
            };
            store.update_version(v.id, &draft).await?;
        }
    }
    for record in store.list_judges().await? {
        let j = &record.judge;
        if j.base_url.ends_with(&format!("{MOUNT}/v1")) && j.base_url != url {
            let draft = JudgeDraft {
                name: j.name.clone(),
                kind: j.kind,
                base_url: url.clone(),
                model: j.model.clone(),
                app_mode: j.app_mode,
                api_key: None,
                json_mode: j.json_mode,
                concurrency: j.concurrency,
                input_price_per_mtok: j.input_price_per_mtok,
                output_price_per_mtok: j.output_price_per_mtok,
                use_by_default: j.use_by_default,
            };
            store.update_judge(j.id, &draft, None).await?;
        }
    }
    Ok(())
}

/// The simulator's judge (an OpenAI-compatible LLM that grades from the texts) and its
/// embeddings endpoint, with prices so the demo shows a judge's cost too.
fn demo_judges(url: &str) -> [JudgeDraft; 2] {
    [
        JudgeDraft {
            name: "Demo LLM judge (simulated)".into(),
            kind: JudgeKind::Openai,
            base_url: url.into(),
            model: "sim-judge".into(),
            api_key: Some("sk-judge".into()),
            concurrency: 8,
            input_price_per_mtok: Some(0.15),
            output_price_per_mtok: Some(0.6),
            use_by_default: true,
            ..JudgeDraft::default()
        },
        JudgeDraft {
            name: "Demo embeddings (simulated)".into(),
            kind: JudgeKind::Embeddings,
            base_url: url.into(),
            model: "sim-embed".into(),
            api_key: Some("sk-judge".into()),
            concurrency: 8,
            ..JudgeDraft::default()
        },
    ]
}

/// The demo admin's username.
pub const ADMIN: &str = "demo";

/// Creates the demo admin when the database has no user at all; returns the password to print
/// (from `DIFY_BENCH_DEMO_PASSWORD`, else a fresh random one). None when users exist already:
/// demo mode never adds an account beside real ones.
pub async fn seed_admin(store: &Store) -> Result<Option<String>, crate::server::store::StoreError> {
    use crate::server::auth::{add_user, credential, AccountError};
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let password = std::env::var("DIFY_BENCH_DEMO_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| credential::new_link_secret()[..20].to_string());
    match add_user(store, ADMIN, &password, crate::model::Role::Admin).await {
        Ok(_) => Ok(Some(password)),
        Err(AccountError::Store(e)) => Err(e),
        Err(AccountError::Invalid(m)) => Err(crate::server::store::StoreError::Conflict(format!(
            "the demo admin could not be created: {m} (DIFY_BENCH_DEMO_PASSWORD)"
        ))),
    }
}
