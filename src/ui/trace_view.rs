//! A result's trace as definition-list items (the caller owns the `<dl>`): the node timeline (one
//! row per node run, a bar placed and sized by when it started and how long it took), the tools an
//! agent called and the chunks retrieved; and, for the compare page, the first node where two runs
//! part ways.

use crate::model::trace::{first_difference, NodeRun, Trace};
use crate::ui::i18n::use_i18n;
use leptos::prelude::*;

#[component]
pub fn TraceFacts(trace: Trace) -> impl IntoView {
    let i18n = use_i18n();
    let Trace {
        nodes,
        nodes_dropped,
        tools,
        retrieval,
    } = trace;
    let timeline = (!nodes.is_empty()).then(|| {
        let bars = bars(&nodes);
        let rows = nodes
            .into_iter()
            .zip(bars)
            .map(|(n, (left, width))| view! { <NodeRow n left width/> })
            .collect_view();
        let dropped = (nodes_dropped > 0).then(|| {
            view! { <li class="muted">{move || (i18n.t().trc().dropped)(nodes_dropped)}</li> }
        });
        view! {
            <dt>{move || i18n.t().trc().timeline}</dt>
            <dd><ol class="node-timeline" data-testid="node-timeline">{rows}{dropped}</ol></dd>
        }
    });
    let tools = (!tools.is_empty()).then(|| {
        view! {
            <dt>{move || i18n.t().trc().tools}</dt>
            <dd data-testid="tools-called">
                {tools.into_iter().map(|t| view! { <code class="tool">{t}</code>" " }).collect_view()}
            </dd>
        }
    });
    let retrieval = (!retrieval.is_empty()).then(|| {
        let items = retrieval
            .into_iter()
            .map(|c| {
                let source = [c.document.as_str(), c.dataset.as_str()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" · ");
                let score = c.score.map(|s| format!("{s:.3}"));
                view! {
                    <li>
                        <b>{source}</b>
                        {score.map(|s| view! { " "<span class="muted">{move || i18n.t().trc().score}" "{s.clone()}</span> })}
                        <div class="chunk-snippet">{c.snippet}</div>
                    </li>
                }
            })
            .collect_view();
        view! {
            <dt>{move || i18n.t().trc().retrieved}</dt>
            <dd><ol class="chunks" data-testid="retrieval">{items}</ol></dd>
        }
    });
    view! { {timeline}{tools}{retrieval} }
}

#[component]
fn NodeRow(n: NodeRun, left: f64, width: f64) -> impl IntoView {
    let i18n = use_i18n();
    let status = n.status.clone();
    let class = format!("node node-{}", css_word(&n.status));
    let facts = [
        n.elapsed_ms.map(|ms| format!("{ms} ms")),
        n.tokens.map(|t| format!("{t} tok")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    let retries = n.retries;
    let output = n.output.map(|o| {
        let shown = if n.output_cut { format!("{o}…") } else { o };
        view! {
            <details class="node-out">
                <summary>{move || i18n.t().trc().output}</summary>
                <div class="answer-text">{shown}</div>
            </details>
        }
    });
    view! {
        <li class=class data-node=n.id.clone()>
            <div class="node-head">
                <b class="node-title">{if n.title.is_empty() { n.id.clone() } else { n.title.clone() }}</b>
                " "<span class="muted">{n.kind}</span>
                " "<span class="node-status">{move || (i18n.t().trc().status)(&status)}</span>
                " "<span class="muted">{facts}</span>
                {(retries > 0).then(|| view! { " "<span class="muted">{move || (i18n.t().trc().retries)(retries)}</span> })}
            </div>
            <div class="node-track" aria-hidden="true">
                <span class="node-bar" style=format!("margin-left:{left:.1}%;width:{width:.1}%")></span>
            </div>
            {n.error.map(|e| view! { <div class="error">{e}</div> })}
            {output}
        </li>
    }
}

/// Where each node's bar starts and how wide it is, in percent of the run's span: by the start
/// times the client saw when it has them, else one after the other. A node too quick to see gets
/// a sliver (0.5 %) so that it still shows.
fn bars(nodes: &[NodeRun]) -> Vec<(f64, f64)> {
    let mut clock = 0i64;
    let spans: Vec<(i64, i64)> = nodes
        .iter()
        .map(|n| {
            let took = n.elapsed_ms.unwrap_or(0).max(0);
            let start = n.start_ms.unwrap_or(clock).max(0);
            clock = clock.max(start + took);
            (start, took)
        })
        .collect();
    let end = spans.iter().map(|(s, t)| s + t).max().unwrap_or(0).max(1) as f64;
    spans
        .into_iter()
        .map(|(s, t)| {
            let left = (s as f64 / end * 100.0).min(99.5);
            let width = (t as f64 / end * 100.0).clamp(0.5, 100.0 - left);
            (left, width)
        })
        .collect()
}

/// A status as a CSS class word (letters only).
fn css_word(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphabetic).collect()
}

/// The first node where run A and run B part ways, as a notice above the two sides; nothing when
/// either run reported no nodes.
#[component]
pub fn FirstNodeDifference(a: Option<Trace>, b: Option<Trace>) -> impl IntoView {
    let i18n = use_i18n();
    let (a, b) = (a?, b?);
    if a.nodes.is_empty() || b.nodes.is_empty() {
        return None;
    }
    Some(match first_difference(&a, &b) {
        Some((node, why)) => {
            let title = if node.title.is_empty() {
                node.id.clone()
            } else {
                node.title.clone()
            };
            view! {
                <p class="notice notice-info" data-testid="first-node-diff">
                    {move || i18n.t().trc().first_difference}" "<b>{title}</b>
                    " "<span class="muted">"("{node.kind.clone()}")"</span>
                    " — "{move || (i18n.t().trc().why)(why)}
                </p>
            }
            .into_any()
        }
        None => view! {
            <p class="muted" data-testid="first-node-diff">{move || i18n.t().trc().same_nodes}</p>
        }
        .into_any(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(start: Option<i64>, ms: Option<i64>) -> NodeRun {
        NodeRun {
            start_ms: start,
            elapsed_ms: ms,
            ..NodeRun::default()
        }
    }

    #[test]
    fn bars_follow_start_times_or_run_one_after_the_other() {
        let b = bars(&[
            n(Some(0), Some(10)),
            n(Some(10), Some(30)),
            n(Some(40), Some(60)),
        ]);
        assert_eq!(b, vec![(0.0, 10.0), (10.0, 30.0), (40.0, 60.0)]);
        let b = bars(&[n(None, Some(50)), n(None, Some(50))]);
        assert_eq!(b, vec![(0.0, 50.0), (50.0, 50.0)]);
        // A node too quick to measure still shows; nothing divides by zero.
        let b = bars(&[n(None, None)]);
        assert_eq!(b, vec![(0.0, 0.5)]);
    }
}
