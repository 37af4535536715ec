//! The case form's inputs: a JSON object by hand, or — after "Load from Dify" reads a version's
//! input form (`version_input_form`) — one typed field per input (text, paragraph, select,
//! number, file by URL), each checked as Dify checks it (`model::inputs`) as it is typed. Only
//! the cases page uses it (a lazy chunk).

use std::collections::BTreeMap;

use crate::api::{list_versions, version_input_form};
use crate::model::inputs::{
    check_value, value_from_text, value_to_text, FieldType, FormField, InputForm,
};
use crate::model::{AppMode, VersionId};
use crate::ui::i18n::use_i18n;
use leptos::prelude::*;
use serde_json::{Map, Value};

/// Field errors by variable; `""` is the JSON box's. Empty: the inputs can be saved.
pub type InputErrors = RwSignal<BTreeMap<String, String>>;

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

/// `inputs` is the case's inputs object; `form_version` the version whose form was loaded (sent
/// with `save_case` so the server checks the same); `errors` what does not fit.
#[component]
pub fn CaseInputs(
    inputs: RwSignal<Value>,
    form_version: RwSignal<Option<VersionId>>,
    errors: InputErrors,
) -> impl IntoView {
    let i18n = use_i18n();
    let versions = LocalResource::new(list_versions);
    let picked = RwSignal::new(String::new());
    let form = RwSignal::new(None::<(InputForm, String)>);
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
                    }
                    .into_any()
                }
            }}
        </fieldset>
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
