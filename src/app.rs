//! The HTML shell and the Leptos application: app-wide state (language, toasts, confirmation,
//! the batch monitor), the header, the routes, and the overlays that outlive page changes.

use crate::model::{BatchId, Role};
use crate::ui::components::{provide_confirm, provide_toasts, ConfirmHost, ToastHost};
use crate::ui::i18n::{provide_i18n, LangSwitch};
use crate::ui::monitor::{provide_monitor, use_monitor, RunningIndicator};
use crate::ui::progress_modal::ProgressModalHost;
use crate::ui::session::{provide_session, IfRole, SessionWatch, UserMenu};
use crate::ui::{
    AdminPage, BatchPage, BatchesPage, CasesPage, ComparePage, DashboardPage, JudgePage, LoginPage,
    SetupPage, VersionsPage,
};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    hooks::use_query_map,
    path,
};

/// The document around the app: server-rendered, then hydrated. The page's
/// Content-Security-Policy carries the nonce Leptos put on its hydration script.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(res)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        let csp = crate::server::auth::layer::page_csp(&nonce);
        if let Ok(v) = axum::http::HeaderValue::from_str(&csp) {
            res.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
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
    let i18n = provide_i18n();
    provide_toasts();
    provide_confirm();
    provide_monitor();
    provide_session();
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
                <nav aria-label="main">
                    <A href="/" exact=true>{move || i18n.t().nav_versions}</A>
                    <A href="/cases">{move || i18n.t().nav_cases}</A>
                    <A href="/batches">{move || i18n.t().nav_batches}</A>
                    <A href="/dashboard">{move || i18n.t().dash.nav}</A>
                </nav>
                <div class="topbar-right">
                    // Signed-out visitors (the sign-in page) have no batches to see.
                    <IfRole min=Role::Viewer>
                        <RunningIndicator/>
                    </IfRole>
                    <LangSwitch/>
                    <UserMenu/>
                </div>
            </header>
            <main>
                <Routes fallback=move || view! { <p class="empty">{move || i18n.t().page_not_found}</p> }>
                    <Route path=path!("/") view=VersionsPage/>
                    <Route path=path!("/cases") view=CasesPage/>
                    <Route path=path!("/batches") view=BatchesPage/>
                    <Route path=path!("/batches/:id") view=BatchPage/>
                    <Route path=path!("/compare") view=ComparePage/>
                    <Route path=path!("/dashboard") view=DashboardPage/>
                    <Route path=path!("/admin") view=AdminPage/>
                    <Route path=path!("/judges/:id") view=JudgePage/>
                    <Route path=path!("/login") view=LoginPage/>
                    <Route path=path!("/setup") view=SetupPage/>
                </Routes>
            </main>
            <OpenFromQuery/>
            <SessionWatch/>
            <ProgressModalHost/>
            <ConfirmHost/>
            <ToastHost/>
        </Router>
    }
}

/// `?progress=<batch id>` on any page opens that batch's progress modal (a shareable way back
/// to a running batch).
#[component]
fn OpenFromQuery() -> impl IntoView {
    let query = use_query_map();
    let monitor = use_monitor();
    Effect::new(move |_| {
        if let Some(id) = query
            .read_untracked()
            .get("progress")
            .and_then(|s| s.parse::<i64>().ok())
        {
            monitor.open(BatchId(id));
        }
    });
}
