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
    lazy_route, path, Lazy, LazyRoute,
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
    // The `data-hydrated` marker browser tests wait for is set in `hydrate()` (lib.rs), once
    // the lazily loaded page is hydrated too.
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
                    <A href="/dashboard">{move || i18n.t().nav_dashboard}</A>
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
                    // The versions page is in the main WASM (it is where a signed-in visit
                    // starts); every other page is a chunk loaded on demand (`lazy_page!`).
                    <Route path=path!("/") view=VersionsPage/>
                    <Route path=path!("/cases") view={Lazy::<CasesRoute>::new()}/>
                    <Route path=path!("/batches") view={Lazy::<BatchesRoute>::new()}/>
                    <Route path=path!("/batches/:id") view={Lazy::<BatchRoute>::new()}/>
                    <Route path=path!("/compare") view={Lazy::<CompareRoute>::new()}/>
                    <Route path=path!("/dashboard") view={Lazy::<DashboardRoute>::new()}/>
                    <Route path=path!("/admin") view={Lazy::<AdminRoute>::new()}/>
                    <Route path=path!("/judges/:id") view={Lazy::<JudgeRoute>::new()}/>
                    <Route path=path!("/login") view={Lazy::<LoginRoute>::new()}/>
                    <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()}/>
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

/// A page whose code is split off the main WASM: with `cargo leptos build --split` its view
/// (and whatever only it uses) is a separate chunk the router fetches on the first visit, and
/// the server's page for a direct load names the chunk for preloading; hydration waits for it
/// (`hydrate()` in lib.rs). The page loads its own data when it renders: `data()` has nothing
/// to start ahead of the chunk, because each page's resources hang off its own query and route
/// parameters.
macro_rules! lazy_page {
    ($($route:ident => $page:ident,)*) => {$(
        #[doc = concat!("The lazily loaded route of [`", stringify!($page), "`].")]
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    )*};
}

lazy_page! {
    CasesRoute => CasesPage,
    BatchesRoute => BatchesPage,
    BatchRoute => BatchPage,
    CompareRoute => ComparePage,
    DashboardRoute => DashboardPage,
    AdminRoute => AdminPage,
    JudgeRoute => JudgePage,
    LoginRoute => LoginPage,
    SetupRoute => SetupPage,
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
