//! The strings of repeats: the launch form, the matrix's k/N cells, the result dialog's list of
//! repetitions, and the per-version cards.

pub struct RepeatStrings {
    pub f_repeats: &'static str,
    pub f_repeats_help: &'static str,
    /// Cell label: `3/5 passed`.
    pub k_of_n: fn(u32, u32) -> String,
    pub flaky: &'static str,
    pub flaky_help: &'static str,
    pub repeats: &'static str,
    /// `#2` in the list of repetitions.
    pub repeat_n: fn(u32) -> String,
    /// `3 of 5 repeats passed`.
    pub passed_of: fn(u32, u32) -> String,
    /// The spread of the repeats' scores: `mean 71.2 · sd 8.4 · min 60 · max 83`.
    pub spread: fn(f64, f64, f64, f64) -> String,
    pub pass_all: &'static str,
    pub pass_all_help: &'static str,
    pub flaky_cases: &'static str,
    pub repeats_badge: fn(u32) -> String,
}

pub static EN: RepeatStrings = RepeatStrings {
    f_repeats: "Repeats per case",
    f_repeats_help:
        "Run every case this many times (1–20): repeats tell a flaky case from a broken one",
    k_of_n: |k, n| format!("{k}/{n} passed"),
    flaky: "flaky",
    flaky_help: "Flaky: some repeats passed and some did not",
    repeats: "Repeats",
    repeat_n: |n| format!("#{n}"),
    passed_of: |k, n| format!("{k} of {n} repeats passed"),
    spread: |mean, sd, min, max| {
        format!("mean {mean:.1} · sd {sd:.1} · min {min:.0} · max {max:.0}")
    },
    pass_all: "Every repeat passed",
    pass_all_help: "pass^k: cases whose every repeat passed, of the cases run",
    flaky_cases: "Flaky cases",
    repeats_badge: |r| format!("× {r} repeats"),
};

pub static ZH_TW: RepeatStrings = RepeatStrings {
    f_repeats: "每個案例重複次數",
    f_repeats_help: "每個案例執行這麼多次（1–20）：重複執行可分辨不穩定的案例與真正壞掉的案例",
    k_of_n: |k, n| format!("{k}/{n} 通過"),
    flaky: "不穩定",
    flaky_help: "不穩定：部分重複通過、部分未通過",
    repeats: "重複執行",
    repeat_n: |n| format!("第 {n} 次"),
    passed_of: |k, n| format!("{n} 次中 {k} 次通過"),
    spread: |mean, sd, min, max| {
        format!("平均 {mean:.1} · 標準差 {sd:.1} · 最低 {min:.0} · 最高 {max:.0}")
    },
    pass_all: "全部重複皆通過",
    pass_all_help: "pass^k：每次重複都通過的案例占已執行案例的比例",
    flaky_cases: "不穩定案例",
    repeats_badge: |r| format!("× {r} 次重複"),
};
