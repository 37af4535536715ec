//! dify-bench: regression tests for Dify apps, with live progress.
//!
//! `model` holds the types shared by the server and the WASM client; `server` (ssr only) is the
//! engine; `api` holds the server functions; `app` and `ui` the Leptos components.

// Release builds keep the full view types (debug builds erase them with `--cfg
// erase_components`), and the larger pages nest deeper than rustc's default limit of 128.
#![recursion_limit = "256"]

pub mod api;
pub mod app;
pub mod model;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
