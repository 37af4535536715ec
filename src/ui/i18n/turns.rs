//! The strings of multi-turn cases: the case form's turns editor, the cases table's marker and
//! a result's turns in the cell detail.

pub struct TurnStrings {
    /// The case form's section.
    pub turns: &'static str,
    pub turns_help: &'static str,
    /// "Turn 2".
    pub turn_n: fn(usize) -> String,
    pub add_turn: &'static str,
    pub remove_turn: &'static str,
    pub move_up: &'static str,
    pub move_down: &'static str,
    /// A problem of one turn, on save: "Turn 3: Assertions: …".
    pub turn_error: fn(usize, &str) -> String,
    /// A turn's own inputs.
    pub turn_inputs: &'static str,
    pub turn_inputs_help: &'static str,
    /// The cases table: "3 turns".
    pub n_turns: fn(usize) -> String,
    /// The cell detail's section.
    pub conversation: &'static str,
    pub query: &'static str,
    pub answer: &'static str,
    pub no_answer: &'static str,
}

pub static EN: TurnStrings = TurnStrings {
    turns: "Conversation turns",
    turns_help: "Turn 1 is the query above. Each later turn is sent in the same Dify \
                 conversation (chat, agent and chatflow apps) and scored on its own; the case \
                 passes only when every turn passes.",
    turn_n: |n| format!("Turn {n}"),
    add_turn: "Add a turn",
    remove_turn: "Remove turn",
    move_up: "Move up",
    move_down: "Move down",
    turn_error: |n, e| format!("Turn {n}: {e}"),
    turn_inputs: "Inputs for this turn",
    turn_inputs_help:
        "Sent over the case's inputs with this turn; an input left empty keeps the case's value.",
    n_turns: |n| format!("{n} turns"),
    conversation: "Turns",
    query: "Query",
    answer: "Answer",
    no_answer: "no answer",
};

pub static ZH_TW: TurnStrings = TurnStrings {
    turns: "對話輪次",
    turns_help: "第 1 輪是上方的查詢。之後每一輪都在同一個 Dify 對話中送出（聊天、Agent 與 \
                 Chatflow 應用），各自評分；每一輪都通過，案例才算通過。",
    turn_n: |n| format!("第 {n} 輪"),
    add_turn: "新增一輪",
    remove_turn: "移除此輪",
    move_up: "上移",
    move_down: "下移",
    turn_error: |n, e| format!("第 {n} 輪：{e}"),
    turn_inputs: "此輪的輸入變數",
    turn_inputs_help: "此輪送出時覆蓋案例的輸入變數；留空的輸入變數沿用案例的值。",
    n_turns: |n| format!("{n} 輪"),
    conversation: "各輪",
    query: "查詢",
    answer: "回答",
    no_answer: "沒有回答",
};
