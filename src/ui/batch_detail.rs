//! The batch page (`/batches/{id}`): per-version summary cards, the case × version matrix
//! coloured by score / pass (paginated), a result's details on click, live while the batch runs
//! (the same progress stream as the modal refreshes the results), cancel, re-run failed tests,
//! export of every result as CSV or JSON.

use crate::api::{batch_results, cancel_batch, rerun_failed, ErrorKind};
use crate::model::{BatchId, BatchReport, CaseId, ResultStatus, TestResult, VersionId};
use crate::ui::batches::batch_duration_secs;
use crate::ui::browser;
use crate::ui::components::{
    use_confirm, use_toasts, BatchStatusTag, ConnectionTag, LocalTime, Modal, ProgressBar,
};
use crate::ui::format;
use crate::ui::i18n::use_i18n;
use crate::ui::monitor::use_monitor;
use crate::ui::progress_modal::FlameIcon;
use crate::ui::use_batch_progress::use_batch_progress;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use std::collections::HashMap;

/// Cases per page of the matrix: large batches stay responsive.
pub const CASES_PER_PAGE: usize = 50;
/// While running, the results are re-read about this many times over the whole batch.
const LIVE_REFRESHES: u64 = 25;

/// One version's tallies within a batch, from its stored results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VersionSummary {
    pub completed: usize,
    pub passed: usize,
    pub errors: usize,
    pub average_score: Option<f64>,
    pub pass_rate: Option<f64>,
    pub avg_latency_ms: Option<f64>,
}

pub fn summarize(results: &[TestResult], version: VersionId) -> VersionSummary {
    let mine: Vec<&TestResult> = results.iter().filter(|r| r.version_id == version).collect();
    let mean = |xs: Vec<f64>| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
    let completed = mine.len();
    let passed = mine
        .iter()
        .filter(|r| r.status == ResultStatus::Passed)
        .count();
    VersionSummary {
        completed,
        passed,
        errors: mine
            .iter()
            .filter(|r| r.status == ResultStatus::Error)
            .count(),
        average_score: mean(mine.iter().filter_map(|r| r.score).collect()),
        pass_rate: (completed > 0).then(|| passed as f64 * 100.0 / completed as f64),
        avg_latency_ms: mean(
            mine.iter()
                .filter_map(|r| r.latency_ms.map(|l| l as f64))
                .collect(),
        ),
    }
}

/// Every result as CSV, one row per (version, case).
pub fn results_csv(report: &BatchReport) -> String {
    let version_name: HashMap<VersionId, &str> = report
        .batch
        .versions
        .iter()
        .map(|v| (v.version_id, v.name.as_str()))
        .collect();
    let case_name: HashMap<CaseId, &str> = report
        .cases
        .iter()
        .map(|c| (c.id, c.name.as_str()))
        .collect();
    let mut out = String::from(
        "batch_id,version_id,version,case_id,case,status,score,latency_ms,ttft_ms,prompt_tokens,\
         completion_tokens,total_tokens,keywords_hit,keywords_missed,error_code,error_message,answer\n",
    );
    let opt = |x: Option<i64>| x.map(|v| v.to_string()).unwrap_or_default();
    for r in &report.results {
        let fields = [
            r.batch_id.to_string(),
            r.version_id.to_string(),
            version_name
                .get(&r.version_id)
                .copied()
                .unwrap_or("")
                .to_string(),
            r.case_id.to_string(),
            case_name.get(&r.case_id).copied().unwrap_or("").to_string(),
            r.status.as_str().to_string(),
            r.score.map(|s| format!("{s:.2}")).unwrap_or_default(),
            opt(r.latency_ms),
            opt(r.ttft_ms),
            opt(r.usage.prompt_tokens),
            opt(r.usage.completion_tokens),
            opt(r.usage.total_tokens),
            r.detail.keywords_hit.join(";"),
            r.detail.keywords_missed.join(";"),
            r.error_code.clone().unwrap_or_default(),
            r.error_message.clone().unwrap_or_default(),
            r.answer.clone().unwrap_or_default(),
        ];
        let row: Vec<String> = fields.iter().map(|f| format::csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[component]
pub fn BatchPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<i64>().ok())
            .map(BatchId)
    });
    // The stream is opened only for a batch that exists and runs; a finished one's report
    // already holds everything.
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
        move || (id.get(), refresh.get(), reload.get()),
        |(id, _, _)| async move {
            match id {
                Some(id) => batch_results(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
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

    view! {
        <p><a href="/batches">{move || i18n.t().back_to_batches}</a></p>
        <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
            {move || {
                match report.get()? {
                    Err(e) if e.error == ErrorKind::NotFound => Some(view! {
                        <p class="notice notice-error" role="alert" data-testid="notice">{move || i18n.t().batch_not_found}</p>
                    }.into_any()),
                    Err(e) => Some(view! { <p class="error" role="alert">{e.message}</p> }.into_any()),
                    Ok(None) => Some(view! {
                        <p class="notice notice-error" role="alert" data-testid="notice">{move || i18n.t().batch_not_found}</p>
                    }.into_any()),
                    Ok(Some(r)) => Some(view! { <BatchView report=r progress reload live_id/> }.into_any()),
                }
            }}
        </Transition>
    }
}

#[component]
fn BatchView(
    report: BatchReport,
    progress: crate::ui::use_batch_progress::BatchProgress,
    reload: RwSignal<u64>,
    live_id: RwSignal<Option<BatchId>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let confirm = use_confirm();
    let monitor = use_monitor();
    let b = report.batch.clone();
    let id = b.id;
    let status = b.status;
    let running = !status.is_terminal();
    let has_errors = report
        .results
        .iter()
        .any(|r| r.status == ResultStatus::Error);
    let report = StoredValue::new(report);
    let selected = RwSignal::new(None::<(VersionId, CaseId)>);
    let page = RwSignal::new(0usize);

    let cancel = move |_| {
        let t = i18n.t_untracked();
        confirm.ask(t.cancel_confirm, t.cancel_batch, true, move || {
            leptos::task::spawn_local(async move {
                match cancel_batch(id).await {
                    Ok(()) => reload.update(|n| *n += 1),
                    Err(e) => toasts.error(e.message),
                }
            });
        });
    };
    let rerun = move |_| {
        let t = i18n.t_untracked();
        confirm.ask(t.rerun_confirm, t.rerun_failed, false, move || {
            leptos::task::spawn_local(async move {
                match rerun_failed(id).await {
                    Ok(n) => {
                        toasts.info((i18n.t_untracked().rerun_started)(n));
                        live_id.set(None);
                        reload.update(|x| *x += 1);
                        monitor.running_tick.update(|x| *x += 1);
                    }
                    Err(e) => toasts.error(e.message),
                }
            });
        });
    };
    let export = move |json: bool| {
        report.with_value(|r| {
            if json {
                let text = serde_json::to_string_pretty(r).unwrap_or_default();
                browser::download(&format!("batch-{id}.json"), "application/json", &text);
            } else {
                browser::download(&format!("batch-{id}.csv"), "text/csv", &results_csv(r));
            }
        })
    };
    let duration = b.finished_at.and_then(|_| batch_duration_secs(&b, 0.0));
    let live = move || {
        running
            && progress
                .data
                .with(|d| d.as_ref().is_some_and(|p| !p.status.is_terminal()))
    };

    view! {
        <div class="page-head">
            <h1>{b.name.clone()}</h1>
            <div class="actions">
                {running.then(|| view! {
                    <button type="button" class="danger" on:click=cancel>{move || i18n.t().cancel_batch}</button>
                })}
                {(!running && has_errors).then(|| view! {
                    <button type="button" on:click=rerun>{move || i18n.t().rerun_failed}</button>
                })}
                <button type="button" on:click=move |_| export(false)>{move || i18n.t().export_csv}</button>
                <button type="button" on:click=move |_| export(true)>{move || i18n.t().export_json}</button>
            </div>
        </div>
        <div class="meta">
            <BatchStatusTag status/>
            <span>{move || i18n.t().batch_id}" "<code>{id.0}</code></span>
            {b.started_at.map(|ms| view! { <span>{move || i18n.t().col_started}" "<LocalTime ms/></span> })}
            {duration.map(|s| view! { <span>{move || i18n.t().col_duration}" "{move || (i18n.t().duration)(s)}</span> })}
            <span>{move || i18n.t().f_concurrency}" "{b.concurrency}</span>
            <span>{move || i18n.t().f_pass_threshold}" "{b.scoring.pass_threshold}</span>
            <span>{move || (i18n.t().tests_done)(b.completed_tests, b.total_tests)}</span>
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
                    label=Signal::derive(move || i18n.t().overall_progress.to_string())
                    active=true
                    show_text=true
                />
            </section>
        </Show>

        <h2>{move || i18n.t().versions_summary}</h2>
        <div class="summary-cards">
            {report.with_value(|r| {
                let per_version_total = r.cases.len();
                r.batch.versions.iter().map(|v| {
                    let s = summarize(&r.results, v.version_id);
                    let pct = if per_version_total > 0 { s.completed as f64 * 100.0 / per_version_total as f64 } else { 0.0 };
                    let name = v.name.clone();
                    view! {
                        <div class="summary-card" data-testid="version-card">
                            <strong>{v.name.clone()}</strong>
                            <span class="muted mono">{v.app_mode.as_str()}" · "{v.api_key_hint.clone()}</span>
                            <ProgressBar value=pct label=name thin=true/>
                            <dl>
                                <dt>{move || i18n.t().col_tests}</dt><dd>{s.completed}" / "{per_version_total}</dd>
                                <dt>{move || i18n.t().average_score}</dt><dd>{format::score(s.average_score)}</dd>
                                <dt>{move || i18n.t().pass_rate}</dt><dd>{format::percent(s.pass_rate)}</dd>
                                <dt>{move || i18n.t().errors}</dt><dd>{s.errors}</dd>
                                <dt>{move || i18n.t().avg_latency}</dt><dd>{format::millis(s.avg_latency_ms.map(|l| l.round() as i64))}</dd>
                            </dl>
                        </div>
                    }
                }).collect_view()
            })}
        </div>

        <h2>{move || i18n.t().matrix_title}</h2>
        <Matrix report selected page/>
        {move || selected.get().map(|(v, c)| view! { <ResultDetail report version=v case=c selected/> })}
    }
}

#[component]
fn Matrix(
    report: StoredValue<BatchReport>,
    selected: RwSignal<Option<(VersionId, CaseId)>>,
    page: RwSignal<usize>,
) -> impl IntoView {
    let i18n = use_i18n();
    let (versions, cases, index) = report.with_value(|r| {
        let index: HashMap<(VersionId, CaseId), (ResultStatus, Option<f64>)> = r
            .results
            .iter()
            .map(|x| ((x.version_id, x.case_id), (x.status, x.score)))
            .collect();
        let versions: Vec<(VersionId, String)> = r
            .batch
            .versions
            .iter()
            .map(|v| (v.version_id, v.name.clone()))
            .collect();
        let cases: Vec<(CaseId, String)> = r.cases.iter().map(|c| (c.id, c.name.clone())).collect();
        (versions, cases, index)
    });
    let pages = cases.len().div_ceil(CASES_PER_PAGE).max(1);
    let versions = StoredValue::new(versions);
    let cases = StoredValue::new(cases);
    let index = StoredValue::new(index);
    view! {
        <p class="legend">
            <span class="l-passed">{move || i18n.t().st_passed}</span>
            <span class="l-failed">{move || i18n.t().st_failed}</span>
            <span class="l-error">{move || i18n.t().st_error}</span>
            <span class="l-pending">{move || i18n.t().st_pending}</span>
            <span>{move || i18n.t().matrix_legend}</span>
        </p>
        {(pages > 1).then(|| view! {
            <div class="pager">
                <button type="button" disabled=move || page.get() == 0 on:click=move |_| page.update(|p| *p = p.saturating_sub(1))>
                    {move || i18n.t().prev}
                </button>
                <span>{move || (i18n.t().page_n_of)(page.get() + 1, pages)}</span>
                <button type="button" disabled=move || page.get() + 1 >= pages on:click=move |_| page.update(|p| *p += 1)>
                    {move || i18n.t().next}
                </button>
            </div>
        })}
        <div class="table-wrap">
            <table class="grid matrix" data-testid="matrix">
                <thead>
                    <tr>
                        <th>{move || i18n.t().col_case}</th>
                        {versions.with_value(|vs| vs.iter().map(|(_, n)| view! { <th>{n.clone()}</th> }).collect_view())}
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        let p = page.get().min(pages - 1);
                        cases.with_value(|cs| {
                            cs.iter().skip(p * CASES_PER_PAGE).take(CASES_PER_PAGE).map(|(cid, cname)| {
                                let cid = *cid;
                                let cells = versions.with_value(|vs| vs.iter().map(|(vid, vname)| {
                                    let vid = *vid;
                                    let hit = index.with_value(|ix| ix.get(&(vid, cid)).copied());
                                    let (class, text) = match hit {
                                        None => ("cell cell-pending", "·".to_string()),
                                        Some((st, score)) => (
                                            match st {
                                                ResultStatus::Passed => "cell cell-passed",
                                                ResultStatus::Failed => "cell cell-failed",
                                                ResultStatus::Error => "cell cell-error",
                                            },
                                            score.map(|s| format!("{s:.0}")).unwrap_or_else(|| "✕".into()),
                                        ),
                                    };
                                    let label = format!("{cname} — {vname}: {text}");
                                    view! {
                                        <td class=class>
                                            <button type="button" aria-label=label on:click=move |_| selected.set(Some((vid, cid)))>
                                                {text}
                                            </button>
                                        </td>
                                    }
                                }).collect_view());
                                view! {
                                    <tr>
                                        <th scope="row" class="case-name">{cname.clone()}</th>
                                        {cells}
                                    </tr>
                                }
                            }).collect_view()
                        })
                    }}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn ResultDetail(
    report: StoredValue<BatchReport>,
    version: VersionId,
    case: CaseId,
    selected: RwSignal<Option<(VersionId, CaseId)>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let (vname, tc, result) = report.with_value(|r| {
        (
            r.batch
                .versions
                .iter()
                .find(|v| v.version_id == version)
                .map(|v| v.name.clone())
                .unwrap_or_default(),
            r.cases.iter().find(|c| c.id == case).cloned(),
            r.results
                .iter()
                .find(|x| x.version_id == version && x.case_id == case)
                .cloned(),
        )
    });
    let cname = tc.as_ref().map(|c| c.name.clone()).unwrap_or_default();
    let expected = tc
        .as_ref()
        .map(|c| c.expected_answer.clone())
        .unwrap_or_default();
    let query = tc.as_ref().map(|c| c.query.clone()).unwrap_or_default();
    let title = Signal::derive({
        let (c, v) = (cname.clone(), vname.clone());
        move || (i18n.t().result_title)(&c, &v)
    });
    let close = Callback::new(move |()| selected.set(None));
    let kws = move |list: Vec<String>, class: &'static str| {
        if list.is_empty() {
            view! { <span class="muted">{move || i18n.t().none}</span> }.into_any()
        } else {
            list.into_iter()
                .map(|k| view! { <span class=format!("kw {class}")>{k}</span> })
                .collect_view()
                .into_any()
        }
    };
    view! {
        <Modal title dismissible=true on_dismiss=close test_id="result-detail">
            <div class="result-detail">
                {match result {
                    None => view! { <p class="muted">{move || i18n.t().not_run_yet}</p> }.into_any(),
                    Some(r) => {
                        let status = r.status;
                        let usage = &r.usage;
                        let tokens = format!(
                            "{} / {} / {}",
                            usage.prompt_tokens.map(|v| v.to_string()).unwrap_or_else(|| "—".into()),
                            usage.completion_tokens.map(|v| v.to_string()).unwrap_or_else(|| "—".into()),
                            usage.total_tokens.map(|v| v.to_string()).unwrap_or_else(|| "—".into()),
                        );
                        let error = match (r.error_code.clone(), r.error_message.clone()) {
                            (None, None) => None,
                            (c, m) => Some(format!("{} {}", c.unwrap_or_default(), m.unwrap_or_default())),
                        };
                        view! {
                            <dl>
                                <dt>{move || i18n.t().col_status}</dt>
                                <dd>
                                    <span class=format!("tag tag-{}", status.as_str())>{move || i18n.t().result_status(status)}</span>
                                </dd>
                                <dt>{move || i18n.t().score}</dt><dd data-testid="detail-score">{format::score(r.score)}</dd>
                                <dt>{move || i18n.t().f_query}</dt><dd>{query.clone()}</dd>
                                <dt>{move || i18n.t().answer}</dt><dd><pre data-testid="detail-answer">{r.answer.clone().unwrap_or_default()}</pre></dd>
                                <dt>{move || i18n.t().expected_answer}</dt><dd><pre>{expected.clone()}</pre></dd>
                                <dt>{move || i18n.t().keywords_hit}</dt><dd>{kws(r.detail.keywords_hit.clone(), "kw-hit")}</dd>
                                <dt>{move || i18n.t().keywords_missed}</dt><dd>{kws(r.detail.keywords_missed.clone(), "kw-missed")}</dd>
                                <dt>{move || i18n.t().latency}</dt><dd>{format::millis(r.latency_ms)}</dd>
                                <dt>{move || i18n.t().ttft}</dt><dd>{format::millis(r.ttft_ms)}</dd>
                                <dt>{move || i18n.t().tokens}</dt><dd>{tokens}</dd>
                                <dt>{move || i18n.t().attempts}</dt><dd>{r.attempts}</dd>
                                {error.map(|e| view! { <dt>{move || i18n.t().error}</dt><dd class="error">{e}</dd> })}
                            </dl>
                        }.into_any()
                    }
                }}
                <div class="modal-foot">
                    <button type="button" data-autofocus on:click=move |_| close.run(())>{move || i18n.t().close}</button>
                </div>
            </div>
        </Modal>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BatchId, DifyIds, ScoreDetail, Usage};

    fn result(v: i64, status: ResultStatus, score: Option<f64>) -> TestResult {
        TestResult {
            batch_id: BatchId(1),
            version_id: VersionId(v),
            case_id: CaseId(1),
            status,
            score,
            answer: None,
            latency_ms: Some(100),
            ttft_ms: None,
            usage: Usage::default(),
            dify: DifyIds::default(),
            error_code: None,
            error_message: None,
            attempts: 1,
            detail: ScoreDetail::default(),
            finished_at: 0,
        }
    }

    #[test]
    fn summaries_follow_the_stream_definitions() {
        let rs = vec![
            result(1, ResultStatus::Passed, Some(80.0)),
            result(1, ResultStatus::Failed, Some(40.0)),
            result(1, ResultStatus::Error, None),
            result(2, ResultStatus::Passed, Some(90.0)),
        ];
        let s = summarize(&rs, VersionId(1));
        assert_eq!(s.completed, 3);
        assert_eq!(s.errors, 1);
        assert_eq!(s.average_score, Some(60.0));
        assert!((s.pass_rate.unwrap() - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(summarize(&rs, VersionId(3)), VersionSummary::default());
    }
}
