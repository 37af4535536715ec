//! `dify-bench serve`: wires the store, registry, Dify client and runner into one axum router —
//! Leptos pages and server functions, the SSE route, health — and serves it until a signal.

use crate::app::{shell, App};
use crate::server::dify::{ClientConfig, DifyClient};
use crate::server::progress::Registry;
use crate::server::runner::Engine;
use crate::server::sse::{self, json_error};
use crate::server::store::{redact_url, Store};
use crate::server::{assets, demo, export, simulator};
use axum::extract::{DefaultBodyLimit, State};
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
    /// The master key that seals stored API keys (env var or key file).
    pub secret_key: crate::server::secret::SecretKeyConfig,
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
}

/// Builds the engine for a database: the piece `serve` and the headless `run` share.
pub async fn engine_for(database_url: &str) -> Result<Arc<Engine>, ServeError> {
    engine_on(Store::connect(database_url).await?)
}

/// The engine on a store already opened.
fn engine_on(store: Store) -> Result<Arc<Engine>, ServeError> {
    let registry = Registry::new(FINISHED_TTL);
    registry.spawn_sweeper();
    let client =
        DifyClient::new(ClientConfig::default()).map_err(|e| ServeError::Client(e.to_string()))?;
    Ok(Engine::new(store, registry, client))
}

pub async fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    let engine = engine_on(Store::open(&opts.database_url, &opts.secret_key).await?)?;
    tracing::info!(
        database = %redact_url(&opts.database_url),
        backend = engine.store().backend(),
        secret_key = %engine.store().secret_key_origin(),
        secret_key_id = %engine.store().secret_key_id(),
        "store ready"
    );
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: opts.addr,
            source,
        })?;
    let addr = listener.local_addr()?;
    // Without TCP_NODELAY, Nagle holds back the small writes of a streamed page or SSE frame
    // until the client's delayed ACK: ~40 ms on every keep-alive request (BENCHMARKS.md, f).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });

    let mut app = router(engine.clone(), leptos_options(&opts, addr));
    if opts.demo {
        // The simulator shares the port, so demo versions keep working across restarts.
        app = app.nest(demo::MOUNT, simulator::router(demo::simulator_config()));
        demo::seed(engine.store(), addr).await?;
    }
    let resumed = engine.resume_unfinished().await?;
    if !resumed.is_empty() {
        tracing::info!(count = resumed.len(), "resumed unfinished batches");
    }
    // The test harness and `make run` read this line to learn the port.
    println!("dify-bench listening on http://{addr}");
    // Open progress streams would hold a graceful shutdown forever: give them a moment, then go.
    let stop = Arc::new(tokio::sync::Notify::new());
    // into_make_service specialises the router once. Handed the Router itself, axum rebuilds
    // its route table (`with_state`) for every connection: ~40 KB per held SSE connection.
    let server = axum::serve(listener, app.into_make_service()).with_graceful_shutdown({
        let stop = stop.clone();
        async move { stop.notified().await }
    });
    tokio::select! {
        served = server.into_future() => served?,
        _ = async {
            shutdown_signal().await;
            stop.notify_one();
            tokio::time::sleep(Duration::from_secs(3)).await;
        } => {}
    }
    engine.store().close().await;
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

/// The whole HTTP surface for one engine.
pub fn router(engine: Arc<Engine>, options: LeptosOptions) -> Router {
    let routes = generate_route_list(App);
    let context_engine = engine.clone();
    let shell_options = options.clone();
    let pages = Router::new()
        .leptos_routes_with_context(
            &options,
            routes,
            move || provide_context(context_engine.clone()),
            move || shell(shell_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options)
        .layer(assets::compression());
    let rest = Router::new()
        .route("/api/batches/{id}/progress", get(sse::progress))
        .route("/api/batches/{id}/results.csv", get(export::results_csv))
        .route("/api/batches/{id}/results.json", get(export::results_json))
        .route("/api/{*rest}", any(unknown_api))
        .route("/healthz", get(healthz))
        .with_state(engine);
    // The explicit limit answers 413 from the Content-Length before any handler reads the body.
    pages
        .merge(rest)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
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
