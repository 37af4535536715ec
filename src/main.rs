//! The `dify-bench` command: `serve` (the default), `mock-dify`, `run`, `rotate-secret-key`,
//! and the account commands `user` and `token`.

use clap::{Args, Parser, Subcommand};
use dify_bench::model::Role;
use dify_bench::server::auth::AuthConfig;
use dify_bench::server::connections::ConnectionLimits;
use dify_bench::server::headless::{self, RunArgs};
use dify_bench::server::http::{self, ServeOptions};
use dify_bench::server::outbound::{AllowedHost, OutboundPolicy};
use dify_bench::server::runner::{EngineLimits, GateConfig};
use dify_bench::server::secret::{KeyOrigin, MasterKey, SecretKeyConfig};
use dify_bench::server::simulator::{self, FaultProfile, SimConfig};
use dify_bench::server::store::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Regression-test versions of Dify apps against a test set, score every answer, and watch each
/// run live in the browser.
#[derive(Parser)]
#[command(name = "dify-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web UI and the API (the default).
    Serve(ServeArgs),
    /// Serve a Dify-compatible simulator (apps chosen by API key; see the README).
    MockDify(MockArgs),
    /// Run one batch headless, for CI (in-process, or on a server with --server); exit 0 when
    /// the pass rate is reached and no version is significantly worse than its --baseline, 1
    /// otherwise, 2 on a configuration or usage error.
    Run(RunCli),
    /// Re-encrypt every stored API key under a new secret key, then replace the key file (or
    /// print the new key for DIFY_BENCH_SECRET_KEY). Stop the servers using the database first.
    RotateSecretKey(RotateArgs),
    /// Compare two runs (BATCH:VERSION each; A is the baseline) and print the verdict; exit 1
    /// when B is significantly worse, 0 otherwise, 2 on a bad reference.
    Compare {
        /// The baseline run, e.g. 12:3.
        base: String,
        /// The candidate run, e.g. 14:3.
        cand: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage users: add, list, remove, passwd.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage API tokens for scripts and CI: create, list, revoke.
    #[command(subcommand)]
    Token(TokenCmd),
}

#[derive(Args)]
struct DbArgs {
    /// The database `serve` uses.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/dify-bench.db"
    )]
    database_url: String,
    /// The secret key file `serve` uses (see `serve --help`); or DIFY_BENCH_SECRET_KEY.
    #[arg(long, env = "DIFY_BENCH_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
}

impl DbArgs {
    fn db(&self) -> dify_bench::server::auth::cli::Db {
        dify_bench::server::auth::cli::Db {
            url: self.database_url.clone(),
            secret_key: SecretKeyConfig::from_env(self.secret_key_file.clone()),
        }
    }
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user (asks for the password, or reads it from stdin with --password-stdin).
    Add {
        username: String,
        #[arg(long, value_parser = parse_role, default_value = "viewer")]
        role: Role,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List users and their roles.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove a user; their sessions end at once.
    Remove {
        username: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set a user's password; their sessions end.
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token; prints its secret (once) on stdout.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role, default_value = "viewer")]
        role: Role,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a token by id: requests with it get 401 at once.
    Revoke {
        id: i64,
        #[command(flatten)]
        db: DbArgs,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("`{s}` is not a role: viewer, editor or admin"))
}

#[derive(Args, Default)]
struct ServeArgs {
    #[arg(long, env = "DIFY_BENCH_ADDR", default_value = "127.0.0.1:3000")]
    addr: Option<SocketAddr>,
    /// sqlite://PATH (created with its folder) or postgres://USER:PASS@HOST/DB.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/dify-bench.db"
    )]
    database_url: Option<String>,
    /// Start the built-in simulator and seed demo versions and cases into an empty database.
    #[arg(long, env = "DIFY_BENCH_DEMO")]
    demo: bool,
    /// Folder with the compiled front end (pkg/, CSS).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    site_root: Option<String>,
    /// The URL people reach this server at through a proxy (e.g. https://bench.example.com):
    /// its host is accepted in `Host`, and https makes the session cookie Secure.
    #[arg(long, env = "DIFY_BENCH_PUBLIC_URL")]
    public_url: Option<String>,
    /// Other origins whose pages may call the API with an API token (comma-separated).
    #[arg(long, env = "DIFY_BENCH_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// How long a browser session lasts, in hours.
    #[arg(long, env = "DIFY_BENCH_SESSION_HOURS", default_value_t = 168)]
    session_hours: u64,
    /// Let Dify calls reach loopback and private addresses (127.0.0.0/8, 10/8, 172.16/12,
    /// 192.168/16, 100.64/10, ::1, fc00::/7). Link-local and cloud metadata addresses stay
    /// refused. `=false` overrides the environment.
    #[arg(
        long,
        env = "DIFY_BENCH_ALLOW_PRIVATE_TARGETS",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    allow_private_targets: Option<bool>,
    /// Let Dify calls reach this one loopback or private target: HOST or HOST:PORT, e.g.
    /// 10.0.0.5:5001 or dify.internal. Repeatable; the variable takes a comma-separated list.
    #[arg(
        long = "allow-host",
        env = "DIFY_BENCH_ALLOW_HOSTS",
        value_name = "HOST[:PORT]",
        value_delimiter = ','
    )]
    allow_hosts: Vec<AllowedHost>,
    /// The secret key that encrypts stored API keys (default: secret.key beside the SQLite
    /// file, data/secret.key for PostgreSQL; created on first start). Or DIFY_BENCH_SECRET_KEY.
    #[arg(long, env = "DIFY_BENCH_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// Open HTTP connections at most; past it, a new one gets 503 with Retry-After. Lowered at
    /// start to fit the open-file limit (ulimit -n). Default 12000.
    #[arg(long, env = "DIFY_BENCH_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Open progress streams at most, all batches together (503 past it). Default 10000.
    #[arg(long, env = "DIFY_BENCH_MAX_PROGRESS_STREAMS", value_name = "N")]
    max_progress_streams: Option<usize>,
    /// Open progress streams of one batch at most (503 past it). Default 2000.
    #[arg(long, env = "DIFY_BENCH_MAX_WATCHERS_PER_BATCH", value_name = "N")]
    max_watchers_per_batch: Option<usize>,
    /// Batches that run at once; one more is refused (409) until one ends. [default: 8]
    #[arg(long, env = "DIFY_BENCH_MAX_RUNNING_BATCHES")]
    max_running_batches: Option<usize>,
    /// Dify calls in flight at once across every batch; each batch's concurrency applies under
    /// it. [default: 512]
    #[arg(long, env = "DIFY_BENCH_MAX_CALLS_IN_FLIGHT")]
    max_calls_in_flight: Option<usize>,
    /// Versions × cases one batch may hold; a larger batch is refused (400). [default: 100000]
    #[arg(long, env = "DIFY_BENCH_MAX_TESTS_PER_BATCH")]
    max_tests_per_batch: Option<u64>,
    /// Several instances on PostgreSQL: how long a vanished instance's claimed tests wait before
    /// the others take them (its leases outlive its last heartbeat this long). [default: 10000]
    #[arg(long, env = "DIFY_BENCH_LEASE_MS", value_name = "MS")]
    lease_ms: Option<u64>,
    /// A version's tests in a row ending in error that open its circuit: its remaining tests
    /// wait, then one goes out as a probe; 0 turns the breaker off. [default: 5]
    #[arg(long, env = "DIFY_BENCH_BREAKER_ERRORS", value_name = "N")]
    breaker_errors: Option<u32>,
    /// How long an open circuit waits before its probe. [default: 10000]
    #[arg(long, env = "DIFY_BENCH_BREAKER_COOLDOWN_MS", value_name = "MS")]
    breaker_cooldown_ms: Option<u64>,
    /// Failed probes after which a version's remaining tests end as errors with code
    /// `circuit_open` (re-run failed sends them again). [default: 3]
    #[arg(long, env = "DIFY_BENCH_BREAKER_PROBES", value_name = "N")]
    breaker_probes: Option<u32>,
    /// Adapt each version's calls in flight to Dify's throttling (429 `too_many_requests`,
    /// 503): halve on a throttle, add back on answers. `false`: throttles are retried inside
    /// each call at the batch's fixed concurrency. [default: true]
    #[arg(long, env = "DIFY_BENCH_ADAPTIVE_CONCURRENCY", value_name = "BOOL")]
    adaptive_concurrency: Option<bool>,
    /// Webhooks: the wait after a delivery's first failed attempt; it doubles after each
    /// further one (±25 % jitter). [default: 10000]
    #[arg(long, env = "DIFY_BENCH_WEBHOOK_RETRY_BASE_MS", value_name = "MS")]
    webhook_retry_base_ms: Option<u64>,
    /// Webhooks: attempts per delivery at most, the first included (1–20). [default: 6]
    #[arg(long, env = "DIFY_BENCH_WEBHOOK_ATTEMPTS", value_name = "N")]
    webhook_attempts: Option<u32>,
    /// Webhooks: one attempt's time limit. [default: 10000]
    #[arg(long, env = "DIFY_BENCH_WEBHOOK_TIMEOUT_MS", value_name = "MS")]
    webhook_timeout_ms: Option<u64>,
}

#[derive(Args)]
struct RotateArgs {
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/dify-bench.db"
    )]
    database_url: String,
    /// The key file to rotate (see `serve --help`). With DIFY_BENCH_SECRET_KEY set instead, the
    /// new key is printed to stdout.
    #[arg(long, env = "DIFY_BENCH_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
}

#[derive(Args)]
struct MockArgs {
    #[arg(long, env = "MOCK_DIFY_ADDR", default_value = "127.0.0.1:5001")]
    addr: SocketAddr,
    /// Blocking: response time; streaming: time to the first token.
    #[arg(long, env = "MOCK_DIFY_LATENCY_MS", default_value_t = 300)]
    latency_ms: u64,
    #[arg(long, env = "MOCK_DIFY_JITTER_MS", default_value_t = 100)]
    jitter_ms: u64,
    /// Streaming: time to first token (default: the latency).
    #[arg(long, env = "MOCK_DIFY_TTFT_MS")]
    ttft_ms: Option<u64>,
    /// Streaming: delay between answer chunks.
    #[arg(long, env = "MOCK_DIFY_TOKEN_DELAY_MS", default_value_t = 10)]
    token_delay_ms: u64,
    #[arg(long, env = "MOCK_DIFY_FAULTS", value_enum, default_value = "none")]
    faults: FaultProfile,
    #[arg(long, env = "MOCK_DIFY_SEED", default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct RunCli {
    /// The TOML file naming versions, the cases file and scoring.
    #[arg(long, env = "DIFY_BENCH_CONFIG")]
    config: PathBuf,
    /// Calls in flight at once (overrides the file).
    #[arg(long, env = "DIFY_BENCH_CONCURRENCY")]
    concurrency: Option<u32>,
    /// Percent of tests that must pass, 0–100 (overrides the file).
    #[arg(long, env = "DIFY_BENCH_MIN_PASS_RATE")]
    min_pass_rate: Option<f64>,
    /// Write every result as JSON here.
    #[arg(long, env = "DIFY_BENCH_JSON")]
    json: Option<PathBuf>,
    /// Write a JUnit XML report here.
    #[arg(long, env = "DIFY_BENCH_JUNIT")]
    junit: Option<PathBuf>,
    /// Compare each version with a baseline and fail (exit 1) when one is significantly worse:
    /// a report written by `run --json`, or a run BATCH:VERSION on the --server (e.g. 12:3 or
    /// 12:prod). Report cases are matched by name.
    #[arg(long, env = "DIFY_BENCH_BASELINE", value_name = "REF")]
    baseline: Option<String>,
    /// The version of the baseline report to compare every version with (default: the
    /// report's version of the same name, or its only one).
    #[arg(long, env = "DIFY_BENCH_BASELINE_VERSION", value_name = "NAME")]
    baseline_version: Option<String>,
    /// Write a summary fit for a pull-request comment (Markdown) here.
    #[arg(long, env = "DIFY_BENCH_MARKDOWN", value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Run the batch on this dify-bench server (its versions and cases matched by name, created
    /// when missing), so that it lands in the server's history.
    #[arg(long, env = "DIFY_BENCH_SERVER", value_name = "URL")]
    server: Option<String>,
    /// The API token for --server: an editor's (an admin's to create or update versions).
    /// Prefer DIFY_BENCH_TOKEN: a flag is visible in the process list.
    #[arg(long, env = "DIFY_BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// With --server: overwrite a version whose settings differ from the config's (admin).
    #[arg(long)]
    update_versions: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A headless run's output is its progress and summary; routine server logs would drown them.
    let quiet = matches!(
        cli.command,
        Some(Command::Run(_) | Command::User(_) | Command::Token(_) | Command::Compare { .. })
    );
    init_tracing(if quiet {
        "warn"
    } else {
        "info,sqlx=warn,hyper=warn"
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
            Command::Serve(args) => serve(args).await,
            Command::MockDify(args) => mock_dify(args).await,
            Command::Run(args) => run(args).await,
            Command::Compare { base, cand, db } => compare(&base, &cand, &db.db()).await,
            Command::User(cmd) => user(cmd).await,
            Command::Token(cmd) => token(cmd).await,
            Command::RotateSecretKey(args) => rotate_secret_key(args).await,
        }
    });
    // Dropping the runtime would wait for every blocking task without end; `serve`'s shutdown
    // has bounded each of its steps, so this one is bounded too.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

async fn serve(args: ServeArgs) -> ExitCode {
    // `serve` given implicitly gets no clap defaults, so the defaults are repeated here.
    let auth = match auth_config(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let limits = match connection_limits(&args) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let webhooks = match webhook_settings(&args) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let engine_limits = engine_limits(&args);
    if let Err(e) = engine_limits.validate() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let lease = match args
        .lease_ms
        .or_else(|| env_parse("DIFY_BENCH_LEASE_MS"))
        .map(std::time::Duration::from_millis)
    {
        None => dify_bench::server::cluster::DEFAULT_LEASE,
        Some(l) if l >= dify_bench::server::cluster::MIN_LEASE => l,
        Some(l) => {
            eprintln!(
                "error: --lease-ms / DIFY_BENCH_LEASE_MS must be at least {} ms, got {}",
                dify_bench::server::cluster::MIN_LEASE.as_millis(),
                l.as_millis()
            );
            return ExitCode::from(2);
        }
    };
    let allow_hosts = if args.allow_hosts.is_empty() {
        match std::env::var("DIFY_BENCH_ALLOW_HOSTS") {
            Ok(list) => match list.split(',').map(str::parse).collect() {
                Ok(hosts) => hosts,
                Err(e) => {
                    eprintln!("error: DIFY_BENCH_ALLOW_HOSTS: {e}");
                    return ExitCode::from(2);
                }
            },
            Err(_) => Vec::new(),
        }
    } else {
        args.allow_hosts
    };
    let opts = ServeOptions {
        auth,
        limits,
        addr: args
            .addr
            .or_else(|| env_parse("DIFY_BENCH_ADDR"))
            .unwrap_or(([127, 0, 0, 1], 3000).into()),
        database_url: args
            .database_url
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .unwrap_or_else(|| "sqlite://data/dify-bench.db".into()),
        demo: args.demo || env_flag("DIFY_BENCH_DEMO"),
        site_root: args
            .site_root
            .or_else(|| std::env::var("LEPTOS_SITE_ROOT").ok())
            .unwrap_or_else(|| "target/site".into()),
        outbound: OutboundPolicy {
            allow_private: args
                .allow_private_targets
                .unwrap_or_else(|| env_flag("DIFY_BENCH_ALLOW_PRIVATE_TARGETS")),
            allow_hosts,
        },
        secret_key: SecretKeyConfig::from_env(args.secret_key_file),
        engine_limits,
        lease,
        webhooks,
    };
    match http::serve(opts).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn mock_dify(args: MockArgs) -> ExitCode {
    let cfg = SimConfig {
        latency_ms: args.latency_ms,
        jitter_ms: args.jitter_ms,
        ttft_ms: args.ttft_ms,
        token_delay_ms: args.token_delay_ms,
        faults: args.faults,
        seed: args.seed,
    };
    match simulator::spawn(args.addr, cfg).await {
        Ok(addr) => {
            println!("mock-dify listening on http://{addr}/v1");
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.addr);
            ExitCode::from(1)
        }
    }
}

async fn run(args: RunCli) -> ExitCode {
    let args = RunArgs {
        config: args.config,
        concurrency: args.concurrency,
        min_pass_rate: args.min_pass_rate,
        json: args.json,
        junit: args.junit,
        baseline: args.baseline,
        baseline_version: args.baseline_version,
        markdown: args.markdown,
        server: args.server,
        token: args.token,
        update_versions: args.update_versions,
    };
    tracing::debug!(target: "dify_bench::startup", "run: arguments read");
    let prepared = match headless::prepare(&args, |name| std::env::var(name).ok()) {
        Ok(p) => {
            tracing::debug!(target: "dify_bench::startup", "config and cases file parsed");
            p
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match headless::run(&args, prepared).await {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The `--max-…` connection flags (or their variables), each at least 1.
fn connection_limits(args: &ServeArgs) -> Result<ConnectionLimits, String> {
    let defaults = ConnectionLimits::default();
    let pick = |flag: Option<usize>, var: &str, name: &str, default: usize| {
        let value = match flag {
            Some(v) => v,
            None => match std::env::var(var) {
                Ok(text) => text.trim().parse().map_err(|_| {
                    format!("{var}: `{text}` is not a whole number (the default is {default})")
                })?,
                Err(_) => default,
            },
        };
        if value == 0 {
            return Err(format!("--{name} must be at least 1"));
        }
        Ok(value)
    };
    Ok(ConnectionLimits {
        max_connections: pick(
            args.max_connections,
            "DIFY_BENCH_MAX_CONNECTIONS",
            "max-connections",
            defaults.max_connections,
        )?,
        max_progress_streams: pick(
            args.max_progress_streams,
            "DIFY_BENCH_MAX_PROGRESS_STREAMS",
            "max-progress-streams",
            defaults.max_progress_streams,
        )?,
        max_watchers_per_batch: pick(
            args.max_watchers_per_batch,
            "DIFY_BENCH_MAX_WATCHERS_PER_BATCH",
            "max-watchers-per-batch",
            defaults.max_watchers_per_batch,
        )?,
    })
}

/// The runner's caps: each flag, else its variable, else the default.
fn engine_limits(args: &ServeArgs) -> EngineLimits {
    let defaults = EngineLimits::default();
    EngineLimits {
        max_running_batches: args
            .max_running_batches
            .or_else(|| env_parse("DIFY_BENCH_MAX_RUNNING_BATCHES"))
            .unwrap_or(defaults.max_running_batches),
        max_calls_in_flight: args
            .max_calls_in_flight
            .or_else(|| env_parse("DIFY_BENCH_MAX_CALLS_IN_FLIGHT"))
            .unwrap_or(defaults.max_calls_in_flight),
        max_tests_per_batch: args
            .max_tests_per_batch
            .or_else(|| env_parse("DIFY_BENCH_MAX_TESTS_PER_BATCH"))
            .unwrap_or(defaults.max_tests_per_batch),
        gate: GateConfig {
            breaker_errors: args.breaker_errors.unwrap_or(defaults.gate.breaker_errors),
            breaker_cooldown: args.breaker_cooldown_ms.map_or(
                defaults.gate.breaker_cooldown,
                std::time::Duration::from_millis,
            ),
            breaker_probes: args.breaker_probes.unwrap_or(defaults.gate.breaker_probes),
            adaptive: args.adaptive_concurrency.unwrap_or(defaults.gate.adaptive),
        },
    }
}

/// `--webhook-*`, checked.
fn webhook_settings(
    args: &ServeArgs,
) -> Result<dify_bench::server::webhooks::WebhookSettings, String> {
    let mut s = dify_bench::server::webhooks::WebhookSettings::default();
    let base = args
        .webhook_retry_base_ms
        .or_else(|| env_parse("DIFY_BENCH_WEBHOOK_RETRY_BASE_MS"));
    if let Some(ms) = base {
        if ms == 0 || ms > 3_600_000 {
            return Err(format!(
                "--webhook-retry-base-ms must be between 1 and 3600000, got {ms}"
            ));
        }
        s.retry.base = std::time::Duration::from_millis(ms);
    }
    let attempts = args
        .webhook_attempts
        .or_else(|| env_parse("DIFY_BENCH_WEBHOOK_ATTEMPTS"));
    if let Some(n) = attempts {
        if !(1..=20).contains(&n) {
            return Err(format!(
                "--webhook-attempts must be between 1 and 20, got {n}"
            ));
        }
        s.retry.max_attempts = n;
    }
    let timeout = args
        .webhook_timeout_ms
        .or_else(|| env_parse("DIFY_BENCH_WEBHOOK_TIMEOUT_MS"));
    if let Some(ms) = timeout {
        if !(100..=120_000).contains(&ms) {
            return Err(format!(
                "--webhook-timeout-ms must be between 100 and 120000, got {ms}"
            ));
        }
        s.timeout = std::time::Duration::from_millis(ms);
    }
    Ok(s)
}

fn auth_config(args: &ServeArgs) -> Result<AuthConfig, String> {
    use dify_bench::server::auth::{normalize_origin, PublicUrl};
    let public_url = args
        .public_url
        .clone()
        .or_else(|| std::env::var("DIFY_BENCH_PUBLIC_URL").ok())
        .filter(|u| !u.trim().is_empty())
        .map(|u| PublicUrl::parse(&u))
        .transpose()?;
    let mut origins = args.cors_origins.clone();
    if origins.is_empty() {
        if let Ok(v) = std::env::var("DIFY_BENCH_CORS_ORIGINS") {
            origins = v.split(',').map(str::to_string).collect();
        }
    }
    let cors_origins = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .map(|o| {
            normalize_origin(o.trim_end_matches('/')).ok_or_else(|| {
                format!("--cors-origins: `{o}` is not an http(s)://host[:port] origin")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let hours = if args.session_hours == 0 {
        env_parse("DIFY_BENCH_SESSION_HOURS").unwrap_or(168)
    } else {
        args.session_hours
    };
    if hours == 0 || hours > 24 * 365 {
        return Err("--session-hours must be between 1 and 8760".into());
    }
    Ok(AuthConfig {
        session_ttl: std::time::Duration::from_secs(hours * 3600),
        public_url,
        cors_origins,
    })
}

/// A password from stdin (one line) or, on a terminal, asked twice without echo.
fn read_password(from_stdin: bool) -> Result<String, String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = rpassword::prompt_password("Password: ")
        .map_err(|e| format!("cannot read the password (use --password-stdin): {e}"))?;
    let again = rpassword::prompt_password("Again: ")
        .map_err(|e| format!("cannot read the password: {e}"))?;
    if first != again {
        return Err("the two passwords differ".into());
    }
    Ok(first)
}

async fn compare(base: &str, cand: &str, db: &dify_bench::server::auth::cli::Db) -> ExitCode {
    use dify_bench::model::compare::{parse_run_ref, CaseClass, Verdict};
    use dify_bench::server::store::{RunRef, Store};
    let refs = parse_run_ref(base).and_then(|a| Ok((a, parse_run_ref(cand)?)));
    let ((ab, av), (bb, bv)) = match refs {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let store = match Store::open(&db.url, &db.secret_key).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (a, b) = (
        RunRef {
            batch: ab,
            version: av,
        },
        RunRef {
            batch: bb,
            version: bv,
        },
    );
    let view =
        match dify_bench::server::compare::view(&store, a, b, Some(CaseClass::Regressed), 0, 20)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
    let s = &view.summary;
    println!(
        "A: batch {} `{}` · {}\nB: batch {} `{}` · {}\n",
        view.a.batch_id,
        view.a.batch_name,
        view.a.version_name,
        view.b.batch_id,
        view.b.batch_name,
        view.b.version_name
    );
    // Above the verdict: a changed app must not pass for a regression in the prompt.
    for change in &view.app_changes {
        println!("warning: {}", change.message);
    }
    println!("{}", s.sentence);
    if let Some(p) = &s.pass_rate {
        println!(
            "\npass rate  A {:.1} %  B {:.1} %  B−A {:+.1} points (95 % CI {:+.1} to {:+.1}), McNemar p = {:.3}",
            p.a, p.b, p.delta, p.ci.lo, p.ci.hi, p.p_value
        );
    }
    if let Some(sc) = &s.score {
        println!(
            "mean score A {:.1}  B {:.1}  B−A {:+.1} (95 % CI {:+.1} to {:+.1})",
            sc.a, sc.b, sc.delta, sc.ci.lo, sc.ci.hi
        );
    }
    let c = s.classes;
    println!(
        "cases: {} regressed, {} improved, {} inconclusive, {} changed, {} unchanged",
        c.regressed, c.improved, c.inconclusive, c.case_changed, c.unchanged
    );
    if !view.rows.is_empty() {
        println!(
            "\nregressed{}:",
            if view.total_rows > 20 {
                " (first 20)"
            } else {
                ""
            }
        );
        for r in &view.rows {
            println!("  - {} (case {})", r.name, r.case.case_id);
        }
    }
    if s.verdict == Verdict::Worse {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

async fn user(cmd: UserCmd) -> ExitCode {
    use dify_bench::server::auth::cli;
    let result = match cmd {
        UserCmd::Add {
            username,
            role,
            password_stdin,
            db,
        } => match read_password(password_stdin) {
            Ok(pw) => cli::user_add(&db.db(), &username, &pw, role).await,
            Err(e) => Err(e),
        },
        UserCmd::List { db } => cli::user_list(&db.db()).await,
        UserCmd::Remove { username, db } => cli::user_remove(&db.db(), &username).await,
        UserCmd::Passwd {
            username,
            password_stdin,
            db,
        } => match read_password(password_stdin) {
            Ok(pw) => cli::user_passwd(&db.db(), &username, &pw).await,
            Err(e) => Err(e),
        },
    };
    finish(result)
}

async fn token(cmd: TokenCmd) -> ExitCode {
    use dify_bench::server::auth::cli;
    let result = match cmd {
        TokenCmd::Create { name, role, db } => cli::token_create(&db.db(), &name, role).await,
        TokenCmd::List { db } => cli::token_list(&db.db()).await,
        TokenCmd::Revoke { id, db } => cli::token_revoke(&db.db(), id).await,
    };
    finish(result)
}

fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn rotate_secret_key(args: RotateArgs) -> ExitCode {
    let keys = SecretKeyConfig::from_env(args.secret_key_file);
    let store = match Store::open(&args.database_url, &keys).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let new = match MasterKey::generate() {
        Ok(key) => key,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let from_env = *store.secret_key_origin() == KeyOrigin::Env;
    if from_env {
        // Printed before the database changes: once it has, this key is the only way in.
        eprintln!(
            "The new secret key (id {}), for DIFY_BENCH_SECRET_KEY:",
            new.id()
        );
        println!("{}", new.encode());
    }
    match store.rotate_secret_key(&new).await {
        Ok(done) => {
            eprintln!(
                "Re-encrypted {} version keys, {} batch snapshots, {} judge keys and {} webhook \
                 secrets: key id {} -> {}.",
                done.versions,
                done.snapshots,
                done.judges,
                done.webhooks,
                done.old_key_id,
                done.new_key_id
            );
            if from_env {
                eprintln!(
                    "Set DIFY_BENCH_SECRET_KEY to the key printed above before the next start; \
                     the old key no longer opens this database."
                );
            } else {
                eprintln!("The new key is in {}.", done.origin);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            if from_env {
                eprintln!("Keep DIFY_BENCH_SECRET_KEY as it is; ignore the key printed above.");
            }
            ExitCode::from(1)
        }
    }
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.parse().ok()
}

fn env_flag(name: &str) -> bool {
    matches!(std::env::var(name).as_deref(), Ok("1" | "true" | "yes"))
}

fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Logs go to stderr; stdout carries the listening line and the run summary.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
