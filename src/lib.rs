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
    // As `leptos::mount::hydrate_lazy`: hydration waits for the chunk of a lazily loaded page
    // (app.rs, `lazy_page!`). Browser tests wait for the `data-hydrated` marker before clicking
    // (server HTML is clickable before the WASM has attached any handler), so it is set only
    // once the whole page, that chunk included, is hydrated.
    wasm_bindgen_futures::spawn_local(async {
        leptos::mount::hydrate_from_async(leptos::tachys::dom::body(), app::App)
            .await
            .forget();
        if let Some(root) = leptos::prelude::document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
}
