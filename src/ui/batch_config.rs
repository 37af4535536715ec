//! The batch configuration modal: name (default "Batch test YYYY-MM-DD HH:mm"), thread count,
//! per-version cap, repeats, which cases (all enabled, or by category / tag), pass threshold, and
//! the grading beyond words (an LLM judge with its rubric, weight and gate; embeddings). Start calls
//! `start_batch`; on success the progress modal opens, on failure the error stays here.

use crate::api::{list_cases, list_judges, start_batch};
use crate::model::{
    CaseId, EmbeddingScoring, JudgeId, JudgeScoring, Rubric, TestCase, VersionId,
    DEFAULT_CONCURRENCY, MAX_CONCURRENCY, MAX_REPEATS,
};
use crate::ui::browser;
use crate::ui::components::Modal;
use crate::ui::i18n::use_i18n;
use crate::ui::monitor::use_monitor;
use leptos::prelude::*;
use std::collections::BTreeSet;

/// Which enabled cases a choice of categories and tags selects (`None`: every enabled case).
pub fn choose_cases(
    cases: &[TestCase],
    filter: Option<(&BTreeSet<String>, &BTreeSet<String>)>,
) -> Vec<CaseId> {
    cases
        .iter()
        .filter(|c| c.enabled)
        .filter(|c| match filter {
            None => true,
            Some((cats, tags)) => {
                cats.contains(&c.category) || c.tags.iter().any(|t| tags.contains(t))
            }
        })
        .map(|c| c.id)
        .collect()
}

#[component]
pub fn BatchConfigModal(version_ids: Vec<VersionId>, on_close: Callback<()>) -> impl IntoView {
    let i18n = use_i18n();
    let monitor = use_monitor();
    let cases = LocalResource::new(list_cases);
    let n_versions = version_ids.len();
    let version_ids = StoredValue::new(version_ids);

    let name = RwSignal::new(format!(
        "{} {}",
        i18n.t_untracked().cfg().default_batch_name,
        browser::local_datetime(browser::now_ms())
    ));
    let concurrency = RwSignal::new(DEFAULT_CONCURRENCY.to_string());
    let cap = RwSignal::new(String::new());
    let threshold = RwSignal::new("60".to_string());
    let repeats = RwSignal::new("1".to_string());
    // What the planned-tests line multiplies by: the field when it holds a valid count.
    let repeats_n = move || {
        repeats
            .get()
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|r| (1..=MAX_REPEATS as usize).contains(r))
            .unwrap_or(1)
    };
    let by_filter = RwSignal::new(false);
    let categories = RwSignal::new(BTreeSet::<String>::new());
    let tags = RwSignal::new(BTreeSet::<String>::new());
    let error = RwSignal::new(None::<String>);
    let starting = RwSignal::new(false);
    let judges = LocalResource::new(list_judges);
    let judge = RwSignal::new(None::<JudgeId>);
    let rubric = RwSignal::new(Rubric::Correctness);
    let judge_weight = RwSignal::new("1".to_string());
    let must_pass = RwSignal::new(false);
    let embedder = RwSignal::new(None::<JudgeId>);
    let embedding_weight = RwSignal::new("1".to_string());
    // The judges marked "use by default" are chosen until the user chooses (the demo's judge is
    // one, so a demo batch is judged out of the box).
    Effect::new(move |chosen: Option<bool>| {
        if chosen == Some(true) {
            return true;
        }
        let Some(Ok(list)) = judges.get() else {
            return false;
        };
        let first = |grades: bool| {
            list.iter()
                .find(|j| j.use_by_default && j.kind.grades() == grades)
                .map(|j| j.id)
        };
        judge.set(first(true));
        embedder.set(first(false));
        true
    });
    let judge_options = move |grades: bool| {
        judges
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .filter(move |j| j.kind.grades() == grades)
            .collect::<Vec<_>>()
    };

    let all_cases = move || cases.get().and_then(Result::ok).unwrap_or_default();
    let chosen = Memo::new(move |_| {
        let list = all_cases();
        if by_filter.get() {
            categories.with(|c| tags.with(|t| choose_cases(&list, Some((c, t)))))
        } else {
            choose_cases(&list, None)
        }
    });
    let enabled_count = move || choose_cases(&all_cases(), None).len();
    let facet = move |f: fn(&TestCase) -> Vec<String>| {
        let mut set = BTreeSet::new();
        for c in all_cases().iter().filter(|c| c.enabled) {
            set.extend(f(c).into_iter().filter(|s| !s.is_empty()));
        }
        set.into_iter().collect::<Vec<_>>()
    };

    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        // Asked here because browsers only allow it from a user action.
        browser::ask_notification_permission_once();
        let parse_num = |s: String, field: &str| -> Result<Option<f64>, String> {
            let s = s.trim().to_string();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<f64>()
                .map(Some)
                .map_err(|_| format!("{field}: `{s}` is not a number"))
        };
        let t = i18n.t_untracked();
        let parsed = (|| {
            let conc = parse_num(concurrency.get_untracked(), t.cfg().f_concurrency)?;
            let cap = parse_num(cap.get_untracked(), t.cfg().f_per_version_cap)?;
            let thr = parse_num(threshold.get_untracked(), t.cfg().f_pass_threshold)?;
            let reps = parse_num(repeats.get_untracked(), t.rep().f_repeats)?;
            if let Some(r) = reps {
                if r < 1.0 || r > f64::from(MAX_REPEATS) || r.fract() != 0.0 {
                    return Err(format!("{}: 1–{MAX_REPEATS}", t.rep().f_repeats));
                }
            }
            if let Some(c) = conc {
                if c < 1.0 || c > f64::from(MAX_CONCURRENCY) || c.fract() != 0.0 {
                    return Err(format!("{}: 1–{MAX_CONCURRENCY}", t.cfg().f_concurrency));
                }
            }
            if let Some(c) = cap {
                if c < 1.0 || c.fract() != 0.0 {
                    return Err(format!("{}: ≥ 1", t.cfg().f_per_version_cap));
                }
            }
            let weight = |text: String, field: &str| -> Result<f64, String> {
                match parse_num(text, field)? {
                    None => Ok(1.0),
                    Some(w) if w >= 0.0 => Ok(w),
                    Some(_) => Err(format!("{field}: ≥ 0")),
                }
            };
            let judge = match judge.get_untracked() {
                Some(judge_id) => Some(JudgeScoring {
                    judge_id,
                    rubric: rubric.get_untracked(),
                    weight: weight(judge_weight.get_untracked(), t.jdg().f_judge_weight)?,
                    must_pass: must_pass.get_untracked(),
                }),
                None => None,
            };
            let embedding = match embedder.get_untracked() {
                Some(judge_id) => Some(EmbeddingScoring {
                    judge_id,
                    weight: weight(embedding_weight.get_untracked(), t.jdg().f_embedding_weight)?,
                }),
                None => None,
            };
            Ok((
                conc.map(|c| c as u32),
                cap.map(|c| c as u32),
                thr,
                reps.map(|r| r as u32),
                judge,
                embedding,
            ))
        })();
        let (conc, cap, thr, reps, judge, embedding) = match parsed {
            Ok(p) => p,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let case_ids = if by_filter.get_untracked() {
            let ids = chosen.get_untracked();
            if ids.is_empty() {
                error.set(Some(t.cfg().no_cases_selected.to_string()));
                return;
            }
            Some(ids)
        } else {
            None
        };
        starting.set(true);
        let name = name.get_untracked();
        leptos::task::spawn_local(async move {
            let result = start_batch(
                Some(name),
                version_ids.get_value(),
                case_ids,
                conc,
                cap,
                thr,
                None,
                None,
                reps,
                judge,
                embedding,
            )
            .await;
            starting.set(false);
            match result {
                Ok(id) => {
                    on_close.run(());
                    monitor.started(id);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };

    let chip = move |value: String, set: RwSignal<BTreeSet<String>>| {
        let v = value.clone();
        let v2 = value.clone();
        view! {
            <label class="chip">
                <input
                    type="checkbox"
                    prop:checked=move || set.with(|s| s.contains(&v))
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        set.update(|s| {
                            if on { s.insert(v2.clone()); } else { s.remove(&v2); }
                        });
                    }
                />
                <span>{value}</span>
            </label>
        }
    };

    view! {
        <Modal
            title=Signal::derive(move || i18n.t().cfg().config_title.to_string())
            dismissible=Signal::derive(move || !starting.get())
            on_dismiss=on_close
            test_id="batch-config"
        >
            <form class="form" on:submit=start>
                <label>
                    <span>{move || i18n.t().cfg().batch_name}</span>
                    <input type="text" name="batch-name" data-autofocus bind:value=name/>
                </label>
                <div class="form-row">
                    <label>
                        <span>{move || i18n.t().cfg().f_concurrency}</span>
                        <input type="number" name="concurrency" min="1" max=MAX_CONCURRENCY step="1" bind:value=concurrency/>
                        <small>{move || i18n.t().cfg().f_concurrency_help}</small>
                    </label>
                    <label>
                        <span>{move || i18n.t().cfg().f_per_version_cap}</span>
                        <input type="number" name="per-version-cap" min="1" step="1" bind:value=cap/>
                        <small>{move || i18n.t().cfg().f_per_version_cap_help}</small>
                    </label>
                    <label>
                        <span>{move || i18n.t().cfg().f_pass_threshold}</span>
                        <input type="number" name="pass-threshold" min="0" max="100" step="any" bind:value=threshold/>
                    </label>
                    <label>
                        <span>{move || i18n.t().rep().f_repeats}</span>
                        <input type="number" name="repeats" min="1" max=MAX_REPEATS step="1" bind:value=repeats/>
                        <small>{move || i18n.t().rep().f_repeats_help}</small>
                    </label>
                </div>
                <fieldset>
                    <legend>{move || i18n.t().cfg().f_cases}</legend>
                    <label class="inline">
                        <input type="radio" name="case-choice" prop:checked=move || !by_filter.get() on:change=move |_| by_filter.set(false)/>
                        <span>{move || (i18n.t().cfg().cases_all_enabled)(enabled_count())}</span>
                    </label>
                    <label class="inline">
                        <input type="radio" name="case-choice" prop:checked=move || by_filter.get() on:change=move |_| by_filter.set(true)/>
                        <span>{move || i18n.t().cfg().cases_by_filter}</span>
                    </label>
                    <Show when=move || by_filter.get()>
                        <div class="facets">
                            <span class="label">{move || i18n.t().cfg().categories}</span>
                            <div class="chips">
                                {move || facet(|c| vec![c.category.clone()]).into_iter().map(|v| chip(v, categories)).collect_view()}
                            </div>
                            <span class="label">{move || i18n.t().cfg().tags}</span>
                            <div class="chips">
                                {move || facet(|c| c.tags.clone()).into_iter().map(|v| chip(v, tags)).collect_view()}
                            </div>
                        </div>
                    </Show>
                </fieldset>
                <fieldset data-testid="grading">
                    <legend>{move || i18n.t().jdg().judge}</legend>
                    <div class="form-row">
                        <label>
                            <span>{move || i18n.t().jdg().f_judge}</span>
                            <select name="judge" on:change=move |ev| {
                                judge.set(event_target_value(&ev).parse::<i64>().ok().map(JudgeId));
                            }>
                                <option value="" selected=move || judge.get().is_none()>{move || i18n.t().jdg().f_judge_none}</option>
                                {move || judge_options(true).into_iter().map(|j| {
                                    let id = j.id;
                                    view! { <option value=id.0.to_string() selected=move || judge.get() == Some(id)>{j.name}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                        <Show when=move || judge.get().is_some()>
                            <label>
                                <span>{move || i18n.t().jdg().f_rubric}</span>
                                <select name="rubric" on:change=move |ev| {
                                    if let Some(r) = Rubric::parse(&event_target_value(&ev)) {
                                        rubric.set(r);
                                    }
                                }>
                                    {Rubric::ALL.into_iter().map(|r| view! {
                                        <option value=r.as_str() selected=move || rubric.get() == r>{move || (i18n.t().jdg().rubric)(r)}</option>
                                    }).collect_view()}
                                </select>
                                <small>{move || (i18n.t().jdg().rubric_help)(rubric.get())}</small>
                            </label>
                            <label>
                                <span>{move || i18n.t().jdg().f_judge_weight}</span>
                                <input type="number" name="judge-weight" min="0" step="any" bind:value=judge_weight/>
                            </label>
                            <label class="inline">
                                <input type="checkbox" name="must-pass" bind:checked=must_pass/>
                                <span>{move || i18n.t().jdg().f_must_pass}</span>
                            </label>
                        </Show>
                    </div>
                    <div class="form-row">
                        <label>
                            <span>{move || i18n.t().jdg().f_embedding}</span>
                            <select name="embedding" on:change=move |ev| {
                                embedder.set(event_target_value(&ev).parse::<i64>().ok().map(JudgeId));
                            }>
                                <option value="" selected=move || embedder.get().is_none()>{move || i18n.t().jdg().f_judge_none}</option>
                                {move || judge_options(false).into_iter().map(|j| {
                                    let id = j.id;
                                    view! { <option value=id.0.to_string() selected=move || embedder.get() == Some(id)>{j.name}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                        <Show when=move || embedder.get().is_some()>
                            <label>
                                <span>{move || i18n.t().jdg().f_embedding_weight}</span>
                                <input type="number" name="embedding-weight" min="0" step="any" bind:value=embedding_weight/>
                            </label>
                        </Show>
                    </div>
                    <small class="muted">{move || i18n.t().jdg().f_weights_help}</small>
                </fieldset>
                <p class="muted" data-testid="tests-planned">
                    {move || (i18n.t().cfg().tests_planned)(n_versions, chosen.with(Vec::len), repeats_n())}
                </p>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <div class="modal-foot">
                    <button type="button" on:click=move |_| on_close.run(())>{move || i18n.t().cancel}</button>
                    <button type="submit" class="primary" disabled=move || starting.get()>
                        {move || if starting.get() { i18n.t().cfg().starting } else { i18n.t().cfg().start }}
                    </button>
                </div>
            </form>
        </Modal>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CaseId;

    fn case(id: i64, category: &str, tags: &[&str], enabled: bool) -> TestCase {
        TestCase {
            id: CaseId(id),
            name: format!("c{id}"),
            query: "q".into(),
            expected_answer: String::new(),
            keywords: vec![],
            category: category.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pass_threshold: None,
            assertions: vec![],
            inputs: serde_json::Value::Null,
            enabled,
            created_at: 0,
            updated_at: 0,
            created_by: None,
            updated_by: None,
            rubric: None,
            revision: 1,
            turns: Default::default(),
        }
    }

    #[test]
    fn only_enabled_cases_are_chosen_by_category_or_tag() {
        let cases = [
            case(1, "phy", &["mipi"], true),
            case(2, "phy", &[], false),
            case(3, "memory", &["ddr"], true),
            case(4, "bus", &["mipi"], true),
        ];
        assert_eq!(
            choose_cases(&cases, None),
            vec![CaseId(1), CaseId(3), CaseId(4)]
        );
        let cats: BTreeSet<String> = ["phy".to_string()].into();
        let tags: BTreeSet<String> = ["mipi".to_string()].into();
        let none = BTreeSet::new();
        assert_eq!(choose_cases(&cases, Some((&cats, &none))), vec![CaseId(1)]);
        assert_eq!(
            choose_cases(&cases, Some((&none, &tags))),
            vec![CaseId(1), CaseId(4)]
        );
        assert!(choose_cases(&cases, Some((&none, &none))).is_empty());
    }
}
