//! The batch page (`/batches/{id}`): per-version summary cards (with each run's tokens, cost,
//! latency percentiles and errors by code, `run_totals`), the case × version matrix
//! coloured by score / pass, a result's details on click, live while the batch runs (the same
//! progress stream as the modal refreshes the page), cancel, re-run failed tests, and links to the
//! CSV / JSON exports.
//!
//! The page loads one page of cases at a time (`batch_page`, `?page=N` in the URL): the server
//! computes the summaries and sends that page's outcomes only; a result's answer and details are
//! fetched when its cell is opened (`batch_result_repeats`: every repetition of the test). So a 100,000-test batch loads as fast as a
//! small one. Exports are streamed by the server (`/api/batches/{id}/results.csv|json|junit.xml`).

use crate::api::{
    batch_case, batch_page, batch_result_repeats, cancel_batch, rerun_failed, ErrorKind,
};
use crate::model::Role;
use crate::model::{
    BatchId, BatchView, CaseId, ResultCell, ResultStatus, RunTotals, TestCase, VersionId,
};
use crate::ui::app_identity::WhatWasTested;
use crate::ui::batches::batch_duration_secs;
use crate::ui::components::{
    use_confirm, use_toasts, AlertBanners, BatchStatusTag, ConnectionTag, LocalTime, Modal,
    ProgressBar,
};
use crate::ui::format;
use crate::ui::i18n::use_i18n;
use crate::ui::monitor::use_monitor;
use crate::ui::progress_modal::FlameIcon;
use crate::ui::replay::ReplayLauncher;
use crate::ui::result_facts::{ResultFacts, ResultOutcome};
use crate::ui::review::{ReviewBox, ReviewQueue};
use crate::ui::run_totals::{ErrorCodes, RunTotalsRows};
use crate::ui::session::IfRole;
use crate::ui::use_batch_progress::{use_batch_progress, BatchProgress};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use leptos_router::NavigateOptions;
use std::collections::HashMap;

/// While running, the page is re-read about this many times over the whole batch.
const LIVE_REFRESHES: u64 = 25;

#[component]
pub fn BatchPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let query = use_query_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<i64>().ok())
            .map(BatchId)
    });
    // `?page=N` counts from 1, as the pager shows it; the API counts from 0.
    let page = Memo::new(move |_| {
        query
            .read()
            .get("page")
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(0, |n| n.saturating_sub(1))
    });
    // The stream is opened only for a batch that exists and runs; a finished one's page never
    // changes.
    let live_id = RwSignal::new(None::<BatchId>);
    let progress = use_batch_progress(live_id.into());
    let refresh = Memo::new(move |_| {
        progress.data.with(|d| {
            d.as_ref().map(|p| {
                let step = (p.total_tests / LIVE_REFRESHES).max(1);
                (p.completed_tests / step, p.status)
            })
        })
    });
    let reload = RwSignal::new(0u64);
    let report = Resource::new(
        move || (id.get(), page.get(), refresh.get(), reload.get()),
        |(id, page, _, _)| async move {
            match id {
                Some(id) => batch_page(id, Some(page)).await.map(Some),
                None => Ok(None),
            }
        },
    );
    // The open result's details outlive the page's live refreshes, not a change of page. The
    // dialog sits outside the <Transition> (which rebuilds the page on every refresh), so it
    // reads the last page loaded, kept here by an effect: resources are read in Suspense only.
    let selected = RwSignal::new(None::<(VersionId, CaseId)>);
    let loaded = RwSignal::new(None::<BatchView>);
    Effect::new(move |_| {
        if let Some(Ok(Some(view))) = report.get() {
            loaded.set(Some(view));
        }
    });
    Effect::new(move |prev: Option<(Option<BatchId>, u64)>| {
        let now = (id.get(), page.get());
        if prev.is_some_and(|p| p != now) {
            selected.set(None);
        }
        now
    });
    Effect::new(move |_| {
        let running = report.with(|r| match r {
            Some(Ok(Some(r))) if !r.batch.status.is_terminal() => Some(r.batch.id),
            _ => None,
        });
        if let Some(running) = running {
            if live_id.get_untracked() != Some(running) {
                live_id.set(Some(running));
            }
        } else if live_id.get_untracked().is_some() && live_id.get_untracked() != id.get_untracked()
        {
            live_id.set(None);
        }
    });

    // Only a finished batch can be replayed.
    let finished = Memo::new(move |_| {
        loaded.with(|v| {
            v.as_ref()
                .filter(|v| v.batch.status.is_terminal())
                .map(|v| v.batch.id)
        })
    });
    let on_review = Callback::new(move |()| reload.update(|n| *n += 1));
    let open_result = Callback::new(move |key| selected.set(Some(key)));
    view! {
        <p><a href="/batches">{move || i18n.t().bat().back_to_batches}</a></p>
        <ReplayLauncher batch=finished/>
        <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
            {move || {
                match report.get()? {
                    Err(e) if e.error == ErrorKind::NotFound => Some(view! {
                        <p class="notice notice-error" role="alert" data-testid="notice">{move || i18n.t().prg().batch_not_found}</p>
                    }.into_any()),
                    Err(e) => Some(view! { <p class="error" role="alert">{e.message}</p> }.into_any()),
                    Ok(None) => Some(view! {
                        <p class="notice notice-error" role="alert" data-testid="notice">{move || i18n.t().prg().batch_not_found}</p>
                    }.into_any()),
                    Ok(Some(v)) => Some(view! { <BatchBody view=v progress reload live_id selected/> }.into_any()),
                }
            }}
        </Transition>
        <WhatWasTested batch=id refresh=Signal::derive(move || {
            refresh.get().map_or(0, |(n, s)| n * 2 + u64::from(s.is_terminal()))
        })/>
        {move || {
            let b = loaded.with(|v| {
                v.as_ref()
                    .filter(|v| v.batch.status.is_terminal())
                    .map(|v| v.batch.id)
            })?;
            Some(view! { <ReviewQueue batch=b reload=reload.into() open=open_result/> })
        }}
        {move || selected.get().map(|(v, c)| view! {
            <ResultDetail loaded=loaded.read_only() version=v case=c selected on_review/>
        })}
    }
}

#[component]
fn BatchBody(
    view: BatchView,
    progress: BatchProgress,
    reload: RwSignal<u64>,
    live_id: RwSignal<Option<BatchId>>,
    selected: RwSignal<Option<(VersionId, CaseId)>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let confirm = use_confirm();
    let monitor = use_monitor();
    let b = view.batch.clone();
    let id = b.id;
    let status = b.status;
    let running = !status.is_terminal();
    // Errors to re-run, or (a batch that stopped on an error or was cancelled) tests with no
    // result: `rerun_failed` runs both.
    let can_rerun = view.has_errors || (status.is_terminal() && b.completed_tests < b.total_tests);

    let cancel = move |_| {
        let t = i18n.t_untracked();
        confirm.ask(
            t.prg().cancel_confirm,
            t.prg().cancel_batch,
            true,
            move || {
                leptos::task::spawn_local(async move {
                    match cancel_batch(id).await {
                        Ok(()) => reload.update(|n| *n += 1),
                        Err(e) => toasts.error(e.message),
                    }
                });
            },
        );
    };
    let rerun = move |_| {
        let t = i18n.t_untracked();
        confirm.ask(
            t.bat().rerun_confirm,
            t.bat().rerun_failed,
            false,
            move || {
                leptos::task::spawn_local(async move {
                    match rerun_failed(id).await {
                        Ok(n) => {
                            toasts.info((i18n.t_untracked().bat().rerun_started)(n));
                            live_id.set(None);
                            reload.update(|x| *x += 1);
                            monitor.running_tick.update(|x| *x += 1);
                        }
                        Err(e) => toasts.error(e.message),
                    }
                });
            },
        );
    };
    let duration = b.finished_at.and_then(|_| batch_duration_secs(&b, 0.0));
    let live = move || {
        running
            && progress
                .data
                .with(|d| d.as_ref().is_some_and(|p| !p.status.is_terminal()))
    };
    let repeats = b.repeats.max(1);
    let dup = view.duplicate_work;
    let duplicate_note = (dup.reclaimed_tests > 0 || dup.duplicate_results > 0).then(|| {
        view! {
            <p class="muted" data-testid="duplicate-work">
                {move || (i18n.t().bat().duplicate_work)(dup.reclaimed_tests, dup.duplicate_results)}
            </p>
        }
    });
    // Alerts: the live stream's while it runs (they only grow), else the stored ones.
    let stored_alerts = view.alerts.clone();
    let alerts = Memo::new(move |_| {
        let live = progress.data.with(|d| {
            d.as_ref()
                .filter(|p| p.batch_id == id)
                .map(|p| p.alerts.clone())
                .unwrap_or_default()
        });
        if live.len() >= stored_alerts.len() {
            live
        } else {
            stored_alerts.clone()
        }
    });
    let version_names: Vec<(VersionId, String)> = b
        .versions
        .iter()
        .map(|v| (v.version_id, v.name.clone()))
        .collect();
    let per_version_total = view.total_cases * u64::from(repeats);
    let cards = b
        .versions
        .iter()
        .map(|v| {
            let s = view
                .summaries
                .iter()
                .find(|s| s.version_id == v.version_id)
                .cloned();
            let completed = s.as_ref().map_or(0, |s| s.completed);
            let pct = if per_version_total > 0 {
                completed as f64 * 100.0 / per_version_total as f64
            } else {
                0.0
            };
            let field = |f: fn(&crate::model::VersionSummary) -> Option<f64>| s.as_ref().and_then(f);
            let (average, rate, latency) = (
                field(|s| s.average_score),
                field(|s| s.pass_rate),
                field(|s| s.avg_latency_ms),
            );
            let errors = s.as_ref().map_or(0, |s| s.errors);
            let totals = view
                .run_totals
                .iter()
                .find(|t| t.version_id == v.version_id)
                .cloned()
                .unwrap_or_else(|| RunTotals::empty(v.version_id));
            let error_codes = totals.errors.clone();
            let name = v.name.clone();
            let rep = view
                .repeat_stats
                .iter()
                .find(|r| r.version_id == v.version_id)
                .cloned();
            let judge_rows = s.as_ref().and_then(|s| s.judge).map(|j| {
                let cost = match (j.tokens, j.cost) {
                    (None, None) => None,
                    (t, c) => Some(format!(
                        "{} tokens · {}",
                        t.unwrap_or(0),
                        c.map_or_else(|| "—".to_string(), |c| format!("{c:.4}"))
                    )),
                };
                view! {
                    <dt>{move || i18n.t().jdg().judge_mean}</dt>
                    <dd data-testid="judge-mean">{format::score(j.average_score)}</dd>
                    <dt>{move || i18n.t().jdg().judge}</dt>
                    <dd data-testid="judge-calls">
                        {move || (i18n.t().jdg().judge_calls)(j.judged, j.cached, j.errors)}
                        {cost.clone().map(|c| view! { <br/><span class="muted">{c}</span> })}
                    </dd>
                }
            });
            let review_rows = s.as_ref().filter(|s| s.reviewed > 0).map(|s| {
                let (n, rate) = (s.reviewed, s.reviewed_pass_rate);
                view! {
                    <dt>{move || i18n.t().jdg().reviewed_pass_rate}</dt>
                    <dd data-testid="reviewed-pass-rate">
                        {format::percent(rate)}" "
                        <span class="muted">{move || (i18n.t().jdg().reviewed_count)(n)}</span>
                    </dd>
                }
            });
            let repeat_rows = (repeats > 1).then(|| {
                let (pass_all, flaky) = rep.as_ref().map_or((None, 0), |r| (r.pass_all_rate(), r.flaky));
                view! {
                    <dt title=move || i18n.t().rep().pass_all_help>{move || i18n.t().rep().pass_all}" (pass^"{repeats}")"</dt>
                    <dd data-testid="pass-all">{format::percent(pass_all)}</dd>
                    <dt>{move || i18n.t().rep().flaky_cases}</dt>
                    <dd data-testid="flaky-cases">{flaky}</dd>
                }
            });
            view! {
                <div class="summary-card" data-testid="version-card">
                    <strong>{v.name.clone()}</strong>
                    <span class="muted mono">{v.app_mode.as_str()}" · "{v.api_key_hint.clone()}</span>
                    <ProgressBar value=pct label=name thin=true/>
                    <dl>
                        <dt>{move || i18n.t().bat().col_tests}</dt><dd>{completed}" / "{per_version_total}</dd>
                        <dt>{move || i18n.t().average_score}</dt><dd>{format::score(average)}</dd>
                        <dt>{move || i18n.t().pass_rate}</dt><dd data-testid="pass-rate">{format::percent(rate)}</dd>
                        {review_rows}
                        {judge_rows}
                        <dt>{move || i18n.t().errors}</dt><dd>{errors}</dd>
                        <ErrorCodes errors=error_codes/>
                        <dt>{move || i18n.t().bat().avg_latency}</dt><dd>{format::millis(latency.map(|l| l.round() as i64))}</dd>
                        {repeat_rows}
                        <RunTotalsRows totals/>
                    </dl>
                    <a class="card-link" data-testid="compare-previous"
                        href=crate::ui::compare::compare_href(None, &format!("{id}:{}", v.version_id), None, 0)>
                        {move || i18n.t().cmp().vs_previous}
                    </a>
                </div>
            }
        })
        .collect_view();

    view! {
        <div class="page-head">
            <h1>{b.name.clone()}</h1>
            <div class="actions">
                <IfRole min=Role::Editor>
                    {running.then(|| view! {
                        <button type="button" class="danger" on:click=cancel>{move || i18n.t().prg().cancel_batch}</button>
                    })}
                    {(!running && can_rerun).then(|| view! {
                        <button type="button" on:click=rerun>{move || i18n.t().bat().rerun_failed}</button>
                    })}
                </IfRole>
                // Plain downloads: the server streams every result; the router leaves `download`
                // links to the browser.
                <a class="button-link" href=format!("/api/batches/{id}/results.csv") download=format!("batch-{id}.csv")>
                    {move || i18n.t().export_csv}
                </a>
                <a class="button-link" href=format!("/api/batches/{id}/results.json") download=format!("batch-{id}.json")>
                    {move || i18n.t().export_json}
                </a>
                <a class="button-link" href=format!("/api/batches/{id}/results.junit.xml") download=format!("batch-{id}.junit.xml")>
                    "JUnit XML"
                </a>
            </div>
        </div>
        <div class="meta">
            <BatchStatusTag status/>
            <span>{move || i18n.t().batch_id}" "<code>{id.0}</code></span>
            {b.started_at.map(|ms| view! { <span>{move || i18n.t().bat().col_started}" "<LocalTime ms/></span> })}
            {b.created_by.clone().map(|who| view! {
                <span data-testid="started-by">{move || i18n.t().acc().started_by}" "<b>{who}</b></span>
            })}
            {duration.map(|s| view! { <span>{move || i18n.t().bat().col_duration}" "{move || (i18n.t().duration)(s)}</span> })}
            <span>{move || i18n.t().cfg().f_concurrency}" "{b.concurrency}</span>
            <span>{move || i18n.t().cfg().f_pass_threshold}" "{b.scoring.pass_threshold}</span>
            {(repeats > 1).then(|| view! {
                <span class="tag" data-testid="repeats-badge">{move || (i18n.t().rep().repeats_badge)(repeats)}</span>
            })}
            <span>{move || (i18n.t().bat().tests_done)(b.completed_tests, b.total_tests)}</span>
        </div>
        {b.error_message.clone().map(|m| view! { <p class="notice notice-error" role="alert">{m}</p> })}
        <Show when=live>
            <section class="live-panel card" aria-label=move || i18n.t().live>
                <div class="live-panel-head">
                    <strong>{move || i18n.t().live}</strong>
                    <ConnectionTag state=progress.connection/>
                    <span class="muted current-inline">
                        <FlameIcon/>
                        {move || progress.data.with(|d| d.as_ref().and_then(|p| {
                            p.current_version.clone().map(|v| format!("{v} — {}", p.current_test_case.clone().unwrap_or_default()))
                        }))}
                    </span>
                </div>
                <ProgressBar
                    value=progress.progress
                    label=Signal::derive(move || i18n.t().prg().overall_progress.to_string())
                    active=true
                    show_text=true
                />
            </section>
        </Show>

        <AlertBanners alerts names=Signal::derive(move || version_names.clone())/>
        <h2>{move || i18n.t().bat().versions_summary}</h2>
        {duplicate_note}
        <div class="summary-cards">{cards}</div>
        <CompareVersions batch=b.id versions=b.versions.iter().map(|v| (v.version_id, v.name.clone())).collect()/>

        <h2>{move || i18n.t().bat().matrix_title}</h2>
        <Matrix view selected/>
    }
}

#[component]
fn Matrix(view: BatchView, selected: RwSignal<Option<(VersionId, CaseId)>>) -> impl IntoView {
    let i18n = use_i18n();
    let navigate = use_navigate();
    let id = view.batch.id;
    let (page, pages) = (view.page, view.pages);
    let go = move |to: u64| {
        selected.set(None);
        let url = if to == 0 {
            format!("/batches/{id}")
        } else {
            format!("/batches/{id}?page={}", to + 1)
        };
        // The pager sits above the matrix: keep the reader where they are.
        navigate(
            &url,
            NavigateOptions {
                scroll: false,
                ..Default::default()
            },
        );
    };
    let go_prev = go.clone();
    let (at_first, at_last) = (page == 0, page + 1 >= pages);
    let repeated = view.batch.repeats > 1;
    let index: HashMap<(VersionId, CaseId), ResultCell> = view
        .cells
        .iter()
        .map(|x| ((x.version_id, x.case_id), *x))
        .collect();
    let versions: Vec<(VersionId, String)> = view
        .batch
        .versions
        .iter()
        .map(|v| (v.version_id, v.name.clone()))
        .collect();
    let head = versions
        .iter()
        .map(|(_, n)| view! { <th>{n.clone()}</th> })
        .collect_view();
    let rows = view
        .cases
        .iter()
        .map(|case| {
            let (cid, cname) = (case.id, case.name.clone());
            let cells = versions
                .iter()
                .map(|(vid, vname)| {
                    let vid = *vid;
                    let cell = index.get(&(vid, cid)).copied();
                    let (class, text) = match cell {
                        None => ("cell cell-pending", "·".to_string()),
                        Some(c) => (
                            match (c.status, c.flaky()) {
                                (_, true) => "cell cell-failed cell-flaky",
                                (ResultStatus::Passed, _) => "cell cell-passed",
                                (ResultStatus::Failed, _) => "cell cell-failed",
                                (ResultStatus::Error, _) => "cell cell-error",
                            },
                            cell_text(&c, repeated),
                        ),
                    };
                    let flaky = cell.is_some_and(|c| c.flaky());
                    let (cn, vn, tx) = (cname.clone(), vname.clone(), text.clone());
                    let label = move || {
                        let t = i18n.t();
                        let mut label = format!("{cn} — {vn}: {tx}");
                        if let Some(c) = cell.filter(|_| repeated) {
                            label.push_str(&format!(", {}", (t.rep().k_of_n)(c.passed, c.runs)));
                        }
                        if flaky {
                            label.push_str(&format!(", {}", t.rep().flaky));
                        }
                        label
                    };
                    let title = label.clone();
                    view! {
                        <td class=class>
                            <button type="button" aria-label=label title=title on:click=move |_| selected.set(Some((vid, cid)))>
                                {text}
                                {flaky.then(|| view! { <span class="flaky-mark" aria-hidden="true">"≈"</span> })}
                            </button>
                        </td>
                    }
                })
                .collect_view();
            view! {
                <tr>
                    <th scope="row" class="case-name">{cname.clone()}</th>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="legend">
            <span class="l-passed">{move || i18n.t().st_passed}</span>
            <span class="l-failed">{move || i18n.t().st_failed}</span>
            <span class="l-error">{move || i18n.t().st_error}</span>
            <span class="l-pending">{move || i18n.t().st_pending}</span>
            {repeated.then(|| view! { <span class="l-flaky">"≈ "{move || i18n.t().rep().flaky_help}</span> })}
            <span>{move || i18n.t().bat().matrix_legend}</span>
        </p>
        {(pages > 1).then(|| view! {
            <div class="pager">
                <button type="button" disabled=at_first on:click=move |_| go_prev(page.saturating_sub(1))>
                    {move || i18n.t().prev}
                </button>
                <span>{move || (i18n.t().bat().page_n_of)(page as usize + 1, pages as usize)}</span>
                <button type="button" disabled=at_last on:click=move |_| go(page + 1)>
                    {move || i18n.t().next}
                </button>
            </div>
        })}
        <div class="table-wrap">
            <table class="grid matrix" data-testid="matrix">
                <thead>
                    <tr>
                        <th>{move || i18n.t().bat().col_case}</th>
                        {head}
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// What a matrix cell says: the score, and in a batch with repeats how many passed (`3/5 71`);
/// `✕` for a test that got no score.
fn cell_text(c: &ResultCell, repeated: bool) -> String {
    let score = c
        .score
        .map_or_else(|| "✕".to_string(), |s| format!("{s:.0}"));
    if repeated {
        format!("{}/{} {score}", c.passed, c.runs)
    } else {
        score
    }
}

/// What the open result's dialog shows from the loaded page: the version's name, the case, and
/// the cell (None while the test has not run).
fn find_cell(
    view: &BatchView,
    version: VersionId,
    case: CaseId,
) -> (String, Option<TestCase>, Option<ResultCell>) {
    (
        view.batch
            .versions
            .iter()
            .find(|v| v.version_id == version)
            .map(|v| v.name.clone())
            .unwrap_or_default(),
        view.cases.iter().find(|c| c.id == case).cloned(),
        view.cells
            .iter()
            .find(|x| x.version_id == version && x.case_id == case)
            .copied(),
    )
}

/// A result's details. The page holds only its outcome: the rest is fetched when the dialog
/// opens, and again when a live refresh changes the cell (the test finished, or re-ran).
#[component]
fn ResultDetail(
    loaded: ReadSignal<Option<BatchView>>,
    version: VersionId,
    case: CaseId,
    selected: RwSignal<Option<(VersionId, CaseId)>>,
    /// Runs after a review changed (the page's reviewed pass rates and queue change).
    on_review: Callback<()>,
) -> impl IntoView {
    let i18n = use_i18n();
    let found = Memo::new(move |_| {
        loaded.with(|v| {
            v.as_ref()
                .map(|view| (view.batch.id, find_cell(view, version, case)))
        })
    });
    let cell = Memo::new(move |_| found.with(|f| f.as_ref().and_then(|(_, (_, _, cell))| *cell)));
    let batch = Memo::new(move |_| found.with(|f| f.as_ref().map(|(id, _)| *id)));
    let result = LocalResource::new(move || {
        let (batch, cell) = (batch.get(), cell.get());
        async move {
            match (batch, cell) {
                (Some(id), _) => batch_result_repeats(id, version, case).await,
                _ => Ok(Vec::new()),
            }
        }
    });
    // A case on another page of the matrix (opened from the review queue) is read on its own.
    let on_page =
        Memo::new(move |_| found.with(|f| f.as_ref().and_then(|(_, (_, tc, _))| tc.clone())));
    let snapshot = LocalResource::new(move || {
        let (batch, on_page) = (batch.get(), on_page.get());
        async move {
            match (batch, on_page) {
                (_, Some(tc)) => Some(tc),
                (Some(id), None) => batch_case(id, case).await.ok(),
                (None, None) => None,
            }
        }
    });
    let case_of = move || snapshot.get().flatten();
    let title = Signal::derive(move || {
        let cname = case_of().map(|c| c.name).unwrap_or_default();
        found.with(|f| {
            let vname = f.as_ref().map_or("", |(_, (v, _, _))| v.as_str());
            (i18n.t().bat().result_title)(&cname, vname)
        })
    });
    let close = Callback::new(move |()| selected.set(None));
    // Which repetition the dialog details (0-based); the list above it picks another.
    let shown = RwSignal::new(0usize);
    let body = move || {
        let tc = case_of();
        let expected = tc
            .as_ref()
            .map(|c| c.expected_answer.clone())
            .unwrap_or_default();
        let query = tc.as_ref().map(|c| c.query.clone()).unwrap_or_default();
        match result.get() {
            None => view! { <p class="muted">{move || i18n.t().loading}</p> }.into_any(),
            Some(Err(e)) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
            Some(Ok(list)) if list.is_empty() => {
                view! { <p class="muted">{move || i18n.t().bat().not_run_yet}</p> }.into_any()
            }
            Some(Ok(list)) => {
                let at = shown.get().min(list.len() - 1);
                let repeats =
                    (list.len() > 1).then(|| view! { <RepeatList list=list.clone() shown/> });
                let r = list[at].clone();
                let review = batch.get_untracked().map(|b| {
                    let has_answer = r.answer.as_deref().is_some_and(|a| !a.trim().is_empty());
                    view! {
                        <ReviewBox batch=b version case repetition=r.repetition has_answer
                            on_change=on_review/>
                    }
                });
                view! {
                    {repeats}
                    {review}
                    <dl>
                        <ResultOutcome status=r.status score=r.score/>
                        <dt>{move || i18n.t().f_query}</dt><dd>{query}</dd>
                        <dt>{move || i18n.t().answer}</dt><dd><pre data-testid="detail-answer">{r.answer.clone().unwrap_or_default()}</pre></dd>
                        <dt>{move || i18n.t().expected_answer}</dt><dd><pre>{expected}</pre></dd>
                        <ResultFacts result=r/>
                    </dl>
                }
                .into_any()
            }
        }
    };
    view! {
        <Modal title dismissible=true on_dismiss=close test_id="result-detail">
            <div class="result-detail">
                {body}
                <div class="modal-foot">
                    <button type="button" data-autofocus on:click=move |_| close.run(())>{move || i18n.t().close}</button>
                </div>
            </div>
        </Modal>
    }
}

/// The repetitions of one test: how many passed, the spread of their scores, and one row per
/// repetition (status, score, latency, error) that picks the repetition detailed below.
#[component]
fn RepeatList(list: Vec<crate::model::TestResult>, shown: RwSignal<usize>) -> impl IntoView {
    let i18n = use_i18n();
    let n = list.len() as u32;
    let passed = list
        .iter()
        .filter(|r| r.status == ResultStatus::Passed)
        .count() as u32;
    let scores: Vec<f64> = list.iter().filter_map(|r| r.score).collect();
    let spread = crate::model::spread(&scores);
    let flaky = passed > 0 && passed < n;
    let rows = list
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let status = r.status;
            let number = r.repetition + 1;
            let error = r.error_code.clone().unwrap_or_default();
            view! {
                <tr class:selected=move || shown.get() == i>
                    <td>
                        <button type="button" class="link" aria-pressed=move || (shown.get() == i).to_string() on:click=move |_| shown.set(i)>
                            {move || (i18n.t().rep().repeat_n)(number)}
                        </button>
                    </td>
                    <td><span class=format!("tag tag-{}", status.as_str())>{move || i18n.t().result_status(status)}</span></td>
                    <td>{format::score(r.score)}</td>
                    <td>{format::millis(r.latency_ms)}</td>
                    <td class="mono">{error}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="repeat-list" data-testid="repeat-list">
            <p>
                <strong>{move || (i18n.t().rep().passed_of)(passed, n)}</strong>
                {flaky.then(|| view! { " "<span class="tag tag-flaky" data-testid="flaky-tag">{move || i18n.t().rep().flaky}</span> })}
                {spread.map(|s| view! { <br/><span class="muted">{move || (i18n.t().rep().spread)(s.mean, s.sd, s.min, s.max)}</span> })}
            </p>
            <div class="table-wrap">
                <table class="grid">
                    <thead>
                        <tr>
                            <th>{move || i18n.t().rep().repeats}</th>
                            <th>{move || i18n.t().col_status}</th>
                            <th>{move || i18n.t().score}</th>
                            <th>{move || i18n.t().latency}</th>
                            <th>{move || i18n.t().error}</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}

/// "Compare two versions of this batch": picks a baseline and a candidate and links to the
/// compare page; with one version, "compare with its previous run".
#[component]
fn CompareVersions(batch: BatchId, versions: Vec<(VersionId, String)>) -> impl IntoView {
    use crate::ui::compare::compare_href;
    let i18n = use_i18n();
    if versions.is_empty() {
        return ().into_any();
    }
    let first = versions[0].0;
    let second = versions.get(1).map_or(first, |v| v.0);
    let base = RwSignal::new(first);
    let cand = RwSignal::new(second);
    let single = versions.len() == 1;
    let options = move |selected: RwSignal<VersionId>| {
        versions
            .iter()
            .map(|(id, name)| {
                let id = *id;
                view! { <option value=id.0 selected=move || selected.get() == id>{name.clone()}</option> }
            })
            .collect_view()
    };
    let pick = |signal: RwSignal<VersionId>| {
        move |ev| {
            if let Ok(id) = event_target_value(&ev).parse::<i64>() {
                signal.set(VersionId(id));
            }
        }
    };
    let href = move || {
        let cand_ref = format!("{batch}:{}", cand.get());
        if single {
            compare_href(None, &cand_ref, None, 0)
        } else {
            compare_href(Some(&format!("{batch}:{}", base.get())), &cand_ref, None, 0)
        }
    };
    view! {
        <div class="compare-pick inline-form" data-testid="compare-pick">
            <span>{move || i18n.t().cmp().compare_versions}</span>
            {(!single).then(|| view! {
                <select aria-label=move || i18n.t().cmp().baseline on:change=pick(base)>{options(base)}</select>
                " → "
            })}
            <select aria-label=move || i18n.t().cmp().candidate on:change=pick(cand)>{options(cand)}</select>
            <a class="button-link" href=href>{move || i18n.t().cmp().compare}</a>
        </div>
    }
    .into_any()
}
