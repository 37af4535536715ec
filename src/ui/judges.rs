//! Judges: the admin page's panel (add, edit, test, delete a judge or embedding endpoint — keys
//! write-only) and a judge's page (`/judges/{id}`) with its calibration against human reviews.

use crate::api::{delete_judge, judge_calibration, list_judges, save_judge, test_judge};
use crate::model::{
    AppMode, Calibration, Judge, JudgeId, JudgeKind, MIN_CALIBRATION_REVIEWS, MIN_KAPPA,
};
use crate::ui::components::{settle_save, use_confirm, use_toasts, Modal};
use crate::ui::format;
use crate::ui::i18n::use_i18n;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn JudgesPanel() -> impl IntoView {
    let i18n = use_i18n();
    let reload = RwSignal::new(0u64);
    let judges = Resource::new(move || reload.get(), |_| list_judges());
    let editing = RwSignal::new(None::<Option<Judge>>);
    view! {
        <section class="panel" data-testid="judges">
            <div class="panel-head">
                <h2>{move || i18n.t().jdg().judges}</h2>
                <button type="button" class="primary" data-testid="add-judge"
                    on:click=move |_| editing.set(Some(None))>
                    {move || i18n.t().jdg().add_judge}
                </button>
            </div>
            <p class="muted">{move || i18n.t().jdg().judges_help}</p>
            <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
                {move || judges.get().map(|r| match r {
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    Ok(list) if list.is_empty() => {
                        view! { <p class="empty">{move || i18n.t().jdg().no_judges}</p> }.into_any()
                    }
                    Ok(list) => view! {
                        <div class="table-wrap">
                        <table class="table">
                            <thead><tr>
                                <th>{move || i18n.t().f_name}</th>
                                <th>{move || i18n.t().jdg().f_kind}</th>
                                <th>{move || i18n.t().jdg().f_model}</th>
                                <th>{move || i18n.t().f_api_key}</th>
                                <th></th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter()
                                    .map(|j| view! { <JudgeRow judge=j reload editing/> })
                                    .collect_view()}
                            </tbody>
                        </table>
                        </div>
                    }.into_any(),
                })}
            </Transition>
            {move || editing.get().map(|j| view! { <JudgeForm judge=j editing reload/> })}
        </section>
    }
}

#[component]
fn JudgeRow(
    judge: Judge,
    reload: RwSignal<u64>,
    editing: RwSignal<Option<Option<Judge>>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let confirm = use_confirm();
    let id = judge.id;
    let testing = RwSignal::new(false);
    let test = move |_| {
        testing.set(true);
        leptos::task::spawn_local(async move {
            let t = i18n.t_untracked();
            match test_judge(id).await {
                Ok(p) if p.ok => toasts.success((t.jdg().judge_ok)(&p.message, p.latency_ms)),
                Ok(p) => toasts.error((t.jdg().judge_failed)(&p.message)),
                Err(e) => toasts.error((t.jdg().judge_failed)(&e.message)),
            }
            testing.set(false);
        });
    };
    let delete = {
        let name = judge.name.clone();
        move |_| {
            let t = i18n.t_untracked();
            confirm.ask(
                (t.jdg().delete_judge_confirm)(&name),
                t.delete,
                true,
                move || {
                    leptos::task::spawn_local(async move {
                        match delete_judge(id).await {
                            Ok(()) => {
                                toasts.info(i18n.t_untracked().deleted);
                                reload.update(|n| *n += 1);
                            }
                            Err(e) => toasts.error(e.message),
                        }
                    });
                },
            );
        }
    };
    let kind = judge.kind;
    let model = if judge.kind == JudgeKind::DifyApp {
        judge.app_mode.as_str().to_string()
    } else {
        judge.model.clone()
    };
    let for_edit = judge.clone();
    view! {
        <tr data-testid="judge-row">
            <td>
                <a href=format!("/judges/{id}")><b>{judge.name.clone()}</b></a>
                <div class="muted small">{judge.base_url.clone()}</div>
            </td>
            <td>{move || (i18n.t().jdg().kind)(kind)}</td>
            <td>{model}</td>
            <td><code>{judge.api_key_hint.clone()}</code></td>
            <td class="row-actions">
                <button type="button" on:click=move |_| editing.set(Some(Some(for_edit.clone())))>
                    {move || i18n.t().edit}
                </button>
                <button type="button" data-testid="test-judge" disabled=move || testing.get() on:click=test>
                    {move || if testing.get() { i18n.t().testing } else { i18n.t().jdg().test_judge }}
                </button>
                <a class="button" href=format!("/judges/{id}")>{move || i18n.t().jdg().calibration}</a>
                <button type="button" class="danger-text" on:click=delete>{move || i18n.t().delete}</button>
            </td>
        </tr>
    }
}

/// Add or edit a judge. The key is write-only: the form never holds the stored one.
#[component]
fn JudgeForm(
    judge: Option<Judge>,
    editing: RwSignal<Option<Option<Judge>>>,
    reload: RwSignal<u64>,
) -> impl IntoView {
    let i18n = use_i18n();
    let toasts = use_toasts();
    let id = judge.as_ref().map(|j| j.id);
    let hint = judge.as_ref().map(|j| j.api_key_hint.clone());
    let j = judge.clone();
    let name = RwSignal::new(j.as_ref().map(|j| j.name.clone()).unwrap_or_default());
    let kind = RwSignal::new(j.as_ref().map(|j| j.kind).unwrap_or_default());
    let base_url = RwSignal::new(j.as_ref().map(|j| j.base_url.clone()).unwrap_or_default());
    let model = RwSignal::new(j.as_ref().map(|j| j.model.clone()).unwrap_or_default());
    let app_mode = RwSignal::new(j.as_ref().map(|j| j.app_mode).unwrap_or(AppMode::Chat));
    let api_key = RwSignal::new(String::new());
    let json_mode = RwSignal::new(j.as_ref().is_none_or(|j| j.json_mode));
    let concurrency = RwSignal::new(
        j.as_ref()
            .map(|j| j.concurrency)
            .unwrap_or(crate::model::DEFAULT_JUDGE_CONCURRENCY)
            .to_string(),
    );
    let price = |p: Option<f64>| p.map(|p| p.to_string()).unwrap_or_default();
    let input_price = RwSignal::new(price(j.as_ref().and_then(|j| j.input_price_per_mtok)));
    let output_price = RwSignal::new(price(j.as_ref().and_then(|j| j.output_price_per_mtok)));
    let by_default = RwSignal::new(j.as_ref().is_some_and(|j| j.use_by_default));
    let error = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let close = Callback::new(move |()| editing.set(None));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = i18n.t_untracked();
        let number = |text: String, label: &str| -> Result<Option<f64>, String> {
            match text.trim() {
                "" => Ok(None),
                s => s
                    .parse::<f64>()
                    .map(Some)
                    .map_err(|_| format!("{label}: `{s}`")),
            }
        };
        let parsed = (|| {
            let conc = number(concurrency.get_untracked(), t.jdg().f_concurrency)?;
            let conc = match conc {
                Some(c) if c >= 1.0 && c.fract() == 0.0 => Some(c as u32),
                Some(_) => return Err(format!("{}: ≥ 1", t.jdg().f_concurrency)),
                None => None,
            };
            Ok((
                conc,
                number(input_price.get_untracked(), t.jdg().f_input_price)?,
                number(output_price.get_untracked(), t.jdg().f_output_price)?,
            ))
        })();
        let (conc, inp, outp) = match parsed {
            Ok(p) => p,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        saving.set(true);
        error.set(None);
        let key = api_key.get_untracked();
        leptos::task::spawn_local(async move {
            let result = save_judge(
                id,
                name.get_untracked(),
                kind.get_untracked(),
                base_url.get_untracked(),
                Some(model.get_untracked()),
                Some(app_mode.get_untracked()),
                (!key.trim().is_empty()).then_some(key),
                Some(json_mode.get_untracked()),
                conc,
                inp,
                outp,
                Some(by_default.get_untracked()),
            )
            .await;
            saving.set(false);
            let saved = i18n.t_untracked().saved;
            settle_save(result, toasts, saved, reload, || editing.set(None), error);
        });
    };

    view! {
        <Modal
            title=Signal::derive(move || {
                let t = i18n.t();
                if id.is_some() { t.jdg().edit_judge_title } else { t.jdg().new_judge_title }.to_string()
            })
            dismissible=true
            on_dismiss=close
            test_id="judge-form"
        >
            <form class="form" on:submit=submit>
                <label>
                    <span>{move || i18n.t().f_name}</span>
                    <input type="text" required data-autofocus bind:value=name/>
                </label>
                <label>
                    <span>{move || i18n.t().jdg().f_kind}</span>
                    <select data-testid="judge-kind" on:change=move |ev| {
                        if let Some(k) = JudgeKind::parse(&event_target_value(&ev)) {
                            kind.set(k);
                        }
                    }>
                        {JudgeKind::ALL
                            .into_iter()
                            .map(|k| view! {
                                <option value=k.as_str() selected=move || kind.get() == k>
                                    {move || (i18n.t().jdg().kind)(k)}
                                </option>
                            })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    <span>{move || i18n.t().f_base_url}</span>
                    <input type="url" required placeholder="https://api.openai.com/v1" bind:value=base_url/>
                    <small>{move || i18n.t().jdg().f_judge_base_url_help}</small>
                </label>
                <label>
                    <span>{move || i18n.t().f_api_key}</span>
                    <input type="password" autocomplete="off" required=id.is_none() bind:value=api_key/>
                    <small>
                        {move || match &hint {
                            Some(h) => (i18n.t().f_api_key_keep)(h),
                            None => i18n.t().f_api_key_new.to_string(),
                        }}
                    </small>
                </label>
                <Show
                    when=move || kind.get() == JudgeKind::DifyApp
                    fallback=move || view! {
                        <label>
                            <span>{move || i18n.t().jdg().f_model}</span>
                            <input type="text" required bind:value=model/>
                            <small>{move || i18n.t().jdg().f_model_help}</small>
                        </label>
                    }
                >
                    <label>
                        <span>{move || i18n.t().jdg().f_dify_mode}</span>
                        <select on:change=move |ev| {
                            if let Some(m) = AppMode::parse(&event_target_value(&ev)) {
                                app_mode.set(m);
                            }
                        }>
                            {AppMode::ALL
                                .into_iter()
                                .map(|m| view! { <option value=m.as_str() selected=move || app_mode.get() == m>{m.as_str()}</option> })
                                .collect_view()}
                        </select>
                    </label>
                </Show>
                <Show when=move || kind.get() == JudgeKind::Openai>
                    <label class="inline">
                        <input type="checkbox" bind:checked=json_mode/>
                        <span>{move || i18n.t().jdg().f_json_mode}</span>
                    </label>
                </Show>
                <div class="form-row">
                    <label>
                        <span>{move || i18n.t().jdg().f_concurrency}</span>
                        <input type="number" min="1" step="1" bind:value=concurrency/>
                        <small>{move || i18n.t().jdg().f_concurrency_help}</small>
                    </label>
                    <label>
                        <span>{move || format!("{} · {}", i18n.t().jdg().f_prices, i18n.t().jdg().f_input_price)}</span>
                        <input type="number" min="0" step="any" bind:value=input_price/>
                    </label>
                    <label>
                        <span>{move || i18n.t().jdg().f_output_price}</span>
                        <input type="number" min="0" step="any" bind:value=output_price/>
                    </label>
                </div>
                <label class="inline">
                    <input type="checkbox" name="use-by-default" bind:checked=by_default/>
                    <span>{move || i18n.t().jdg().f_use_by_default}</span>
                </label>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <div class="modal-foot">
                    <button type="button" on:click=move |_| close.run(())>{move || i18n.t().cancel}</button>
                    <button type="submit" class="primary" disabled=move || saving.get()>{move || i18n.t().save}</button>
                </div>
            </form>
        </Modal>
    }
}

/// `/judges/{id}`: the judge and, per rubric, how far it agrees with human reviews.
#[component]
pub fn JudgePage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<i64>().ok())
            .map(JudgeId)
    });
    let report = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => judge_calibration(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    view! {
        <Transition fallback=move || view! { <p>{move || i18n.t().loading}</p> }>
            {move || report.get().map(|r| match r {
                Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                Ok(None) => view! { <p class="empty">{move || i18n.t().page_not_found}</p> }.into_any(),
                Ok(Some(report)) => {
                    let name = report.judge.name.clone();
                    let kind = report.judge.kind;
                    let rubrics = report.rubrics;
                    view! {
                        <div class="page-head">
                            <h1>{move || (i18n.t().jdg().judge_title)(&name)}</h1>
                        </div>
                        <p class="muted">
                            {move || (i18n.t().jdg().kind)(kind)}" · "{report.judge.base_url.clone()}" · "
                            {report.judge.model.clone()}
                        </p>
                        <section class="panel" data-testid="calibration">
                            <h2>{move || i18n.t().jdg().calibration}</h2>
                            <p class="muted">{move || i18n.t().jdg().calibration_help}</p>
                            {if rubrics.is_empty() {
                                view! { <p class="empty">{move || i18n.t().jdg().no_reviews_yet}</p> }.into_any()
                            } else {
                                rubrics.into_iter()
                                    .map(|c| view! { <CalibrationCard c/> })
                                    .collect_view()
                                    .into_any()
                            }}
                        </section>
                    }.into_any()
                }
            })}
        </Transition>
    }
}

#[component]
fn CalibrationCard(c: Calibration) -> impl IntoView {
    let i18n = use_i18n();
    let rubric = c.rubric;
    let m = c.confusion;
    let kappa = c.kappa;
    let reviews = c.reviews;
    let warn_few = reviews < MIN_CALIBRATION_REVIEWS;
    let warn_kappa = kappa.is_some_and(|k| k < MIN_KAPPA);
    view! {
        <div class="calibration" data-testid="calibration-card" data-rubric=rubric.as_str()>
            <h3>{move || (i18n.t().jdg().rubric)(rubric)}</h3>
            <dl class="facts">
                <dt>{move || i18n.t().jdg().reviews}</dt>
                <dd data-testid="calibration-reviews">{reviews}</dd>
                <dt>{move || i18n.t().jdg().agreement}</dt>
                <dd data-testid="calibration-agreement">{format::percent(c.agreement.map(|a| a * 100.0))}</dd>
                <dt>{move || i18n.t().jdg().kappa}</dt>
                <dd data-testid="calibration-kappa">
                    {move || match kappa {
                        Some(k) => format!("{k:.2}"),
                        None => i18n.t().jdg().kappa_undefined.to_string(),
                    }}
                </dd>
            </dl>
            <div class="table-wrap">
            <table class="table confusion" aria-label=move || i18n.t().jdg().confusion>
                <thead><tr>
                    <th>{move || format!("{} ↓ · {} →", i18n.t().jdg().judge_says, i18n.t().jdg().human_says)}</th>
                    <th>{move || i18n.t().jdg().pass}</th>
                    <th>{move || i18n.t().jdg().fail}</th>
                </tr></thead>
                <tbody>
                    <tr><th>{move || i18n.t().jdg().pass}</th><td>{m[0][0]}</td><td>{m[0][1]}</td></tr>
                    <tr><th>{move || i18n.t().jdg().fail}</th><td>{m[1][0]}</td><td>{m[1][1]}</td></tr>
                </tbody>
            </table>
            </div>
            {(warn_few || warn_kappa).then(|| view! {
                <div class="warning" role="status" data-testid="calibration-warning">
                    {warn_few.then(|| view! { <p>{move || (i18n.t().jdg().too_few_reviews)(reviews, MIN_CALIBRATION_REVIEWS)}</p> })}
                    {warn_kappa.then(|| view! { <p>{move || (i18n.t().jdg().low_kappa)(kappa.unwrap_or(0.0))}</p> })}
                </div>
            })}
            {(!warn_few && !warn_kappa).then(|| view! {
                <p class="ok">{move || i18n.t().jdg().calibrated}</p>
            })}
        </div>
    }
}
