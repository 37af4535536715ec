//! The strings of a run's totals on the batch page's per-version cards.

pub struct TotalsStrings {
    pub tokens: &'static str,
    /// "prompt 1,200 · completion 3,400".
    pub token_split: fn(&str, &str) -> String,
    pub cost: &'static str,
    pub latency: &'static str,
    pub ttft: &'static str,
    /// The label of the list of error codes under the error count.
    pub errors_by_code: &'static str,
    /// An error recorded without a code.
    pub no_code: &'static str,
}

pub static EN: TotalsStrings = TotalsStrings {
    tokens: "Tokens",
    token_split: |p, c| format!("prompt {p} · completion {c}"),
    cost: "Cost",
    latency: "Latency p50 / p95",
    ttft: "TTFT p50 / p95",
    errors_by_code: "Errors by code",
    no_code: "(no code)",
};

pub static ZH_TW: TotalsStrings = TotalsStrings {
    tokens: "Token 數",
    token_split: |p, c| format!("提示 {p} · 生成 {c}"),
    cost: "費用",
    latency: "延遲 p50 / p95",
    ttft: "首字時間 p50 / p95",
    errors_by_code: "依代碼的錯誤",
    no_code: "（無代碼）",
};
