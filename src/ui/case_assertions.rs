//! The case form's assertion editor: the case's assertions listed, added, removed, each with
//! its kind's fields (`model::Assertion`). Rows are edited as text and turned into assertions on
//! save, through the same JSON shape the API takes, so a new kind needs only its fields listed
//! here. Only the cases page uses it (a lazy chunk).

use crate::model::Assertion;
use crate::ui::i18n::{use_i18n, Strings};
use leptos::prelude::*;
use serde_json::{Map, Value};

/// Every kind, with its fields in order; the numeric fields are `ms`, `score` and `count`.
const KINDS: &[(&str, &[&str])] = &[
    ("contains", &["value"]),
    ("not_contains", &["value"]),
    ("regex", &["pattern"]),
    ("max_latency_ms", &["ms"]),
    ("node_succeeded", &["node"]),
    ("node_max_latency_ms", &["node", "ms"]),
    ("node_output_contains", &["node", "value"]),
    ("node_output_matches", &["node", "pattern"]),
    ("tool_called", &["tool"]),
    ("cites_document", &["document"]),
    ("min_retrieval_score", &["score"]),
    ("min_chunks", &["count"]),
];

fn fields_of(kind: &str) -> &'static [&'static str] {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(&[], |(_, f)| f)
}

fn is_number(field: &str) -> bool {
    matches!(field, "ms" | "score" | "count")
}

/// One assertion being edited: its kind and its fields as text.
#[derive(Clone, Copy)]
pub struct AssertionRow {
    key: u64,
    kind: RwSignal<String>,
    values: RwSignal<Map<String, Value>>,
}

/// The rows for a case's assertions.
pub fn rows_of(assertions: &[Assertion]) -> Vec<AssertionRow> {
    assertions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut obj = match serde_json::to_value(a) {
                Ok(Value::Object(o)) => o,
                _ => Map::new(),
            };
            let kind = obj
                .remove("type")
                .and_then(|k| k.as_str().map(str::to_string))
                .unwrap_or_default();
            let values = obj
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, Value::String(text))
                })
                .collect();
            AssertionRow {
                key: i as u64,
                kind: RwSignal::new(kind),
                values: RwSignal::new(values),
            }
        })
        .collect()
}

/// The assertions the rows say, or the first field that is not a number (named in the reader's
/// language). Anything else (an empty text, a bad regex) is the server's to refuse, by name.
pub fn assertions_of(rows: &[AssertionRow], t: &Strings) -> Result<Vec<Assertion>, String> {
    rows.iter()
        .map(|row| {
            let kind = row.kind.get_untracked();
            let values = row.values.get_untracked();
            let mut obj = Map::new();
            obj.insert("type".into(), Value::String(kind.clone()));
            for field in fields_of(&kind) {
                let text = values
                    .get(*field)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let value = if is_number(field) {
                    let n: serde_json::Number = text
                        .parse()
                        .map_err(|_| (t.inp().not_a_number)((t.inp().field_name)(field), &text))?;
                    Value::Number(n)
                } else {
                    Value::String(text)
                };
                obj.insert((*field).to_string(), value);
            }
            serde_json::from_value::<Assertion>(Value::Object(obj))
                .map_err(|e| format!("{}: {e}", (t.inp().kind_name)(&kind)))
        })
        .collect()
}

#[component]
pub fn CaseAssertions(rows: RwSignal<Vec<AssertionRow>>) -> impl IntoView {
    let i18n = use_i18n();
    let next = StoredValue::new(rows.with_untracked(Vec::len) as u64);
    let add = move |_| {
        let key = next.get_value();
        next.set_value(key + 1);
        rows.update(|r| {
            r.push(AssertionRow {
                key,
                kind: RwSignal::new("contains".into()),
                values: RwSignal::new(Map::new()),
            })
        });
    };
    view! {
        <fieldset class="case-assertions" data-testid="case-assertions">
            <legend>{move || i18n.t().inp().assertions_title}</legend>
            <small class="muted">{move || i18n.t().inp().assertions_help}</small>
            {move || rows.with(Vec::is_empty).then(|| view! { <p class="muted">{move || i18n.t().inp().no_assertions}</p> })}
            <For each=move || rows.get() key=|r| r.key let:row>
                <AssertionEditor row rows/>
            </For>
            <button type="button" data-testid="add-assertion" on:click=add>{move || i18n.t().inp().add_assertion}</button>
        </fieldset>
    }
}

#[component]
fn AssertionEditor(row: AssertionRow, rows: RwSignal<Vec<AssertionRow>>) -> impl IntoView {
    let i18n = use_i18n();
    let remove = move |_| rows.update(|r| r.retain(|x| x.key != row.key));
    view! {
        <div class="form-row assertion-row" data-testid="assertion-row">
            <label>
                <span>{move || i18n.t().inp().kind}</span>
                <select name="assertion-kind" on:change=move |ev| row.kind.set(event_target_value(&ev))>
                    {KINDS
                        .iter()
                        .map(|(k, _)| {
                            let k = *k;
                            view! {
                                <option value=k selected=move || row.kind.with(|c| c == k)>
                                    {move || (i18n.t().inp().kind_name)(k)}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            {move || {
                fields_of(&row.kind.get())
                    .iter()
                    .map(|field| {
                        let field = *field;
                        let value = move || {
                            row.values.with(|v| {
                                v.get(field).and_then(Value::as_str).unwrap_or_default().to_string()
                            })
                        };
                        let input_type = if is_number(field) { "number" } else { "text" };
                        view! {
                            <label>
                                <span>{move || (i18n.t().inp().field_name)(field)}</span>
                                <input
                                    type=input_type
                                    step="any"
                                    name=format!("assertion-{field}")
                                    prop:value=value
                                    on:input=move |ev| {
                                        let t = event_target_value(&ev);
                                        row.values.update(|v| {
                                            v.insert(field.to_string(), Value::String(t));
                                        });
                                    }
                                />
                            </label>
                        }
                    })
                    .collect_view()
            }}
            <button type="button" class="danger" on:click=remove>{move || i18n.t().inp().remove}</button>
        </div>
    }
}
