//! The `batch_app_identity` table: each batch's record of its versions' apps as Dify described
//! them at launch (`model::AppIdentity`), and the way to a version's previous record, which the
//! "app changed" warnings compare with. The /info + /parameters part and the workflow id seen in
//! answers arrive separately and in either order, so both are upserts of their own columns.

use std::collections::HashMap;

use super::{now_ms, on_pool, parse_json, to_json, Store, StoreResult};
use crate::model::{AppIdentity, BatchId, VersionId};

type Row = (i64, Option<String>, Option<String>);

fn identity_of(batch: i64, (version, json, seen): Row) -> StoreResult<AppIdentity> {
    let mut identity = match json {
        Some(json) => parse_json::<AppIdentity>(&format!("batch {batch}'s app identity"), &json)?,
        None => AppIdentity::default(),
    };
    identity.version_id = VersionId(version);
    identity.seen_workflow_id = seen;
    Ok(identity)
}

impl Store {
    /// Stores (or, on a re-run, replaces) what `/info` and `/parameters` said of a version's
    /// app; the workflow id seen in answers is kept.
    pub async fn record_app_identity(
        &self,
        batch: BatchId,
        identity: &AppIdentity,
    ) -> StoreResult<()> {
        let stored = AppIdentity {
            seen_workflow_id: None,
            ..identity.clone()
        };
        let json = to_json(&stored);
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO batch_app_identity (batch_id, version_id, identity, recorded_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (batch_id, version_id) \
             DO UPDATE SET identity = excluded.identity, recorded_at = excluded.recorded_at")
            .bind(batch.0).bind(identity.version_id.0).bind(&json).bind(now_ms())
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Records the workflow id a version's answer named, unless one is recorded already (the
    /// first answers' is the one kept).
    pub async fn record_seen_workflow(
        &self,
        batch: BatchId,
        version: VersionId,
        workflow_id: &str,
    ) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO batch_app_identity (batch_id, version_id, seen_workflow_id, recorded_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (batch_id, version_id) \
             DO UPDATE SET seen_workflow_id = \
             COALESCE(batch_app_identity.seen_workflow_id, excluded.seen_workflow_id)")
            .bind(batch.0).bind(version.0).bind(workflow_id).bind(now_ms())
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// A batch's records, by version (a version without one is absent).
    pub async fn app_identities(
        &self,
        batch: BatchId,
    ) -> StoreResult<HashMap<VersionId, AppIdentity>> {
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(
            "SELECT version_id, identity, seen_workflow_id FROM batch_app_identity \
             WHERE batch_id = $1")
            .bind(batch.0).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|row| identity_of(batch.0, row).map(|i| (i.version_id, i)))
            .collect()
    }

    /// The latest record of `version` before `batch`, with its batch: what "the app changed
    /// since the previous batch" compares with.
    pub async fn previous_app_identity(
        &self,
        version: VersionId,
        batch: BatchId,
    ) -> StoreResult<Option<(BatchId, AppIdentity)>> {
        let row: Option<(i64, i64, Option<String>, Option<String>)> = on_pool!(self, pool =>
            sqlx::query_as(
            "SELECT batch_id, version_id, identity, seen_workflow_id FROM batch_app_identity \
             WHERE version_id = $1 AND batch_id < $2 ORDER BY batch_id DESC LIMIT 1")
            .bind(version.0).bind(batch.0).fetch_optional(pool).await)?;
        row.map(|(b, v, json, seen)| Ok((BatchId(b), identity_of(b, (v, json, seen))?)))
            .transpose()
    }
}
