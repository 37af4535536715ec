//! Replay of a finished batch (`/batches/{id}`, and `?replay=1|10|60` to start one from a link):
//! the batch's timeline (`batch_timeline`) played through `model::replay` into the same
//! [`ProgressPanel`] the live modal shows — bars, statistics, current-test hint, alerts and
//! version rows — at 1×, 10× or 60×, with play / pause, restart, a position slider, the batch's
//! time against the replay's, and a shareable link.
//!
//! Self-contained: the batch page mounts [`ReplayLauncher`] and nothing else, so the replay can
//! live in its own lazily loaded chunk. The clock is the browser's: a 100 ms tick advances the
//! position by the real time elapsed × the speed, so a slow frame does not slow the replay.

use crate::api::batch_timeline;
use crate::model::replay::Replay;
use crate::model::{BatchId, Progress};
use crate::ui::browser;
use crate::ui::components::{use_toasts, Modal};
use crate::ui::i18n::use_i18n;
use crate::ui::progress_modal::ProgressPanel;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use std::sync::Arc;
use std::time::Duration;

/// The speeds a replay plays at; a link's `?replay=` takes one of them.
pub const SPEEDS: [u32; 3] = [1, 10, 60];
/// The speed the Replay button starts at.
const DEFAULT_SPEED: u32 = 10;
/// How often the position advances while playing.
const TICK: Duration = Duration::from_millis(100);

/// A link's `?replay=` value as a speed: `10`, `10x` or `10×`; anything else is refused with
/// the speeds allowed.
pub fn parse_speed(text: &str) -> Result<u32, String> {
    let digits = text.trim().trim_end_matches(['x', 'X', '×']);
    digits
        .parse::<u32>()
        .ok()
        .filter(|s| SPEEDS.contains(s))
        .ok_or_else(|| format!("replay speed `{text}` is not one of 1, 10 or 60"))
}

/// `m:ss`, or `h:mm:ss` from an hour on (ms rounded down to the second).
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The link that opens `id`'s page and starts its replay at `speed`.
pub fn replay_link(origin: &str, id: BatchId, speed: u32) -> String {
    format!("{origin}/batches/{id}?replay={speed}")
}

/// The Replay button of a finished batch, and its dialog; opens by itself when the page's link
/// asks for a replay (`?replay=10`). `batch` is None while the batch is unknown or running.
#[component]
pub fn ReplayLauncher(#[prop(into)] batch: Signal<Option<BatchId>>) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let query = use_query_map();
    let open = RwSignal::new(None::<u32>);
    let link_used = StoredValue::new(false);
    Effect::new(move |_| {
        if batch.get().is_none() || link_used.get_value() {
            return;
        }
        link_used.set_value(true);
        let asked = query.with_untracked(|q| q.get("replay"));
        match asked.as_deref().map(parse_speed) {
            Some(Ok(speed)) => open.set(Some(speed)),
            Some(Err(message)) => toasts.error(message),
            None => {}
        }
    });
    view! {
        <Show when=move || batch.get().is_some()>
            <div class="replay-launch">
                <button
                    type="button"
                    data-testid="replay-button"
                    on:click=move |_| open.set(Some(DEFAULT_SPEED))
                >
                    "▶ "{move || i18n.t().rpl().replay}
                </button>
            </div>
        </Show>
        {move || {
            let id = batch.get()?;
            let speed = open.get()?;
            let close = Callback::new(move |()| open.set(None));
            Some(view! { <ReplayModal id speed close/> })
        }}
    }
}

#[component]
fn ReplayModal(id: BatchId, speed: u32, close: Callback<()>) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let replay = RwSignal::new(None::<Arc<Replay>>);
    let failed = RwSignal::new(None::<String>);
    let position = RwSignal::new(0u64);
    let playing = RwSignal::new(true);
    let speed = RwSignal::new(speed);

    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            match batch_timeline(id).await {
                Ok(timeline) => match Replay::new(timeline) {
                    Ok(r) => replay.set(Some(Arc::new(r))),
                    Err(e) => failed.set(Some(e)),
                },
                Err(e) => failed.set(Some(e.message)),
            }
        });
    });
    let duration = Memo::new(move |_| replay.with(|r| r.as_ref().map_or(0, |r| r.duration_ms())));
    Effect::new(move |_| {
        let last = StoredValue::new(browser::now_ms());
        let handle = set_interval_with_handle(
            move || {
                let now = browser::now_ms();
                let elapsed = (now - last.get_value()).max(0.0);
                last.set_value(now);
                if !playing.get_untracked() || replay.with_untracked(Option::is_none) {
                    return;
                }
                let end = duration.get_untracked();
                let next =
                    position.get_untracked() + (elapsed * f64::from(speed.get_untracked())) as u64;
                if next >= end {
                    position.set(end);
                    playing.set(false);
                } else {
                    position.set(next);
                }
            },
            TICK,
        );
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    });

    let data = Memo::new(move |_| -> Option<Progress> {
        let r = replay.get()?;
        Some(r.progress_at(position.get()))
    });
    let running =
        Signal::derive(move || data.with(|p| p.as_ref().is_some_and(|p| !p.status.is_terminal())));
    let empty = Memo::new(move |_| {
        replay.with(|r| r.as_ref().is_some_and(|r| r.timeline().tests.is_empty()))
    });
    let name =
        Memo::new(move |_| replay.with(|r| r.as_ref().map(|r| r.timeline().batch_name.clone())));
    let toggle = move |_| {
        if playing.get_untracked() {
            playing.set(false);
        } else {
            if position.get_untracked() >= duration.get_untracked() {
                position.set(0);
            }
            playing.set(true);
        }
    };
    let restart = move |_| {
        position.set(0);
        playing.set(true);
    };
    let link = Memo::new(move |_| replay_link(&browser::origin(), id, speed.get()));
    let copy = move |_| {
        let text = link.get_untracked();
        leptos::task::spawn_local(async move {
            let t = i18n.t_untracked();
            if browser::copy_text(&text).await {
                toasts.success(t.rpl().link_copied);
            } else {
                toasts.info(format!("{}: {text}", t.rpl().share_link));
            }
        });
    };
    let times = move || {
        let t = i18n.t();
        let (at, end, s) = (position.get(), duration.get(), speed.get());
        let per = u64::from(s.max(1));
        format!(
            "{} · {}",
            (t.rpl().batch_time)(&clock(at), &clock(end)),
            (t.rpl().replay_time)(&clock(at / per), &clock(end / per), s)
        )
    };

    view! {
        <Modal
            title=Signal::derive(move || (i18n.t().rpl().title)(&name.get().unwrap_or_default()))
            dismissible=Signal::derive(|| true)
            on_dismiss=close
            class="modal-progress modal-replay"
            test_id="replay-modal"
        >
            {move || failed.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            <Show when=move || replay.with(Option::is_none) && failed.with(Option::is_none)>
                <p>{move || i18n.t().rpl().loading}</p>
            </Show>
            <Show when=move || empty.get()>
                <p class="notice notice-info" role="status">{move || i18n.t().rpl().empty}</p>
            </Show>
            <Show when=move || replay.with(Option::is_some)>
                <div class="replay-controls">
                    <button
                        type="button"
                        data-testid="replay-play"
                        aria-pressed=move || playing.get().to_string()
                        on:click=toggle
                    >
                        {move || if playing.get() { i18n.t().rpl().pause } else { i18n.t().rpl().play }}
                    </button>
                    <button type="button" data-testid="replay-restart" on:click=restart>
                        {move || i18n.t().rpl().restart}
                    </button>
                    <div class="replay-speeds" role="group" aria-label=move || i18n.t().rpl().speed>
                        {SPEEDS.map(|s| view! {
                            <button
                                type="button"
                                data-testid=format!("replay-speed-{s}")
                                aria-pressed=move || (speed.get() == s).to_string()
                                on:click=move |_| speed.set(s)
                            >
                                {format!("{s}×")}
                            </button>
                        })}
                    </div>
                </div>
                <input
                    type="range"
                    class="replay-slider"
                    data-testid="replay-position"
                    min="0"
                    max=move || duration.get().to_string()
                    step=move || (duration.get() / 500).max(1).to_string()
                    prop:value=move || position.get().to_string()
                    aria-label=move || i18n.t().rpl().position
                    aria-valuetext=move || format!("{} / {}", clock(position.get()), clock(duration.get()))
                    on:input=move |ev| {
                        if let Ok(ms) = event_target_value(&ev).parse::<u64>() {
                            position.set(ms.min(duration.get_untracked()));
                        }
                    }
                />
                <p class="replay-times" data-testid="replay-times" aria-live="off">{times}</p>
                <ProgressPanel data running/>
                <div class="replay-share">
                    <label>
                        <span class="label">{move || i18n.t().rpl().share_link}</span>
                        <input type="text" readonly data-testid="replay-link" prop:value=move || link.get()/>
                    </label>
                    <button type="button" data-testid="replay-copy" on:click=copy>
                        {move || i18n.t().rpl().copy_link}
                    </button>
                </div>
            </Show>
            <div class="modal-foot">
                <button type="button" data-autofocus on:click=move |_| close.run(())>
                    {move || i18n.t().close}
                </button>
            </div>
        </Modal>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_from_a_link() {
        assert_eq!(parse_speed("10"), Ok(10));
        assert_eq!(parse_speed("60x"), Ok(60));
        assert_eq!(parse_speed(" 1× "), Ok(1));
        assert_eq!(
            parse_speed("7"),
            Err("replay speed `7` is not one of 1, 10 or 60".into())
        );
        assert!(parse_speed("fast").is_err());
        assert!(parse_speed("").is_err());
    }

    #[test]
    fn clocks() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(999), "0:00");
        assert_eq!(clock(61_500), "1:01");
        assert_eq!(clock(3_723_000), "1:02:03");
    }

    #[test]
    fn links() {
        assert_eq!(
            replay_link("http://127.0.0.1:3000", BatchId(4), 60),
            "http://127.0.0.1:3000/batches/4?replay=60"
        );
    }
}
