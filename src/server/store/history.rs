//! The batch history: one page of batches matching the filters (version, status, created
//! between, who started it, a part of the name), newest first, and deleting a finished batch
//! with everything stored for it.

use super::batches::{BatchRow, SnapshotRow};
use super::dashboard::{bind_all, placeholders, Bind};
use super::{on_pool, Store, StoreResult};
use crate::model::dashboard::HistoryFilter;
use crate::model::{Batch, BatchId};

/// What [`Store::delete_batch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The batch and everything stored for it are gone.
    Deleted,
    /// No such batch.
    NotFound,
    /// The batch is queued or running: nothing changed (cancel it first).
    Open,
}

/// `WHERE …` over `batches b` for a filter, with its binds (numbered from `$1`).
fn filter_sql(filter: &HistoryFilter) -> (String, Vec<Bind>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let next = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    if let Some(v) = filter.version_id {
        let p = next(Bind::Int(v.0), &mut binds);
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM batch_versions x WHERE x.batch_id = b.id AND x.version_id = {p})"
        ));
    }
    if let Some(s) = filter.status {
        let p = next(Bind::Text(s.as_str().into()), &mut binds);
        clauses.push(format!("b.status = {p}"));
    }
    if let Some(f) = filter.from_ms {
        let p = next(Bind::Int(f), &mut binds);
        clauses.push(format!("b.created_at >= {p}"));
    }
    if let Some(t) = filter.to_ms {
        let p = next(Bind::Int(t), &mut binds);
        clauses.push(format!("b.created_at < {p}"));
    }
    if let Some(who) = &filter.created_by {
        let p = next(Bind::Text(who.clone()), &mut binds);
        clauses.push(format!("b.created_by = {p}"));
    }
    if let Some(text) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        // A part of the name, any case, `%` and `_` taken literally (both backends: LOWER and
        // LIKE … ESCAPE; PostgreSQL's LIKE is case-sensitive, SQLite's only for non-ASCII).
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let p = next(Bind::Text(format!("%{escaped}%")), &mut binds);
        clauses.push(format!("LOWER(b.name) LIKE {p} ESCAPE '\\'"));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, binds)
}

impl Store {
    /// How many batches match a filter.
    pub async fn count_batches(&self, filter: &HistoryFilter) -> StoreResult<u64> {
        let (filter_sql, binds) = filter_sql(filter);
        let sql = format!("SELECT COUNT(*) FROM batches b {filter_sql}");
        let n: i64 = on_pool!(self, pool =>
            bind_all!(sqlx::query_scalar(&sql), &binds).fetch_one(pool).await)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// At most `limit` batches matching a filter from the `offset`-th on, newest first, with
    /// their result counts (only theirs are counted).
    pub async fn batch_history(
        &self,
        filter: &HistoryFilter,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<Batch>> {
        let (filter_sql, mut binds) = filter_sql(filter);
        binds.push(Bind::Int(super::batches::sql_count(limit)));
        binds.push(Bind::Int(super::batches::sql_count(offset)));
        let (l, o) = (binds.len() - 1, binds.len());
        let sql = format!(
            "WITH listed AS (SELECT b.id FROM batches b {filter_sql} ORDER BY b.id DESC \
               LIMIT ${l} OFFSET ${o}) \
             SELECT b.id, b.name, b.status, b.concurrency, b.per_version_cap, b.scoring, \
               b.repeats, b.total_tests, b.error_message, b.created_at, b.started_at, \
               b.finished_at, b.created_by, COALESCE(r.completed, 0) AS completed, \
               COALESCE(r.passed, 0) AS passed, COALESCE(r.errored, 0) AS errored, \
               r.average_score \
             FROM batches b JOIN listed ON listed.id = b.id \
             LEFT JOIN (SELECT batch_id, COUNT(*) AS completed, \
                COUNT(*) FILTER (WHERE status = 'passed') AS passed, \
                COUNT(*) FILTER (WHERE status = 'error') AS errored, \
                AVG(score) AS average_score FROM results \
                WHERE batch_id IN (SELECT id FROM listed) GROUP BY batch_id) r \
               ON r.batch_id = b.id \
             ORDER BY b.id DESC"
        );
        let rows: Vec<BatchRow> = on_pool!(self, pool =>
            bind_all!(sqlx::query_as(&sql), &binds).fetch_all(pool).await)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Bind> = rows.iter().map(|r| Bind::Int(r.id)).collect();
        let snaps_sql = format!(
            "SELECT batch_id, version_id, config FROM batch_versions WHERE batch_id IN ({}) \
             ORDER BY batch_id, position",
            placeholders(1, ids.len())
        );
        let snaps: Vec<SnapshotRow> = on_pool!(self, pool =>
            bind_all!(sqlx::query_as(&snaps_sql), &ids).fetch_all(pool).await)?;
        self.with_versions(rows, snaps)
    }

    /// Everyone who started a batch, by name (at most 500).
    pub async fn batch_starters(&self) -> StoreResult<Vec<String>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT DISTINCT created_by FROM batches WHERE created_by IS NOT NULL \
             ORDER BY created_by LIMIT 500")
            .fetch_all(pool).await)?)
    }

    /// Deletes a finished batch with its snapshots, results, reviews, tallies and dashboard
    /// figures, in one transaction: a batch that is queued or running is left alone — of a
    /// delete and a re-run claiming the batch at once, one wins. The foreign keys cascade to all
    /// but the case snapshots and the work rows, which have none on PostgreSQL (migration 0017:
    /// they are written by the thousand) and are deleted here.
    pub async fn delete_batch(&self, id: BatchId) -> StoreResult<Deleted> {
        let pg = self.pg_pool().is_some();
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "DELETE FROM batches WHERE id = $1 AND status IN ('completed', 'error', 'cancelled')")
                .bind(id.0).execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                sqlx::query("DELETE FROM batch_cases WHERE batch_id = $1")
                    .bind(id.0).execute(&mut *tx).await?;
                if pg {
                    sqlx::query("DELETE FROM batch_work WHERE batch_id = $1")
                        .bind(id.0).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })?;
        if n == 1 {
            return Ok(Deleted::Deleted);
        }
        Ok(if self.batch_exists(id).await? {
            Deleted::Open
        } else {
            Deleted::NotFound
        })
    }
}
