//! The case form's inputs: a JSON object by hand, or — after "Load from Dify" reads a version's
//! input form (`version_input_form`) — one typed field per input (text, paragraph, select,
//! number, file by URL), each checked as Dify checks it (`model::inputs`) as it is typed; the
//! inputs the form does not declare are listed under it ("not in this app's form") to edit or
//! remove. A conversation's later turns edit their own inputs with [`TurnInputs`]: the same typed
//! fields once a form is loaded (none required: an empty one keeps the case's value), variable
//! and value rows otherwise. Only the cases page uses it (a lazy chunk).

use std::collections::BTreeMap;

use crate::api::{list_versions, version_input_form};
use crate::model::inputs::{
    check_value, value_from_text, value_to_text, FieldType, FormField, InputForm,
};
use crate::model::{AppMode, VersionId};
use crate::ui::i18n::use_i18n;
use leptos::prelude::*;
use serde_json::{Map, Value};

/// Field errors by variable; `""` is the JSON box's, [`PAIRS`] the variable/value rows'. Empty:
/// the inputs can be saved.
pub type InputErrors = RwSignal<BTreeMap<String, String>>;

/// The version's form "Load from Dify" read, with the version's name; shared by the case's
/// inputs and its turns'.
pub type LoadedForm = RwSignal<Option<(InputForm, String)>>;

/// The [`InputErrors`] key of the variable/value rows (no variable has a space in its name).
const PAIRS: &str = " pairs";

/// The form's fields a case fills: a text generator's or workflow's `query` input is the case's
/// query, so it is not asked twice.
fn case_fields(form: &InputForm) -> Vec<FormField> {
    let query_is_input = matches!(form.app_mode, AppMode::Completion | AppMode::Workflow);
    form.fields
        .iter()
        .filter(|f| !(query_is_input && f.variable == "query"))
        .cloned()
        .collect()
}

fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// The variables `inputs` gives that `form` does not declare (Dify ignores them), in key order.
pub fn not_in_form(inputs: &Value, form: &InputForm) -> Vec<String> {
    inputs
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !form.fields.iter().any(|f| &f.variable == *k))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// A value as its row shows it: text as it is, unless it would read as JSON (`42`, `true`),
/// which is quoted so that it stays text; anything else as JSON.
fn pair_text(value: &Value) -> String {
    match value {
        Value::String(s) if serde_json::from_str::<Value>(s).is_err() => s.clone(),
        other => other.to_string(),
    }
}

/// What a row's value sends: the JSON it reads as (a number, `true`, a list, `"quoted text"`),
/// else the text itself.
fn pair_value(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// `inputs` is the case's inputs object; `form_version` the version whose form was loaded (sent
/// with `save_case` so the server checks the same); `errors` what does not fit.
#[component]
pub fn CaseInputs(
    inputs: RwSignal<Value>,
    form_version: RwSignal<Option<VersionId>>,
    errors: InputErrors,
    form: LoadedForm,
) -> impl IntoView {
    let i18n = use_i18n();
    let versions = LocalResource::new(list_versions);
    let picked = RwSignal::new(String::new());
    let loading = RwSignal::new(false);
    let load_error = RwSignal::new(None::<String>);

    let load = move |_| {
        let Ok(id) = picked.get_untracked().parse::<i64>() else {
            load_error.set(Some(i18n.t_untracked().inp().need_version.to_string()));
            return;
        };
        let name = versions
            .get_untracked()
            .and_then(Result::ok)
            .and_then(|vs| vs.into_iter().find(|v| v.id.0 == id))
            .map(|v| v.name)
            .unwrap_or_default();
        loading.set(true);
        load_error.set(None);
        leptos::task::spawn_local(async move {
            let result = version_input_form(VersionId(id)).await;
            loading.set(false);
            match result {
                Ok(f) => {
                    // Every field checked at once, so a required one left out shows.
                    let now = object(&inputs.get_untracked());
                    let mut found = BTreeMap::new();
                    // (The JSON box's error and the rows' go: the box gives way to the form.)
                    for field in case_fields(&f) {
                        if let Err(e) = check_value(&field, now.get(&field.variable)) {
                            found.insert(field.variable.clone(), e);
                        }
                    }
                    errors.set(found);
                    form_version.set(Some(f.version_id));
                    form.set(Some((f, name)));
                }
                Err(e) => load_error.set(Some(e.message)),
            }
        });
    };

    view! {
        <fieldset class="case-inputs" data-testid="case-inputs">
            <legend>{move || i18n.t().inp().inputs_title}</legend>
            <small class="muted">{move || i18n.t().inp().inputs_help}</small>
            <div class="form-row">
                <label>
                    <span>{move || i18n.t().inp().pick_version}</span>
                    <select data-testid="form-version" on:change=move |ev| picked.set(event_target_value(&ev))>
                        <option value="">{move || i18n.t().inp().choose}</option>
                        {move || {
                            versions
                                .get()
                                .and_then(Result::ok)
                                .unwrap_or_default()
                                .into_iter()
                                .map(|v| view! { <option value=v.id.0.to_string()>{v.name}</option> })
                                .collect_view()
                        }}
                    </select>
                </label>
                <button type="button" data-testid="load-from-dify" disabled=move || loading.get() on:click=load>
                    {move || i18n.t().inp().load_from_dify}
                </button>
            </div>
            {move || loading.get().then(|| view! { <p class="muted">{move || i18n.t().inp().loading_form}</p> })}
            {move || load_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || match form.get() {
                None => view! { <RawInputs inputs errors/> }.into_any(),
                Some((f, name)) => {
                    let fields = case_fields(&f);
                    let n = fields.len();
                    view! {
                        <p class="muted" data-testid="form-loaded">{move || (i18n.t().inp().form_loaded)(n, &name)}</p>
                        {(n == 0).then(|| view! { <p class="muted">{move || i18n.t().inp().no_fields}</p> })}
                        {fields
                            .into_iter()
                            .map(|field| view! { <TypedInput field inputs errors/> })
                            .collect_view()}
                        <InputPairs inputs errors form=Some(f)/>
                    }
                    .into_any()
                }
            }}
        </fieldset>
    }
}

/// A later turn's own inputs (merged over the case's when the turn is sent): the loaded form's
/// fields, none of them required (an empty one keeps the case's value), and rows for the rest;
/// variable and value rows only while no form is loaded.
#[component]
pub fn TurnInputs(inputs: RwSignal<Value>, errors: InputErrors, form: LoadedForm) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <fieldset class="turn-inputs" data-testid="turn-inputs">
            <legend>{move || i18n.t().trn().turn_inputs}</legend>
            <small class="muted">{move || i18n.t().trn().turn_inputs_help}</small>
            {move || {
                // A form loaded (or another one): the rows and fields below start again, and
                // so do their errors (everything that shows them is drawn anew).
                errors.update_untracked(BTreeMap::clear);
                match form.get() {
                None => view! { <InputPairs inputs errors form=None/> }.into_any(),
                Some((f, _)) => {
                    let now = object(&inputs.get_untracked());
                    let fields = case_fields(&f).into_iter().map(|mut field| {
                        field.required = false;
                        // What the turn gives already is checked at once, as the case's is.
                        if let Err(e) = check_value(&field, now.get(&field.variable)) {
                            errors.update_untracked(|all| {
                                all.insert(field.variable.clone(), e);
                            });
                        }
                        view! { <TypedInput field inputs errors/> }
                    });
                    view! {
                        {fields.collect_view()}
                        <InputPairs inputs errors form=Some(f)/>
                    }
                    .into_any()
                }
            }}}
        </fieldset>
    }
}

/// One variable/value row.
#[derive(Clone, Copy)]
struct Pair {
    key: u64,
    variable: RwSignal<String>,
    value: RwSignal<String>,
}

/// Inputs as variable/value rows: with a `form`, the ones it does not declare ("not in this
/// app's form", shown only when there are some, to edit or remove); without, every input, and
/// rows can be added. Each change rewrites those inputs from the rows; a row without a
/// variable, a variable given twice or one the form declares is an error under [`PAIRS`].
#[component]
fn InputPairs(
    inputs: RwSignal<Value>,
    errors: InputErrors,
    form: Option<InputForm>,
) -> impl IntoView {
    let i18n = use_i18n();
    let known: Vec<String> = form
        .as_ref()
        .map(|f| f.fields.iter().map(|x| x.variable.clone()).collect())
        .unwrap_or_default();
    let with_form = form.is_some();
    let start: Vec<Pair> = inputs.with_untracked(|v| {
        object(v)
            .into_iter()
            .filter(|(k, _)| !known.contains(k))
            .enumerate()
            .map(|(i, (k, v))| Pair {
                key: i as u64,
                variable: RwSignal::new(k),
                value: RwSignal::new(pair_text(&v)),
            })
            .collect()
    });
    let next = StoredValue::new(start.len() as u64);
    let pairs = RwSignal::new(start);
    let known = StoredValue::new(known);
    // The inputs again: the form's as they are, the rest from the rows.
    let sync = move || {
        let t = i18n.t_untracked().inp();
        let mut out: Map<String, Value> = known.with_value(|known| {
            object(&inputs.get_untracked())
                .into_iter()
                .filter(|(k, _)| known.contains(k))
                .collect()
        });
        let mut problem = None;
        for p in pairs.get_untracked() {
            let (var, text) = (p.variable.get_untracked(), p.value.get_untracked());
            let var = var.trim();
            if var.is_empty() {
                if !text.trim().is_empty() {
                    problem.get_or_insert_with(|| t.pair_without_variable.to_string());
                }
                continue;
            }
            if known.with_value(|k| k.iter().any(|x| x == var)) {
                problem.get_or_insert_with(|| (t.pair_in_form)(var));
            } else if out.insert(var.to_string(), pair_value(&text)).is_some() {
                problem.get_or_insert_with(|| (t.pair_twice)(var));
            }
        }
        inputs.set(Value::Object(out));
        errors.update(|e| match problem {
            Some(p) => {
                e.insert(PAIRS.to_string(), p);
            }
            None => {
                e.remove(PAIRS);
            }
        });
    };
    let add = move |_| {
        let key = next.get_value();
        next.set_value(key + 1);
        pairs.update(|p| {
            p.push(Pair {
                key,
                variable: RwSignal::new(String::new()),
                value: RwSignal::new(String::new()),
            })
        });
    };
    let shown = move || !with_form || pairs.with(|p| !p.is_empty());
    let test_id = if with_form {
        "not-in-form"
    } else {
        "input-pairs"
    };
    view! {
        <Show when=shown>
            <div class="input-pairs" data-testid=test_id>
                {with_form.then(|| view! {
                    <b>{move || i18n.t().inp().not_in_form}</b>
                    <small class="muted">{move || i18n.t().inp().not_in_form_help}</small>
                })}
                <For each=move || pairs.get() key=|p| p.key let:pair>
                    <div class="form-row" data-testid="input-pair">
                        <label>
                            <span>{move || i18n.t().inp().variable}</span>
                            <input type="text" class="mono" prop:value=move || pair.variable.get()
                                on:input=move |ev| { pair.variable.set(event_target_value(&ev)); sync(); }/>
                        </label>
                        <label>
                            <span>{move || i18n.t().inp().value}</span>
                            <input type="text" prop:value=move || pair.value.get()
                                on:input=move |ev| { pair.value.set(event_target_value(&ev)); sync(); }/>
                        </label>
                        <button type="button" class="danger-text" on:click=move |_| {
                            pairs.update(|p| p.retain(|x| x.key != pair.key));
                            sync();
                        }>{move || i18n.t().inp().remove}</button>
                    </div>
                </For>
                {(!with_form).then(|| view! {
                    <small>{move || i18n.t().inp().pair_help}</small>
                    <button type="button" data-testid="add-input-pair" on:click=add>{move || i18n.t().inp().add_input}</button>
                })}
                {move || errors.with(|e| e.get(PAIRS).cloned()).map(|e| view! { <span class="error" role="alert">{e}</span> })}
            </div>
        </Show>
    }
}

/// The inputs as a JSON object, by hand.
#[component]
fn RawInputs(inputs: RwSignal<Value>, errors: InputErrors) -> impl IntoView {
    let i18n = use_i18n();
    let initial = inputs.with_untracked(|v| match v {
        Value::Object(o) if !o.is_empty() => serde_json::to_string_pretty(v).unwrap_or_default(),
        _ => String::new(),
    });
    let text = RwSignal::new(initial);
    let on_input = move |ev: leptos::ev::Event| {
        let t = event_target_value(&ev);
        text.set(t.clone());
        let parsed = if t.trim().is_empty() {
            Ok(Value::Object(Map::new()))
        } else {
            serde_json::from_str::<Value>(&t)
                .ok()
                .filter(Value::is_object)
                .ok_or(())
        };
        match parsed {
            Ok(v) => {
                inputs.set(v);
                errors.update(|e| {
                    e.remove("");
                });
            }
            Err(()) => errors.update(|e| {
                e.insert(
                    String::new(),
                    i18n.t_untracked().inp().raw_json_invalid.to_string(),
                );
            }),
        }
    };
    view! {
        <label>
            <span>{move || i18n.t().inp().raw_json}</span>
            <textarea rows="3" class="mono" data-testid="inputs-json" prop:value=move || text.get() on:input=on_input></textarea>
            <small>{move || i18n.t().inp().raw_json_help}</small>
            {move || errors.with(|e| e.get("").cloned()).map(|e| view! { <span class="error" role="alert">{e}</span> })}
        </label>
    }
}

/// One input of the loaded form, typed.
#[component]
fn TypedInput(field: FormField, inputs: RwSignal<Value>, errors: InputErrors) -> impl IntoView {
    let i18n = use_i18n();
    let variable = field.variable.clone();
    let initial =
        inputs.with_untracked(|v| v.get(&variable).map(value_to_text).unwrap_or_default());
    let text = RwSignal::new(initial);
    let kind = field.kind;
    let f = StoredValue::new(field.clone());
    let on_input = move |ev: leptos::ev::Event| {
        let t = event_target_value(&ev);
        text.set(t.clone());
        let field = f.get_value();
        let checked =
            value_from_text(&field, &t).and_then(|v| check_value(&field, v.as_ref()).map(|_| v));
        match checked {
            Ok(value) => {
                inputs.update(|all| {
                    let mut o = object(all);
                    match value {
                        Some(v) => o.insert(field.variable.clone(), v),
                        None => o.remove(&field.variable),
                    };
                    *all = Value::Object(o);
                });
                errors.update(|e| {
                    e.remove(&field.variable);
                });
            }
            Err(message) => errors.update(|e| {
                e.insert(field.variable.clone(), message);
            }),
        }
    };
    let error_var = variable.clone();
    let error = move || {
        errors
            .with(|e| e.get(&error_var).cloned())
            .map(|e| view! { <span class="error" role="alert">{e}</span> })
    };
    let max = field.max_length;
    let control = match kind {
        FieldType::Paragraph => view! {
            <textarea rows="3" name=variable.clone() prop:value=move || text.get() on:input=on_input></textarea>
        }
        .into_any(),
        FieldType::FileList => view! {
            <textarea rows="2" name=variable.clone() placeholder=move || i18n.t().inp().file_url prop:value=move || text.get() on:input=on_input></textarea>
        }
        .into_any(),
        FieldType::Select => {
            let options = field.options.clone();
            view! {
                <select name=variable.clone() on:change=on_input>
                    <option value="" selected=move || text.with(String::is_empty)>{move || i18n.t().inp().choose}</option>
                    {options
                        .into_iter()
                        .map(|o| {
                            let (v, value) = (o.clone(), o.clone());
                            view! { <option value=value selected=move || text.with(|t| *t == v)>{o}</option> }
                        })
                        .collect_view()}
                </select>
            }
            .into_any()
        }
        FieldType::Number => view! {
            <input type="number" step="any" name=variable.clone() prop:value=move || text.get() on:input=on_input/>
        }
        .into_any(),
        FieldType::File => view! {
            <input type="url" name=variable.clone() placeholder=move || i18n.t().inp().file_url prop:value=move || text.get() on:input=on_input/>
        }
        .into_any(),
        _ => view! {
            <input type="text" name=variable.clone() prop:value=move || text.get() on:input=on_input/>
        }
        .into_any(),
    };
    let hint = match (kind, max) {
        (FieldType::TextInput | FieldType::Paragraph, Some(n)) => {
            Some(view! { <small>{move || (i18n.t().inp().max_chars)(n)}</small> }.into_any())
        }
        (FieldType::FileList, _) => {
            Some(view! { <small>{move || i18n.t().inp().file_list_help}</small> }.into_any())
        }
        _ => None,
    };
    let required = field.required;
    view! {
        <label data-testid="typed-input" data-variable=variable.clone() data-type=field.type_name.clone()>
            <span>
                {field.label.clone()}
                {required.then(|| view! { " " <small class="muted">"("{move || i18n.t().inp().required}")"</small> })}
            </span>
            {control}
            {hint}
            {error}
        </label>
    }
}
