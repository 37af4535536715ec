//! Every user-visible string, once per language: English and Traditional Chinese.
//!
//! The server always renders English; after hydration an effect reads the remembered choice
//! from local storage and switches, so the server HTML and the first client render agree (no
//! hydration mismatch). Strings with parameters are plain `fn`s in the same tables.

use crate::model::{AlertKind, BatchStatus, ResultStatus, VersionRunStatus};
use crate::ui::browser;
use crate::ui::use_batch_progress::ConnectionState;
use leptos::prelude::*;

mod accounts;
mod compare;
mod judge;
pub use judge::JudgeStrings;
mod identity;
pub use identity::IdentityStrings;
mod inputs;
pub use inputs::InputStrings;
mod repeats;
mod replay;
pub use accounts::AccountStrings;
pub use compare::CompareStrings;
pub use repeats::RepeatStrings;
pub use replay::ReplayStrings;
mod totals;
pub use totals::TotalsStrings;
mod trace;
pub use trace::TraceStrings;
mod dashboard;
pub use dashboard::DashStrings;
mod webhooks;
pub use webhooks::WebhookStrings;
mod turns;
pub use turns::TurnStrings;

const STORAGE_KEY: &str = "dify-bench.lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhTw,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhTw];

    /// The BCP 47 tag, for `<html lang>` and local storage.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhTw => "zh-TW",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The language's own name, for the switch.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhTw => "繁體中文",
        }
    }

    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::En => &EN,
            Lang::ZhTw => &ZH_TW,
        }
    }
}

/// The current language, provided by `<App/>`.
#[derive(Clone, Copy)]
pub struct I18n {
    pub lang: RwSignal<Lang>,
}

impl I18n {
    /// A comparison's verdict in the current language (tracked).
    pub fn sentence(&self, summary: &crate::model::compare::Summary) -> String {
        use crate::model::verdict_text::{sentence, Language};
        let lang = match self.lang.get() {
            Lang::En => Language::English,
            Lang::ZhTw => Language::TraditionalChinese,
        };
        sentence(summary, lang)
    }

    /// The strings of the current language (tracked: views re-render on a switch).
    pub fn t(&self) -> &'static Strings {
        self.lang.get().strings()
    }

    pub fn t_untracked(&self) -> &'static Strings {
        self.lang.get_untracked().strings()
    }

    pub fn set(&self, lang: Lang) {
        self.lang.set(lang);
        browser::local_set(STORAGE_KEY, lang.code());
    }
}

pub fn provide_i18n() -> I18n {
    let i18n = I18n {
        lang: RwSignal::new(Lang::En),
    };
    provide_context(i18n);
    // After hydration only: the server cannot know the stored choice.
    Effect::new(move |_| {
        if let Some(lang) = browser::local_get(STORAGE_KEY).and_then(|c| Lang::from_code(&c)) {
            i18n.lang.set(lang);
        }
    });
    Effect::new(move |_| {
        let code = i18n.lang.get().code();
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("lang", code);
        }
    });
    i18n
}

pub fn use_i18n() -> I18n {
    expect_context()
}

/// The header's language switch.
#[component]
pub fn LangSwitch() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="lang-switch" role="group" aria-label="Language / 語言">
            {Lang::ALL
                .into_iter()
                .map(|lang| {
                    view! {
                        <button
                            type="button"
                            lang=lang.code()
                            aria-pressed=move || (i18n.lang.get() == lang).to_string()
                            on:click=move |_| i18n.set(lang)
                        >
                            {lang.native_name()}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}

/// One language's strings.
pub struct Strings {
    /// Signing in, setup, the user menu, the admin page.
    pub acc: &'static AccountStrings,
    /// The compare page.
    pub cmp: &'static CompareStrings,
    /// Repeats: the launch form, the matrix, the result dialog, the version cards.
    pub rep: &'static RepeatStrings,
    /// Pinned workflow versions, what exactly was tested, app-changed warnings.
    pub idn: &'static IdentityStrings,
    pub inp: &'static InputStrings,
    /// Replaying a finished batch.
    pub rpl: &'static ReplayStrings,
    pub jdg: &'static JudgeStrings,
    /// A run's totals on the batch page's cards.
    pub tot: &'static TotalsStrings,
    /// The trends dashboard and the history's filters, paging and delete.
    pub dash: &'static DashStrings,
    /// A result's node timeline, tools and retrieved chunks.
    pub trc: &'static TraceStrings,
    /// The admin page's webhooks and their delivery log.
    pub hook: &'static WebhookStrings,
    /// Multi-turn cases: the case form's turns, a result's turns.
    pub trn: &'static TurnStrings,
    // Chrome
    pub nav_versions: &'static str,
    pub nav_cases: &'static str,
    pub nav_batches: &'static str,
    pub running_n: fn(usize) -> String,
    pub page_not_found: &'static str,
    pub loading: &'static str,
    // Common actions
    pub save: &'static str,
    pub cancel: &'static str,
    pub close: &'static str,
    pub edit: &'static str,
    pub delete: &'static str,
    pub confirm_title: &'static str,
    pub no_go_back: &'static str,
    pub saved: &'static str,
    pub deleted: &'static str,
    pub export_csv: &'static str,
    pub export_json: &'static str,
    pub prev: &'static str,
    pub next: &'static str,
    pub page_n_of: fn(usize, usize) -> String,
    // Versions page
    pub versions_title: &'static str,
    pub add_version: &'static str,
    pub batch_test_n: fn(usize) -> String,
    pub select_all_enabled: &'static str,
    pub select_version: fn(&str) -> String,
    pub disabled_not_selectable: &'static str,
    pub col_name: &'static str,
    pub col_mode: &'static str,
    pub col_base_url: &'static str,
    pub col_key: &'static str,
    pub col_enabled: &'static str,
    pub col_latest: &'static str,
    pub col_actions: &'static str,
    pub enable_version: fn(&str) -> String,
    pub test_connection: &'static str,
    pub testing: &'static str,
    pub connection_ok: fn(&str, &str, i64) -> String,
    pub connection_failed: fn(&str) -> String,
    pub never_run: &'static str,
    pub no_versions: &'static str,
    pub delete_version_confirm: fn(&str) -> String,
    // Version form
    pub new_version_title: &'static str,
    pub edit_version_title: &'static str,
    pub f_name: &'static str,
    pub f_description: &'static str,
    pub f_base_url: &'static str,
    pub f_api_key: &'static str,
    pub f_api_key_keep: fn(&str) -> String,
    pub f_api_key_new: &'static str,
    pub f_app_mode: &'static str,
    pub f_response_mode: &'static str,
    pub f_answer_field: &'static str,
    pub f_answer_field_help: &'static str,
    pub f_enabled: &'static str,
    // Batch configuration
    pub config_title: &'static str,
    pub default_batch_name: &'static str,
    pub batch_name: &'static str,
    pub f_concurrency: &'static str,
    pub f_concurrency_help: &'static str,
    pub f_per_version_cap: &'static str,
    pub f_per_version_cap_help: &'static str,
    pub f_cases: &'static str,
    pub cases_all_enabled: fn(usize) -> String,
    pub cases_by_filter: &'static str,
    pub categories: &'static str,
    pub tags: &'static str,
    pub f_pass_threshold: &'static str,
    /// Versions, cases, repeats.
    pub tests_planned: fn(usize, usize, usize) -> String,
    pub no_cases_selected: &'static str,
    pub start: &'static str,
    pub starting: &'static str,
    // Progress modal
    pub progress_title: &'static str,
    pub batch_id: &'static str,
    pub overall_progress: &'static str,
    pub stat_completed: &'static str,
    pub stat_failed: &'static str,
    pub stat_remaining: &'static str,
    pub calculating: &'static str,
    pub duration: fn(f64) -> String,
    pub now_running: &'static str,
    pub per_version: &'static str,
    pub average_score: &'static str,
    pub pass_rate: &'static str,
    pub failed: &'static str,
    /// A version's adaptive in-flight limit, in the progress modal.
    pub in_flight_limit: &'static str,
    pub circuit_open: &'static str,
    pub circuit_half_open: &'static str,
    /// A live alert's title, by kind.
    pub alert_title: fn(AlertKind) -> &'static str,
    pub alerts_heading: &'static str,
    pub view_details: &'static str,
    pub cancel_batch: &'static str,
    pub cancel_confirm: &'static str,
    pub close_running_confirm: &'static str,
    pub close_anyway: &'static str,
    pub batch_not_found: &'static str,
    pub notice_completed: fn(u64) -> String,
    pub notice_cancelled: &'static str,
    pub notice_error: &'static str,
    pub connection_lost: &'static str,
    pub toast_completed: fn(u64) -> String,
    pub toast_cancelled: fn(&str) -> String,
    pub toast_error: fn(&str, &str) -> String,
    pub conn_connecting: &'static str,
    pub conn_connected: &'static str,
    pub conn_reconnecting: &'static str,
    pub conn_disconnected: &'static str,
    pub conn_closed: &'static str,
    pub st_waiting: &'static str,
    pub st_queued: &'static str,
    pub st_running: &'static str,
    pub st_completed: &'static str,
    pub st_failed: &'static str,
    pub st_error: &'static str,
    pub st_cancelled: &'static str,
    pub st_passed: &'static str,
    pub st_pending: &'static str,
    // Cases page
    pub cases_title: &'static str,
    pub search: &'static str,
    pub search_placeholder: &'static str,
    pub all_categories: &'static str,
    pub all_statuses: &'static str,
    pub enabled_only: &'static str,
    pub disabled_only: &'static str,
    pub add_case: &'static str,
    pub import: &'static str,
    pub col_query: &'static str,
    pub col_expected: &'static str,
    pub col_keywords: &'static str,
    pub col_category: &'static str,
    pub col_tags: &'static str,
    pub no_cases: &'static str,
    pub shown_of: fn(usize, usize) -> String,
    pub enable_case: fn(&str) -> String,
    pub delete_case_confirm: fn(&str) -> String,
    pub new_case_title: &'static str,
    pub edit_case_title: &'static str,
    pub f_query: &'static str,
    pub f_expected: &'static str,
    pub f_keywords: &'static str,
    pub f_list_help: &'static str,
    pub f_category: &'static str,
    pub f_tags: &'static str,
    pub f_case_threshold: &'static str,
    pub f_case_threshold_help: &'static str,
    pub import_title: &'static str,
    pub import_help: &'static str,
    pub f_format: &'static str,
    pub f_file: &'static str,
    pub f_content: &'static str,
    pub preview: &'static str,
    pub preview_ok: fn(usize) -> String,
    pub import_n: fn(usize) -> String,
    pub imported_n: fn(usize) -> String,
    pub nothing_imported: &'static str,
    // Batches
    pub batches_title: &'static str,
    pub col_status: &'static str,
    pub col_started: &'static str,
    pub col_duration: &'static str,
    pub col_versions: &'static str,
    pub col_tests: &'static str,
    pub no_batches: &'static str,
    pub back_to_batches: &'static str,
    pub versions_summary: &'static str,
    pub matrix_title: &'static str,
    pub matrix_legend: &'static str,
    pub col_case: &'static str,
    pub rerun_failed: &'static str,
    pub rerun_confirm: &'static str,
    pub rerun_started: fn(u64) -> String,
    /// Several instances: tests claimed again after their instance vanished, answers stored
    /// once of two.
    pub duplicate_work: fn(i64, i64) -> String,
    pub tests_done: fn(i64, i64) -> String,
    pub avg_latency: &'static str,
    pub errors: &'static str,
    pub live: &'static str,
    pub result_title: fn(&str, &str) -> String,
    pub answer: &'static str,
    pub expected_answer: &'static str,
    pub keywords_hit: &'static str,
    pub keywords_missed: &'static str,
    pub score: &'static str,
    pub latency: &'static str,
    pub ttft: &'static str,
    pub tokens: &'static str,
    pub attempts: &'static str,
    pub error: &'static str,
    pub not_run_yet: &'static str,
    pub none: &'static str,
}

impl Strings {
    pub fn version_status(&self, s: VersionRunStatus) -> &'static str {
        match s {
            VersionRunStatus::Waiting => self.st_waiting,
            VersionRunStatus::Running => self.st_running,
            VersionRunStatus::Completed => self.st_completed,
            VersionRunStatus::Failed => self.st_failed,
            VersionRunStatus::Cancelled => self.st_cancelled,
        }
    }

    pub fn batch_status(&self, s: BatchStatus) -> &'static str {
        match s {
            BatchStatus::Queued => self.st_queued,
            BatchStatus::Running => self.st_running,
            BatchStatus::Completed => self.st_completed,
            BatchStatus::Error => self.st_error,
            BatchStatus::Cancelled => self.st_cancelled,
        }
    }

    pub fn result_status(&self, s: ResultStatus) -> &'static str {
        match s {
            ResultStatus::Passed => self.st_passed,
            ResultStatus::Failed => self.st_failed,
            ResultStatus::Error => self.st_error,
        }
    }

    pub fn connection(&self, s: ConnectionState) -> &'static str {
        match s {
            ConnectionState::Idle | ConnectionState::Connecting => self.conn_connecting,
            ConnectionState::Connected => self.conn_connected,
            ConnectionState::Reconnecting => self.conn_reconnecting,
            ConnectionState::Disconnected => self.conn_disconnected,
            ConnectionState::Closed => self.conn_closed,
        }
    }
}

/// Whole seconds split into (hours, minutes, seconds).
fn hms(secs: f64) -> (u64, u64, u64) {
    let s = secs.max(0.0).round() as u64;
    (s / 3600, (s % 3600) / 60, s % 60)
}

pub static EN: Strings = Strings {
    acc: &accounts::EN,
    cmp: &compare::EN,
    rep: &repeats::EN,
    idn: &identity::EN,
    inp: &inputs::EN,
    rpl: &replay::EN,
    jdg: &judge::EN,
    tot: &totals::EN,
    dash: &dashboard::EN,
    trc: &trace::EN,
    hook: &webhooks::EN,
    trn: &turns::EN,
    nav_versions: "Versions",
    nav_cases: "Test cases",
    nav_batches: "Batches",
    running_n: |n| format!("{n} running"),
    page_not_found: "Page not found.",
    loading: "Loading…",
    save: "Save",
    cancel: "Cancel",
    close: "Close",
    edit: "Edit",
    delete: "Delete",
    confirm_title: "Please confirm",
    no_go_back: "No, go back",
    saved: "Saved.",
    deleted: "Deleted.",
    export_csv: "Export CSV",
    export_json: "Export JSON",
    prev: "Previous",
    next: "Next",
    page_n_of: |n, of| format!("Page {n} of {of}"),
    versions_title: "Versions",
    add_version: "Add version",
    batch_test_n: |n| format!("Batch test ({n})"),
    select_all_enabled: "Select all enabled versions",
    select_version: |name| format!("Select {name}"),
    disabled_not_selectable: "Disabled versions cannot be selected",
    col_name: "Name",
    col_mode: "App mode",
    col_base_url: "Base URL",
    col_key: "API key",
    col_enabled: "Enabled",
    col_latest: "Latest result",
    col_actions: "Actions",
    enable_version: |name| format!("Enable {name}"),
    test_connection: "Test connection",
    testing: "Testing…",
    connection_ok: |name, mode, ms| format!("Connected: {name} ({mode}) answered in {ms} ms"),
    connection_failed: |msg| format!("Connection failed: {msg}"),
    never_run: "never run",
    no_versions: "No versions yet — add one to start.",
    delete_version_confirm: |name| {
        format!("Delete version “{name}”? Batches that ran it keep their results.")
    },
    new_version_title: "New version",
    edit_version_title: "Edit version",
    f_name: "Name",
    f_description: "Description",
    f_base_url: "Base URL (Dify Service API)",
    f_api_key: "API key",
    f_api_key_keep: |hint| format!("Leave empty to keep the current key ({hint})"),
    f_api_key_new: "Stored on the server; never shown again",
    f_app_mode: "App mode",
    f_response_mode: "Response mode",
    f_answer_field: "Answer field (workflow apps)",
    f_answer_field_help: "Empty: the only string output, else answer / text / result",
    f_enabled: "Enabled",
    config_title: "Batch test configuration",
    default_batch_name: "Batch test",
    batch_name: "Batch name",
    f_concurrency: "Thread count",
    f_concurrency_help: "Tests run at the same time (1–1000)",
    f_per_version_cap: "Per-version cap",
    f_per_version_cap_help: "At most this many calls in flight per version; empty: no cap",
    f_cases: "Test cases",
    cases_all_enabled: |n| format!("All enabled cases ({n})"),
    cases_by_filter: "By category or tag",
    categories: "Categories",
    tags: "Tags",
    f_pass_threshold: "Pass threshold (score 0–100)",
    tests_planned: |v, c, r| match r {
        1 => format!("{v} version(s) × {c} case(s) = {} tests", v * c),
        r => format!("{v} version(s) × {c} case(s) × {r} repeats = {} tests", v * c * r),
    },
    no_cases_selected: "No test case matches this choice.",
    start: "Start",
    starting: "Starting…",
    progress_title: "Batch test progress",
    batch_id: "Batch ID",
    overall_progress: "Overall progress",
    stat_completed: "Completed / total",
    stat_failed: "Failed",
    stat_remaining: "Estimated remaining",
    calculating: "calculating…",
    duration: |s| match hms(s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, _) => format!("{h} h {m:02} min"),
    },
    now_running: "Now running:",
    per_version: "Progress per version",
    average_score: "Average score",
    pass_rate: "Pass rate",
    failed: "Failed",
    in_flight_limit: "Calls at once",
    circuit_open: "Circuit open: its tests wait for a probe",
    circuit_half_open: "Circuit half-open: probing",
    alert_title: |kind| match kind {
        AlertKind::ErrorSpike => "Error spike",
        AlertKind::TimeoutStreak => "Timeouts in a row",
        AlertKind::SlowLatency => "Slower than usual",
        AlertKind::PassRateDrop => "Pass rate below its previous run",
    },
    alerts_heading: "Alerts",
    view_details: "View details",
    cancel_batch: "Cancel batch",
    cancel_confirm: "Cancel this batch? Tests in flight are stopped; finished results are kept.",
    close_running_confirm: "Close this window? The batch continues in the background — reopen it from the header.",
    close_anyway: "Close, keep running",
    batch_not_found: "Batch not found.",
    notice_completed: |n| format!("Batch test completed — {n} tests executed."),
    notice_cancelled: "The batch was cancelled.",
    notice_error: "The batch stopped with an error:",
    connection_lost: "Connection lost — reconnecting…",
    toast_completed: |n| format!("Batch test completed — {n} tests executed"),
    toast_cancelled: |name| format!("Batch “{name}” was cancelled"),
    toast_error: |name, msg| format!("Batch “{name}” stopped with an error. {msg}"),
    conn_connecting: "connecting",
    conn_connected: "connected",
    conn_reconnecting: "reconnecting",
    conn_disconnected: "disconnected",
    conn_closed: "finished",
    st_waiting: "waiting",
    st_queued: "queued",
    st_running: "running",
    st_completed: "completed",
    st_failed: "failed",
    st_error: "error",
    st_cancelled: "cancelled",
    st_passed: "passed",
    st_pending: "pending",
    cases_title: "Test cases",
    search: "Search",
    search_placeholder: "Search name, query, keywords…",
    all_categories: "All categories",
    all_statuses: "Enabled and disabled",
    enabled_only: "Enabled only",
    disabled_only: "Disabled only",
    add_case: "Add case",
    import: "Import",
    col_query: "Query",
    col_expected: "Expected answer",
    col_keywords: "Keywords",
    col_category: "Category",
    col_tags: "Tags",
    no_cases: "No test cases match.",
    shown_of: |n, of| format!("{n} of {of} cases"),
    enable_case: |name| format!("Enable {name}"),
    delete_case_confirm: |name| format!("Delete test case “{name}”?"),
    new_case_title: "New test case",
    edit_case_title: "Edit test case",
    f_query: "Query",
    f_expected: "Expected answer",
    f_keywords: "Keywords",
    f_list_help: "Separated by ; or ,",
    f_category: "Category",
    f_tags: "Tags",
    f_case_threshold: "Pass threshold",
    f_case_threshold_help: "Empty: the batch's threshold",
    import_title: "Import test cases",
    import_help: "CSV columns: name, query (required), expected_answer, keywords and tags (separated by ;), category, pass_threshold, enabled. JSON: an array of objects with the same fields. One bad row refuses the whole file.",
    f_format: "Format",
    f_file: "File",
    f_content: "Content",
    preview: "Preview",
    preview_ok: |n| format!("{n} cases ready to import."),
    import_n: |n| format!("Import {n} cases"),
    imported_n: |n| format!("{n} cases imported"),
    nothing_imported: "Nothing was imported.",
    batches_title: "Batches",
    col_status: "Status",
    col_started: "Started",
    col_duration: "Duration",
    col_versions: "Versions",
    col_tests: "Tests",
    no_batches: "No batches yet — select versions on the Versions page and start one.",
    back_to_batches: "← All batches",
    versions_summary: "Versions",
    matrix_title: "Results: case × version",
    matrix_legend: "Click a cell for the answer and its scoring.",
    col_case: "Test case",
    rerun_failed: "Re-run failed tests",
    rerun_confirm: "Run again every test of this batch that ended with an error or has no result?",
    rerun_started: |n| format!("{n} tests are running again"),
    duplicate_work: |reclaimed, duplicates| {
        format!(
            "{reclaimed} tests were taken over from an instance that stopped (each may have \
             been called twice); {duplicates} answers arrived twice and were stored once"
        )
    },
    tests_done: |c, t| format!("{c} / {t} tests"),
    avg_latency: "Avg latency",
    errors: "Errors",
    live: "Live",
    result_title: |case, version| format!("{case} — {version}"),
    answer: "Answer",
    expected_answer: "Expected answer",
    keywords_hit: "Keywords hit",
    keywords_missed: "Keywords missed",
    score: "Score",
    latency: "Latency",
    ttft: "Time to first token",
    tokens: "Tokens (prompt / completion / total)",
    attempts: "Attempts",
    error: "Error",
    not_run_yet: "Not run yet.",
    none: "none",
};

pub static ZH_TW: Strings = Strings {
    acc: &accounts::ZH_TW,
    cmp: &compare::ZH_TW,
    rep: &repeats::ZH_TW,
    idn: &identity::ZH_TW,
    inp: &inputs::ZH_TW,
    rpl: &replay::ZH_TW,
    jdg: &judge::ZH_TW,
    tot: &totals::ZH_TW,
    dash: &dashboard::ZH_TW,
    trc: &trace::ZH_TW,
    hook: &webhooks::ZH_TW,
    trn: &turns::ZH_TW,
    nav_versions: "版本",
    nav_cases: "測試案例",
    nav_batches: "批次",
    running_n: |n| format!("{n} 個執行中"),
    page_not_found: "找不到頁面。",
    loading: "載入中…",
    save: "儲存",
    cancel: "取消",
    close: "關閉",
    edit: "編輯",
    delete: "刪除",
    confirm_title: "請確認",
    no_go_back: "不，返回",
    saved: "已儲存。",
    deleted: "已刪除。",
    export_csv: "匯出 CSV",
    export_json: "匯出 JSON",
    prev: "上一頁",
    next: "下一頁",
    page_n_of: |n, of| format!("第 {n} 頁，共 {of} 頁"),
    versions_title: "版本",
    add_version: "新增版本",
    batch_test_n: |n| format!("批次測試 ({n})"),
    select_all_enabled: "選取所有已啟用的版本",
    select_version: |name| format!("選取 {name}"),
    disabled_not_selectable: "停用的版本無法選取",
    col_name: "名稱",
    col_mode: "應用類型",
    col_base_url: "API 位址",
    col_key: "API 金鑰",
    col_enabled: "啟用",
    col_latest: "最近結果",
    col_actions: "操作",
    enable_version: |name| format!("啟用 {name}"),
    test_connection: "測試連線",
    testing: "測試中…",
    connection_ok: |name, mode, ms| format!("連線成功：{name}（{mode}），{ms} 毫秒回應"),
    connection_failed: |msg| format!("連線失敗：{msg}"),
    never_run: "尚未執行",
    no_versions: "還沒有版本——新增一個開始吧。",
    delete_version_confirm: |name| format!("刪除版本「{name}」？執行過它的批次會保留結果。"),
    new_version_title: "新增版本",
    edit_version_title: "編輯版本",
    f_name: "名稱",
    f_description: "說明",
    f_base_url: "API 位址（Dify Service API）",
    f_api_key: "API 金鑰",
    f_api_key_keep: |hint| format!("留空則保留目前的金鑰（{hint}）"),
    f_api_key_new: "儲存在伺服器上，之後不會再顯示",
    f_app_mode: "應用類型",
    f_response_mode: "回應模式",
    f_answer_field: "答案欄位（工作流應用）",
    f_answer_field_help: "留空：唯一的字串輸出，否則 answer / text / result",
    f_enabled: "啟用",
    config_title: "批次測試設定",
    default_batch_name: "批次測試",
    batch_name: "批次名稱",
    f_concurrency: "執行緒數",
    f_concurrency_help: "同時執行的測試數（1–1000）",
    f_per_version_cap: "每版本上限",
    f_per_version_cap_help: "每個版本同時進行的呼叫上限；留空：不限",
    f_cases: "測試案例",
    cases_all_enabled: |n| format!("所有已啟用的案例（{n}）"),
    cases_by_filter: "依分類或標籤",
    categories: "分類",
    tags: "標籤",
    f_pass_threshold: "通過門檻（分數 0–100）",
    tests_planned: |v, c, r| match r {
        1 => format!("{v} 個版本 × {c} 個案例 = {} 個測試", v * c),
        r => format!("{v} 個版本 × {c} 個案例 × {r} 次重複 = {} 個測試", v * c * r),
    },
    no_cases_selected: "沒有符合此選擇的測試案例。",
    start: "開始",
    starting: "啟動中…",
    progress_title: "批次測試進度",
    batch_id: "批次 ID",
    overall_progress: "整體進度",
    stat_completed: "已完成 / 總數",
    stat_failed: "失敗",
    stat_remaining: "預估剩餘時間",
    calculating: "計算中…",
    duration: |s| match hms(s) {
        (0, 0, s) => format!("{s} 秒"),
        (0, m, s) => format!("{m} 分 {s} 秒"),
        (h, m, _) => format!("{h} 小時 {m} 分"),
    },
    now_running: "正在執行：",
    per_version: "各版本進度",
    average_score: "平均分數",
    pass_rate: "通過率",
    failed: "失敗",
    in_flight_limit: "同時呼叫數",
    circuit_open: "斷路器開啟：測試等待探測",
    circuit_half_open: "斷路器半開：探測中",
    alert_title: |kind| match kind {
        AlertKind::ErrorSpike => "錯誤激增",
        AlertKind::TimeoutStreak => "連續逾時",
        AlertKind::SlowLatency => "比平常慢",
        AlertKind::PassRateDrop => "通過率低於上次執行",
    },
    alerts_heading: "警示",
    view_details: "查看詳情",
    cancel_batch: "取消批次",
    cancel_confirm: "取消這個批次？進行中的測試會停止，已完成的結果會保留。",
    close_running_confirm: "關閉這個視窗？批次會在背景繼續執行——可從頁首重新開啟。",
    close_anyway: "關閉，繼續執行",
    batch_not_found: "找不到批次。",
    notice_completed: |n| format!("批次測試完成——共執行 {n} 個測試。"),
    notice_cancelled: "批次已取消。",
    notice_error: "批次因錯誤而停止：",
    connection_lost: "連線中斷——重新連線中…",
    toast_completed: |n| format!("批次測試完成！共執行 {n} 個測試"),
    toast_cancelled: |name| format!("批次「{name}」已取消"),
    toast_error: |name, msg| format!("批次「{name}」因錯誤而停止。{msg}"),
    conn_connecting: "連線中",
    conn_connected: "已連線",
    conn_reconnecting: "重新連線中",
    conn_disconnected: "已斷線",
    conn_closed: "已結束",
    st_waiting: "等待中",
    st_queued: "排隊中",
    st_running: "執行中",
    st_completed: "已完成",
    st_failed: "失敗",
    st_error: "錯誤",
    st_cancelled: "已取消",
    st_passed: "通過",
    st_pending: "待執行",
    cases_title: "測試案例",
    search: "搜尋",
    search_placeholder: "搜尋名稱、問題、關鍵字…",
    all_categories: "所有分類",
    all_statuses: "啟用與停用",
    enabled_only: "僅啟用",
    disabled_only: "僅停用",
    add_case: "新增案例",
    import: "匯入",
    col_query: "問題",
    col_expected: "預期答案",
    col_keywords: "關鍵字",
    col_category: "分類",
    col_tags: "標籤",
    no_cases: "沒有符合的測試案例。",
    shown_of: |n, of| format!("{of} 個案例中的 {n} 個"),
    enable_case: |name| format!("啟用 {name}"),
    delete_case_confirm: |name| format!("刪除測試案例「{name}」？"),
    new_case_title: "新增測試案例",
    edit_case_title: "編輯測試案例",
    f_query: "問題",
    f_expected: "預期答案",
    f_keywords: "關鍵字",
    f_list_help: "以 ; 或 , 分隔",
    f_category: "分類",
    f_tags: "標籤",
    f_case_threshold: "通過門檻",
    f_case_threshold_help: "留空：使用批次的門檻",
    import_title: "匯入測試案例",
    import_help: "CSV 欄位：name、query（必填）、expected_answer、keywords 與 tags（以 ; 分隔）、category、pass_threshold、enabled。JSON：相同欄位的物件陣列。任何一列有誤，整個檔案都不匯入。",
    f_format: "格式",
    f_file: "檔案",
    f_content: "內容",
    preview: "預覽",
    preview_ok: |n| format!("{n} 個案例可以匯入。"),
    import_n: |n| format!("匯入 {n} 個案例"),
    imported_n: |n| format!("已匯入 {n} 個案例"),
    nothing_imported: "未匯入任何資料。",
    batches_title: "批次",
    col_status: "狀態",
    col_started: "開始時間",
    col_duration: "耗時",
    col_versions: "版本數",
    col_tests: "測試",
    no_batches: "還沒有批次——在「版本」頁選取版本後開始一個。",
    back_to_batches: "← 所有批次",
    versions_summary: "版本",
    matrix_title: "結果：案例 × 版本",
    matrix_legend: "點選儲存格查看答案與評分。",
    col_case: "測試案例",
    rerun_failed: "重新執行失敗的測試",
    rerun_confirm: "重新執行這個批次中所有發生錯誤或沒有結果的測試？",
    rerun_started: |n| format!("{n} 個測試重新執行中"),
    duplicate_work: |reclaimed, duplicates| {
        format!(
            "{reclaimed} 個測試由停止的執行個體轉交接手(每個可能被呼叫兩次);\
             {duplicates} 個回答收到兩次,只儲存一次"
        )
    },
    tests_done: |c, t| format!("{c} / {t} 個測試"),
    avg_latency: "平均延遲",
    errors: "錯誤",
    live: "即時",
    result_title: |case, version| format!("{case} — {version}"),
    answer: "答案",
    expected_answer: "預期答案",
    keywords_hit: "命中的關鍵字",
    keywords_missed: "缺少的關鍵字",
    score: "分數",
    latency: "延遲",
    ttft: "首個 token 時間",
    tokens: "Token（提示 / 生成 / 總計）",
    attempts: "嘗試次數",
    error: "錯誤",
    not_run_yet: "尚未執行。",
    none: "無",
};
