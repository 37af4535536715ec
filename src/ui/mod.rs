//! The browser UI: pages and the components they share. Pages render shared DTOs from server
//! functions ([`crate::api`]); they never see the engine or an API key.
//!
//! - `versions`, `cases`, `batches`, `batch_detail`: one file per page;
//! - `batch_config`: the batch configuration modal; `progress_modal`: the live progress modal;
//! - `use_batch_progress`: the progress stream as signals; `monitor`: which batch is watched;
//! - `components`, `i18n`, `format`, `browser`: building blocks, strings, formatting, browser APIs.

pub mod batch_config;
pub mod batch_detail;
pub mod batches;
pub mod browser;
pub mod cases;
pub mod components;
pub mod format;
pub mod i18n;
pub mod monitor;
pub mod progress_modal;
pub mod use_batch_progress;
pub mod versions;

pub use batch_detail::BatchPage;
pub use batches::BatchesPage;
pub use cases::CasesPage;
pub use versions::VersionsPage;
