//! The strings of the batch configuration (a dialog of the versions page, loaded on demand).

pub struct BatchConfigStrings {
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
}

pub static EN: BatchConfigStrings = BatchConfigStrings {
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
        r => format!(
            "{v} version(s) × {c} case(s) × {r} repeats = {} tests",
            v * c * r
        ),
    },
    no_cases_selected: "No test case matches this choice.",
    start: "Start",
    starting: "Starting…",
};

pub static ZH_TW: BatchConfigStrings = BatchConfigStrings {
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
        r => format!(
            "{v} 個版本 × {c} 個案例 × {r} 次重複 = {} 個測試",
            v * c * r
        ),
    },
    no_cases_selected: "沒有符合此選擇的測試案例。",
    start: "開始",
    starting: "啟動中…",
};
