//! The trends dashboard's figures: per (batch, version) the pass rate, mean and judge scores,
//! latency and time-to-first-token p50 / p95, the mean test time, tokens and cost per test, and
//! the errors by code — the `run_stats` table.
//!
//! A run's figures are aggregated by the database from its results (one grouped pass per batch,
//! percentiles by [`stats::percentiles`] over the `string_agg` lists, as `totals` does) the first
//! time the dashboard shows the run, and stored once the batch has been finished for
//! [`SETTLED_MS`]; a trend over a thousand batches then reads a thousand rows per version, not a
//! million results. Runs of open batches are computed on every request and not stored. A re-run
//! drops the batch's rows (`claim_for_rerun`), a deleted batch takes them with it.

use super::batches::round2;
use super::{on_pool, parse_json, to_json, Store, StoreResult};
use crate::model::dashboard::{DashboardVersion, RunPoint};
use crate::model::{BatchId, BatchStatus, ErrorCount, VersionId};
use crate::server::compare::stats;
use std::collections::{BTreeMap, HashMap};

/// A finished batch's figures are stored once it has been finished this long: answers a
/// cancelled batch's runners flush after its end are in by then.
pub const SETTLED_MS: i64 = 60_000;

/// A value bound into a query whose text is built at run time.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Int(i64),
    Text(String),
}

/// Binds `$binds` in order onto `$q` (a `sqlx::query…` of either backend).
macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                Bind::Int(v) => q.bind(*v),
                Bind::Text(s) => q.bind(s.clone()),
            };
        }
        q
    }};
}
pub(crate) use bind_all;

/// `$first, $first+1, …` for `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One (batch, version) of the picked batches, with its stored figures when there are some.
#[derive(sqlx::FromRow)]
struct PointRow {
    batch_id: i64,
    batch_name: String,
    batch_status: String,
    created_at: i64,
    finished_at: Option<i64>,
    version_id: i64,
    results: Option<i64>,
    passed: Option<i64>,
    errored: Option<i64>,
    mean_score: Option<f64>,
    judge_score: Option<f64>,
    latency_p50: Option<f64>,
    latency_p95: Option<f64>,
    ttft_p50: Option<f64>,
    ttft_p95: Option<f64>,
    mean_latency_ms: Option<f64>,
    tokens_per_test: Option<f64>,
    cost_per_test: Option<f64>,
    currency: Option<String>,
    errors: Option<String>,
}

/// A run's figures, as stored in `run_stats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunStats {
    pub results: i64,
    pub passed: i64,
    pub errored: i64,
    pub mean_score: Option<f64>,
    pub judge_score: Option<f64>,
    pub latency_p50: Option<f64>,
    pub latency_p95: Option<f64>,
    pub ttft_p50: Option<f64>,
    pub ttft_p95: Option<f64>,
    pub mean_latency_ms: Option<f64>,
    pub tokens_per_test: Option<f64>,
    pub cost_per_test: Option<f64>,
    pub currency: Option<String>,
    pub errors: Vec<ErrorCount>,
}

// PostgreSQL's SUM of a BIGINT is a NUMERIC: cast back so that both backends decode an i64.
/// Per version of one batch: counts, means, token sums and the latency / ttft lists.
pub const RUN_SUMS: &str = "SELECT version_id, COUNT(*) AS results, \
     COUNT(*) FILTER (WHERE status = 'passed') AS passed, \
     COUNT(*) FILTER (WHERE status = 'error') AS errored, \
     AVG(score) AS mean_score, AVG(judge_score) AS judge_score, \
     AVG(CAST(latency_ms AS DOUBLE PRECISION)) AS mean_latency, \
     CAST(SUM(total_tokens) AS BIGINT) AS tokens, COUNT(total_tokens) AS tokened, \
     string_agg(CAST(latency_ms AS TEXT), ',') AS latencies, \
     string_agg(CAST(ttft_ms AS TEXT), ',') AS ttfts \
     FROM results WHERE batch_id = $1 GROUP BY version_id";

/// Per (version, currency) of one batch: the summed price and how many results it covers.
pub const RUN_PRICES: &str = "SELECT version_id, currency, SUM(total_price), COUNT(total_price) \
     FROM results WHERE batch_id = $1 AND total_price IS NOT NULL GROUP BY version_id, currency";

#[derive(sqlx::FromRow)]
struct SumRow {
    version_id: i64,
    results: i64,
    passed: i64,
    errored: i64,
    mean_score: Option<f64>,
    judge_score: Option<f64>,
    mean_latency: Option<f64>,
    tokens: Option<i64>,
    tokened: i64,
    latencies: Option<String>,
    ttfts: Option<String>,
}

fn values(list: Option<&str>) -> Vec<f64> {
    // A value the database wrote itself; one that does not read is left out, not fatal.
    list.into_iter()
        .flat_map(|l| l.split(','))
        .filter_map(|v| v.parse::<f64>().ok())
        .collect()
}

impl Store {
    /// Every version that ran in at least one batch, by name (a deleted version is not listed).
    pub async fn dashboard_versions(&self) -> StoreResult<Vec<DashboardVersion>> {
        let rows: Vec<(i64, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT v.id, v.name FROM versions v WHERE EXISTS \
             (SELECT 1 FROM batch_versions bv WHERE bv.version_id = v.id) ORDER BY v.name, v.id")
            .fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| DashboardVersion {
                version_id: VersionId(id),
                name,
            })
            .collect())
    }

    /// The versions of the newest batch (the dashboard's default selection).
    pub async fn newest_batch_versions(&self) -> StoreResult<Vec<VersionId>> {
        let ids: Vec<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT version_id FROM batch_versions WHERE batch_id = \
             (SELECT MAX(id) FROM batches) ORDER BY position")
            .fetch_all(pool).await)?;
        Ok(ids.into_iter().map(VersionId).collect())
    }

    /// The figures of `versions` in the newest `limit` batches created in `[from, to)` that ran
    /// any of them: oldest batch first, then in the batch's version order. The flag says whether
    /// more batches matched. Runs without stored figures are computed (and stored once settled).
    pub async fn run_points(
        &self,
        versions: &[VersionId],
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<(Vec<RunPoint>, bool)> {
        if versions.is_empty() {
            return Ok((Vec::new(), false));
        }
        let mut binds = vec![
            Bind::Int(from_ms.unwrap_or(i64::MIN)),
            Bind::Int(to_ms.unwrap_or(i64::MAX)),
        ];
        binds.extend(versions.iter().map(|v| Bind::Int(v.0)));
        let ids = placeholders(3, versions.len());
        binds.push(Bind::Int(i64::from(limit) + 1));
        let limit_at = binds.len();
        // The newest batches of the range (batches_created_idx) that ran a picked version
        // (batch_versions' primary key), then their picked runs with whatever is stored.
        let sql = format!(
            "WITH picked AS (SELECT id, name, status, created_at, finished_at FROM batches b \
               WHERE created_at >= $1 AND created_at < $2 AND EXISTS (SELECT 1 FROM \
               batch_versions x WHERE x.batch_id = b.id AND x.version_id IN ({ids})) \
               ORDER BY created_at DESC, id DESC LIMIT ${limit_at}) \
             SELECT p.id AS batch_id, p.name AS batch_name, p.status AS batch_status, \
               p.created_at, p.finished_at, bv.version_id, s.results, s.passed, \
               s.errored, s.mean_score, s.judge_score, s.latency_p50, s.latency_p95, \
               s.ttft_p50, s.ttft_p95, s.mean_latency_ms, s.tokens_per_test, s.cost_per_test, \
               s.currency, s.errors \
             FROM picked p JOIN batch_versions bv ON bv.batch_id = p.id \
               AND bv.version_id IN ({ids}) \
             LEFT JOIN run_stats s ON s.batch_id = p.id AND s.version_id = bv.version_id \
             ORDER BY p.created_at, p.id, bv.position"
        );
        let mut rows: Vec<PointRow> = on_pool!(self, pool =>
            bind_all!(sqlx::query_as(&sql), &binds).fetch_all(pool).await)?;

        // One batch too many was asked for: it tells whether the range holds more.
        let mut batch_ids: Vec<i64> = rows.iter().map(|r| r.batch_id).collect();
        batch_ids.dedup();
        let truncated = batch_ids.len() > limit as usize;
        if truncated {
            let oldest = batch_ids[0];
            rows.retain(|r| r.batch_id != oldest);
        }

        // Compute what is not stored, one batch at a time.
        let missing: Vec<(i64, bool)> = {
            let mut seen = Vec::new();
            for r in rows.iter().filter(|r| r.results.is_none()) {
                if seen.last().map(|(b, _)| *b) != Some(r.batch_id) {
                    seen.push((r.batch_id, settled(r)));
                }
            }
            seen
        };
        let mut computed: HashMap<(i64, i64), RunStats> = HashMap::new();
        for (batch, store_it) in missing {
            let stats = self.compute_run_stats(BatchId(batch)).await?;
            if store_it {
                self.save_run_stats(BatchId(batch), &stats).await?;
            }
            for (version, s) in stats {
                computed.insert((batch, version), s);
            }
        }

        let mut points = Vec::with_capacity(rows.len());
        for row in rows {
            let stats = match row.results {
                Some(results) => RunStats {
                    results,
                    passed: row.passed.unwrap_or(0),
                    errored: row.errored.unwrap_or(0),
                    mean_score: row.mean_score,
                    judge_score: row.judge_score,
                    latency_p50: row.latency_p50,
                    latency_p95: row.latency_p95,
                    ttft_p50: row.ttft_p50,
                    ttft_p95: row.ttft_p95,
                    mean_latency_ms: row.mean_latency_ms,
                    tokens_per_test: row.tokens_per_test,
                    cost_per_test: row.cost_per_test,
                    currency: row.currency.clone(),
                    errors: match &row.errors {
                        Some(e) => parse_json("run errors", e)?,
                        None => Vec::new(),
                    },
                },
                None => computed
                    .remove(&(row.batch_id, row.version_id))
                    .unwrap_or_default(),
            };
            let status = BatchStatus::parse(&row.batch_status).ok_or_else(|| {
                super::StoreError::Corrupt(format!("batch {}: status", row.batch_id))
            })?;
            points.push(RunPoint {
                batch_id: BatchId(row.batch_id),
                batch_name: row.batch_name,
                batch_status: status,
                at: row.created_at,
                version_id: VersionId(row.version_id),
                results: stats.results,
                passed: stats.passed,
                errored: stats.errored,
                pass_rate: (stats.results > 0)
                    .then(|| round2(stats.passed as f64 * 100.0 / stats.results as f64)),
                mean_score: stats.mean_score.map(round2),
                judge_score: stats.judge_score.map(round2),
                latency_p50_ms: stats.latency_p50,
                latency_p95_ms: stats.latency_p95,
                ttft_p50_ms: stats.ttft_p50,
                ttft_p95_ms: stats.ttft_p95,
                mean_latency_ms: stats.mean_latency_ms.map(round2),
                tokens_per_test: stats.tokens_per_test.map(round2),
                cost_per_test: stats.cost_per_test,
                currency: stats.currency,
                errors: stats.errors,
            });
        }
        Ok((points, truncated))
    }

    /// Every run of a batch, aggregated from its results (versions without a result have none).
    pub async fn compute_run_stats(&self, batch: BatchId) -> StoreResult<BTreeMap<i64, RunStats>> {
        let sums: Vec<SumRow> =
            on_pool!(self, pool => sqlx::query_as(RUN_SUMS).bind(batch.0).fetch_all(pool).await)?;
        let prices: Vec<(i64, Option<String>, Option<f64>, i64)> = on_pool!(self, pool =>
            sqlx::query_as(RUN_PRICES).bind(batch.0).fetch_all(pool).await)?;
        let errors: Vec<(i64, Option<String>, i64)> = on_pool!(self, pool =>
            sqlx::query_as(super::totals::ERRORS).bind(batch.0).fetch_all(pool).await)?;

        let mut out = BTreeMap::new();
        for row in sums {
            let latency = stats::percentiles(&mut values(row.latencies.as_deref()));
            let ttft = stats::percentiles(&mut values(row.ttfts.as_deref()));
            out.insert(
                row.version_id,
                RunStats {
                    results: row.results,
                    passed: row.passed,
                    errored: row.errored,
                    mean_score: row.mean_score,
                    judge_score: row.judge_score,
                    latency_p50: latency.as_ref().map(|p| p.p50),
                    latency_p95: latency.map(|p| p.p95),
                    ttft_p50: ttft.as_ref().map(|p| p.p50),
                    ttft_p95: ttft.map(|p| p.p95),
                    mean_latency_ms: row.mean_latency,
                    tokens_per_test: row
                        .tokens
                        .filter(|_| row.tokened > 0)
                        .map(|t| t as f64 / row.tokened as f64),
                    ..RunStats::default()
                },
            );
        }
        // Cost per test in the run's most used currency (named before unnamed on a tie).
        let mut best: HashMap<i64, (i64, Option<String>, f64)> = HashMap::new();
        for (version, currency, amount, priced) in prices {
            let Some(amount) = amount.filter(|_| priced > 0) else {
                continue;
            };
            let better = match best.get(&version) {
                None => true,
                Some((n, c, _)) => (priced, currency.is_some()) > (*n, c.is_some()),
            };
            if better {
                best.insert(version, (priced, currency, amount));
            }
        }
        for (version, (priced, currency, amount)) in best {
            if let Some(s) = out.get_mut(&version) {
                s.cost_per_test = Some(amount / priced as f64);
                s.currency = currency;
            }
        }
        for (version, code, count) in errors {
            if let Some(s) = out.get_mut(&version) {
                s.errors.push(ErrorCount { code, count });
            }
        }
        for s in out.values_mut() {
            s.errors
                .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
        }
        Ok(out)
    }

    /// Stores a batch's run figures (replacing any), in one transaction.
    async fn save_run_stats(
        &self,
        batch: BatchId,
        stats: &BTreeMap<i64, RunStats>,
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM run_stats WHERE batch_id = $1")
                .bind(batch.0).execute(&mut *tx).await?;
            for (version, s) in stats {
                sqlx::query(
                    "INSERT INTO run_stats (batch_id, version_id, results, passed, errored, \
                     mean_score, judge_score, latency_p50, latency_p95, ttft_p50, ttft_p95, \
                     mean_latency_ms, tokens_per_test, cost_per_test, currency, errors) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)")
                    .bind(batch.0).bind(*version).bind(s.results).bind(s.passed).bind(s.errored)
                    .bind(s.mean_score).bind(s.judge_score).bind(s.latency_p50).bind(s.latency_p95)
                    .bind(s.ttft_p50).bind(s.ttft_p95).bind(s.mean_latency_ms)
                    .bind(s.tokens_per_test).bind(s.cost_per_test).bind(s.currency.as_deref())
                    .bind(to_json(&s.errors))
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })?;
        Ok(())
    }

    /// How many runs have stored figures (for tests and the benchmark).
    pub async fn stored_run_stats(&self) -> StoreResult<i64> {
        Ok(
            on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM run_stats")
            .fetch_one(pool).await)?,
        )
    }
}

/// Whether a run's figures can be stored: its batch is finished, and has been for a while.
fn settled(row: &PointRow) -> bool {
    let finished = matches!(
        BatchStatus::parse(&row.batch_status),
        Some(BatchStatus::Completed | BatchStatus::Error | BatchStatus::Cancelled)
    );
    finished
        && row
            .finished_at
            .is_some_and(|f| super::now_ms().saturating_sub(f) >= SETTLED_MS)
}
