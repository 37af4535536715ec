//! `dify-bench serve`: wires the store, registry, Dify client and runner into one axum router —
//! Leptos pages and server functions, the SSE route, health — and serves it until a signal.

use crate::app::{shell, App};
use crate::server::auth::links::LinkPurpose;
use crate::server::auth::{self, Auth, AuthConfig};
use crate::server::connections::{self, CappedListener, ConnectionLimits};
use crate::server::dify::{ClientConfig, DifyClient};
use crate::server::outbound::{AllowedHost, OutboundPolicy};
use crate::server::progress::Registry;
use crate::server::runner::{Engine, EngineLimits};
use crate::server::sse::{self, json_error};
use crate::server::store::{redact_url, InstanceLock, Store};
use crate::server::watchers::Watchers;
use crate::server::webhooks::{WebhookSettings, Webhooks};
use crate::server::{assets, demo, export, simulator};
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::serve::ListenerExt;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Request bodies above this are refused with 413 (imports are the largest legitimate ones).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Finished batches stay in memory this long, then the store serves them.
const FINISHED_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub database_url: String,
    pub demo: bool,
    /// Where the compiled site (`pkg/`, CSS) is; relative to the working directory.
    pub site_root: String,
    pub auth: AuthConfig,
    /// Which Dify addresses may be called (`--allow-private-targets`, `--allow-host`). Demo mode
    /// adds its own simulator.
    pub outbound: OutboundPolicy,
    /// The master key that seals stored API keys (env var or key file).
    pub secret_key: crate::server::secret::SecretKeyConfig,
    /// Open connections and progress streams at most (`--max-connections`, …).
    pub limits: ConnectionLimits,
    /// The runner's server-wide caps (`--max-running-batches`, `--max-calls-in-flight`,
    /// `--max-tests-per-batch`).
    pub engine_limits: EngineLimits,
    /// Several instances on PostgreSQL: how long leases outlive a vanished instance
    /// (`--lease-ms`).
    pub lease: Duration,
    /// How webhooks are retried and timed out (`--webhook-*`); the public origin for their
    /// links is taken from `auth.public_url`.
    pub webhooks: WebhookSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Store(#[from] crate::server::store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
    #[error("{0}")]
    Engine(#[from] crate::server::runner::EngineError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "refusing to serve {addr} with no user: anyone who reached it first could make \
         themselves admin. Add an admin first (`dify-bench user add NAME --role admin`), or \
         bind 127.0.0.1 and use the setup link printed at start"
    )]
    NoUsers { addr: SocketAddr },
    #[error("{0}")]
    Unprotected(String),
}

/// Builds the engine for a database, calling Dify under `outbound`: the piece `serve` and the
/// headless `run` share.
pub async fn engine_for(
    database_url: &str,
    outbound: OutboundPolicy,
) -> Result<Arc<Engine>, ServeError> {
    engine_on(
        Store::connect(database_url).await?,
        outbound,
        EngineLimits::single_batch(),
    )
}

/// The engine on a store already opened.
fn engine_on(
    store: Store,
    outbound: OutboundPolicy,
    limits: EngineLimits,
) -> Result<Arc<Engine>, ServeError> {
    let registry = Registry::new(FINISHED_TTL);
    registry.spawn_sweeper();
    let client = DifyClient::new(ClientConfig {
        outbound,
        ..ClientConfig::default()
    })
    .map_err(|e| ServeError::Client(e.to_string()))?;
    Ok(Engine::with_limits(store, registry, client, limits))
}

pub async fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    check_every_function_is_listed()?;
    // `/metrics` reports what this process did from here on.
    crate::server::metrics::install();
    // Taken first, so a second server on the same SQLite file is refused with that reason,
    // not with "address in use" or after touching the database; held until `serve` returns.
    let _instance = InstanceLock::acquire(&opts.database_url)?;
    // Bound before the engine is built: demo mode's outbound policy names the bound port.
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: opts.addr,
            source,
        })?;
    let addr = listener.local_addr()?;
    let mut outbound = opts.outbound.clone();
    if opts.demo {
        outbound
            .allow_hosts
            .push(AllowedHost::socket(demo::simulator_addr(addr)));
    }
    tracing::info!(
        allow_private_targets = outbound.allow_private,
        allow_hosts = %outbound.allow_hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(","),
        "outbound policy: link-local and metadata addresses never; loopback and private ones only \
         as allowed"
    );
    let engine = engine_on(
        Store::open(&opts.database_url, &opts.secret_key).await?,
        outbound.clone(),
        opts.engine_limits,
    )?;
    // Webhooks are sent under the same outbound policy as Dify calls (demo mode's simulator
    // included: a webhook aimed at it is as harmless as a version is).
    let hooks = Webhooks::new(
        engine.store().clone(),
        outbound,
        WebhookSettings {
            public_origin: opts.auth.public_url.as_ref().map(|u| u.origin.clone()),
            ..opts.webhooks.clone()
        },
    )
    .map_err(ServeError::Client)?;
    engine.set_webhooks(hooks.clone());
    tracing::info!(
        database = %redact_url(&opts.database_url),
        backend = engine.store().backend(),
        secret_key = %engine.store().secret_key_origin(),
        secret_key_id = %engine.store().secret_key_id(),
        "store ready"
    );
    let users = engine.store().count_users().await?;
    if users == 0 && !opts.demo && !opts.addr.ip().is_loopback() {
        return Err(ServeError::NoUsers { addr: opts.addr });
    }
    let auth = Auth::new(engine.store().clone(), opts.auth.clone());
    auth.spawn_watcher();
    // Past the limit, a connection is answered 503 by the listener and never reaches the router.
    let limits = connections::fit_to_open_files(opts.limits);
    tracing::info!(
        max_connections = limits.max_connections,
        max_progress_streams = limits.max_progress_streams,
        max_watchers_per_batch = limits.max_watchers_per_batch,
        "connection limits"
    );
    // Without TCP_NODELAY, Nagle holds back the small writes of a streamed page or SSE frame
    // until the client's delayed ACK: ~40 ms on every keep-alive request (BENCHMARKS.md, f).
    let listener = CappedListener::new(listener, limits.max_connections).tap_io(|io| {
        let _ = io.tcp().set_nodelay(true);
    });

    let watchers = Arc::new(Watchers::new(
        limits.max_progress_streams,
        limits.max_watchers_per_batch,
    ));
    let mut app = router_with(
        engine.clone(),
        auth.clone(),
        leptos_options(&opts, addr),
        watchers,
    );
    if opts.demo {
        // The simulator shares the port, so demo versions keep working across restarts. It is
        // nested outside the access layer: it stands in for Dify, which has its own keys.
        app = app.nest(demo::MOUNT, simulator::router(demo::simulator_config()));
        demo::seed(engine.store(), addr).await?;
        if let Some(password) = demo::seed_admin(engine.store()).await? {
            println!(
                "demo admin: sign in as `{}` with the password {password}",
                demo::ADMIN
            );
        }
        if engine
            .store()
            .get_user_by_name(demo::ADMIN)
            .await?
            .is_some()
        {
            let link = auth.links.issue(LinkPurpose::SignIn {
                username: demo::ADMIN.to_string(),
            });
            println!("sign in to the demo: http://{addr}/login?link={link}");
        }
    } else if engine.store().count_users().await? == 0 {
        let link = auth.links.issue(LinkPurpose::Setup);
        println!(
            "no user yet: create the first admin at http://{addr}/setup?link={link} \
             (valid for one hour, once)"
        );
    }
    // PostgreSQL: one of the instances sharing the database — work claimed by leases, cancels
    // and progress told to the others (`cluster`). Joined before resuming, so that N instances
    // starting together share the unfinished batches instead of each running them whole.
    // The listener starts after the resume, so that every unfinished batch is tracked before
    // this server says it listens (its sweep on connecting finds them running here).
    let member = crate::server::cluster::register(engine.store(), opts.lease).await?;
    if let Some(member) = member {
        engine.join_cluster(member);
    }
    let resumed = engine.resume_unfinished().await?;
    if !resumed.is_empty() {
        tracing::info!(count = resumed.len(), "resumed unfinished batches");
    }
    // Pending deliveries (from before a restart too) go out from here on; the sender stops
    // when `serve` returns.
    let sending = tokio_util::sync::CancellationToken::new();
    hooks.spawn(sending.clone());
    let _stop_sending = sending.drop_guard();
    let listening = tokio_util::sync::CancellationToken::new();
    if let Some(member) = member {
        crate::server::cluster::spawn(engine.clone(), member, listening.clone());
    }
    let _stop_listening = listening.drop_guard();
    // The test harness and `make run` read this line to learn the port.
    println!("dify-bench listening on http://{addr}");
    // Set off by `shutdown::graceful`, once runners are told to stop (see there for the steps).
    let stop = Arc::new(tokio::sync::Notify::new());
    // into_make_service specialises the router once. Handed the Router itself, axum rebuilds
    // its route table (`with_state`) for every connection: ~40 KB per held SSE connection.
    // With connect info: the access layer throttles sign-ins per client address.
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown({
        let stop = stop.clone();
        async move { stop.notified().await }
    });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        served = &mut server => {
            engine.store().close().await;
            served?;
        }
        () = shutdown_signal() => {
            crate::server::shutdown::graceful(&engine, || stop.notify_one(), server).await;
        }
    }
    Ok(())
}

fn leptos_options(opts: &ServeOptions, addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("dify-bench")
        .site_root(opts.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

/// Every server function must be listed in the access table: one that is not would need
/// `admin` (the table fails closed), but a missing entry is a mistake to fix, not to run with.
fn check_every_function_is_listed() -> Result<(), ServeError> {
    let missing: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .filter_map(|(path, _)| path.strip_prefix("/api/"))
        .filter(|name| !auth::policy::SERVER_FNS.iter().any(|(n, _)| n == name))
        .map(str::to_string)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ServeError::Unprotected(format!(
            "server functions missing from the access table (server/auth/policy.rs): {}",
            missing.join(", ")
        )))
    }
}

/// The whole HTTP surface for one engine, behind the access layer, with the default limits on
/// progress streams.
pub fn router(engine: Arc<Engine>, auth: Arc<Auth>, options: LeptosOptions) -> Router {
    router_with(engine, auth, options, Arc::new(Watchers::default()))
}

/// [`router`], counting progress streams in `watchers`.
pub fn router_with(
    engine: Arc<Engine>,
    auth: Arc<Auth>,
    options: LeptosOptions,
    watchers: Arc<Watchers>,
) -> Router {
    let routes = generate_route_list(App);
    let context_engine = engine.clone();
    let context_auth = auth.clone();
    let shell_options = options.clone();
    let pages = Router::new()
        .leptos_routes_with_context(
            &options,
            routes,
            move || {
                provide_context(context_engine.clone());
                provide_context(context_auth.clone());
            },
            move || shell(shell_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options)
        .layer(assets::compression());
    let rest = Router::new()
        .route(
            "/api/batches/{id}/progress",
            get(sse::progress).layer(Extension(watchers.clone())),
        )
        .route("/metrics", get(metrics_text).layer(Extension(watchers)))
        .route("/api/batches/{id}/results.csv", get(export::results_csv))
        .route("/api/batches/{id}/results.json", get(export::results_json))
        .route(
            "/api/batches/{id}/results.junit.xml",
            get(export::results_junit),
        )
        .route("/api/compare/cases.csv", get(export::compare_csv))
        .route("/api/compare/cases.json", get(export::compare_json))
        .route("/api/{*rest}", any(unknown_api))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(engine);
    // The explicit limit answers 413 from the Content-Length before any handler reads the body.
    pages
        .merge(rest)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        .layer(axum::middleware::from_fn_with_state(
            auth,
            auth::layer::guard,
        ))
}

/// `GET /metrics`: Prometheus's text format (see `metrics`).
async fn metrics_text(
    State(engine): State<Arc<Engine>>,
    Extension(watchers): Extension<Arc<Watchers>>,
) -> Response {
    let body = crate::server::metrics::render(engine.running().len(), watchers.total());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Ready to serve: the database answers and its migrations are applied (they run before the
/// server listens, so a reachable database is a migrated one). A load balancer's probe.
async fn readyz(State(engine): State<Arc<Engine>>) -> Response {
    match engine.store().ping().await {
        Ok(()) => axum::Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unreachable",
            )
        }
    }
}

async fn healthz(State(engine): State<Arc<Engine>>) -> Response {
    match engine.store().ping().await {
        Ok(()) => axum::Json(serde_json::json!({
            "status": "ok",
            "database": engine.store().backend(),
            "running_batches": engine.running().len(),
        }))
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unreachable",
            )
        }
    }
}

async fn unknown_api(uri: axum::http::Uri) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no API at {}", uri.path()),
    )
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down; unfinished batches resume on the next start");
}
