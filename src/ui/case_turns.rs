//! The case form's turns editor: turns 2 and on of a conversation case (turn 1 is the form's own
//! query), each with its query, expected answer, keywords, assertions (the case's assertion
//! editor) and inputs (the case's typed fields once a form is loaded, variable and value rows
//! otherwise); turns are added, removed and moved.

use crate::model::Turn;
use crate::ui::case_assertions::{self, AssertionRow, CaseAssertions};
use crate::ui::case_inputs::{InputErrors, LoadedForm, TurnInputs};
use crate::ui::format;
use crate::ui::i18n::{use_i18n, Strings};
use leptos::prelude::*;
use serde_json::Value;

/// One turn as the form edits it: its own signals, so typing in one turn does not redraw the
/// others (and keeps the focus).
#[derive(Clone)]
pub struct TurnRow {
    key: u64,
    query: RwSignal<String>,
    expected: RwSignal<String>,
    keywords: RwSignal<String>,
    assertions: RwSignal<Vec<AssertionRow>>,
    /// The turn's own inputs (a JSON object; null for none).
    inputs: RwSignal<Value>,
    errors: InputErrors,
}

impl TurnRow {
    fn new(key: u64, turn: Turn) -> TurnRow {
        TurnRow {
            key,
            query: RwSignal::new(turn.query),
            expected: RwSignal::new(turn.expected_answer),
            keywords: RwSignal::new(turn.keywords.join("; ")),
            assertions: RwSignal::new(case_assertions::rows_of(&turn.assertions)),
            inputs: RwSignal::new(turn.inputs.unwrap_or(Value::Null)),
            errors: RwSignal::new(Default::default()),
        }
    }
}

/// The rows of a case's turns, for [`CaseTurns`].
pub fn rows(turns: Vec<Turn>) -> RwSignal<Vec<TurnRow>> {
    RwSignal::new(
        turns
            .into_iter()
            .enumerate()
            .map(|(i, t)| TurnRow::new(i as u64, t))
            .collect(),
    )
}

/// The turns the rows hold now, to save; or the first problem, named by turn and field in the
/// reader's language ("Turn 3: Assertions: Milliseconds: …").
pub fn collect(rows: &[TurnRow], t: &Strings) -> Result<Vec<Turn>, String> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let at = |field: &str, e: &str| (t.trn().turn_error)(i + 2, &format!("{field}: {e}"));
            if let Some(e) = r.errors.with_untracked(|e| e.values().next().cloned()) {
                return Err(at(t.trn().turn_inputs, &e));
            }
            let assertions = case_assertions::assertions_of(&r.assertions.get_untracked(), t)
                .map_err(|e| at(t.inp().assertions_title, &e))?;
            // No inputs of its own is none: the turn sends the case's.
            let inputs = Some(r.inputs.get_untracked())
                .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()));
            Ok(Turn {
                query: r.query.get_untracked(),
                expected_answer: r.expected.get_untracked(),
                keywords: format::split_list(&r.keywords.get_untracked()),
                assertions,
                inputs,
            })
        })
        .collect()
}

/// The turns' inputs that `form` does not declare, as "turn 2: x" (for the note on save).
pub fn not_in_form(
    rows: &[TurnRow],
    form: &crate::model::inputs::InputForm,
    t: &Strings,
) -> Vec<String> {
    rows.iter()
        .enumerate()
        .flat_map(|(i, r)| {
            let turn = (t.trn().turn_n)(i + 2);
            r.inputs
                .with_untracked(|v| crate::ui::case_inputs::not_in_form(v, form))
                .into_iter()
                .map(move |var| format!("{turn}: {var}"))
        })
        .collect()
}

#[component]
pub fn CaseTurns(rows: RwSignal<Vec<TurnRow>>, form: LoadedForm) -> impl IntoView {
    let i18n = use_i18n();
    let next_key = StoredValue::new(rows.with_untracked(|r| r.len() as u64));
    let add = move |_| {
        let key = next_key.get_value();
        next_key.set_value(key + 1);
        rows.update(|r| r.push(TurnRow::new(key, Turn::default())));
    };
    // Moves the row with `key` by `by` places (−1 up, +1 down) when there is room.
    let shift = move |key: u64, by: isize| {
        rows.update(|r| {
            let Some(i) = r.iter().position(|row| row.key == key) else {
                return;
            };
            let j = i as isize + by;
            if (0..r.len() as isize).contains(&j) {
                r.swap(i, j as usize);
            }
        })
    };
    let remove = move |key: u64| rows.update(|r| r.retain(|row| row.key != key));
    // Turn 1 is the case's own: at most MAX_TURNS_PER_CASE − 1 rows here.
    let full = move || rows.with(Vec::len) + 1 >= crate::model::limits::MAX_TURNS_PER_CASE;
    let place = move |key: u64| {
        rows.with(|r| r.iter().position(|row| row.key == key))
            .unwrap_or(0)
    };
    view! {
        <fieldset class="case-turns" data-testid="case-turns">
            <legend>{move || i18n.t().trn().turns}</legend>
            <small>{move || i18n.t().trn().turns_help}</small>
            <For each=move || rows.get() key=|r| r.key let:row>
                {
                    let key = row.key;
                    let n = move || place(key) + 2;
                    let last = move || place(key) + 1 == rows.with(Vec::len);
                    view! {
                        <div class="case-turn" data-testid="case-turn">
                            <div class="case-turn-head">
                                <b>{move || (i18n.t().trn().turn_n)(n())}</b>
                                <button type="button" disabled=move || n() == 2
                                    on:click=move |_| shift(key, -1)>{move || i18n.t().trn().move_up}</button>
                                <button type="button" disabled=last
                                    on:click=move |_| shift(key, 1)>{move || i18n.t().trn().move_down}</button>
                                <button type="button" class="danger-text"
                                    on:click=move |_| remove(key)>{move || i18n.t().trn().remove_turn}</button>
                            </div>
                            <label>
                                <span>{move || i18n.t().f_query}</span>
                                <textarea rows="2" required bind:value=row.query></textarea>
                            </label>
                            <label>
                                <span>{move || i18n.t().cas().f_expected}</span>
                                <textarea rows="2" bind:value=row.expected></textarea>
                            </label>
                            <label>
                                <span>{move || i18n.t().cas().f_keywords}</span>
                                <input type="text" bind:value=row.keywords/>
                            </label>
                            <CaseAssertions rows=row.assertions/>
                            <TurnInputs inputs=row.inputs errors=row.errors form/>
                        </div>
                    }
                }
            </For>
            <button type="button" on:click=add disabled=full>
                {move || i18n.t().trn().add_turn}
            </button>
        </fieldset>
    }
}
