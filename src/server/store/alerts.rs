//! The `batch_alerts` table, and what the alert rules compare a version with: its previous run
//! and its latency over its latest earlier batches (`alerts::Baseline`).

use super::{on_pool, Store, StoreError, StoreResult};
use crate::model::{Alert, AlertKind, BatchId, VersionId};
use crate::server::alerts::Baseline;
use crate::server::compare::stats::quantile_sorted;
use std::collections::HashMap;

/// Earlier batches whose answers make a version's usual latency.
const HISTORY_BATCHES: i64 = 5;
/// At most this many of their latencies are read.
const HISTORY_LATENCIES: i64 = 5_000;

impl Store {
    /// Stores an alert; false when the batch already has one of its kind for the version (raised
    /// by another instance, or before a restart).
    pub async fn insert_alert(&self, batch: BatchId, a: &Alert) -> StoreResult<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "INSERT INTO batch_alerts (batch_id, version_id, kind, message, since_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (batch_id, version_id, kind) DO NOTHING")
            .bind(batch.0).bind(a.version_id.0).bind(a.kind.as_str()).bind(&a.message)
            .bind(a.since)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// A batch's alerts, oldest first.
    pub async fn batch_alerts(&self, batch: BatchId) -> StoreResult<Vec<Alert>> {
        let rows: Vec<(i64, String, String, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT version_id, kind, message, since_ms FROM batch_alerts WHERE batch_id = $1 \
             ORDER BY since_ms, version_id, kind")
            .bind(batch.0).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(version, kind, message, since)| {
                Ok(Alert {
                    kind: AlertKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("alert kind `{kind}`")))?,
                    version_id: VersionId(version),
                    message,
                    since,
                })
            })
            .collect()
    }

    /// Each version's history before `batch`: its previous run's passed and completed tests,
    /// and the p95 latency of its answers in its latest earlier batches.
    pub async fn alert_baselines(
        &self,
        batch: BatchId,
        versions: &[VersionId],
    ) -> StoreResult<HashMap<VersionId, Baseline>> {
        let mut out = HashMap::new();
        for &v in versions {
            let earlier: Vec<(i64,)> = on_pool!(self, pool => sqlx::query_as(
                "SELECT batch_id FROM batch_versions WHERE version_id = $1 AND batch_id < $2 \
                 ORDER BY batch_id DESC LIMIT $3")
                .bind(v.0).bind(batch.0).bind(HISTORY_BATCHES)
                .fetch_all(pool).await)?;
            let Some(&(previous,)) = earlier.first() else {
                continue;
            };
            let (completed, passed): (i64, Option<i64>) = on_pool!(self, pool => sqlx::query_as(
                "SELECT COUNT(*), SUM(CASE WHEN status = 'passed' THEN 1 ELSE 0 END) \
                 FROM results WHERE batch_id = $1 AND version_id = $2")
                .bind(previous).bind(v.0).fetch_one(pool).await)?;
            let mut latencies = Vec::new();
            for &(b,) in &earlier {
                let want = HISTORY_LATENCIES - latencies.len() as i64;
                if want <= 0 {
                    break;
                }
                let rows: Vec<(i64,)> = on_pool!(self, pool => sqlx::query_as(
                    "SELECT latency_ms FROM results WHERE batch_id = $1 AND version_id = $2 \
                     AND status <> 'error' AND latency_ms IS NOT NULL LIMIT $3")
                    .bind(b).bind(v.0).bind(want).fetch_all(pool).await)?;
                latencies.extend(rows.into_iter().map(|(ms,)| ms as f64));
            }
            latencies.sort_by(f64::total_cmp);
            out.insert(
                v,
                Baseline {
                    latency_p95_ms: quantile_sorted(&latencies, 0.95),
                    previous: (completed > 0)
                        .then(|| (passed.unwrap_or(0).max(0) as u64, completed as u64)),
                },
            );
        }
        Ok(out)
    }
}
