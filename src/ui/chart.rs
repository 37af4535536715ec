//! A small line chart as SVG, for the trends dashboard: one line per series over evenly spaced
//! slots (batches, oldest left), every point a link with its value as a tooltip, y ticks at
//! round values, and a legend.
//!
//! Hand-written rather than a chart crate: leptos-chartistry 0.2 added 134 KB gzipped (+16 %) to
//! the release WASM for the same charts (BENCHMARKS.md, section i). The SVG is built as text by a pure function
//! ([`line_chart_svg`]) — tested without a browser, the same on the server and in the browser, and
//! parsed by the browser's own HTML parser, so links inside the SVG are real SVG links after an
//! update as well as after hydration. Every text in it is escaped.

use leptos::prelude::*;

/// The chart's coordinate space; the SVG scales to its container's width (360 px phones too).
const W: f64 = 400.0;
const H: f64 = 220.0;
const LEFT: f64 = 46.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;

/// How many distinct colours series get (then they repeat); `--series-N` in main.css.
pub const PALETTE: usize = 8;

/// One point: a slot on the x axis, a value, where it links, what its tooltip says.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartPoint {
    pub slot: usize,
    pub value: f64,
    pub href: String,
    pub label: String,
}

/// One line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// Index into the palette.
    pub color: usize,
    /// Drawn dashed (a p95 beside its p50).
    pub dashed: bool,
    pub points: Vec<ChartPoint>,
}

/// Round tick values covering `[lo, hi]`: about four steps of 1, 2 or 5 × 10ⁿ.
pub fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (lo, hi) = if (hi - lo).abs() < f64::EPSILON {
        (
            lo - 1.0_f64.max(lo.abs() * 0.1),
            hi + 1.0_f64.max(hi.abs() * 0.1),
        )
    } else {
        (lo, hi)
    };
    let raw = (hi - lo) / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).floor() * step;
    let mut out = Vec::new();
    let mut v = start;
    while v <= hi + step * 1e-9 || out.len() < 2 {
        out.push(v);
        v += step;
        if out.len() > 12 {
            break;
        }
    }
    if out.last().is_some_and(|l| *l < hi) {
        out.push(v);
    }
    out
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The chart as SVG markup. `slots`: how many x positions; `x_labels`: what the first and last
/// slot are called; `fixed`: a y range to use instead of the data's (0–100 for rates);
/// `fmt`: how a tick value is written; `summary`: the accessible name.
pub fn line_chart_svg(
    series: &[Series],
    slots: usize,
    x_labels: (&str, &str),
    fixed: Option<(f64, f64)>,
    fmt: fn(f64) -> String,
    summary: &str,
) -> String {
    let values = series.iter().flat_map(|s| s.points.iter().map(|p| p.value));
    let (lo, hi) = match fixed {
        Some(r) => r,
        None => {
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for v in values.filter(|v| v.is_finite()) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if !lo.is_finite() {
                (0.0, 1.0)
            } else {
                // From zero when the values are all positive: trends read against zero.
                (lo.min(0.0), hi)
            }
        }
    };
    let ticks = ticks(lo, hi);
    let (y0, y1) = (ticks[0], ticks[ticks.len() - 1]);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |slot: usize| LEFT + (slot as f64 + 0.5) * plot_w / slots.max(1) as f64;
    let y = |v: f64| TOP + plot_h - (v - y0) / (y1 - y0) * plot_h;

    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\" \
         preserveAspectRatio=\"xMidYMid meet\">",
        esc(summary)
    );
    for t in &ticks {
        let ty = y(*t);
        svg.push_str(&format!(
            "<line class=\"grid-line\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 4.0,
            ty + 3.5,
            esc(&fmt(*t))
        ));
    }
    let base = H - BOTTOM + 16.0;
    svg.push_str(&format!(
        "<text class=\"tick\" x=\"{LEFT}\" y=\"{base}\" text-anchor=\"start\">{}</text>",
        esc(x_labels.0)
    ));
    if slots > 1 {
        svg.push_str(&format!(
            "<text class=\"tick\" x=\"{}\" y=\"{base}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            esc(x_labels.1)
        ));
    }
    for s in series {
        let color = s.color % PALETTE;
        let path: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.value.is_finite())
            .map(|p| format!("{:.1},{:.1}", x(p.slot), y(p.value)))
            .collect();
        if path.len() > 1 {
            svg.push_str(&format!(
                "<polyline class=\"series series-{color}{}\" points=\"{}\"/>",
                if s.dashed { " dashed" } else { "" },
                path.join(" ")
            ));
        }
        for p in s.points.iter().filter(|p| p.value.is_finite()) {
            svg.push_str(&format!(
                "<a href=\"{}\" class=\"point\" data-series=\"{}\" aria-label=\"{label}\">\
                 <circle class=\"series-{color}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\">\
                 <title>{label}</title></circle></a>",
                esc(&p.href),
                esc(&s.name),
                x(p.slot),
                y(p.value),
                if s.dashed { 3 } else { 4 },
                label = esc(&p.label),
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A titled chart with its legend.
#[component]
pub fn LineChart(
    #[prop(into)] title: String,
    series: Vec<Series>,
    slots: usize,
    x_labels: (String, String),
    fixed: Option<(f64, f64)>,
    fmt: fn(f64) -> String,
    #[prop(into)] summary: String,
) -> impl IntoView {
    let svg = line_chart_svg(
        &series,
        slots,
        (&x_labels.0, &x_labels.1),
        fixed,
        fmt,
        &summary,
    );
    let legend = series
        .iter()
        .map(|s| {
            let class = format!(
                "swatch series-{}{}",
                s.color % PALETTE,
                if s.dashed { " dashed" } else { "" }
            );
            view! { <li><span class=class aria-hidden="true"></span>{s.name.clone()}</li> }
        })
        .collect_view();
    view! {
        <figure class="chart-card" data-testid="chart">
            <figcaption>{title}</figcaption>
            <div class="chart-box" inner_html=svg></div>
            <ul class="legend">{legend}</ul>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let t = ticks(0.0, 100.0);
        assert_eq!(t.first(), Some(&0.0));
        assert!(*t.last().unwrap() >= 100.0);
        assert!(t.len() >= 3 && t.len() <= 7, "{t:?}");
        let t = ticks(0.0, 1234.0);
        assert!(t.windows(2).all(|w| w[1] > w[0]));
        assert!(*t.last().unwrap() >= 1234.0 && t[0] <= 0.0, "{t:?}");
        // One value still gets a range.
        let t = ticks(5.0, 5.0);
        assert!(t[0] < 5.0 && *t.last().unwrap() > 5.0, "{t:?}");
    }

    #[test]
    fn points_link_to_their_batch_and_text_is_escaped() {
        let s = Series {
            name: "v1 <b>".into(),
            color: 9,
            dashed: false,
            points: vec![
                ChartPoint {
                    slot: 0,
                    value: 50.0,
                    href: "/batches/7".into(),
                    label: "Batch \"a\" & b: 50".into(),
                },
                ChartPoint {
                    slot: 2,
                    value: 100.0,
                    href: "/batches/9".into(),
                    label: "c".into(),
                },
            ],
        };
        let svg = line_chart_svg(
            &[s],
            3,
            ("2026-12-01", "2026-12-02"),
            Some((0.0, 100.0)),
            |v| format!("{v:.0}"),
            "Pass <rate>",
        );
        assert!(svg.contains("href=\"/batches/7\""));
        assert!(svg.contains("href=\"/batches/9\""));
        assert!(svg.contains("Batch &quot;a&quot; &amp; b: 50"));
        assert!(svg.contains("data-series=\"v1 &lt;b&gt;\""));
        assert!(svg.contains("aria-label=\"Pass &lt;rate&gt;\""));
        assert!(svg.contains("series-1"), "colours wrap around the palette");
        assert!(svg.contains("<polyline"));
        assert!(!svg.contains("<b>"));
    }
}
