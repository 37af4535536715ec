//! The strings of the history (`/batches`) and a batch's page: its cards, the matrix, a result.

pub struct BatchStrings {
    pub batches_title: &'static str,
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
    pub result_title: fn(&str, &str) -> String,
    pub keywords_hit: &'static str,
    pub keywords_missed: &'static str,
    pub ttft: &'static str,
    pub tokens: &'static str,
    pub attempts: &'static str,
    pub not_run_yet: &'static str,
    pub page_n_of: fn(usize, usize) -> String,
}

pub static EN: BatchStrings = BatchStrings {
    batches_title: "Batches",
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
    result_title: |case, version| format!("{case} — {version}"),
    keywords_hit: "Keywords hit",
    keywords_missed: "Keywords missed",
    ttft: "Time to first token",
    tokens: "Tokens (prompt / completion / total)",
    attempts: "Attempts",
    not_run_yet: "Not run yet.",
    page_n_of: |n, of| format!("Page {n} of {of}"),
};

pub static ZH_TW: BatchStrings = BatchStrings {
    batches_title: "批次",
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
    result_title: |case, version| format!("{case} — {version}"),
    keywords_hit: "命中的關鍵字",
    keywords_missed: "缺少的關鍵字",
    ttft: "首個 token 時間",
    tokens: "Token（提示 / 生成 / 總計）",
    attempts: "嘗試次數",
    not_run_yet: "尚未執行。",
    page_n_of: |n, of| format!("第 {n} 頁，共 {of} 頁"),
};
