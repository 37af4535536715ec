//! The strings of replay: the batch page's Replay button and the replay dialog's controls.

pub struct ReplayStrings {
    pub replay: &'static str,
    /// The dialog's title: `Replay — nightly`.
    pub title: fn(&str) -> String,
    pub play: &'static str,
    pub pause: &'static str,
    pub restart: &'static str,
    pub speed: &'static str,
    pub position: &'static str,
    /// `Batch time 0:42 / 5:10`.
    pub batch_time: fn(&str, &str) -> String,
    /// `Replay time 0:04 / 0:31 at 10×`.
    pub replay_time: fn(&str, &str, u32) -> String,
    pub copy_link: &'static str,
    pub link_copied: &'static str,
    pub share_link: &'static str,
    pub loading: &'static str,
    /// Shown for a batch with no result to play.
    pub empty: &'static str,
}

pub static EN: ReplayStrings = ReplayStrings {
    replay: "Replay",
    title: |name| format!("Replay — {name}"),
    play: "Play",
    pause: "Pause",
    restart: "Restart",
    speed: "Speed",
    position: "Position",
    batch_time: |at, total| format!("Batch time {at} / {total}"),
    replay_time: |at, total, speed| format!("Replay time {at} / {total} at {speed}×"),
    copy_link: "Copy link",
    link_copied: "Link copied",
    share_link: "Link to this replay",
    loading: "Loading the batch's timeline…",
    empty: "This batch has no results to replay.",
};

pub static ZH_TW: ReplayStrings = ReplayStrings {
    replay: "重播",
    title: |name| format!("重播 — {name}"),
    play: "播放",
    pause: "暫停",
    restart: "從頭開始",
    speed: "速度",
    position: "位置",
    batch_time: |at, total| format!("批次時間 {at} / {total}"),
    replay_time: |at, total, speed| format!("重播時間 {at} / {total}（{speed}×）"),
    copy_link: "複製連結",
    link_copied: "已複製連結",
    share_link: "此重播的連結",
    loading: "正在載入批次的時間軸…",
    empty: "這個批次沒有可重播的結果。",
};
