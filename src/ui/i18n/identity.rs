//! The strings of pinned workflow versions and "what exactly was tested": the version form's
//! pin, the batch page's per-version app record, and the "app changed" warnings (batch page and
//! compare page).

use crate::model::identity::AppChangeKind;

pub struct IdentityStrings {
    pub f_workflow_id: &'static str,
    pub f_workflow_id_help: &'static str,
    pub tested_title: &'static str,
    pub tested_help: &'static str,
    pub app_name: &'static str,
    pub mode: &'static str,
    pub workflow_pinned: &'static str,
    pub workflow_seen: &'static str,
    pub latest_published: &'static str,
    pub not_seen: &'static str,
    pub input_form: &'static str,
    pub form_fields: fn(usize) -> String,
    pub form_too_large: &'static str,
    pub unknown: &'static str,
    pub not_recorded: &'static str,
    pub changed_title: &'static str,
    /// `its workflow version was A, now B`.
    pub change: fn(AppChangeKind, &str, &str) -> String,
    /// `since batch #12`.
    pub since_batch: fn(i64) -> String,
    pub changed_advice: &'static str,
}

pub(super) fn short(id: &str) -> String {
    let head: String = id.chars().take(8).collect();
    if id.chars().count() > 8 {
        format!("{head}…")
    } else {
        head
    }
}

pub static EN: IdentityStrings = IdentityStrings {
    f_workflow_id: "Pinned workflow version (workflow and chatflow apps)",
    f_workflow_id_help: "Optional: the workflow id (a UUID) of a published version to run. \
                         Empty: the app's latest published version",
    tested_title: "What exactly was tested",
    tested_help: "Each version's app as Dify described it when the batch launched",
    app_name: "App",
    mode: "Mode",
    workflow_pinned: "Workflow pinned",
    workflow_seen: "Workflow that answered",
    latest_published: "latest published",
    not_seen: "none named yet",
    input_form: "Input form",
    form_fields: |n| match n {
        1 => "1 field".to_string(),
        n => format!("{n} fields"),
    },
    form_too_large: "too large to keep; fingerprinted",
    unknown: "unknown",
    not_recorded: "Not recorded (the batch ran before dify-bench recorded apps, or the launch is still reading it)",
    changed_title: "The app changed underneath this version",
    change: |kind, before, after| {
        let what = match kind {
            AppChangeKind::WorkflowId => "workflow version",
            AppChangeKind::Mode => "mode",
            AppChangeKind::InputForm => "input form",
        };
        format!("its {what} was {before}, now {after}")
    },
    since_batch: |n| format!("since batch #{n}"),
    changed_advice: "Score differences may come from the app, not the prompt.",
};

pub static ZH_TW: IdentityStrings = IdentityStrings {
    f_workflow_id: "固定的工作流版本（工作流與 Chatflow 應用）",
    f_workflow_id_help: "選填：要執行的已發布版本之工作流 ID（UUID）。留空：應用最新發布的版本",
    tested_title: "實際測試的內容",
    tested_help: "批次啟動時 Dify 所描述的各版本應用",
    app_name: "應用",
    mode: "類型",
    workflow_pinned: "固定的工作流",
    workflow_seen: "實際回答的工作流",
    latest_published: "最新發布",
    not_seen: "尚未得知",
    input_form: "輸入表單",
    form_fields: |n| format!("{n} 個欄位"),
    form_too_large: "過大未保存；已計算指紋",
    unknown: "未知",
    not_recorded: "未記錄（此批次在 dify-bench 記錄應用之前執行，或啟動時仍在讀取）",
    changed_title: "此版本背後的應用已變更",
    change: |kind, before, after| {
        let what = match kind {
            AppChangeKind::WorkflowId => "工作流版本",
            AppChangeKind::Mode => "應用類型",
            AppChangeKind::InputForm => "輸入表單",
        };
        format!("{what}原為 {before}，現為 {after}")
    },
    since_batch: |n| format!("自批次 #{n} 起"),
    changed_advice: "分數差異可能來自應用本身，而非提示詞。",
};
