//! The HTML shell and the Leptos application: routes and the page chrome.

use crate::ui::{BatchPage, BatchesPage, CasesPage, VersionsPage};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    path,
};

/// The document around the app: server-rendered, then hydrated.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Browser tests wait for this marker before clicking: server HTML is clickable before the
    // WASM has attached any handler.
    Effect::new(|_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/dify-bench.css"/>
        <Title text="dify-bench"/>
        <Router>
            <header class="topbar">
                <A href="/" attr:class="brand">"dify-bench"</A>
                <nav>
                    <A href="/">"Versions"</A>
                    <A href="/cases">"Test cases"</A>
                    <A href="/batches">"Batches"</A>
                </nav>
            </header>
            <main>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=path!("/") view=VersionsPage/>
                    <Route path=path!("/cases") view=CasesPage/>
                    <Route path=path!("/batches") view=BatchesPage/>
                    <Route path=path!("/batches/:id") view=BatchPage/>
                </Routes>
            </main>
        </Router>
    }
}
