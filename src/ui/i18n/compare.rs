//! The strings of the compare page.

use crate::model::compare::{CaseClass, Verdict};

pub struct CompareStrings {
    pub title: &'static str,
    pub baseline: &'static str,
    pub candidate: &'static str,
    pub compare: &'static str,
    pub compare_versions: &'static str,
    pub metric: &'static str,
    pub delta: &'static str,
    pub pass_rate: &'static str,
    pub mean_score: &'static str,
    pub p_value: &'static str,
    pub latency: &'static str,
    pub ttft: &'static str,
    pub latency_delta: &'static str,
    pub tokens: &'static str,
    pub cost: &'static str,
    pub case: &'static str,
    pub class: &'static str,
    pub all: &'static str,
    pub no_rows: &'static str,
    pub only_in: fn(u64, u64) -> String,
    pub worse: &'static str,
    pub better: &'static str,
    pub no_difference: &'static str,
    pub not_enough: &'static str,
    pub regressed: &'static str,
    pub improved: &'static str,
    pub unchanged: &'static str,
    pub inconclusive: &'static str,
    pub case_changed: &'static str,
}

impl CompareStrings {
    pub fn verdict(&self, v: Verdict) -> &'static str {
        match v {
            Verdict::Worse => self.worse,
            Verdict::Better => self.better,
            Verdict::NoDetectableDifference => self.no_difference,
            Verdict::NotEnoughData => self.not_enough,
        }
    }

    pub fn class(&self, c: CaseClass) -> &'static str {
        match c {
            CaseClass::Regressed => self.regressed,
            CaseClass::Improved => self.improved,
            CaseClass::Unchanged => self.unchanged,
            CaseClass::Inconclusive => self.inconclusive,
            CaseClass::CaseChanged => self.case_changed,
        }
    }
}

pub static EN: CompareStrings = CompareStrings {
    title: "Compare runs",
    baseline: "Baseline (A)",
    candidate: "Candidate (B)",
    compare: "Compare",
    compare_versions: "Compare two versions of this batch",
    metric: "Metric",
    delta: "B − A (95 % CI)",
    pass_rate: "Pass rate",
    mean_score: "Mean score",
    p_value: "p (McNemar, pass/fail flips)",
    latency: "Latency p50 / p95",
    ttft: "Time to first token p50 / p95",
    latency_delta: "Latency Δ (ms)",
    tokens: "Total tokens",
    cost: "Total cost",
    case: "Case",
    class: "Class",
    all: "All",
    no_rows: "No case in this class.",
    only_in: |a, b| format!("Not compared: {a} cases only in A, {b} only in B."),
    worse: "B is worse than A",
    better: "B is better than A",
    no_difference: "No detectable difference",
    not_enough: "Not enough data",
    regressed: "regressed",
    improved: "improved",
    unchanged: "unchanged",
    inconclusive: "inconclusive",
    case_changed: "case changed",
};

pub static ZH_TW: CompareStrings = CompareStrings {
    title: "比較執行",
    baseline: "基準 (A)",
    candidate: "候選 (B)",
    compare: "比較",
    compare_versions: "比較此批次的兩個版本",
    metric: "指標",
    delta: "B − A（95 % 信賴區間）",
    pass_rate: "通過率",
    mean_score: "平均分數",
    p_value: "p 值（McNemar，通過／失敗翻轉）",
    latency: "延遲 p50 / p95",
    ttft: "首字時間 p50 / p95",
    latency_delta: "延遲 Δ（毫秒）",
    tokens: "總 token 數",
    cost: "總費用",
    case: "案例",
    class: "分類",
    all: "全部",
    no_rows: "此分類沒有案例。",
    only_in: |a, b| format!("未比較：{a} 個案例只在 A，{b} 個只在 B。"),
    worse: "B 比 A 差",
    better: "B 比 A 好",
    no_difference: "沒有可偵測的差異",
    not_enough: "資料不足",
    regressed: "退步",
    improved: "進步",
    unchanged: "不變",
    inconclusive: "無法判定",
    case_changed: "案例已變更",
};
