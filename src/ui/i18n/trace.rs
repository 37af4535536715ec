//! The strings of a result's node timeline, tools and retrieved chunks (the cell detail and the
//! compare page's opened case).

use crate::model::trace::NodeDifference;

pub struct TraceStrings {
    pub timeline: &'static str,
    /// A node's status as Dify reports it (`succeeded`, `failed`, `exception`, `stopped`,
    /// `running`), in words.
    pub status: fn(&str) -> String,
    /// "2 retries".
    pub retries: fn(u32) -> String,
    /// "12 more nodes not kept".
    pub dropped: fn(u32) -> String,
    pub output: &'static str,
    pub tools: &'static str,
    pub retrieved: &'static str,
    pub score: &'static str,
    /// "First differing node: LLM — its output differs".
    pub first_difference: &'static str,
    pub why: fn(NodeDifference) -> &'static str,
    pub same_nodes: &'static str,
}

pub static EN: TraceStrings = TraceStrings {
    timeline: "Node timeline",
    status: |s| {
        match s {
            "succeeded" => "succeeded",
            "failed" => "failed",
            "exception" => "exception (handled)",
            "stopped" => "stopped",
            "running" => "did not finish",
            other => return other.to_string(),
        }
        .to_string()
    },
    retries: |n| {
        if n == 1 {
            "1 retry".into()
        } else {
            format!("{n} retries")
        }
    },
    dropped: |n| format!("{n} more nodes not kept"),
    output: "Output",
    tools: "Tools called",
    retrieved: "Retrieved",
    score: "score",
    first_difference: "First differing node:",
    why: |d| match d {
        NodeDifference::Missing => "ran only in A",
        NodeDifference::Extra => "ran only in B",
        NodeDifference::Status => "it ended differently",
        NodeDifference::Output => "its output differs",
    },
    same_nodes: "Every node ran alike in both runs.",
};

pub static ZH_TW: TraceStrings = TraceStrings {
    timeline: "節點時間軸",
    status: |s| {
        match s {
            "succeeded" => "成功",
            "failed" => "失敗",
            "exception" => "例外（已處理）",
            "stopped" => "已停止",
            "running" => "未完成",
            other => return other.to_string(),
        }
        .to_string()
    },
    retries: |n| format!("重試 {n} 次"),
    dropped: |n| format!("另有 {n} 個節點未保留"),
    output: "輸出",
    tools: "呼叫的工具",
    retrieved: "檢索結果",
    score: "分數",
    first_difference: "第一個不同的節點：",
    why: |d| match d {
        NodeDifference::Missing => "只在 A 執行",
        NodeDifference::Extra => "只在 B 執行",
        NodeDifference::Status => "結束狀態不同",
        NodeDifference::Output => "輸出不同",
    },
    same_nodes: "兩次執行的每個節點都相同。",
};
