//! The browser UI: pages and the components they share. Pages render shared DTOs from server
//! functions ([`crate::api`]); they never see the engine or an API key.
//!
//! - `versions`, `cases`, `batches` (the history), `batch_detail`, `compare`, `admin`, `login`: one file per page;
//! - `judges`: the admin page's judges panel and a judge's calibration page;
//! - `review`: human review of a result (the result dialog) and a batch's review queue;
//! - `session`: who is signed in, the user menu, role-gated controls;
//! - `dashboard`: the trends dashboard, drawn by `chart` (SVG line charts);
//! - `run_totals`: a run's tokens, cost, latency percentiles and errors on the batch page's cards;
//! - `batch_config`: the batch configuration modal; `progress_modal`: the live progress modal;
//! - `use_batch_progress`: the progress stream as signals; `monitor`: which batch is watched;
//! - `app_identity`: what exactly was tested (the app each version called) and "app changed" warnings;
//! - `result_facts`: one result's status, score breakdown, timings and cost (batch and compare pages);
//! - `components`, `i18n`, `format`, `browser`: building blocks, strings, formatting, browser APIs;
//! - `lazy`: views whose code is a WASM chunk loaded on demand.

pub mod admin;
pub mod app_identity;
pub mod batch_config;
pub mod batch_detail;
pub mod batches;
pub mod browser;
pub mod case_assertions;
pub mod case_inputs;
pub mod case_turns;
pub mod cases;
pub mod chart;
pub mod compare;
pub mod components;
pub mod dashboard;
pub mod format;
pub mod i18n;
pub mod judges;
pub mod lazy;
pub mod login;
pub mod monitor;
pub mod progress_modal;
pub mod replay;
pub mod result_facts;
pub mod review;
pub mod run_totals;
pub mod session;
pub mod trace_view;
pub mod turns_view;
pub mod use_batch_progress;
pub mod versions;
pub mod webhooks;

pub use admin::AdminPage;
pub use batch_detail::BatchPage;
pub use batches::BatchesPage;
pub use cases::CasesPage;
pub use compare::ComparePage;
pub use dashboard::DashboardPage;
pub use judges::JudgePage;
pub use login::{LoginPage, SetupPage};
pub use versions::VersionsPage;
