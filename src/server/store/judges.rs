//! The `judges` table (judges and embedding endpoints, with write-only keys sealed for
//! [`Purpose::JUDGE_KEY`]), and the caches of what they said: `judgements` and `embeddings`.
//!
//! The caches are keyed by a digest the caller computes (`server::judge` decides what goes in);
//! this module stores and reads, nothing more. Only successes are cached: a judge error is never
//! served from here.

use super::{now_ms, on_pool, Store, StoreError, StoreResult};
use crate::model::{AppMode, Judge, JudgeDraft, JudgeId, JudgeKind};
use crate::server::secret::{Purpose, Secret};

/// A judge with its key: only the judge client ever sees one.
#[derive(Debug, Clone)]
pub struct JudgeRecord {
    pub judge: Judge,
    pub api_key: Secret,
}

/// A cached judgement.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedJudgement {
    pub score: f64,
    pub passed: Option<bool>,
    pub reason: String,
}

#[derive(sqlx::FromRow)]
struct JudgeRow {
    id: i64,
    name: String,
    kind: String,
    base_url: String,
    model: String,
    app_mode: String,
    api_key: String,
    json_mode: bool,
    concurrency: i64,
    input_price: Option<f64>,
    output_price: Option<f64>,
    use_by_default: bool,
    created_at: i64,
    updated_at: i64,
    created_by: Option<String>,
    updated_by: Option<String>,
}

const COLUMNS: &str =
    "id, name, kind, base_url, model, app_mode, api_key, json_mode, concurrency, \
                       input_price, output_price, use_by_default, created_at, updated_at, \
                       created_by, updated_by";

impl Store {
    fn judge_record(&self, row: JudgeRow) -> StoreResult<JudgeRecord> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("judge {}: {what}", row.id));
        let kind = JudgeKind::parse(&row.kind).ok_or_else(|| corrupt("kind"))?;
        let app_mode = AppMode::parse(&row.app_mode).ok_or_else(|| corrupt("app_mode"))?;
        let concurrency = u32::try_from(row.concurrency).map_err(|_| corrupt("concurrency"))?;
        let api_key = self
            .keys()
            .for_purpose(Purpose::JUDGE_KEY)
            .open(&row.api_key)
            .map_err(|source| StoreError::Sealed {
                what: format!("judge {}'s API key", row.id),
                source,
            })?;
        Ok(JudgeRecord {
            judge: Judge {
                id: JudgeId(row.id),
                name: row.name,
                kind,
                base_url: row.base_url,
                model: row.model,
                app_mode,
                api_key_hint: api_key.hint(),
                json_mode: row.json_mode,
                concurrency,
                input_price_per_mtok: row.input_price,
                output_price_per_mtok: row.output_price,
                use_by_default: row.use_by_default,
                created_at: row.created_at,
                updated_at: row.updated_at,
                created_by: row.created_by,
                updated_by: row.updated_by,
            },
            api_key,
        })
    }

    pub async fn list_judges(&self) -> StoreResult<Vec<JudgeRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM judges ORDER BY id");
        let rows: Vec<JudgeRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(|r| self.judge_record(r)).collect()
    }

    pub async fn get_judge(&self, id: JudgeId) -> StoreResult<Option<JudgeRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM judges WHERE id = $1");
        let row: Option<JudgeRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(id.0).fetch_optional(pool).await)?;
        row.map(|r| self.judge_record(r)).transpose()
    }

    /// Inserts a normalised draft (which must carry a key), recording who created it.
    pub async fn insert_judge(&self, draft: &JudgeDraft, by: Option<&str>) -> StoreResult<JudgeId> {
        let key = draft
            .api_key
            .as_deref()
            .ok_or_else(|| StoreError::Conflict("api_key is required for a new judge".into()))?;
        let key = self
            .keys()
            .for_purpose(Purpose::JUDGE_KEY)
            .seal(&Secret::new(key))?;
        let sql = "INSERT INTO judges (name, kind, base_url, model, app_mode, api_key, json_mode, \
                   concurrency, input_price, output_price, created_at, updated_at, created_by, \
                   updated_by, use_by_default) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $12, $13) \
                   RETURNING id";
        let id: i64 = on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(&draft.name)
            .bind(draft.kind.as_str())
            .bind(&draft.base_url)
            .bind(&draft.model)
            .bind(draft.app_mode.as_str())
            .bind(&key)
            .bind(draft.json_mode)
            .bind(i64::from(draft.concurrency))
            .bind(draft.input_price_per_mtok)
            .bind(draft.output_price_per_mtok)
            .bind(now_ms())
            .bind(by)
            .bind(draft.use_by_default)
            .fetch_one(pool)
            .await)
        .map_err(|e| name_taken(e, &draft.name))?;
        Ok(JudgeId(id))
    }

    /// Updates a judge; a draft without a key keeps the stored one. False if there is no such id.
    pub async fn update_judge(
        &self,
        id: JudgeId,
        draft: &JudgeDraft,
        by: Option<&str>,
    ) -> StoreResult<bool> {
        let key = match draft.api_key.as_deref() {
            Some(key) => Some(
                self.keys()
                    .for_purpose(Purpose::JUDGE_KEY)
                    .seal(&Secret::new(key))?,
            ),
            None => None,
        };
        let sql = "UPDATE judges SET name = $2, kind = $3, base_url = $4, model = $5, \
                   app_mode = $6, api_key = COALESCE($7, api_key), json_mode = $8, \
                   concurrency = $9, input_price = $10, output_price = $11, updated_at = $12, \
                   updated_by = $13, use_by_default = $14 WHERE id = $1";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(id.0)
            .bind(&draft.name)
            .bind(draft.kind.as_str())
            .bind(&draft.base_url)
            .bind(&draft.model)
            .bind(draft.app_mode.as_str())
            .bind(&key)
            .bind(draft.json_mode)
            .bind(i64::from(draft.concurrency))
            .bind(draft.input_price_per_mtok)
            .bind(draft.output_price_per_mtok)
            .bind(now_ms())
            .bind(by)
            .bind(draft.use_by_default)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| name_taken(e, &draft.name))?;
        Ok(done == 1)
    }

    /// Deletes a judge. Results it graded keep their judgements; a batch running with it goes on
    /// with the judge it loaded, and one resumed or re-run later records a judge error for the
    /// tests it judges.
    pub async fn delete_judge(&self, id: JudgeId) -> StoreResult<bool> {
        let done = on_pool!(self, pool => sqlx::query("DELETE FROM judges WHERE id = $1")
            .bind(id.0).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn cached_judgement(&self, key: &str) -> StoreResult<Option<CachedJudgement>> {
        let row: Option<(f64, Option<bool>, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT score, passed, reason FROM judgements WHERE cache_key = $1")
            .bind(key).fetch_optional(pool).await)?;
        Ok(row.map(|(score, passed, reason)| CachedJudgement {
            score,
            passed,
            reason,
        }))
    }

    /// Keeps a judgement; the first one stored for a key stays (two concurrent identical
    /// judgements are the same judgement).
    pub async fn cache_judgement(&self, key: &str, j: &CachedJudgement) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO judgements (cache_key, score, passed, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (cache_key) DO NOTHING")
            .bind(key).bind(j.score).bind(j.passed).bind(&j.reason).bind(now_ms())
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn cached_embedding(&self, key: &str) -> StoreResult<Option<Vec<f32>>> {
        let row: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT vector FROM embeddings WHERE cache_key = $1")
            .bind(key).fetch_optional(pool).await)?;
        row.map(|text| super::parse_json("cached embedding", &text))
            .transpose()
    }

    pub async fn cache_embedding(&self, key: &str, vector: &[f32]) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO embeddings (cache_key, vector, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (cache_key) DO NOTHING")
            .bind(key).bind(super::to_json(&vector)).bind(now_ms())
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }
}

fn name_taken(e: sqlx::Error, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("a judge named `{name}` already exists"))
        }
        _ => StoreError::Database(e),
    }
}
