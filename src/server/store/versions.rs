//! The `versions` table: Dify app endpoints, with their write-only API keys (stored sealed; see
//! `sealed_keys`).

use super::sealed_keys::{forget_stale_sql, Scope};
use super::{now_ms, on_pool, parse_json, to_json, Store, StoreError, StoreResult};
use crate::model::{AppMode, ResponseMode, Version, VersionDraft, VersionId};
use crate::server::secret::{Sealer, Secret};

/// A version with its key: only the runner and the Dify client ever see one.
#[derive(Debug, Clone)]
pub struct VersionRecord {
    pub version: Version,
    pub api_key: Secret,
    /// The key as stored: a batch snapshot copies this very text (see `sealed_keys`).
    pub(super) sealed_key: SealedKey,
}

/// A stored (sealed) key. `Debug` does not print it: it is not the key, but has no business in
/// a log either.
#[derive(Clone)]
pub(super) struct SealedKey(pub(super) String);

impl std::fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedKey(..)")
    }
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: i64,
    name: String,
    description: String,
    base_url: String,
    api_key: String,
    app_mode: String,
    response_mode: String,
    answer_field: Option<String>,
    inputs: String,
    enabled: bool,
    created_at: i64,
    updated_at: i64,
    created_by: Option<String>,
    updated_by: Option<String>,
    workflow_id: Option<String>,
}

impl VersionRow {
    fn into_record(self, keys: &Sealer) -> StoreResult<VersionRecord> {
        let app_mode = AppMode::parse(&self.app_mode)
            .ok_or_else(|| StoreError::Corrupt(format!("version {}: app_mode", self.id)))?;
        let response_mode = ResponseMode::parse(&self.response_mode)
            .ok_or_else(|| StoreError::Corrupt(format!("version {}: response_mode", self.id)))?;
        let api_key = keys
            .open(&self.api_key)
            .map_err(|source| StoreError::Sealed {
                what: format!("version {}'s API key", self.id),
                source,
            })?;
        Ok(VersionRecord {
            version: Version {
                id: VersionId(self.id),
                name: self.name,
                description: self.description,
                base_url: self.base_url,
                app_mode,
                response_mode,
                api_key_hint: api_key.hint(),
                answer_field: self.answer_field,
                inputs: parse_json("version inputs", &self.inputs)?,
                enabled: self.enabled,
                created_at: self.created_at,
                updated_at: self.updated_at,
                created_by: self.created_by,
                updated_by: self.updated_by,
                workflow_id: self.workflow_id,
            },
            api_key,
            sealed_key: SealedKey(self.api_key),
        })
    }
}

const COLUMNS: &str = "id, name, description, base_url, api_key, app_mode, response_mode, \
                       answer_field, inputs, enabled, created_at, updated_at, created_by, updated_by, \
                       workflow_id";

fn name_taken(e: sqlx::Error, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("a version named `{name}` already exists"))
        }
        _ => StoreError::Database(e),
    }
}

impl Store {
    pub async fn list_versions(&self) -> StoreResult<Vec<VersionRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM versions ORDER BY id");
        let rows: Vec<VersionRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|row| row.into_record(self.keys()))
            .collect()
    }

    pub async fn get_version(&self, id: VersionId) -> StoreResult<Option<VersionRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM versions WHERE id = $1");
        let row: Option<VersionRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(id.0).fetch_optional(pool).await)?;
        row.map(|row| row.into_record(self.keys())).transpose()
    }

    /// Inserts a validated draft; the draft must carry an API key.
    pub async fn insert_version(&self, draft: &VersionDraft) -> StoreResult<VersionId> {
        let key = draft
            .api_key
            .as_deref()
            .ok_or_else(|| StoreError::Conflict("api_key is required for a new version".into()))?;
        let key = self.keys().seal(&Secret::new(key))?;
        let now = now_ms();
        let inputs = to_json(draft.inputs.as_ref().unwrap_or(&serde_json::json!({})));
        let sql = "INSERT INTO versions (name, description, base_url, api_key, app_mode, \
                   response_mode, answer_field, inputs, enabled, created_at, updated_at, \
                   workflow_id) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) RETURNING id";
        let id: i64 = on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(&draft.name)
            .bind(&draft.description)
            .bind(&draft.base_url)
            .bind(&key)
            .bind(draft.app_mode.as_str())
            .bind(draft.response_mode.as_str())
            .bind(&draft.answer_field)
            .bind(&inputs)
            .bind(draft.enabled.unwrap_or(true))
            .bind(now)
            .bind(&draft.workflow_id)
            .fetch_one(pool)
            .await)
        .map_err(|e| name_taken(e, &draft.name))?;
        Ok(VersionId(id))
    }

    /// Updates a version; a draft without a key keeps the stored one. A new key is also removed
    /// from finished batches' snapshots of this version (see `sealed_keys`). False if there is no
    /// such id.
    pub async fn update_version(&self, id: VersionId, draft: &VersionDraft) -> StoreResult<bool> {
        let inputs = to_json(draft.inputs.as_ref().unwrap_or(&serde_json::json!({})));
        let key = match draft.api_key.as_deref() {
            Some(key) => Some(self.keys().seal(&Secret::new(key))?),
            None => None,
        };
        let sql = "UPDATE versions SET name = $2, description = $3, base_url = $4, \
                   api_key = COALESCE($5, api_key), app_mode = $6, response_mode = $7, \
                   answer_field = $8, inputs = $9, enabled = COALESCE($10, enabled), \
                   updated_at = $11, workflow_id = $12 WHERE id = $1";
        let (forget, _) = forget_stale_sql(&self.db, Scope::Version(id.0));
        let done = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(sql)
                .bind(id.0)
                .bind(&draft.name)
                .bind(&draft.description)
                .bind(&draft.base_url)
                .bind(&key)
                .bind(draft.app_mode.as_str())
                .bind(draft.response_mode.as_str())
                .bind(&draft.answer_field)
                .bind(&inputs)
                .bind(draft.enabled)
                .bind(now_ms())
                .bind(&draft.workflow_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| name_taken(e, &draft.name))?
                .rows_affected();
            if key.is_some() {
                sqlx::query(&forget).bind(id.0).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            done
        });
        Ok(done == 1)
    }

    pub async fn set_version_enabled(&self, id: VersionId, enabled: bool) -> StoreResult<bool> {
        let sql = "UPDATE versions SET enabled = $2, updated_at = $3 WHERE id = $1";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(id.0).bind(enabled).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Deletes a version. Batches that ran it keep their snapshot and results; finished ones lose
    /// its key (see `sealed_keys`).
    pub async fn delete_version(&self, id: VersionId) -> StoreResult<bool> {
        let (forget, _) = forget_stale_sql(&self.db, Scope::Version(id.0));
        let done = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("DELETE FROM versions WHERE id = $1")
                .bind(id.0).execute(&mut *tx).await?.rows_affected();
            sqlx::query(&forget).bind(id.0).execute(&mut *tx).await?;
            tx.commit().await?;
            done
        });
        Ok(done == 1)
    }

    pub async fn count_versions(&self) -> StoreResult<i64> {
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM versions")
            .fetch_one(pool).await)?;
        Ok(n)
    }
}
