//! The strings of the admin page's webhooks panel and its delivery log.

use crate::model::{DeliveryStatus, WebhookEvent};

pub struct WebhookStrings {
    pub webhooks: &'static str,
    pub help: &'static str,
    pub add: &'static str,
    pub new_title: &'static str,
    pub edit_title: &'static str,
    pub none: &'static str,
    pub f_url: &'static str,
    pub f_url_help: &'static str,
    pub f_events: &'static str,
    pub event: fn(&str) -> &'static str,
    pub f_secret: &'static str,
    pub f_secret_new: &'static str,
    pub f_secret_keep: fn(&str) -> String,
    pub regenerate: &'static str,
    pub secret_shown_once: &'static str,
    pub col_target: &'static str,
    pub col_events: &'static str,
    pub col_secret: &'static str,
    pub disabled: &'static str,
    pub send_test: &'static str,
    pub test_queued: &'static str,
    pub show_log: &'static str,
    pub log_of: fn(&str) -> String,
    pub no_deliveries: &'static str,
    pub refresh: &'static str,
    pub col_event: &'static str,
    pub col_status: &'static str,
    pub col_attempts: &'static str,
    pub col_http: &'static str,
    pub col_error: &'static str,
    pub col_created: &'static str,
    pub col_last_attempt: &'static str,
    pub status: fn(DeliveryStatus) -> &'static str,
    pub delete_confirm: fn(&str) -> String,
}

fn en_event(e: &str) -> &'static str {
    match WebhookEvent::parse(e) {
        Some(WebhookEvent::BatchCompleted) => "Batch completed",
        Some(WebhookEvent::BatchFailed) => "Batch failed",
        Some(WebhookEvent::BatchCancelled) => "Batch cancelled",
        Some(WebhookEvent::AlertRaised) => "Alert raised",
        None => "Test",
    }
}

fn zh_event(e: &str) -> &'static str {
    match WebhookEvent::parse(e) {
        Some(WebhookEvent::BatchCompleted) => "批次完成",
        Some(WebhookEvent::BatchFailed) => "批次失敗",
        Some(WebhookEvent::BatchCancelled) => "批次取消",
        Some(WebhookEvent::AlertRaised) => "發出警示",
        None => "測試",
    }
}

pub static EN: WebhookStrings = WebhookStrings {
    webhooks: "Webhooks",
    help: "A signed JSON POST when a batch ends or an alert is raised; Slack-compatible text. \
           Retried with backoff; the delivery log keeps each attempt's outcome.",
    add: "Add webhook",
    new_title: "New webhook",
    edit_title: "Edit webhook",
    none: "No webhooks yet.",
    f_url: "URL",
    f_url_help: "The receiver's address; private and loopback addresses need the server's \
                 --allow-host or --allow-private-targets.",
    f_events: "Events",
    event: en_event,
    f_secret: "Signing secret",
    f_secret_new: "Leave empty to have one generated (shown once), or enter 16 characters or more.",
    f_secret_keep: |hint| format!("Leave empty to keep the current secret ({hint})."),
    regenerate: "Generate a new secret",
    secret_shown_once: "The webhook's signing secret. It is shown this once: copy it to the \
                        receiver now.",
    col_target: "Webhook",
    col_events: "Events",
    col_secret: "Secret",
    disabled: "Disabled",
    send_test: "Send test",
    test_queued: "Test delivery queued.",
    show_log: "Deliveries",
    log_of: |name| format!("Deliveries of {name}"),
    no_deliveries: "No deliveries yet.",
    refresh: "Refresh",
    col_event: "Event",
    col_status: "Status",
    col_attempts: "Attempts",
    col_http: "HTTP",
    col_error: "Error",
    col_created: "Queued",
    col_last_attempt: "Last attempt",
    status: |s| match s {
        DeliveryStatus::Pending => "Pending",
        DeliveryStatus::Delivered => "Delivered",
        DeliveryStatus::Failed => "Failed",
    },
    delete_confirm: |name| {
        format!("Delete the webhook {name}? Its delivery log goes with it; pending deliveries are not sent.")
    },
};

pub static ZH_TW: WebhookStrings = WebhookStrings {
    webhooks: "Webhook",
    help: "批次結束或發出警示時，送出附簽章的 JSON POST，文字相容於 Slack。失敗會退避重試；傳送紀錄保留每次嘗試的結果。",
    add: "新增 Webhook",
    new_title: "新增 Webhook",
    edit_title: "編輯 Webhook",
    none: "尚無 Webhook。",
    f_url: "網址",
    f_url_help: "接收端位址；私有與迴路位址需要伺服器的 --allow-host 或 --allow-private-targets。",
    f_events: "事件",
    event: zh_event,
    f_secret: "簽章密鑰",
    f_secret_new: "留空則自動產生（只顯示一次），或輸入至少 16 個字元。",
    f_secret_keep: |hint| format!("留空則保留目前的密鑰（{hint}）。"),
    regenerate: "產生新的密鑰",
    secret_shown_once: "此 Webhook 的簽章密鑰只顯示這一次，請立即複製到接收端。",
    col_target: "Webhook",
    col_events: "事件",
    col_secret: "密鑰",
    disabled: "已停用",
    send_test: "傳送測試",
    test_queued: "已排入測試傳送。",
    show_log: "傳送紀錄",
    log_of: |name| format!("{name} 的傳送紀錄"),
    no_deliveries: "尚無傳送紀錄。",
    refresh: "重新整理",
    col_event: "事件",
    col_status: "狀態",
    col_attempts: "嘗試次數",
    col_http: "HTTP",
    col_error: "錯誤",
    col_created: "排入時間",
    col_last_attempt: "最後嘗試",
    status: |s| match s {
        DeliveryStatus::Pending => "等待中",
        DeliveryStatus::Delivered => "已送達",
        DeliveryStatus::Failed => "失敗",
    },
    delete_confirm: |name| format!("刪除 Webhook {name}？其傳送紀錄一併刪除，等待中的傳送不會送出。"),
};
