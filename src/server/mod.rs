//! The engine: plain async Rust, no Leptos. Dify client, simulator, scoring, store, progress
//! registry, runner, and the HTTP routes that are not server functions (SSE, health).

pub mod alerts;
pub mod assets;
pub mod auth;
pub mod cluster;
pub mod compare;
pub mod connections;
pub mod csv_safe;
pub mod demo;
pub mod dify;
pub mod export;
pub mod headless;
pub mod http;
pub mod identity;
pub mod import;
pub mod judge;
pub mod junit;
pub mod metrics;
pub mod offload;
pub mod outbound;
pub mod private_files;
pub mod progress;
pub mod replay;
pub mod run_batch;
pub mod runner;
pub mod scoring;
pub mod secret;
pub mod shutdown;
pub mod simulator;
pub mod sse;
pub mod store;
pub mod watchers;
pub mod webhooks;
