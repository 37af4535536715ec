//! The `dify-bench` command: `serve` (the default), `mock-dify`, `run`, `rotate-secret-key`.

use clap::{Args, Parser, Subcommand};
use dify_bench::server::headless::{self, RunArgs};
use dify_bench::server::http::{self, ServeOptions};
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
    /// Run one batch headless, for CI; exit 0 when the pass rate is reached, 1 below it, 2 on a
    /// configuration error.
    Run(RunCli),
    /// Re-encrypt every stored API key under a new secret key, then replace the key file (or
    /// print the new key for DIFY_BENCH_SECRET_KEY). Stop the servers using the database first.
    RotateSecretKey(RotateArgs),
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
    /// The secret key that encrypts stored API keys (default: secret.key beside the SQLite
    /// file, data/secret.key for PostgreSQL; created on first start). Or DIFY_BENCH_SECRET_KEY.
    #[arg(long, env = "DIFY_BENCH_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A headless run's output is its progress and summary; routine server logs would drown them.
    let quiet = matches!(cli.command, Some(Command::Run(_)));
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
    runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
            Command::Serve(args) => serve(args).await,
            Command::MockDify(args) => mock_dify(args).await,
            Command::Run(args) => run(args).await,
            Command::RotateSecretKey(args) => rotate_secret_key(args).await,
        }
    })
}

async fn serve(args: ServeArgs) -> ExitCode {
    // `serve` given implicitly gets no clap defaults, so the defaults are repeated here.
    let opts = ServeOptions {
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
        secret_key: SecretKeyConfig::from_env(args.secret_key_file),
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
    };
    let prepared = match headless::prepare(&args, |name| std::env::var(name).ok()) {
        Ok(p) => p,
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
                "Re-encrypted {} version keys and {} batch snapshots: key id {} -> {}.",
                done.versions, done.snapshots, done.old_key_id, done.new_key_id
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
