//! `GET /api/batches/{id}/results.csv` and `GET /api/batches/{id}/results.json`: every result of
//! a batch as a download, streamed from the store in keyset pages so that a 100,000-test batch is
//! never held in memory (nor built in the browser).
//!
//! - CSV: one row per (version, case), ordered by version then case, with the columns of
//!   [`CSV_HEADER`]. Text cells a spreadsheet could run as a formula (`=…`, `+…`, `-…`, `@…`)
//!   are written with a `'` in front ([`csv_safe`](crate::server::csv_safe)). A conversation
//!   (a multi-turn case) has its test's row, then one row per turn with the same columns: the
//!   case column reads `name (turn 2 of 3)`, the status `turn_passed`, `turn_failed`,
//!   `turn_error` (Dify refused the turn) or `turn_not_sent` (an earlier turn ended the test), and
//!   the score, latency, total tokens, error and answer are the turn's; the other cells are
//!   empty. Counting or filtering by status therefore counts tests as before. A one-turn
//!   result's row is unchanged.
//! - JSON: one document of the same shape as the `batch_results` server function,
//!   `{"batch": {…}, "cases": [ … ], "results": [ … ]}`, written as it is read.
//!
//! A bad id answers 400, an unknown batch 404, both with the usual `{error, message}` body. A
//! database failure after the first byte can no longer change the status: the connection is cut,
//! so a client sees a truncated download rather than a short file that looks complete. Results of
//! a batch still running are those stored when each page is read. Neither format carries a key:
//! [`Batch`] and [`TestResult`] hold only key hints.

use crate::model::{
    Batch, BatchId, CaseId, JudgeVerdict, TestCase, TestResult, TurnResult, VersionId,
};
use crate::server::csv_safe::neutralize;
use crate::server::runner::Engine;
use crate::server::sse::json_error;
use crate::server::store::{Store, StoreError};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::sync::Arc;

/// Rows read from the store per page (and written per chunk).
const ROWS_PER_PAGE: u64 = 2000;

/// The CSV export's header line.
pub const CSV_HEADER: &str = "batch_id,version_id,version,case_id,case,status,score,latency_ms,\
    ttft_ms,prompt_tokens,completion_tokens,total_tokens,keywords_hit,keywords_missed,error_code,\
    error_message,answer,total_price,currency,repetition,judge_score,judge_verdict,judge_reason,\
    embedding_score\n";

pub async fn results_csv(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Response {
    match open(&engine, &id).await {
        Ok(batch) => {
            let filename = format!("batch-{}.csv", batch.id);
            download(
                "text/csv; charset=utf-8",
                &filename,
                csv_stream(engine.store().clone(), batch, ROWS_PER_PAGE),
            )
        }
        Err(refused) => refused,
    }
}

pub async fn results_json(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Response {
    match open(&engine, &id).await {
        Ok(batch) => {
            let filename = format!("batch-{}.json", batch.id);
            match json_stream(engine.store().clone(), batch, ROWS_PER_PAGE) {
                Ok(body) => download("application/json", &filename, body),
                Err(e) => internal(e),
            }
        }
        Err(refused) => refused,
    }
}

/// `GET /api/batches/{id}/results.junit.xml`: JUnit XML, a suite per version, streamed in the
/// same (version, case) order as the other exports; each suite's counts come from the store's
/// per-version tallies, so nothing is held but one page.
pub async fn results_junit(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Response {
    let batch = match open(&engine, &id).await {
        Ok(batch) => batch,
        Err(refused) => return refused,
    };
    let tallies = match engine.store().version_tallies(batch.id).await {
        Ok(t) => t,
        Err(e) => return internal(e),
    };
    let filename = format!("batch-{}.junit.xml", batch.id);
    download(
        "application/xml",
        &filename,
        junit_stream(engine.store().clone(), batch, tallies, ROWS_PER_PAGE),
    )
}

/// `GET /api/compare/cases.csv?base=B:V&cand=B:V` and `…/cases.json`: a comparison of two runs
/// as a download — the JSON is `compare_runs`' document with every case on one page, the CSV one
/// row per case in the compare page's order (regressions first). Without `base`, the previous
/// run of the candidate's version, as on the page.
pub async fn compare_csv(
    State(engine): State<Arc<Engine>>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    match comparison(&engine, &q).await {
        Ok(view) => {
            let name = format!(
                "compare-{}-{}_{}-{}.csv",
                view.a.batch_id, view.a.version_id, view.b.batch_id, view.b.version_id
            );
            let body = compare_csv_text(&view);
            download(
                "text/csv; charset=utf-8",
                &name,
                stream::once(async move { Ok(Bytes::from(body)) }),
            )
        }
        Err(refused) => refused,
    }
}

pub async fn compare_json(
    State(engine): State<Arc<Engine>>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    match comparison(&engine, &q).await {
        Ok(view) => {
            let name = format!(
                "compare-{}-{}_{}-{}.json",
                view.a.batch_id, view.a.version_id, view.b.batch_id, view.b.version_id
            );
            let body = serde_json::to_vec(&view).unwrap_or_default();
            download(
                "application/json",
                &name,
                stream::once(async move { Ok(Bytes::from(body)) }),
            )
        }
        Err(refused) => refused,
    }
}

/// The whole comparison named by `?base=&cand=`, or the error response to send instead.
async fn comparison(
    engine: &Engine,
    q: &HashMap<String, String>,
) -> Result<crate::model::compare::CompareView, Response> {
    use crate::model::compare::parse_run_ref;
    use crate::server::compare::{view, CompareError};
    use crate::server::store::RunRef;
    let bad = |m: String| json_error(StatusCode::BAD_REQUEST, "bad_request", &m);
    let cand = q
        .get("cand")
        .ok_or_else(|| bad("the candidate run is missing: ?cand=BATCH:VERSION".into()))?;
    let (batch, version) = parse_run_ref(cand).map_err(bad)?;
    let b = RunRef { batch, version };
    let a = match q.get("base") {
        Some(base) => {
            let (batch, version) = parse_run_ref(base).map_err(bad)?;
            RunRef { batch, version }
        }
        None => match engine.store().previous_run(b).await {
            Ok(Some(a)) => a,
            Ok(None) => {
                return Err(json_error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    &format!("version {version} has no run before batch {batch}; name ?base="),
                ))
            }
            Err(e) => return Err(internal(e)),
        },
    };
    match view(engine.store(), a, b, None, 0, u64::MAX).await {
        Ok(v) => Ok(v),
        Err(CompareError::NoRun(m)) => Err(json_error(StatusCode::NOT_FOUND, "not_found", &m)),
        Err(CompareError::Store(e)) => Err(internal(e)),
        Err(e @ CompareError::Unavailable(_)) => Err(json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            &e.to_string(),
        )),
    }
}

/// The compare CSV's header line.
pub const COMPARE_CSV_HEADER: &str = "case_id,case,class,evidence,a_passed,a_total,b_passed,\
    b_total,a_score,b_score,score_delta,a_latency_ms,b_latency_ms,latency_delta_ms,a_tokens,\
    b_tokens,a_cost,b_cost,p_value,q_value\n";

fn compare_csv_text(view: &crate::model::compare::CompareView) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(view.rows.len() * 128));
    let num = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for r in &view.rows {
        let c = &r.case;
        let evidence = serde_json::to_value(c.evidence)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let record = [
            c.case_id.to_string(),
            neutralize(&r.name).into_owned(),
            c.class.as_str().to_string(),
            evidence,
            c.passed_a.to_string(),
            c.total_a.to_string(),
            c.passed_b.to_string(),
            c.total_b.to_string(),
            num(c.score.a),
            num(c.score.b),
            num(c.score.delta),
            num(c.latency_ms.a),
            num(c.latency_ms.b),
            num(c.latency_ms.delta),
            num(c.tokens.a),
            num(c.tokens.b),
            num(c.cost.a),
            num(c.cost.b),
            num(c.p_value),
            num(c.q_value),
        ];
        let _ = w.write_record(&record);
    }
    let mut out = String::from(COMPARE_CSV_HEADER);
    out.push_str(&String::from_utf8_lossy(
        &w.into_inner().unwrap_or_default(),
    ));
    out
}

/// The batch behind `{id}`, or the error response to send instead.
async fn open(engine: &Engine, id: &str) -> Result<Batch, Response> {
    let Ok(raw) = id.parse::<i64>() else {
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            &format!("`{id}` is not a batch id"),
        ));
    };
    let id = BatchId(raw);
    match engine.store().get_batch(id).await {
        Ok(Some(batch)) => Ok(batch),
        Ok(None) => Err(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("batch {id} does not exist"),
        )),
        Err(e) => Err(internal(e)),
    }
}

fn internal(e: StoreError) -> Response {
    tracing::error!(error = %e, "reading a batch for export");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the batch could not be read; see the server log",
    )
}

fn download(
    content_type: &'static str,
    filename: &str,
    body: impl Stream<Item = Result<Bytes, StoreError>> + Send + 'static,
) -> Response {
    let body = body.map(|chunk| {
        chunk.map_err(|e| {
            tracing::error!(error = %e, "export cut short by a database error");
            std::io::Error::other("the export was cut short by a database error")
        })
    });
    let mut res = Body::from_stream(body).into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The file name is built from a number, so it is always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    // A running batch's export changes from one request to the next.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Every result in (version, case) order, one page of the store at a time.
fn result_pages(
    store: Store,
    batch: BatchId,
    per_page: u64,
) -> impl Stream<Item = Result<Vec<TestResult>, StoreError>> + Send + 'static {
    // None: the first page is still to be read; Some(None): the last one was read.
    stream::try_unfold(Some(None::<crate::server::store::TestKey>), move |cursor| {
        let store = store.clone();
        async move {
            let Some(after) = cursor else {
                return Ok(None);
            };
            let page = store.results_page(batch, after, per_page).await?;
            if page.is_empty() {
                return Ok(None);
            }
            let next = (page.len() as u64 == per_page)
                .then(|| page.last().map(|r| (r.version_id, r.case_id, r.repetition)));
            Ok(Some((page, next)))
        }
    })
}

/// The batch's case snapshots, one page of the store at a time.
fn case_pages(
    store: Store,
    batch: BatchId,
    per_page: u64,
) -> impl Stream<Item = Result<Vec<TestCase>, StoreError>> + Send + 'static {
    stream::try_unfold(Some(0u64), move |offset| {
        let store = store.clone();
        async move {
            let Some(offset) = offset else {
                return Ok(None);
            };
            let page = store.batch_cases_page(batch, offset, per_page).await?;
            if page.is_empty() {
                return Ok(None);
            }
            let read = page.len() as u64;
            let next = (read == per_page).then_some(offset + read);
            Ok(Some((page, next)))
        }
    })
}

fn csv_stream(
    store: Store,
    batch: Batch,
    per_page: u64,
) -> impl Stream<Item = Result<Bytes, StoreError>> + Send + 'static {
    let id = batch.id;
    let versions: HashMap<VersionId, String> = batch
        .versions
        .into_iter()
        .map(|v| (v.version_id, v.name))
        .collect();
    let header = stream::once(async { Ok(Bytes::from_static(CSV_HEADER.as_bytes())) });
    let rows = stream::once(case_names(store.clone(), id, per_page))
        .map_ok(move |cases| {
            let versions = versions.clone();
            result_pages(store.clone(), id, per_page)
                .map(move |page| page.map(|rs| csv_rows(&rs, &versions, &cases)))
        })
        .try_flatten();
    header.chain(rows)
}

fn junit_stream(
    store: Store,
    batch: Batch,
    tallies: Vec<crate::server::store::VersionTally>,
    per_page: u64,
) -> impl Stream<Item = Result<Bytes, StoreError>> + Send + 'static {
    use crate::server::junit;
    let (id, repeats) = (batch.id, batch.repeats);
    let total: i64 = tallies.iter().map(|t| t.completed).sum();
    let head = junit::open(&batch.name, total.max(0) as usize);
    let suites: HashMap<VersionId, (String, junit::SuiteCounts)> = batch
        .versions
        .iter()
        .map(|v| {
            let t = tallies.iter().find(|t| t.version_id == v.version_id.0);
            let counts = t.map_or(junit::SuiteCounts::default(), |t| junit::SuiteCounts {
                tests: t.completed,
                failures: t.completed - t.passed - t.errored,
                errors: t.errored,
                time_s: t.latency_sum.unwrap_or(0.0) / 1000.0,
            });
            (v.version_id, (v.name.clone(), counts))
        })
        .collect();
    // Whether a suite was opened (and so must be closed at the end).
    let opened = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let opened_in_body = opened.clone();
    let body = stream::once(case_names(store.clone(), id, per_page))
        .map_ok(move |cases| {
            let suites = suites.clone();
            let opened = opened_in_body.clone();
            // The version of the suite left open by the previous page.
            let mut open_suite: Option<VersionId> = None;
            result_pages(store.clone(), id, per_page).map(move |page| {
                page.map(|rs| {
                    let mut xml = String::with_capacity(rs.len() * 160);
                    for r in &rs {
                        let (name, counts) = suites
                            .get(&r.version_id)
                            .cloned()
                            .unwrap_or_else(|| (r.version_id.to_string(), Default::default()));
                        if open_suite != Some(r.version_id) {
                            if open_suite.is_some() {
                                xml.push_str(junit::SUITE_CLOSE);
                            }
                            xml.push_str(&junit::suite_open(&name, counts));
                            open_suite = Some(r.version_id);
                            opened.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        let case = cases.get(&r.case_id).map_or("unknown case", String::as_str);
                        xml.push_str(&junit::testcase(r, &name, case, repeats));
                    }
                    Bytes::from(xml)
                })
            })
        })
        .try_flatten();
    stream::once(async move { Ok(Bytes::from(head)) })
        .chain(body)
        .chain(stream::once(async move {
            let mut tail = String::new();
            if opened.load(std::sync::atomic::Ordering::Relaxed) {
                tail.push_str(junit::SUITE_CLOSE);
            }
            tail.push_str(junit::CLOSE);
            Ok(Bytes::from(tail))
        }))
}

/// Case names by id, for the CSV's `case` column: only the names are kept, not the snapshots.
async fn case_names(
    store: Store,
    batch: BatchId,
    per_page: u64,
) -> Result<HashMap<CaseId, String>, StoreError> {
    let mut names = HashMap::new();
    let mut pages = std::pin::pin!(case_pages(store, batch, per_page));
    while let Some(page) = pages.next().await {
        names.extend(page?.into_iter().map(|c| (c.id, c.name)));
    }
    Ok(names)
}

/// CSV lines for some results (quoted where a field needs it).
pub fn csv_rows(
    results: &[TestResult],
    versions: &HashMap<VersionId, String>,
    cases: &HashMap<CaseId, String>,
) -> Bytes {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(results.len() * 256));
    let opt = |x: Option<i64>| x.map(|v| v.to_string()).unwrap_or_default();
    // Every text that came from a user or from Dify; numbers and statuses are ours.
    let text = |s: Option<&str>| neutralize(s.unwrap_or_default()).into_owned();
    for r in results {
        let judge = r.detail.judge.as_ref();
        let record = [
            r.batch_id.to_string(),
            r.version_id.to_string(),
            text(versions.get(&r.version_id).map(String::as_str)),
            r.case_id.to_string(),
            text(cases.get(&r.case_id).map(String::as_str)),
            r.status.as_str().to_string(),
            r.score.map(|s| format!("{s:.2}")).unwrap_or_default(),
            opt(r.latency_ms),
            opt(r.ttft_ms),
            opt(r.usage.prompt_tokens),
            opt(r.usage.completion_tokens),
            opt(r.usage.total_tokens),
            text(Some(&r.detail.keywords_hit.join(";"))),
            text(Some(&r.detail.keywords_missed.join(";"))),
            text(r.error_code.as_deref()),
            text(r.error_message.as_deref()),
            text(r.answer.as_deref()),
            // Full precision: a call costs fractions of a cent, and sums are made downstream.
            r.usage
                .total_price
                .map(|p| p.to_string())
                .unwrap_or_default(),
            text(r.usage.currency.as_deref()),
            // 1-based, as people count repeats; 1 in a batch without repeats.
            (u64::from(r.repetition) + 1).to_string(),
            judge
                .and_then(|j| j.score)
                .map(|s| format!("{s:.2}"))
                .unwrap_or_default(),
            // pass, fail, or error (the judge gave no judgement); empty without a judge.
            judge
                .map(|j| match j.verdict() {
                    JudgeVerdict::Pass => "pass",
                    JudgeVerdict::Fail => "fail",
                    JudgeVerdict::Error => "error",
                })
                .unwrap_or_default()
                .to_string(),
            text(judge.map(|j| j.error.as_deref().unwrap_or(&j.reason))),
            r.detail
                .embedding_score
                .map(|s| format!("{s:.2}"))
                .unwrap_or_default(),
        ];
        // Writing to a Vec cannot fail.
        let _ = w.write_record(&record);
        let name = cases
            .get(&r.case_id)
            .map(String::as_str)
            .unwrap_or_default();
        for t in &r.turns {
            let _ = w.write_record(turn_record(r, t, name, &record[..3]));
        }
    }
    Bytes::from(w.into_inner().unwrap_or_default())
}

/// The row of one turn of a conversation, after its test's (`head`: the test row's batch,
/// version id and version cells).
fn turn_record(r: &TestResult, t: &TurnResult, case: &str, head: &[String]) -> Vec<String> {
    let text = |s: &str| neutralize(s).into_owned();
    let status = match (&t.error, &t.answer) {
        _ if t.passed => "turn_passed",
        (Some(_), _) => "turn_error",
        (None, None) => "turn_not_sent",
        (None, Some(_)) => "turn_failed",
    };
    // Dify's error is kept as `code: message`.
    let (code, message) = match t
        .error
        .as_deref()
        .map(|e| e.split_once(": ").unwrap_or(("", e)))
    {
        Some((code, message)) => (text(code), text(message)),
        None => Default::default(),
    };
    let mut row = head.to_vec();
    row.extend([
        r.case_id.to_string(),
        text(&format!("{case} (turn {} of {})", t.turn, r.turns.len())),
        status.to_string(),
        t.score.map(|s| format!("{s:.2}")).unwrap_or_default(),
        t.latency_ms.map(|v| v.to_string()).unwrap_or_default(),
        String::new(),
        String::new(),
        String::new(),
        t.total_tokens.map(|v| v.to_string()).unwrap_or_default(),
        String::new(),
        String::new(),
        code,
        message,
        text(t.answer.as_deref().unwrap_or_default()),
        String::new(),
        String::new(),
        (u64::from(r.repetition) + 1).to_string(),
    ]);
    row.resize(CSV_HEADER.split(',').count(), String::new());
    row
}

/// `{"batch": …, "cases": […], "results": […]}`, written piece by piece.
fn json_stream(
    store: Store,
    batch: Batch,
    per_page: u64,
) -> Result<impl Stream<Item = Result<Bytes, StoreError>> + Send + 'static, StoreError> {
    let id = batch.id;
    let head =
        serde_json::to_vec(&batch).map_err(|e| StoreError::Corrupt(format!("batch {id}: {e}")))?;
    let mut open = b"{\"batch\":".to_vec();
    open.extend_from_slice(&head);
    open.extend_from_slice(b",\"cases\":[");
    let cases = json_items(case_pages(store.clone(), id, per_page));
    let results = json_items(result_pages(store, id, per_page));
    Ok(stream::iter([Ok(Bytes::from(open))])
        .chain(cases)
        .chain(stream::iter([Ok(Bytes::from_static(b"],\"results\":["))]))
        .chain(results)
        .chain(stream::iter([Ok(Bytes::from_static(b"]}"))])))
}

/// The items of every page as the inside of a JSON array: comma-separated across pages.
fn json_items<T: serde::Serialize>(
    pages: impl Stream<Item = Result<Vec<T>, StoreError>> + Send + 'static,
) -> impl Stream<Item = Result<Bytes, StoreError>> + Send + 'static {
    pages.enumerate().map(|(n, page)| {
        let page = page?;
        let mut out = Vec::with_capacity(page.len() * 512);
        for (i, item) in page.iter().enumerate() {
            if n > 0 || i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, item)
                .map_err(|e| StoreError::Corrupt(format!("export: {e}")))?;
        }
        Ok(Bytes::from(out))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        BatchReport, CaseDraft, DifyIds, ResultStatus, ScoreDetail, ScoringConfig, Usage,
        VersionDraft,
    };
    use crate::server::store::NewBatch;

    /// A stored batch of 2 versions × 7 cases with 11 results (a key in the version).
    async fn stored_batch() -> (Store, Batch) {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let mut versions = Vec::new();
        for name in ["v1", "v2, with a comma"] {
            let id = store
                .insert_version(&VersionDraft {
                    name: name.into(),
                    base_url: "http://127.0.0.1:5001/v1".into(),
                    api_key: Some("app-secret-key-0123456789".into()),
                    ..Default::default()
                })
                .await
                .unwrap();
            versions.push(store.get_version(id).await.unwrap().unwrap());
        }
        let drafts: Vec<CaseDraft> = (0..7)
            .map(|i| CaseDraft {
                query: format!("question {i}"),
                ..Default::default()
            })
            .collect();
        let mut cases = Vec::new();
        for id in store.insert_cases(&drafts).await.unwrap() {
            cases.push(store.get_case(id).await.unwrap().unwrap());
        }
        let scoring = ScoringConfig::default();
        let batch = store
            .create_batch(&NewBatch {
                name: "export",
                repeats: 1,
                concurrency: 1,
                per_version_cap: None,
                scoring: &scoring,
                versions: &versions,
                cases: &cases,
                created_by: None,
            })
            .await
            .unwrap();
        let mut results = Vec::new();
        for (i, v) in versions.iter().enumerate() {
            for c in cases.iter().skip(i * 3) {
                results.push(TestResult {
                    batch_id: batch,
                    version_id: v.version.id,
                    case_id: c.id,
                    repetition: 0,
                    status: ResultStatus::Passed,
                    score: Some(75.0),
                    answer: Some(format!("answer to {}, \"quoted\"", c.query)),
                    latency_ms: Some(100),
                    ttft_ms: None,
                    usage: Usage::default(),
                    dify: DifyIds::default(),
                    error_code: None,
                    error_message: None,
                    attempts: 1,
                    detail: ScoreDetail::default(),
                    finished_at: 1,
                    trace: None,
                    turns: Default::default(),
                });
            }
        }
        store.insert_results(&results).await.unwrap();
        let batch = store.get_batch(batch).await.unwrap().unwrap();
        (store, batch)
    }

    async fn collect(body: impl Stream<Item = Result<Bytes, StoreError>>) -> String {
        let chunks: Vec<Bytes> = body.try_collect().await.unwrap();
        String::from_utf8(chunks.concat()).unwrap()
    }

    #[tokio::test]
    async fn exports_are_every_result_whatever_the_page_size() {
        let (store, batch) = stored_batch().await;
        let report = BatchReport {
            batch: batch.clone(),
            cases: store.batch_cases(batch.id).await.unwrap(),
            results: store.list_results(batch.id).await.unwrap(),
        };
        assert_eq!(report.results.len(), 11);
        // Pages that divide the rows exactly, that do not, and one page for everything.
        for per_page in [1, 2, 3, 7, 11, 2000] {
            let json = collect(json_stream(store.clone(), batch.clone(), per_page).unwrap()).await;
            let parsed: BatchReport = serde_json::from_str(&json).unwrap();
            assert_eq!(parsed, report, "JSON with pages of {per_page}");
            assert!(
                !json.contains("app-secret-key"),
                "no key in the JSON export"
            );

            let csv = collect(csv_stream(store.clone(), batch.clone(), per_page)).await;
            assert!(csv.starts_with(CSV_HEADER));
            assert!(!csv.contains("app-secret-key"), "no key in the CSV export");
            let mut reader = csv::Reader::from_reader(csv.as_bytes());
            let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
            assert_eq!(rows.len(), 11, "CSV with pages of {per_page}");
            for (row, r) in rows.iter().zip(&report.results) {
                assert_eq!(&row[1], r.version_id.to_string());
                assert_eq!(&row[3], r.case_id.to_string());
                let case = report.cases.iter().find(|c| c.id == r.case_id).unwrap();
                assert_eq!(&row[4], case.name);
                assert_eq!(&row[16], r.answer.as_deref().unwrap());
            }
            assert_eq!(&rows[10][2], "v2, with a comma");
        }
    }

    #[test]
    fn csv_rows_follow_the_header_and_quote_what_needs_it() {
        let r = TestResult {
            batch_id: BatchId(3),
            version_id: VersionId(1),
            case_id: CaseId(7),
            repetition: 0,
            status: ResultStatus::Failed,
            score: Some(42.5),
            answer: Some("line one\nsaid \"hi\", then left".into()),
            latency_ms: Some(812),
            ttft_ms: None,
            usage: Usage {
                prompt_tokens: Some(10),
                completion_tokens: Some(20),
                total_tokens: Some(30),
                total_price: Some(0.000125),
                currency: Some("USD".into()),
            },
            dify: DifyIds::default(),
            error_code: None,
            error_message: None,
            attempts: 1,
            detail: ScoreDetail {
                keywords_hit: vec!["a".into(), "b".into()],
                keywords_missed: vec!["c".into()],
                ..Default::default()
            },
            finished_at: 0,
            trace: None,
            turns: Default::default(),
        };
        let versions = HashMap::from([(VersionId(1), "v1, chat".to_string())]);
        let cases = HashMap::from([(CaseId(7), "MIPI D-PHY".to_string())]);
        let text = String::from_utf8(csv_rows(&[r], &versions, &cases).to_vec()).unwrap();
        assert_eq!(
            text,
            "3,1,\"v1, chat\",7,MIPI D-PHY,failed,42.50,812,,10,20,30,a;b,c,,,\
             \"line one\nsaid \"\"hi\"\", then left\",0.000125,USD,1,,,,\n"
        );
        let file = format!("{CSV_HEADER}{text}");
        let mut reader = csv::ReaderBuilder::new().from_reader(file.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(headers.len(), 24);
        assert_eq!(row.len(), 24);
        assert_eq!(&row[16], "line one\nsaid \"hi\", then left");
        assert_eq!((&row[17], &row[18]), ("0.000125", "USD"));
        assert_eq!((&headers[19], &row[19]), ("repetition", "1"));
    }

    #[test]
    fn a_conversation_has_a_row_per_turn_after_its_tests() {
        let turn = |n: u32, passed: bool, answer: Option<&str>, error: Option<&str>| TurnResult {
            turn: n,
            query: format!("q{n}"),
            answer: answer.map(str::to_string),
            score: answer.map(|_| if passed { 90.0 } else { 20.0 }),
            passed,
            latency_ms: answer.map(|_| 100 * i64::from(n)),
            total_tokens: answer.map(|_| 10),
            error: error.map(str::to_string),
            conversation_id: Some("c-1".into()),
        };
        let r = TestResult {
            batch_id: BatchId(3),
            version_id: VersionId(1),
            case_id: CaseId(7),
            repetition: 1,
            status: ResultStatus::Failed,
            score: Some(55.0),
            answer: Some("=last".into()),
            latency_ms: Some(300),
            ttft_ms: None,
            usage: Usage::default(),
            dify: DifyIds::default(),
            error_code: None,
            error_message: None,
            attempts: 1,
            detail: ScoreDetail::default(),
            finished_at: 0,
            trace: None,
            turns: vec![
                turn(1, true, Some("first"), None),
                turn(2, false, Some("=SUM(1)"), None),
                turn(3, false, None, Some("invalid_param: region is required")),
                turn(4, false, None, None),
            ],
        };
        let versions = HashMap::from([(VersionId(1), "v1".to_string())]);
        let cases = HashMap::from([(CaseId(7), "-conv".to_string())]);
        let text = String::from_utf8(csv_rows(&[r], &versions, &cases).to_vec()).unwrap();
        let file = format!("{CSV_HEADER}{text}");
        let rows: Vec<csv::StringRecord> = csv::ReaderBuilder::new()
            .from_reader(file.as_bytes())
            .records()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 5, "{file}");
        assert!(rows.iter().all(|r| r.len() == 24));
        // The test's own row first, as for any result.
        assert_eq!(
            (&rows[0][4], &rows[0][5], &rows[0][6]),
            ("'-conv", "failed", "55.00")
        );
        let cells = |i: usize, cols: &[usize]| -> Vec<String> {
            cols.iter().map(|c| rows[i][*c].to_string()).collect()
        };
        let cols = [0, 1, 2, 3, 4, 5, 6, 7, 11, 14, 15, 16, 19];
        assert_eq!(
            cells(1, &cols),
            [
                "3",
                "1",
                "v1",
                "7",
                "'-conv (turn 1 of 4)",
                "turn_passed",
                "90.00",
                "100",
                "10",
                "",
                "",
                "first",
                "2"
            ]
        );
        assert_eq!(
            cells(2, &[4, 5, 6, 16]),
            ["'-conv (turn 2 of 4)", "turn_failed", "20.00", "'=SUM(1)"]
        );
        assert_eq!(
            cells(3, &[5, 6, 7, 14, 15, 16]),
            [
                "turn_error",
                "",
                "",
                "invalid_param",
                "region is required",
                ""
            ]
        );
        assert_eq!(cells(4, &[4, 5]), ["'-conv (turn 4 of 4)", "turn_not_sent"]);
        // What the test row alone has stays empty on a turn's.
        for (i, row) in rows.iter().enumerate().skip(1) {
            for c in [8, 9, 10, 12, 13, 17, 18, 20, 21, 22, 23] {
                assert_eq!(&row[c], "", "row {i} column {c}");
            }
        }
    }

    #[test]
    fn csv_cells_a_spreadsheet_would_run_are_neutralized() {
        let r = TestResult {
            batch_id: BatchId(1),
            version_id: VersionId(1),
            case_id: CaseId(2),
            repetition: 0,
            status: ResultStatus::Error,
            score: None,
            answer: Some("=HYPERLINK(\"http://evil.example\")".into()),
            latency_ms: None,
            ttft_ms: None,
            usage: Usage::default(),
            dify: DifyIds::default(),
            error_code: Some("-code".into()),
            error_message: Some("@SUM(1+1)".into()),
            attempts: 1,
            detail: ScoreDetail {
                keywords_hit: vec!["+1".into()],
                keywords_missed: vec!["\t=1".into()],
                ..Default::default()
            },
            finished_at: 0,
            trace: None,
            turns: Default::default(),
        };
        let versions = HashMap::from([(VersionId(1), "=v1".to_string())]);
        let cases = HashMap::from([(CaseId(2), "-case".to_string())]);
        let text = String::from_utf8(csv_rows(&[r], &versions, &cases).to_vec()).unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        for (i, expected) in [
            (2, "'=v1"),
            (4, "'-case"),
            (12, "'+1"),
            (13, "'\t=1"),
            (14, "'-code"),
            (15, "'@SUM(1+1)"),
            (16, "'=HYPERLINK(\"http://evil.example\")"),
        ] {
            assert_eq!(&row[i], expected, "column {i}");
        }
        for cell in row.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} is a formula"
            );
        }
    }
}
