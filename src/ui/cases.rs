//! The test cases page (`/cases`): a searchable, filterable table; add / edit / delete / enable;
//! import CSV or JSON with a dry-run preview (row-numbered errors, nothing stored if any row is
//! bad); export; a case's rubric for the judge, its revision and its earlier revisions.

use crate::api::{
    case_revisions, delete_case, export_cases, import_cases, list_cases, save_case,
    set_case_enabled,
};
use crate::model::Role;
use crate::model::{CaseId, ImportReport, TestCase};
use crate::ui::browser;
use crate::ui::case_turns::{self, CaseTurns};
use crate::ui::components::{settle_save, use_confirm, use_toasts, LocalTime, Modal};
use crate::ui::format;
use crate::ui::i18n::use_i18n;
use crate::ui::session::IfRole;
use crate::ui::{case_assertions, case_inputs};
use leptos::prelude::*;

/// Does a case match the search text (name, query, expected answer, keywords, tags)?
pub fn matches_search(c: &TestCase, needle: &str) -> bool {
    let needle = needle.trim().to_lowercase();
    if needle.is_empty() {
        return true;
    }
    [&c.name, &c.query, &c.expected_answer, &c.category]
        .into_iter()
        .any(|s| s.to_lowercase().contains(&needle))
        || c.keywords
            .iter()
            .chain(c.tags.iter())
            .any(|s| s.to_lowercase().contains(&needle))
}

#[component]
pub fn CasesPage() -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let reload = RwSignal::new(0u64);
    let cases = Resource::new(move || reload.get(), |_| list_cases());
    let search = RwSignal::new(String::new());
    let category = RwSignal::new(String::new());
    let status = RwSignal::new(String::from("all"));
    let editing = RwSignal::new(None::<Option<TestCase>>);
    let importing = RwSignal::new(false);

    let export = move |format: &'static str| {
        leptos::task::spawn_local(async move {
            match export_cases(format.to_string(), None).await {
                Ok(text) => {
                    let mime = if format == "csv" {
                        "text/csv"
                    } else {
                        "application/json"
                    };
                    browser::download(&format!("test-cases.{format}"), mime, &text);
                }
                Err(e) => toasts.error(e.message),
            }
        });
    };

    view! {
        <div class="page-head">
            <h1>{move || i18n.t().cas().cases_title}</h1>
            <div class="actions">
                <IfRole min=Role::Editor>
                <button type="button" class="primary" on:click=move |_| editing.set(Some(None))>
                    {move || i18n.t().cas().add_case}
                </button>
                <button type="button" on:click=move |_| importing.set(true)>{move || i18n.t().cas().import}</button>
                </IfRole>
                <button type="button" on:click=move |_| export("csv")>{move || i18n.t().export_csv}</button>
                <button type="button" on:click=move |_| export("json")>{move || i18n.t().export_json}</button>
            </div>
        </div>
        <div class="filters">
            <input
                type="search"
                aria-label=move || i18n.t().cas().search
                placeholder=move || i18n.t().cas().search_placeholder
                bind:value=search
            />
            <Transition fallback=|| ()>
                <select aria-label=move || i18n.t().cas().col_category on:change=move |ev| category.set(event_target_value(&ev))>
                    <option value="">{move || i18n.t().cas().all_categories}</option>
                    {move || {
                        let mut cats: Vec<String> = cases
                            .get()
                            .and_then(Result::ok)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|c| c.category)
                            .filter(|c| !c.is_empty())
                            .collect();
                        cats.sort();
                        cats.dedup();
                        cats.into_iter()
                            .map(|c| {
                                let v = c.clone();
                                let value = c.clone();
                                view! { <option value=value selected=move || category.get() == v>{c}</option> }
                            })
                            .collect_view()
                    }}
                </select>
            </Transition>
            <select aria-label=move || i18n.t().col_enabled on:change=move |ev| status.set(event_target_value(&ev))>
                <option value="all">{move || i18n.t().cas().all_statuses}</option>
                <option value="enabled">{move || i18n.t().cas().enabled_only}</option>
                <option value="disabled">{move || i18n.t().cas().disabled_only}</option>
            </select>
        </div>
        <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
            {move || {
                let all = match cases.get()? {
                    Err(e) => return Some(view! { <p class="error" role="alert">{e.message}</p> }.into_any()),
                    Ok(list) => list,
                };
                let total = all.len();
                let shown: Vec<TestCase> = all
                    .into_iter()
                    .filter(|c| search.with(|s| matches_search(c, s)))
                    .filter(|c| category.with(|cat| cat.is_empty() || &c.category == cat))
                    .filter(|c| status.with(|s| match s.as_str() {
                        "enabled" => c.enabled,
                        "disabled" => !c.enabled,
                        _ => true,
                    }))
                    .collect();
                let n = shown.len();
                Some(view! {
                    <p class="muted" data-testid="cases-count">{move || (i18n.t().cas().shown_of)(n, total)}</p>
                    {if shown.is_empty() {
                        view! { <p class="empty">{move || i18n.t().cas().no_cases}</p> }.into_any()
                    } else {
                        view! {
                            <div class="table-wrap">
                                <table class="grid cases-table">
                                    <thead>
                                        <tr>
                                            <th>{move || i18n.t().col_enabled}</th>
                                            <th>{move || i18n.t().col_name}</th>
                                            <th>{move || i18n.t().cas().col_query}</th>
                                            <th>{move || i18n.t().cas().col_expected}</th>
                                            <th>{move || i18n.t().cas().col_keywords}</th>
                                            <th>{move || i18n.t().cas().col_category}</th>
                                            <th>{move || i18n.t().cas().col_tags}</th>
                                            <th>{move || i18n.t().col_actions}</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {shown.into_iter().map(|c| view! { <CaseRow c reload editing/> }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    }}
                }.into_any())
            }}
        </Transition>
        {move || editing.get().map(|c| view! { <CaseForm case=c editing reload/> })}
        <Show when=move || importing.get()>
            <ImportModal importing reload/>
        </Show>
    }
}

#[component]
fn CaseRow(
    c: TestCase,
    reload: RwSignal<u64>,
    editing: RwSignal<Option<Option<TestCase>>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let confirm = use_confirm();
    let id = c.id;
    let enabled = c.enabled;
    let name = c.name.clone();
    let switch_name = c.name.clone();
    let for_edit = c.clone();
    let toggle = move |ev| {
        let on = event_target_checked(&ev);
        leptos::task::spawn_local(async move {
            match set_case_enabled(id, on).await {
                Ok(()) => reload.update(|n| *n += 1),
                Err(e) => toasts.error(e.message),
            }
        });
    };
    let delete = move |_| {
        let t = i18n.t_untracked();
        confirm.ask(
            (t.cas().delete_case_confirm)(&name),
            t.delete,
            true,
            move || {
                leptos::task::spawn_local(async move {
                    match delete_case(id).await {
                        Ok(()) => {
                            toasts.info(i18n.t_untracked().deleted);
                            reload.update(|n| *n += 1);
                        }
                        Err(e) => toasts.error(e.message),
                    }
                });
            },
        );
    };
    view! {
        <tr data-case-id=id.0 class:row-disabled=!c.enabled>
            <td>
                <IfRole min=Role::Editor otherwise=move || view! {
                    <span class="muted">{move || if enabled { i18n.t().on } else { i18n.t().off }}</span>
                }>
                    <label class="switch">
                        <input
                            type="checkbox"
                            role="switch"
                            aria-label={
                                let switch_name = switch_name.clone();
                                move || (i18n.t().cas().enable_case)(&switch_name)
                            }
                            prop:checked=enabled
                            on:change=toggle
                        />
                        <span class="slider" aria-hidden="true"></span>
                    </label>
                </IfRole>
            </td>
            <td>
                {c.name}
                {(c.revision > 1).then(|| {
                    let r = c.revision;
                    view! { " "<span class="tag" data-testid="case-revision">{move || (i18n.t().jdg().revision)(r)}</span> }
                })}
            </td>
            <td>
                <div class="clip">{c.query}</div>
                {(!c.turns.is_empty()).then(|| {
                    let n = c.turns.len() + 1;
                    view! { <span class="tag" data-testid="case-turn-count">{move || (i18n.t().trn().n_turns)(n)}</span> }
                })}
            </td>
            <td><div class="clip">{c.expected_answer}</div></td>
            <td>{c.keywords.join(", ")}</td>
            <td>{c.category}</td>
            <td>{c.tags.join(", ")}</td>
            <td class="row-actions">
                <IfRole min=Role::Editor>
                    <button type="button" on:click={
                        let for_edit = for_edit.clone();
                        move |_| editing.set(Some(Some(for_edit.clone())))
                    }>{move || i18n.t().edit}</button>
                    <button type="button" class="danger-text" on:click=delete.clone()>{move || i18n.t().delete}</button>
                </IfRole>
            </td>
        </tr>
    }
}

#[component]
fn CaseForm(
    case: Option<TestCase>,
    editing: RwSignal<Option<Option<TestCase>>>,
    reload: RwSignal<u64>,
) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let id = case.as_ref().map(|c| c.id);
    let c = case.clone();
    let name = RwSignal::new(c.as_ref().map(|c| c.name.clone()).unwrap_or_default());
    let query = RwSignal::new(c.as_ref().map(|c| c.query.clone()).unwrap_or_default());
    let expected = RwSignal::new(
        c.as_ref()
            .map(|c| c.expected_answer.clone())
            .unwrap_or_default(),
    );
    let keywords = RwSignal::new(
        c.as_ref()
            .map(|c| c.keywords.join("; "))
            .unwrap_or_default(),
    );
    let category = RwSignal::new(c.as_ref().map(|c| c.category.clone()).unwrap_or_default());
    let tags = RwSignal::new(c.as_ref().map(|c| c.tags.join("; ")).unwrap_or_default());
    let threshold = RwSignal::new(
        c.as_ref()
            .and_then(|c| c.pass_threshold)
            .map(|t| t.to_string())
            .unwrap_or_default(),
    );
    let enabled = RwSignal::new(c.as_ref().is_none_or(|c| c.enabled));
    let assertion_rows = RwSignal::new(case_assertions::rows_of(
        c.as_ref().map_or(&[][..], |c| &c.assertions),
    ));
    let inputs = RwSignal::new(
        c.as_ref()
            .map_or(serde_json::Value::Null, |c| c.inputs.clone()),
    );
    let form_version = RwSignal::new(None::<crate::model::VersionId>);
    let form = RwSignal::new(None);
    let input_errors = RwSignal::new(std::collections::BTreeMap::new());
    let turns_rows = case_turns::rows(c.as_ref().map(|c| c.turns.clone()).unwrap_or_default());
    let rubric = RwSignal::new(
        c.as_ref()
            .and_then(|c| c.rubric.clone())
            .unwrap_or_default(),
    );
    let error = RwSignal::new(None::<String>);
    let close = Callback::new(move |()| editing.set(None));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let thr = threshold.get_untracked();
        let thr = match thr.trim() {
            "" => None,
            s => match s.parse::<f64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    error.set(Some(format!(
                        "{}: `{s}`",
                        i18n.t_untracked().cas().f_case_threshold
                    )));
                    return;
                }
            },
        };
        if input_errors.with_untracked(|e| !e.is_empty()) {
            error.set(Some(i18n.t_untracked().inp().fix_inputs.to_string()));
            return;
        }
        let assertions = match case_assertions::assertions_of(
            &assertion_rows.get_untracked(),
            i18n.t_untracked(),
        ) {
            Ok(list) => list,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let t = i18n.t_untracked();
        let turns = match case_turns::collect(&turns_rows.get_untracked(), t) {
            Ok(list) => list,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        // Inputs the loaded form does not declare are saved, and said to be ignored by Dify.
        let ignored = form.with_untracked(|f| {
            f.as_ref().map_or_else(Vec::new, |(f, _)| {
                let mut all = inputs.with_untracked(|v| case_inputs::not_in_form(v, f));
                all.extend(case_turns::not_in_form(&turns_rows.get_untracked(), f, t));
                all
            })
        });
        // No inputs at all is none (null), as a case without inputs is stored.
        let inputs =
            Some(inputs.get_untracked()).filter(|v| v.as_object().is_some_and(|o| !o.is_empty()));
        leptos::task::spawn_local(async move {
            let result = save_case(
                id,
                query.get_untracked(),
                Some(name.get_untracked()),
                Some(expected.get_untracked()),
                Some(format::split_list(&keywords.get_untracked())),
                Some(category.get_untracked()),
                Some(format::split_list(&tags.get_untracked())),
                thr,
                Some(assertions),
                inputs,
                Some(enabled.get_untracked()),
                Some(rubric.get_untracked()),
                form_version.get_untracked(),
                Some(turns),
            )
            .await;
            let t = i18n.t_untracked();
            if result.is_ok() && !ignored.is_empty() {
                toasts.info((t.inp().saved_not_in_form)(&ignored.join(", ")));
            }
            settle_save(result, toasts, t.saved, reload, || editing.set(None), error);
        });
    };

    view! {
        <Modal
            title=Signal::derive(move || {
                let t = i18n.t();
                if id.is_some() { t.cas().edit_case_title } else { t.cas().new_case_title }.to_string()
            })
            dismissible=true
            on_dismiss=close
            test_id="case-form"
        >
            <form class="form" on:submit=submit>
                <label>
                    <span>{move || i18n.t().f_query}</span>
                    <textarea rows="3" required data-autofocus bind:value=query></textarea>
                </label>
                <label>
                    <span>{move || i18n.t().f_name}</span>
                    <input type="text" bind:value=name/>
                </label>
                <label>
                    <span>{move || i18n.t().cas().f_expected}</span>
                    <textarea rows="3" bind:value=expected></textarea>
                </label>
                <label>
                    <span>{move || i18n.t().jdg().f_case_rubric}</span>
                    <textarea rows="2" bind:value=rubric data-testid="case-rubric"></textarea>
                    <small>{move || i18n.t().jdg().f_case_rubric_help}</small>
                </label>
                <label>
                    <span>{move || i18n.t().cas().f_keywords}</span>
                    <input type="text" bind:value=keywords/>
                    <small>{move || i18n.t().cas().f_list_help}</small>
                </label>
                <div class="form-row">
                    <label>
                        <span>{move || i18n.t().cas().f_category}</span>
                        <input type="text" bind:value=category/>
                    </label>
                    <label>
                        <span>{move || i18n.t().cas().f_tags}</span>
                        <input type="text" bind:value=tags/>
                    </label>
                    <label>
                        <span>{move || i18n.t().cas().f_case_threshold}</span>
                        <input type="number" min="0" max="100" step="any" bind:value=threshold/>
                        <small>{move || i18n.t().cas().f_case_threshold_help}</small>
                    </label>
                </div>
                <case_inputs::CaseInputs inputs form_version errors=input_errors form/>
                <case_assertions::CaseAssertions rows=assertion_rows/>
                <label class="inline">
                    <input type="checkbox" bind:checked=enabled/>
                    <span>{move || i18n.t().f_enabled}</span>
                </label>
                <CaseTurns rows=turns_rows form/>
                {id.map(|id| view! { <Revisions id/> })}
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <div class="modal-foot">
                    <button type="button" on:click=move |_| close.run(())>{move || i18n.t().cancel}</button>
                    <button type="submit" class="primary">{move || i18n.t().save}</button>
                </div>
            </form>
        </Modal>
    }
}

/// A case's earlier revisions (what it was graded against before an edit or a promoted answer).
#[component]
fn Revisions(id: CaseId) -> impl IntoView {
    let i18n = use_i18n();
    let list = LocalResource::new(move || case_revisions(id));
    view! {
        <details class="revisions" data-testid="case-revisions">
            <summary>{move || i18n.t().jdg().revisions}</summary>
            {move || match list.get() {
                None => view! { <p class="muted">{move || i18n.t().loading}</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e.message}</p> }.into_any(),
                Some(Ok(revs)) if revs.is_empty() => {
                    view! { <p class="muted">{move || i18n.t().jdg().no_revisions}</p> }.into_any()
                }
                Some(Ok(revs)) => revs
                    .into_iter()
                    .map(|r| {
                        let n = r.revision;
                        let ms = r.replaced_at;
                        view! {
                            <div class="revision">
                                <p>
                                    <b>{move || (i18n.t().jdg().revision)(n)}</b>" · "<LocalTime ms/>
                                    {r.replaced_by.map(|by| view! { " · "{by} })}
                                    " · "<span class="muted">{r.note}</span>
                                </p>
                                <pre>{r.case.expected_answer}</pre>
                            </div>
                        }
                    })
                    .collect_view()
                    .into_any(),
            }}
        </details>
    }
}

/// The version chosen for a Run Batch CSV, when that is the format.
fn run_batch_version(
    format: RwSignal<String>,
    version: RwSignal<String>,
) -> Option<crate::model::VersionId> {
    (format.get_untracked() == "run_batch")
        .then(|| {
            version
                .get_untracked()
                .parse()
                .ok()
                .map(crate::model::VersionId)
        })
        .flatten()
}

/// The Run Batch CSV's version, and its export (the same layout, a template when there are no
/// cases yet).
#[component]
fn RunBatchVersion(version: RwSignal<String>) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let versions = LocalResource::new(crate::api::list_versions);
    let export = move |_| {
        let Ok(id) = version.get_untracked().parse::<i64>() else {
            toasts.error(i18n.t_untracked().inp().need_version.to_string());
            return;
        };
        leptos::task::spawn_local(async move {
            match export_cases("run_batch".into(), Some(crate::model::VersionId(id))).await {
                Ok(text) => browser::download("run-batch.csv", "text/csv", &text),
                Err(e) => toasts.error(e.message),
            }
        });
    };
    view! {
        <label>
            <span>{move || i18n.t().inp().run_batch_version}</span>
            <select name="version" on:change=move |ev| version.set(event_target_value(&ev))>
                <option value="">{move || i18n.t().inp().choose}</option>
                {move || {
                    versions
                        .get()
                        .and_then(Result::ok)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|v| {
                            let value = v.id.0.to_string();
                            let is = value.clone();
                            view! { <option value=value selected=move || version.get() == is>{v.name}</option> }
                        })
                        .collect_view()
                }}
            </select>
            <small>{move || i18n.t().inp().run_batch_help}</small>
        </label>
        <button type="button" data-testid="export-run-batch" on:click=export>{move || i18n.t().inp().export_run_batch}</button>
    }
}

/// Paste or pick a file, preview (dry run), then import. Editing the content voids the preview.
#[component]
fn ImportModal(importing: RwSignal<bool>, reload: RwSignal<u64>) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let format = RwSignal::new(String::from("csv"));
    let content = RwSignal::new(String::new());
    // Run Batch CSV: the version whose input form names the columns.
    let version = RwSignal::new(String::new());
    let preview = RwSignal::new(None::<ImportReport>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let close = Callback::new(move |()| importing.set(false));
    // Any change to what would be imported voids the preview.
    Effect::new(move |_| {
        format.track();
        content.track();
        version.track();
        preview.set(None);
    });

    #[cfg(feature = "hydrate")]
    let on_file = move |ev: leptos::ev::Event| {
        use leptos::wasm_bindgen::JsCast;
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        leptos::task::spawn_local(async move {
            if let Some((name, text)) = browser::read_first_file(&input).await {
                if name.to_lowercase().ends_with(".json") {
                    format.set("json".into());
                } else if name.to_lowercase().ends_with(".csv")
                    && format.get_untracked() != "run_batch"
                {
                    format.set("csv".into());
                }
                content.set(text);
            }
        });
    };
    #[cfg(not(feature = "hydrate"))]
    let on_file = move |_ev: leptos::ev::Event| {};

    let run = move |dry_run: bool| {
        busy.set(true);
        error.set(None);
        let (f, c) = (format.get_untracked(), content.get_untracked());
        let v = run_batch_version(format, version);
        leptos::task::spawn_local(async move {
            let result = import_cases(f, c, Some(dry_run), v).await;
            busy.set(false);
            match result {
                Ok(report) if dry_run => preview.set(Some(report)),
                Ok(report) => {
                    toasts.success((i18n.t_untracked().cas().imported_n)(report.imported));
                    reload.update(|n| *n += 1);
                    importing.set(false);
                }
                Err(e) => {
                    preview.set(None);
                    error.set(Some(format!(
                        "{} {}",
                        e.message,
                        i18n.t_untracked().cas().nothing_imported
                    )));
                }
            }
        });
    };

    view! {
        <Modal
            title=Signal::derive(move || i18n.t().cas().import_title.to_string())
            dismissible=Signal::derive(move || !busy.get())
            on_dismiss=close
            test_id="import-modal"
        >
            <p class="muted">{move || i18n.t().cas().import_help}</p>
            <div class="form">
                <div class="form-row">
                    <label>
                        <span>{move || i18n.t().cas().f_format}</span>
                        <select name="format" on:change=move |ev| format.set(event_target_value(&ev))>
                            <option value="csv" selected=move || format.get() == "csv">"CSV"</option>
                            <option value="json" selected=move || format.get() == "json">"JSON"</option>
                            <option value="run_batch" selected=move || format.get() == "run_batch">{move || i18n.t().inp().fmt_run_batch}</option>
                        </select>
                    </label>
                    {move || (format.get() == "run_batch").then(|| view! { <RunBatchVersion version/> })}
                    <label>
                        <span>{move || i18n.t().cas().f_file}</span>
                        <input type="file" accept=".csv,.json,text/csv,application/json" on:change=on_file/>
                    </label>
                </div>
                <label>
                    <span>{move || i18n.t().cas().f_content}</span>
                    <textarea name="content" rows="8" class="mono" data-autofocus bind:value=content></textarea>
                </label>
                {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="import-error">{e}</p> })}
                {move || preview.get().map(|r| {
                    let n = r.cases.len();
                    view! {
                        <p class="notice notice-success" data-testid="import-preview">{move || (i18n.t().cas().preview_ok)(n)}</p>
                        <div class="table-wrap preview-table">
                            <table class="grid">
                                <thead>
                                    <tr>
                                        <th>"#"</th>
                                        <th>{move || i18n.t().col_name}</th>
                                        <th>{move || i18n.t().cas().col_query}</th>
                                        <th>{move || i18n.t().cas().col_keywords}</th>
                                        <th>{move || i18n.t().cas().col_category}</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {r.cases.into_iter().enumerate().map(|(i, c)| view! {
                                        <tr>
                                            <td>{i + 1}</td>
                                            <td>{c.name}</td>
                                            <td><div class="clip">{c.query}</div></td>
                                            <td>{c.keywords.join(", ")}</td>
                                            <td>{c.category}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }
                })}
                <div class="modal-foot">
                    <button type="button" on:click=move |_| close.run(())>{move || i18n.t().cancel}</button>
                    <button
                        type="button"
                        disabled=move || busy.get() || content.with(|c| c.trim().is_empty())
                        on:click=move |_| run(true)
                    >
                        {move || i18n.t().cas().preview}
                    </button>
                    <button
                        type="button"
                        class="primary"
                        disabled=move || busy.get() || preview.with(Option::is_none)
                        on:click=move |_| run(false)
                    >
                        {move || (i18n.t().cas().import_n)(preview.with(|p| p.as_ref().map_or(0, |r| r.cases.len())))}
                    </button>
                </div>
            </div>
        </Modal>
    }
}
