//! Every user-visible string, once per language: English and Traditional Chinese.
//!
//! The server always renders English; after hydration an effect reads the remembered choice
//! from local storage and switches, so the server HTML and the first client render agree (no
//! hydration mismatch). Strings with parameters are plain `fn`s in the same tables.
//!
//! **Sub-tables keep strings out of the main WASM.** A page's or dialog's strings live in a
//! table of their own (`i18n/*.rs`, `EN` and `ZH_TW` statics of a `…Strings` struct), reached
//! only through a method of [`Strings`]: `i18n.t().jdg().new_judge_title`. The method picks
//! the language's static with a `match`, so a static (and every string in it) is used only by
//! the code that calls its method; with `--split` (ui/lazy.rs) it goes to that code's chunk. A
//! field of `Strings` itself is reachable from the header and so always in the main file: keep
//! there only what the main file's own views (the header, the versions page, toasts) show.
//! Adding a sub-table is one line in `sub_tables!` below (and its module).

use crate::model::{AlertKind, BatchStatus, ResultStatus, Role, VersionRunStatus};
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
mod version_form;
pub use version_form::VersionFormStrings;
mod batch_config;
pub use batch_config::BatchConfigStrings;
mod progress;
pub use progress::ProgressStrings;
mod cases;
pub use cases::CaseStrings;
mod batches;
pub use batches::BatchStrings;

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
    /// Which language these are: picks the sub-tables (`sub_tables!` below).
    lang: Lang,
    // Chrome
    pub nav_versions: &'static str,
    pub nav_cases: &'static str,
    pub nav_batches: &'static str,
    pub nav_dashboard: &'static str,
    // The user menu and the on/off of a row (the header, the versions page)
    pub nav_admin: &'static str,
    pub sign_out: &'static str,
    pub on: &'static str,
    pub off: &'static str,
    pub viewer: &'static str,
    pub editor: &'static str,
    pub admin: &'static str,
    /// A version's pinned workflow, on its row.
    /// The versions list's badge: `pinned 3c90c3cc…`.
    pub pinned_badge: fn(&str) -> String,
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
    // Form fields several forms share (versions, judges, cases, webhooks)
    pub f_name: &'static str,
    pub f_base_url: &'static str,
    pub f_api_key: &'static str,
    pub f_api_key_keep: fn(&str) -> String,
    pub f_api_key_new: &'static str,
    pub f_enabled: &'static str,
    // Batches anywhere: the header's monitor, its toasts, the status tags
    pub batch_id: &'static str,
    pub duration: fn(f64) -> String,
    pub average_score: &'static str,
    pub pass_rate: &'static str,
    pub failed: &'static str,
    /// A live alert's title, by kind.
    pub alert_title: fn(AlertKind) -> &'static str,
    pub alerts_heading: &'static str,
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
    // A result, on several pages
    pub f_query: &'static str,
    pub col_status: &'static str,
    pub errors: &'static str,
    pub live: &'static str,
    pub answer: &'static str,
    pub expected_answer: &'static str,
    pub score: &'static str,
    pub latency: &'static str,
    pub error: &'static str,
    pub none: &'static str,
}

impl Strings {
    pub fn role(&self, r: Role) -> &'static str {
        match r {
            Role::Viewer => self.viewer,
            Role::Editor => self.editor,
            Role::Admin => self.admin,
        }
    }

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

/// Declares the sub-tables (see the module comment): one line each,
/// `/// what it holds` then `method: Type in module;`.
macro_rules! sub_tables {
    ($($(#[$doc:meta])* $method:ident: $ty:ident in $module:ident;)*) => {
        impl Strings {$(
            $(#[$doc])*
            pub fn $method(&self) -> &'static $ty {
                match self.lang {
                    Lang::En => &$module::EN,
                    Lang::ZhTw => &$module::ZH_TW,
                }
            }
        )*}
    };
}

sub_tables! {
    /// Signing in, setup, the user menu, the admin page.
    acc: AccountStrings in accounts;
    /// The compare page.
    cmp: CompareStrings in compare;
    /// Repeats: the launch form, the matrix, the result dialog, the version cards.
    rep: RepeatStrings in repeats;
    /// Pinned workflow versions, what exactly was tested, app-changed warnings.
    idn: IdentityStrings in identity;
    /// Replaying a finished batch.
    rpl: ReplayStrings in replay;
    /// Judges: the judge page, their settings and their verdicts.
    jdg: JudgeStrings in judge;
    /// A run's totals on the batch page's cards.
    tot: TotalsStrings in totals;
    /// The trends dashboard and the history's filters, paging and delete.
    dash: DashStrings in dashboard;
    /// A result's node timeline, tools and retrieved chunks.
    trc: TraceStrings in trace;
    /// The admin page's webhooks and their delivery log.
    hook: WebhookStrings in webhooks;
    /// The version form (a dialog of the versions page, loaded on demand).
    vf: VersionFormStrings in version_form;
    /// The batch configuration (a dialog of the versions page, loaded on demand).
    cfg: BatchConfigStrings in batch_config;
    /// The progress modal (loaded on demand) and the batch page's live progress.
    prg: ProgressStrings in progress;
    /// The test cases page: the list, the case form, the import.
    cas: CaseStrings in cases;
    /// The history (`/batches`) and a batch's page: its cards, the matrix, a result.
    bat: BatchStrings in batches;
    /// The case form's inputs from the app (Load from Dify), its assertion editor, Run Batch CSV.
    inp: InputStrings in inputs;
    /// Multi-turn cases: the case form's turns, a result's turns.
    trn: TurnStrings in turns;
}

/// Whole seconds split into (hours, minutes, seconds).
fn hms(secs: f64) -> (u64, u64, u64) {
    let s = secs.max(0.0).round() as u64;
    (s / 3600, (s % 3600) / 60, s % 60)
}

pub static EN: Strings = Strings {
    lang: Lang::En,
    nav_versions: "Versions",
    nav_cases: "Test cases",
    nav_batches: "Batches",
    nav_dashboard: "Dashboard",
    nav_admin: "Admin",
    sign_out: "Sign out",
    on: "on",
    off: "off",
    viewer: "viewer",
    editor: "editor",
    admin: "admin",
    pinned_badge: |id| format!("pinned {}", identity::short(id)),
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
    f_name: "Name",
    f_base_url: "Base URL (Dify Service API)",
    f_api_key: "API key",
    f_api_key_keep: |hint| format!("Leave empty to keep the current key ({hint})"),
    f_api_key_new: "Stored on the server; never shown again",
    f_enabled: "Enabled",
    batch_id: "Batch ID",
    duration: |s| match hms(s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, _) => format!("{h} h {m:02} min"),
    },
    average_score: "Average score",
    pass_rate: "Pass rate",
    failed: "Failed",
    alert_title: |kind| match kind {
        AlertKind::ErrorSpike => "Error spike",
        AlertKind::TimeoutStreak => "Timeouts in a row",
        AlertKind::SlowLatency => "Slower than usual",
        AlertKind::PassRateDrop => "Pass rate below its previous run",
    },
    alerts_heading: "Alerts",
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
    f_query: "Query",
    col_status: "Status",
    errors: "Errors",
    live: "Live",
    answer: "Answer",
    expected_answer: "Expected answer",
    score: "Score",
    latency: "Latency",
    error: "Error",
    none: "none",
};

pub static ZH_TW: Strings = Strings {
    lang: Lang::ZhTw,
    nav_versions: "版本",
    nav_cases: "測試案例",
    nav_batches: "批次",
    nav_dashboard: "儀表板",
    nav_admin: "管理",
    sign_out: "登出",
    on: "啟用",
    off: "停用",
    viewer: "檢視者",
    editor: "編輯者",
    admin: "管理員",
    pinned_badge: |id| format!("固定 {}", identity::short(id)),
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
    f_name: "名稱",
    f_base_url: "API 位址（Dify Service API）",
    f_api_key: "API 金鑰",
    f_api_key_keep: |hint| format!("留空則保留目前的金鑰（{hint}）"),
    f_api_key_new: "儲存在伺服器上，之後不會再顯示",
    f_enabled: "啟用",
    batch_id: "批次 ID",
    duration: |s| match hms(s) {
        (0, 0, s) => format!("{s} 秒"),
        (0, m, s) => format!("{m} 分 {s} 秒"),
        (h, m, _) => format!("{h} 小時 {m} 分"),
    },
    average_score: "平均分數",
    pass_rate: "通過率",
    failed: "失敗",
    alert_title: |kind| match kind {
        AlertKind::ErrorSpike => "錯誤激增",
        AlertKind::TimeoutStreak => "連續逾時",
        AlertKind::SlowLatency => "比平常慢",
        AlertKind::PassRateDrop => "通過率低於上次執行",
    },
    alerts_heading: "警示",
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
    f_query: "問題",
    col_status: "狀態",
    errors: "錯誤",
    live: "即時",
    answer: "答案",
    expected_answer: "預期答案",
    score: "分數",
    latency: "延遲",
    error: "錯誤",
    none: "無",
};
