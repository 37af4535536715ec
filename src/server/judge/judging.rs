//! Grading answers during a batch: the judge's call (an OpenAI-compatible chat completion or a
//! Dify app), the embedding score, the judgement cache, and each judge's concurrency limit.
//!
//! - **Cache.** A judgement is keyed by the judge's configuration (kind, base URL, model, app mode,
//!   JSON mode — never its key), [`PROMPT_VERSION`], the rubric, the case's rubric, the question,
//!   the expected answer, the context and the answer ([`judgement_key`]). A stored judgement is
//!   served without a call; so is one being made right now for the same key by another test (one
//!   call, every waiter gets its answer). Judge errors are never cached. Embeddings are cached per
//!   text and model the same way.
//! - **Limits.** Calls to one judge share one semaphore of its configured `concurrency`, across
//!   every batch; the Dify client's outbound policy, timeouts, retries and backoff apply as they do
//!   to Dify calls (one client, [`DifyClient::post_json`] / [`DifyClient::call`]).
//! - **Failures** never fail a test: a judge that cannot be reached, or that says something that
//!   is not a judgement, gives a [`JudgeOutcome`] with `error` (`judge_error`), and the test keeps
//!   its other scores.
//!
//! It owns no scoring arithmetic (`scoring::CasePlan::score_with` combines the components) and no
//! storage beyond the two caches.

use super::parse::{parse_judgement, passed_or, Judgement};
use super::rubric::{dify_inputs, prompt, JudgeInput, PROMPT_VERSION};
use super::vector::{cache_key, cosine, similarity_score};
use crate::model::{
    JudgeId, JudgeKind, JudgeOutcome, JudgeScoring, ResponseMode, Rubric, ScoringConfig, TestCase,
};
use crate::server::dify::{AppEndpoint, DifyClient, Failure};
use crate::server::scoring::Semantic;
use crate::server::store::{CachedJudgement, JudgeRecord, Store, StoreError};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};

/// What one call to a judge produced.
#[derive(Debug, Clone)]
struct Call {
    judgement: Judgement,
    tokens: Option<i64>,
    price: Option<f64>,
}

type Shared = Arc<OnceCell<Result<Call, String>>>;

/// A test's place among those waiting for one judgement (by cache key). The entry leaves the
/// map with the last of them — also when they are dropped mid-call (a cancelled batch), so
/// nothing is left behind.
struct InFlight<'a> {
    map: &'a Mutex<HashMap<String, Shared>>,
    key: &'a str,
    cell: Shared,
}

impl<'a> InFlight<'a> {
    fn join(map: &'a Mutex<HashMap<String, Shared>>, key: &'a str) -> InFlight<'a> {
        let cell = map.lock().entry(key.to_string()).or_default().clone();
        InFlight { map, key, cell }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = self.map.lock();
        // Two holders left, the map's and this one: this is the last test waiting.
        let last = map
            .get(self.key)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cell) && Arc::strong_count(c) <= 2);
        if last {
            map.remove(self.key);
        }
    }
}

/// The server's judging: one per engine, shared by every batch.
pub struct Judging {
    store: Store,
    client: DifyClient,
    /// Per judge: its configured concurrency and the semaphore that enforces it.
    slots: Mutex<HashMap<JudgeId, (u32, Arc<Semaphore>)>>,
    /// Judgements being made now, by cache key, so that identical answers judged at the same
    /// time cost one call.
    in_flight: Mutex<HashMap<String, Shared>>,
}

/// A batch's judge and embedding scorer, loaded when the batch starts running.
pub struct BatchJudging {
    judge: Option<Configured>,
    embedder: Option<Configured>,
}

struct Configured {
    /// The judge, or why there is none (it was deleted, or is of the wrong kind).
    record: Result<JudgeRecord, String>,
    settings: Option<JudgeScoring>,
    slots: Arc<Semaphore>,
}

impl BatchJudging {
    /// Neither a judge nor an embedding scorer: nothing to do.
    pub fn is_empty(&self) -> bool {
        self.judge.is_none() && self.embedder.is_none()
    }
}

impl Judging {
    pub fn new(store: Store, client: DifyClient) -> Arc<Judging> {
        Arc::new(Judging {
            store,
            client,
            slots: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// Loads what a batch's scoring names. A judge that no longer exists is not an error here:
    /// every test then records a judge error saying so, and keeps its other scores.
    pub async fn for_batch(&self, scoring: &ScoringConfig) -> Result<BatchJudging, StoreError> {
        let judge = match &scoring.judge {
            Some(settings) => Some(
                self.configured(settings.judge_id, true, Some(settings.clone()))
                    .await?,
            ),
            None => None,
        };
        let embedder = match &scoring.embedding {
            Some(e) => Some(self.configured(e.judge_id, false, None).await?),
            None => None,
        };
        Ok(BatchJudging { judge, embedder })
    }

    async fn configured(
        &self,
        id: JudgeId,
        grades: bool,
        settings: Option<JudgeScoring>,
    ) -> Result<Configured, StoreError> {
        let record = match self.store.get_judge(id).await? {
            None => Err(format!("judge {id} no longer exists")),
            Some(r) if r.judge.kind.grades() != grades => Err(format!(
                "judge {id} (`{}`) is a {} endpoint, not {}",
                r.judge.name,
                r.judge.kind,
                if grades {
                    "a judge"
                } else {
                    "an embeddings endpoint"
                }
            )),
            Some(r) => Ok(r),
        };
        let slots = match &record {
            Ok(r) => self.slots_for(r.judge.id, r.judge.concurrency),
            Err(_) => Arc::new(Semaphore::new(1)),
        };
        Ok(Configured {
            record,
            settings,
            slots,
        })
    }

    fn slots_for(&self, id: JudgeId, concurrency: u32) -> Arc<Semaphore> {
        let mut slots = self.slots.lock();
        match slots.get(&id) {
            Some((c, s)) if *c == concurrency => s.clone(),
            // New, or its limit was changed: batches that started before keep the old one.
            _ => {
                let s = Arc::new(Semaphore::new(concurrency.max(1) as usize));
                slots.insert(id, (concurrency, s.clone()));
                s
            }
        }
    }

    /// What the batch's judge and embedding scorer say about one answer. `threshold` decides a
    /// judgement that gave a score but no verdict.
    /// `retrieved`: what Dify retrieved for the answer (the faithfulness rubric's context).
    pub async fn assess(
        &self,
        batch: &BatchJudging,
        case: &TestCase,
        answer: &str,
        retrieved: &[String],
        threshold: f64,
    ) -> Semantic {
        let context = retrieved.join("\n\n---\n\n");
        let input = JudgeInput {
            question: &case.query,
            expected_answer: &case.expected_answer,
            answer,
            case_rubric: case.rubric.as_deref(),
            context: (!context.trim().is_empty()).then_some(context.as_str()),
        };
        let judge = match &batch.judge {
            Some(c) => Some(self.judge(c, &input, threshold).await),
            None => None,
        };
        let (embedding_score, embedding_error) = match &batch.embedder {
            Some(c) if !case.expected_answer.trim().is_empty() => {
                match self.embedding_score(c, answer, &case.expected_answer).await {
                    Ok(score) => (Some(score), None),
                    Err(e) => (None, Some(e)),
                }
            }
            _ => (None, None),
        };
        Semantic {
            judge,
            embedding_score,
            embedding_error,
        }
    }

    async fn judge(&self, c: &Configured, input: &JudgeInput<'_>, threshold: f64) -> JudgeOutcome {
        let rubric = c.settings.as_ref().map(|s| s.rubric).unwrap_or_default();
        let mut outcome = JudgeOutcome {
            judge_id: c.record.as_ref().ok().map(|r| r.judge.id),
            rubric,
            ..JudgeOutcome::default()
        };
        let record = match &c.record {
            Ok(r) => r,
            Err(why) => {
                outcome.error = Some(why.clone());
                return outcome;
            }
        };
        let key = judgement_key(record, rubric, input);
        match self.judgement(c, record, rubric, input, &key).await {
            Ok((call, made)) => {
                outcome.score = Some(call.judgement.score);
                outcome.passed = Some(passed_or(&call.judgement, threshold));
                outcome.reason = call.judgement.reason;
                outcome.cached = !made;
                if made {
                    outcome.tokens = call.tokens;
                    outcome.price = call.price;
                }
            }
            Err(e) => outcome.error = Some(e),
        }
        outcome
    }

    /// The judgement for `key`: from the cache, from a call another test is making, or from a
    /// call of its own (`true`: this call was made for this test).
    async fn judgement(
        &self,
        c: &Configured,
        record: &JudgeRecord,
        rubric: Rubric,
        input: &JudgeInput<'_>,
        key: &str,
    ) -> Result<(Call, bool), String> {
        match self.store.cached_judgement(key).await {
            Ok(Some(j)) => {
                let judgement = Judgement {
                    score: j.score,
                    passed: j.passed,
                    reason: j.reason,
                };
                return Ok((
                    Call {
                        judgement,
                        tokens: None,
                        price: None,
                    },
                    false,
                ));
            }
            Ok(None) => {}
            // A cache that cannot be read costs a call, not a judgement.
            Err(e) => tracing::warn!(error = %e, "cannot read the judgement cache"),
        }
        let entry = InFlight::join(&self.in_flight, key);
        let mut made = false;
        let result = entry
            .cell
            .get_or_init(|| async {
                made = true;
                let result = async {
                    let _slot = c
                        .slots
                        .acquire()
                        .await
                        .map_err(|_| "the judge's limit was closed".to_string())?;
                    self.call(record, rubric, input).await
                }
                .await;
                if let Ok(call) = &result {
                    let cached = CachedJudgement {
                        score: call.judgement.score,
                        passed: call.judgement.passed,
                        reason: call.judgement.reason.clone(),
                    };
                    if let Err(e) = self.store.cache_judgement(key, &cached).await {
                        tracing::warn!(error = %e, "cannot store a judgement in the cache");
                    }
                }
                result
            })
            .await
            .clone();
        drop(entry);
        result.map(|call| (call, made))
    }

    async fn call(
        &self,
        record: &JudgeRecord,
        rubric: Rubric,
        input: &JudgeInput<'_>,
    ) -> Result<Call, String> {
        let judge = &record.judge;
        let (text, tokens, price) = match judge.kind {
            JudgeKind::Openai => {
                let p = prompt(rubric, input);
                let mut body = json!({
                    "model": judge.model,
                    "temperature": 0,
                    "messages": [
                        {"role": "system", "content": p.system},
                        {"role": "user", "content": p.user},
                    ],
                });
                if judge.json_mode {
                    body["response_format"] = json!({"type": "json_object"});
                }
                let reply = self
                    .client
                    .post_json(&judge.base_url, "chat/completions", &record.api_key, &body)
                    .await
                    .map_err(|f| call_failed(&f))?;
                let text = reply
                    .body
                    .pointer("/choices/0/message/content")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        "the judge's reply has no choices[0].message.content".to_string()
                    })?
                    .to_string();
                let usage = |k: &str| reply.body.pointer(&format!("/usage/{k}"))?.as_i64();
                let (prompt_tokens, completion_tokens) =
                    (usage("prompt_tokens"), usage("completion_tokens"));
                let tokens = usage("total_tokens").or(match (prompt_tokens, completion_tokens) {
                    (Some(p), Some(c)) => Some(p + c),
                    _ => None,
                });
                let price = token_price(judge, prompt_tokens, completion_tokens);
                (text, tokens, price)
            }
            JudgeKind::DifyApp => {
                let p = prompt(rubric, input);
                let app = AppEndpoint {
                    base_url: judge.base_url.clone(),
                    api_key: record.api_key.clone(),
                    app_mode: judge.app_mode,
                    response_mode: ResponseMode::Blocking,
                    answer_field: None,
                    inputs: dify_inputs(rubric, input),
                    workflow_id: None,
                };
                let answer = self
                    .client
                    .call(&app, &p.user, &Value::Null)
                    .await
                    .map_err(|f| call_failed(&f))?;
                (
                    answer.answer,
                    answer.usage.total_tokens,
                    answer.usage.total_price,
                )
            }
            JudgeKind::Embeddings => {
                return Err(format!(
                    "judge {} is an embeddings endpoint, not a judge",
                    judge.id
                ))
            }
        };
        let judgement = parse_judgement(&text)
            .map_err(|e| format!("the judge's reply is not a judgement: {e}"))?;
        Ok(Call {
            judgement,
            tokens,
            price,
        })
    }

    /// "Test" on the admin page: one small grading (or embedding) call, uncached, with the
    /// judge as configured now.
    pub async fn probe(&self, record: &JudgeRecord) -> Result<String, String> {
        if record.judge.kind.grades() {
            let input = JudgeInput {
                question: "What is 2 + 2?",
                expected_answer: "4",
                answer: "2 + 2 equals 4.",
                case_rubric: None,
                context: None,
            };
            let call = self.call(record, Rubric::Correctness, &input).await?;
            let j = call.judgement;
            let verdict = match j.passed {
                Some(true) => "pass",
                Some(false) => "fail",
                None => "no verdict",
            };
            Ok(format!("score {}, {verdict}: {}", j.score, j.reason))
        } else {
            let body = json!({"model": record.judge.model, "input": ["dify-bench"]});
            let reply = self
                .client
                .post_json(&record.judge.base_url, "embeddings", &record.api_key, &body)
                .await
                .map_err(|f| call_failed(&f))?;
            let vectors = embeddings_of(&reply.body, 1)?;
            Ok(format!(
                "{}-dimensional embeddings",
                vectors.first().map_or(0, Vec::len)
            ))
        }
    }

    /// Cosine similarity of the answer's and the expected answer's embeddings, 0–100.
    async fn embedding_score(
        &self,
        c: &Configured,
        answer: &str,
        expected: &str,
    ) -> Result<f64, String> {
        let record = c.record.as_ref().map_err(Clone::clone)?;
        let texts = [answer, expected];
        let keys: Vec<String> = texts.iter().map(|t| embedding_key(record, t)).collect();
        let mut vectors: Vec<Option<Vec<f32>>> = Vec::with_capacity(2);
        for key in &keys {
            vectors.push(self.store.cached_embedding(key).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the embedding cache");
                None
            }));
        }
        let missing: Vec<usize> = (0..2).filter(|&i| vectors[i].is_none()).collect();
        if !missing.is_empty() {
            let input: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
            let body = json!({"model": record.judge.model, "input": input});
            let reply = {
                let _slot = c
                    .slots
                    .acquire()
                    .await
                    .map_err(|_| "the endpoint's limit was closed".to_string())?;
                self.client
                    .post_json(&record.judge.base_url, "embeddings", &record.api_key, &body)
                    .await
                    .map_err(|f| call_failed(&f))?
            };
            let got = embeddings_of(&reply.body, missing.len())?;
            for (&i, vector) in missing.iter().zip(got) {
                if let Err(e) = self.store.cache_embedding(&keys[i], &vector).await {
                    tracing::warn!(error = %e, "cannot store an embedding in the cache");
                }
                vectors[i] = Some(vector);
            }
        }
        match (&vectors[0], &vectors[1]) {
            (Some(a), Some(b)) => cosine(a, b).map(similarity_score).ok_or_else(|| {
                "the embeddings have different lengths or are zero vectors".to_string()
            }),
            _ => Err("the embeddings endpoint returned too few vectors".into()),
        }
    }
}

/// The cache key of a judgement (see the module doc for what goes in, and why the key does not).
pub fn judgement_key(record: &JudgeRecord, rubric: Rubric, input: &JudgeInput) -> String {
    let j = &record.judge;
    let version = PROMPT_VERSION.to_string();
    let app_mode = match j.kind {
        JudgeKind::DifyApp => j.app_mode.as_str(),
        _ => "",
    };
    cache_key(&[
        "judgement",
        &version,
        j.kind.as_str(),
        j.base_url.trim_end_matches('/'),
        &j.model,
        app_mode,
        if j.json_mode { "json" } else { "text" },
        rubric.as_str(),
        input.case_rubric.unwrap_or(""),
        input.question,
        input.expected_answer,
        input.context.unwrap_or(""),
        input.answer,
    ])
}

fn embedding_key(record: &JudgeRecord, text: &str) -> String {
    let j = &record.judge;
    cache_key(&[
        "embedding",
        j.base_url.trim_end_matches('/'),
        &j.model,
        text,
    ])
}

/// The vectors of an OpenAI `/embeddings` reply, in input order (`data[].index`).
fn embeddings_of(body: &Value, expected: usize) -> Result<Vec<Vec<f32>>, String> {
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or("the embeddings reply has no `data` list")?;
    let mut out: Vec<Option<Vec<f32>>> = vec![None; expected];
    for (n, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .map_or(n, |i| i as usize);
        let vector = item
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or("an embedding in the reply is not a list of numbers")?
            .iter()
            .map(|x| x.as_f64().map(|x| x as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or("an embedding in the reply is not a list of numbers")?;
        if let Some(slot) = out.get_mut(index) {
            *slot = Some(vector);
        }
    }
    out.into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("the embeddings reply does not hold {expected} vectors"))
}

/// Price of a call from the judge's configured prices per million tokens.
fn token_price(
    judge: &crate::model::Judge,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
) -> Option<f64> {
    let part = |tokens: Option<i64>, per_mtok: Option<f64>| Some(tokens? as f64 * per_mtok? / 1e6);
    match (
        part(prompt_tokens, judge.input_price_per_mtok),
        part(completion_tokens, judge.output_price_per_mtok),
    ) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    }
}

fn call_failed(f: &Failure) -> String {
    format!("the judge call failed: {f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_flight_judgement_leaves_with_the_last_waiter() {
        let map = Mutex::new(HashMap::new());
        let first = InFlight::join(&map, "k");
        let second = InFlight::join(&map, "k");
        assert!(
            Arc::ptr_eq(&first.cell, &second.cell),
            "one judgement for both"
        );
        drop(first);
        assert!(map.lock().contains_key("k"), "the second still waits");
        drop(second);
        assert!(
            map.lock().is_empty(),
            "gone with the last (also when dropped mid-call)"
        );
    }

    #[test]
    fn embeddings_are_read_in_index_order() {
        let body = json!({"data": [
            {"index": 1, "embedding": [0.0, 1.0]},
            {"index": 0, "embedding": [1.0, 0.5]},
        ]});
        assert_eq!(
            embeddings_of(&body, 2).unwrap(),
            vec![vec![1.0, 0.5], vec![0.0, 1.0]]
        );
        assert!(embeddings_of(&json!({"data": [{"index": 0, "embedding": [1.0]}]}), 2).is_err());
        assert!(embeddings_of(&json!({"data": [{"embedding": ["x"]}]}), 1).is_err());
        assert!(embeddings_of(&json!({}), 1).is_err());
    }

    #[test]
    fn price_comes_from_the_configured_rates() {
        let mut judge = crate::model::Judge {
            id: JudgeId(1),
            name: "j".into(),
            kind: JudgeKind::Openai,
            base_url: "http://x/v1".into(),
            model: "m".into(),
            app_mode: crate::model::AppMode::Chat,
            api_key_hint: String::new(),
            json_mode: true,
            concurrency: 1,
            input_price_per_mtok: Some(2.5),
            output_price_per_mtok: Some(10.0),
            use_by_default: false,
            created_at: 0,
            updated_at: 0,
            created_by: None,
            updated_by: None,
        };
        // 1,000 prompt tokens at $2.50/M + 200 completion tokens at $10/M = $0.0045.
        let p = token_price(&judge, Some(1000), Some(200)).unwrap();
        assert!((p - 0.0045).abs() < 1e-12, "{p}");
        judge.input_price_per_mtok = None;
        judge.output_price_per_mtok = None;
        assert_eq!(token_price(&judge, Some(1000), Some(200)), None);
    }
}
