//! The engine: plain async Rust, no Leptos. Dify client, simulator, scoring, store, progress
//! registry, runner, and the HTTP routes that are not server functions (SSE, health).

pub mod dify;
pub mod scoring;
pub mod secret;
pub mod simulator;
pub mod store;
pub mod import;
pub mod progress;
