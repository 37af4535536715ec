//! The trends dashboard (`/dashboard`): for the versions picked, how each batch went — pass
//! rate, mean and judge scores, latency and time to first token p50 / p95, average test time,
//! tokens and cost per test, error rates by code — as SVG line charts whose points open their
//! batch, and the same numbers as a table. The picked versions and the date range live in the
//! address (`?v=1,2&from=2026-11-01&to=2026-12-01`), so a view can be shared.

use crate::api::dashboard;
use crate::model::dashboard::{day_of_ms, DashboardView, RunPoint};
use crate::model::VersionId;
use crate::ui::chart::{ChartPoint, LineChart, Series};
use crate::ui::format;
use crate::ui::i18n::{use_i18n, Strings};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use std::collections::HashMap;

/// The dashboard's address for a selection and a date range.
pub fn dashboard_href(versions: Option<&[VersionId]>, from: &str, to: &str) -> String {
    let mut parts = Vec::new();
    if let Some(v) = versions {
        let ids: Vec<String> = v.iter().map(|v| v.0.to_string()).collect();
        parts.push(format!("v={}", ids.join(",")));
    }
    if !from.is_empty() {
        parts.push(format!("from={from}"));
    }
    if !to.is_empty() {
        parts.push(format!("to={to}"));
    }
    if parts.is_empty() {
        "/dashboard".into()
    } else {
        format!("/dashboard?{}", parts.join("&"))
    }
}

/// `?v=1,2` as version ids; absent → None (the server's default), empty → none picked.
pub fn parse_versions(v: Option<&str>) -> Option<Vec<VersionId>> {
    v.map(|s| {
        s.split(',')
            .filter_map(|x| x.trim().parse::<i64>().ok())
            .map(VersionId)
            .collect()
    })
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let args = move || {
        let q = query.read();
        (
            parse_versions(q.get("v").as_deref()),
            q.get("from").unwrap_or_default(),
            q.get("to").unwrap_or_default(),
        )
    };
    let data = Resource::new(args, |(v, from, to)| async move {
        let opt = |s: String| (!s.is_empty()).then_some(s);
        dashboard(v, opt(from), opt(to), None).await
    });
    view! {
        <div class="page-head">
            <h1>{move || i18n.t().dash().title}</h1>
        </div>
        <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
            {move || data.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                Ok(d) => {
                    let (_, from, to) = args();
                    view! { <Trends d from to/> }.into_any()
                }
            })}
        </Transition>
    }
}

#[component]
fn Trends(d: DashboardView, from: String, to: String) -> impl IntoView {
    let i18n = use_i18n();
    let navigate = use_navigate();
    let selected = d.selected.clone();
    let names: HashMap<VersionId, String> = d
        .versions
        .iter()
        .map(|v| (v.version_id, v.name.clone()))
        .collect();
    let name_of = move |id: VersionId| names.get(&id).cloned().unwrap_or_else(|| format!("#{id}"));

    let picker = {
        let (from, to) = (from.clone(), to.clone());
        let navigate = navigate.clone();
        d.versions
            .iter()
            .map(|v| {
                let id = v.version_id;
                let checked = selected.contains(&id);
                let (selected, from, to, navigate) =
                    (selected.clone(), from.clone(), to.clone(), navigate.clone());
                let toggle = move |ev| {
                    let on = event_target_checked(&ev);
                    let mut next: Vec<VersionId> =
                        selected.iter().copied().filter(|x| *x != id).collect();
                    if on {
                        next.push(id);
                    }
                    navigate(&dashboard_href(Some(&next), &from, &to), Default::default());
                };
                view! {
                    <label class="chip">
                        <input type="checkbox" data-testid="dash-version" prop:checked=checked on:change=toggle/>
                        {v.name.clone()}
                    </label>
                }
            })
            .collect_view()
    };
    let date_input = {
        let selected = d.selected.clone();
        let (from, to) = (from.clone(), to.clone());
        move |is_from: bool| {
            let (selected, from, to, navigate) =
                (selected.clone(), from.clone(), to.clone(), navigate.clone());
            let value = if is_from { from.clone() } else { to.clone() };
            let change = move |ev| {
                let v = event_target_value(&ev);
                let (f, t) = if is_from {
                    (v, to.clone())
                } else {
                    (from.clone(), v)
                };
                navigate(&dashboard_href(Some(&selected), &f, &t), Default::default());
            };
            view! {
                <label class="field-inline">
                    {move || if is_from { i18n.t().dash().from } else { i18n.t().dash().to }}
                    <input type="date" prop:value=value on:change=change
                        data-testid={if is_from { "dash-from" } else { "dash-to" }}/>
                </label>
            }
        }
    };

    let body = if d.selected.is_empty() {
        view! { <p class="empty">{move || i18n.t().dash().pick_versions}</p> }.into_any()
    } else if d.points.is_empty() {
        view! { <p class="empty" data-testid="dash-empty">{move || i18n.t().dash().no_runs}</p> }
            .into_any()
    } else {
        let points = StoredValue::new(d.points.clone());
        let order = StoredValue::new(d.selected.clone());
        let name_of = StoredValue::new(name_of);
        let truncated = d.truncated.then(|| {
            let n = slots(&d.points).1;
            view! { <p class="hint">{move || (i18n.t().dash().truncated)(n)}</p> }
        });
        view! {
            {truncated}
            <div class="chart-grid">
                {move || charts(i18n.t(), &points.read_value(), &order.read_value(), &|v| name_of.with_value(|f| f(v)))}
            </div>
            <details class="dash-table">
                <summary>{move || i18n.t().dash().table_view}</summary>
                {move || table(i18n.t(), &points.read_value(), &|v| name_of.with_value(|f| f(v)))}
            </details>
        }
        .into_any()
    };
    view! {
        <div class="dash-filters" role="group">
            <fieldset class="chips">
                <legend>{move || i18n.t().dash().versions}</legend>
                {picker}
            </fieldset>
            {date_input(true)}
            {date_input(false)}
        </div>
        {body}
    }
}

/// Each batch's x slot (oldest first) and how many batches there are.
fn slots(points: &[RunPoint]) -> (HashMap<i64, usize>, usize) {
    let mut at = HashMap::new();
    for p in points {
        let n = at.len();
        at.entry(p.batch_id.0).or_insert(n);
    }
    let n = at.len();
    (at, n)
}

/// One metric of the points as a series per version (in the picked order).
#[allow(clippy::too_many_arguments)]
fn per_version(
    points: &[RunPoint],
    order: &[VersionId],
    slot: &HashMap<i64, usize>,
    name: &dyn Fn(VersionId) -> String,
    suffix: &str,
    dashed: bool,
    value: &dyn Fn(&RunPoint) -> Option<f64>,
    show: &dyn Fn(f64) -> String,
    t: &'static Strings,
) -> Vec<Series> {
    order
        .iter()
        .enumerate()
        .map(|(color, v)| {
            let series_name = format!("{}{suffix}", name(*v));
            let pts = points
                .iter()
                .filter(|p| p.version_id == *v)
                .filter_map(|p| {
                    let value = value(p)?;
                    Some(ChartPoint {
                        slot: slot[&p.batch_id.0],
                        value,
                        href: format!("/batches/{}", p.batch_id),
                        label: (t.dash().point_label)(&p.batch_name, &series_name, &show(value)),
                    })
                })
                .collect();
            Series {
                name: series_name,
                color,
                dashed,
                points: pts,
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

fn whole(v: f64) -> String {
    format!("{v:.0}")
}

fn one_decimal(v: f64) -> String {
    format!("{v:.1}")
}

/// How a tick value is written.
type Fmt = fn(f64) -> String;
/// One chart: its title, lines, fixed y range (rates), tick format.
type ChartSpec = (&'static str, Vec<Series>, Option<(f64, f64)>, Fmt);

fn charts(
    t: &'static Strings,
    points: &[RunPoint],
    order: &[VersionId],
    name: &dyn Fn(VersionId) -> String,
) -> impl IntoView {
    let (slot, n) = slots(points);
    let first = points.first().map(|p| day_of_ms(p.at)).unwrap_or_default();
    let last = points.last().map(|p| day_of_ms(p.at)).unwrap_or_default();
    let series = |suffix: &str,
                  dashed: bool,
                  value: &dyn Fn(&RunPoint) -> Option<f64>,
                  show: &dyn Fn(f64) -> String| {
        per_version(points, order, &slot, name, suffix, dashed, value, show, t)
    };
    let pct = |v: f64| format!("{v:.1}%");
    let ms = |v: f64| format!("{v:.0} ms");
    let (whole, one_decimal, cost_fmt): (Fmt, Fmt, Fmt) = (whole, one_decimal, format::cost);
    let mut out: Vec<ChartSpec> = vec![
        (
            t.dash().pass_rate,
            series("", false, &|p| p.pass_rate, &pct),
            Some((0.0, 100.0)),
            whole,
        ),
        (
            t.dash().mean_score,
            series("", false, &|p| p.mean_score, &one_decimal),
            Some((0.0, 100.0)),
            whole,
        ),
    ];
    let judge = series("", false, &|p| p.judge_score, &one_decimal);
    if !judge.is_empty() {
        out.push((t.dash().judge_score, judge, None, one_decimal));
    }
    let mut latency = series(" p50", false, &|p| p.latency_p50_ms, &ms);
    latency.extend(series(" p95", true, &|p| p.latency_p95_ms, &ms));
    out.push((t.dash().latency, latency, None, whole));
    let mut ttft = series(" p50", false, &|p| p.ttft_p50_ms, &ms);
    ttft.extend(series(" p95", true, &|p| p.ttft_p95_ms, &ms));
    if !ttft.is_empty() {
        out.push((t.dash().ttft, ttft, None, whole));
    }
    out.push((
        t.dash().avg_test_time,
        series("", false, &|p| p.mean_latency_ms, &ms),
        None,
        whole,
    ));
    let tokens = series("", false, &|p| p.tokens_per_test, &one_decimal);
    if !tokens.is_empty() {
        out.push((t.dash().tokens, tokens, None, whole));
    }
    let cost = series("", false, &|p| p.cost_per_test, &format::cost);
    if !cost.is_empty() {
        out.push((t.dash().cost, cost, None, cost_fmt));
    }
    out.push((
        t.dash().error_rate,
        series("", false, &|p| p.error_rate(), &pct),
        None,
        whole,
    ));
    // Error rate by code: a line per (version, code) that occurred.
    let mut codes: Vec<Option<String>> = Vec::new();
    for p in points {
        for e in &p.errors {
            if !codes.contains(&e.code) {
                codes.push(e.code.clone());
            }
        }
    }
    if !codes.is_empty() {
        let mut by_code = Vec::new();
        for code in &codes {
            let label = code.clone().unwrap_or_else(|| t.tot().no_code.to_string());
            let rate = |p: &RunPoint| {
                Some(
                    p.code_rate(
                        p.errors
                            .iter()
                            .find(|e| &e.code == code)
                            .map_or(0, |e| e.count),
                    )
                    .unwrap_or(0.0),
                )
            };
            let mut s = series(&format!(" · {label}"), false, &rate, &pct);
            let shift = by_code.len();
            for (i, x) in s.iter_mut().enumerate() {
                x.color = shift + i;
            }
            by_code.extend(s);
        }
        out.push((t.dash().errors_by_code, by_code, None, whole));
    }
    out.into_iter()
        .map(|(title, series, fixed, fmt)| {
            let count = series.iter().map(|s| s.points.len()).sum();
            let summary = (t.dash().chart_summary)(title, count);
            view! {
                <LineChart
                    title=title
                    series
                    slots=n
                    x_labels=(first.clone(), last.clone())
                    fixed=fixed
                    fmt
                    summary
                />
            }
        })
        .collect_view()
}

fn opt(x: Option<f64>, show: fn(f64) -> String) -> String {
    x.map_or_else(|| "—".into(), show)
}

fn pair(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{a:.0} / {b:.0}"),
        _ => "—".into(),
    }
}

fn table(
    t: &'static Strings,
    points: &[RunPoint],
    name: &dyn Fn(VersionId) -> String,
) -> impl IntoView {
    let rows = points
        .iter()
        .map(|p| {
            let errors = if p.errors.is_empty() {
                "—".to_string()
            } else {
                p.errors
                    .iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e.code.as_deref().unwrap_or(t.tot().no_code),
                            format::percent(p.code_rate(e.count))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let cost = p.cost_per_test.map_or_else(
                || "—".to_string(),
                |c| format::money(c, p.currency.as_deref()),
            );
            view! {
                <tr data-batch-id=p.batch_id.0>
                    <td>{day_of_ms(p.at)}</td>
                    <td><a href=format!("/batches/{}", p.batch_id)>{p.batch_name.clone()}</a></td>
                    <td>{name(p.version_id)}</td>
                    <td>{format::count(p.results)}</td>
                    <td>{format::percent(p.pass_rate)}</td>
                    <td>{format::score(p.mean_score)}</td>
                    <td>{format::score(p.judge_score)}</td>
                    <td>{pair(p.latency_p50_ms, p.latency_p95_ms)}</td>
                    <td>{pair(p.ttft_p50_ms, p.ttft_p95_ms)}</td>
                    <td>{opt(p.mean_latency_ms, whole)}</td>
                    <td>{opt(p.tokens_per_test, one_decimal)}</td>
                    <td>{cost}</td>
                    <td>{format::percent(p.error_rate())}</td>
                    <td>{errors}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="grid dash-numbers" data-testid="dash-table">
                <thead>
                    <tr>
                        <th>{t.dash().col_date}</th>
                        <th>{t.dash().col_batch}</th>
                        <th>{t.dash().col_version}</th>
                        <th>{t.dash().col_results}</th>
                        <th>{t.dash().pass_rate}</th>
                        <th>{t.dash().mean_score}</th>
                        <th>{t.dash().judge_score}</th>
                        <th>{t.dash().latency}</th>
                        <th>{t.dash().ttft}</th>
                        <th>{t.dash().avg_test_time}</th>
                        <th>{t.dash().tokens}</th>
                        <th>{t.dash().cost}</th>
                        <th>{t.dash().error_rate}</th>
                        <th>{t.dash().errors_by_code}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_round_trips_the_selection() {
        assert_eq!(dashboard_href(None, "", ""), "/dashboard");
        let href = dashboard_href(Some(&[VersionId(3), VersionId(1)]), "2026-11-01", "");
        assert_eq!(href, "/dashboard?v=3,1&from=2026-11-01");
        assert_eq!(
            parse_versions(Some("3,1")),
            Some(vec![VersionId(3), VersionId(1)])
        );
        assert_eq!(parse_versions(Some("")), Some(vec![]));
        assert_eq!(parse_versions(None), None);
        assert_eq!(dashboard_href(Some(&[]), "", ""), "/dashboard?v=");
    }
}
