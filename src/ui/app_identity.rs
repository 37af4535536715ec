//! "What exactly was tested": the batch page's section naming, per version, the Dify app that
//! answered (its name, mode, the workflow version pinned and the one that ran, its input form and
//! the form's fingerprint), and warning when the app changed since the version's previous batch.
//! Also the compare page's "the app changed" warning. Both read what the launch recorded
//! (`batch_identity`, `CompareView::app_changes`); nothing here calls Dify.

use crate::api::batch_identity;
use crate::model::identity::{AppChange, AppIdentity, VersionIdentityView};
use crate::model::BatchId;
use crate::ui::i18n::use_i18n;
use leptos::prelude::*;

/// The batch page's section. `refresh` changes while the batch runs, so the workflow id its
/// first answers name shows up without a reload.
#[component]
pub fn WhatWasTested(batch: Memo<Option<BatchId>>, refresh: Signal<u64>) -> impl IntoView {
    let i18n = use_i18n();
    let records = Resource::new(
        move || (batch.get(), refresh.get()),
        |(batch, _)| async move {
            match batch {
                Some(id) => batch_identity(id).await.ok(),
                None => None,
            }
        },
    );
    view! {
        <Transition fallback=|| ()>
            {move || {
                let versions = records.get().flatten()?;
                if versions.is_empty() {
                    return None;
                }
                Some(view! {
                    <section class="card what-was-tested" data-testid="what-was-tested">
                        <h2>{move || i18n.t().idn().tested_title}</h2>
                        <p class="muted">{move || i18n.t().idn().tested_help}</p>
                        {versions.into_iter().map(|v| view! { <VersionRecord v/> }).collect_view()}
                    </section>
                })
            }}
        </Transition>
    }
}

#[component]
fn VersionRecord(v: VersionIdentityView) -> impl IntoView {
    let i18n = use_i18n();
    let version_id = v.version_id.0;
    let warning = (!v.changes.is_empty()).then(|| {
        let since = v.previous_batch.map(|b| b.0);
        view! { <AppChangedWarning changes=v.changes.clone() since/> }
    });
    let missing = v
        .identity
        .as_ref()
        .filter(|id| id.missing_inputs_cases > 0)
        .map(|id| view! { <MissingInputsWarning id=id.clone()/> });
    let body = match v.identity {
        None => view! { <p class="muted">{move || i18n.t().idn().not_recorded}</p> }.into_any(),
        Some(id) => view! { <IdentityFacts id/> }.into_any(),
    };
    view! {
        <div class="identity" data-testid="identity" data-version=version_id>
            <h3>{v.version_name}</h3>
            {warning}
            {missing}
            {body}
        </div>
    }
}

/// The launch check: cases whose inputs leave out a variable the version's form requires, which
/// Dify refuses with 400.
#[component]
fn MissingInputsWarning(id: AppIdentity) -> impl IntoView {
    let i18n = use_i18n();
    let total = id.missing_inputs_cases;
    let more = total.saturating_sub(id.missing_inputs.len());
    view! {
        <div class="notice notice-warn" role="alert" data-testid="missing-inputs">
            <strong>{move || (i18n.t().inp().missing_title)(total)}</strong>
            <ul>
                {id
                    .missing_inputs
                    .into_iter()
                    .map(|m| {
                        let case = format!("#{} {}", m.case_id.0, m.case_name);
                        view! {
                            <li data-case=m.case_id.0>
                                {case}": "<span class="mono">{m.variables.join(", ")}</span>
                            </li>
                        }
                    })
                    .collect_view()}
                {(more > 0).then(|| view! { <li>{move || (i18n.t().inp().missing_more)(more)}</li> })}
            </ul>
            <span>{move || i18n.t().inp().missing_help}</span>
        </div>
    }
}

#[component]
fn IdentityFacts(id: AppIdentity) -> impl IntoView {
    let i18n = use_i18n();
    let unknown = move |why: Option<String>| {
        view! {
            <span class="muted">{move || i18n.t().idn().unknown}</span>
            {why.map(|w| view! { " " <small class="muted">"("{w}")"</small> })}
        }
    };
    let app = match (&id.name, &id.info_error) {
        (Some(name), _) => {
            let author = id.author_name.clone().map(|a| format!(" · {a}"));
            view! { <span data-testid="identity-name">{name.clone()}</span>{author} }.into_any()
        }
        (None, why) => unknown(why.clone()).into_any(),
    };
    let mode = match &id.mode {
        Some(m) => {
            view! { <span class="mono" data-testid="identity-mode">{m.clone()}</span> }.into_any()
        }
        None => unknown(None).into_any(),
    };
    let pinned = match &id.pinned_workflow_id {
        Some(p) => {
            view! { <span class="mono" data-testid="identity-pinned">{p.clone()}</span> }.into_any()
        }
        None => view! { <span class="muted">{move || i18n.t().idn().latest_published}</span> }
            .into_any(),
    };
    let seen = match &id.seen_workflow_id {
        Some(s) => {
            view! { <span class="mono" data-testid="identity-seen">{s.clone()}</span> }.into_any()
        }
        None => view! { <span class="muted">{move || i18n.t().idn().not_seen}</span> }.into_any(),
    };
    let fields = id.form_summary();
    let count = fields.len();
    let form = match &id.form_fingerprint {
        Some(fp) => {
            let listed = (!fields.is_empty()).then(|| fields.join(", "));
            let too_large = id.form_truncated;
            view! {
                <span class="mono" data-testid="identity-form">{fp.clone()}</span>
                " · "{move || (i18n.t().idn().form_fields)(count)}
                {listed.map(|l| view! { <br/><small class="muted">{l}</small> })}
                {too_large.then(|| view! { <br/><small class="muted">{move || i18n.t().idn().form_too_large}</small> })}
            }
            .into_any()
        }
        None => unknown(id.form_error.clone()).into_any(),
    };
    view! {
        <dl class="facts">
            <dt>{move || i18n.t().idn().app_name}</dt><dd>{app}</dd>
            <dt>{move || i18n.t().idn().mode}</dt><dd>{mode}</dd>
            <dt>{move || i18n.t().idn().workflow_pinned}</dt><dd>{pinned}</dd>
            <dt>{move || i18n.t().idn().workflow_seen}</dt><dd>{seen}</dd>
            <dt>{move || i18n.t().idn().input_form}</dt><dd>{form}</dd>
        </dl>
    }
}

/// "The app changed underneath this version": each change in the reader's language, and since
/// which batch when known. Shared by the batch and compare pages.
#[component]
pub fn AppChangedWarning(changes: Vec<AppChange>, since: Option<i64>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="notice notice-warn" role="alert" data-testid="app-changed">
            <strong>{move || i18n.t().idn().changed_title}</strong>
            {since.map(|n| view! { " " <span>{move || (i18n.t().idn().since_batch)(n)}</span> })}
            <ul>
                {changes
                    .into_iter()
                    .map(|c| {
                        let kind = c.kind;
                        view! {
                            <li data-kind=kind.as_str()>
                                {move || (i18n.t().idn().change)(kind, &c.before, &c.after)}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <span>{move || i18n.t().idn().changed_advice}</span>
        </div>
    }
}
