//! Dify API keys (and judges' keys) at rest: which columns hold them, sealing what an older version left in plain
//! text, forgetting keys that finished batches no longer need, and rotating the master key.
//!
//! Keys live in `versions.api_key` and in each batch snapshot's `batch_versions.config` (JSON,
//! field `api_key`), always in the sealed form of [`crate::server::secret::sealer`]. A snapshot
//! holds the *same sealed text* as its version row when it was taken, so "is this still the
//! version's key?" is a plain text comparison in SQL; rotation keeps equal texts equal.
//!
//! The rules:
//! - **Start-up** (every start, after the sqlx migrations): one transaction checks which master
//!   key the stored values were sealed under, then seals any plain-text key, in both tables. It
//!   runs every time rather than once as a tracked migration because it depends on data and on
//!   the key, not on the schema: a database restored from an old backup, or written by an older
//!   binary after an upgrade, is sealed on its next start, and a wrong key is refused at start
//!   rather than at the first batch. When it seals anything, a SQLite file is vacuumed and its
//!   WAL truncated, so the plain text does not survive in freed pages.
//! - **Finished batches** (completed or cancelled) keep a key only while it is their version's
//!   current key: replacing a version's key or deleting the version removes it from their
//!   snapshots, and so does a batch finishing after its version's key changed. Queued, running
//!   and `error` batches keep theirs (they may still resume or re-run failed tests); a re-run of
//!   a snapshot without its key is refused by the runner.
//! - **Rotation** re-seals every value under a new key in one transaction, refusing if any does
//!   not open under the current one.
//! - **Judges' keys** (`judges.api_key`) are sealed for their own purpose
//!   ([`Purpose::JUDGE_KEY`]) from the first write (the table is younger than sealing, so none is
//!   ever plain text); start-up checks their key id with the rest, and rotation re-seals them.

use super::{on_pool, Db, Store, StoreError, StoreResult};
use crate::server::secret::key_source::{
    abandon_rotation, finish_rotation, stage_rotation, LoadedKey,
};
use crate::server::secret::master_key::KeyId;
use crate::server::secret::sealer::{is_sealed, Envelope, SealError};
use crate::server::secret::{KeyOrigin, MasterKey, OpenError, Purpose, Sealer, Secret};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What `rotate-secret-key` did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub old_key_id: KeyId,
    pub new_key_id: KeyId,
    /// Version keys re-encrypted.
    pub versions: usize,
    /// Batch snapshots whose key was re-encrypted.
    pub snapshots: usize,
    /// Judge keys re-encrypted.
    pub judges: usize,
    /// Webhook signing secrets re-encrypted.
    pub webhooks: usize,
    /// Where the new key now is (for the env var: nowhere but in the caller's hands).
    pub origin: KeyOrigin,
}

/// Which snapshots [`forget_stale_sql`] looks at.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scope {
    Version(i64),
    Batch(i64),
    All,
}

/// The statement that removes the key from finished batches' snapshots whose key is no longer
/// their version's current one (or whose version is gone), and the id to bind, if any.
pub(super) fn forget_stale_sql(db: &Db, scope: Scope) -> (String, Option<i64>) {
    let (filter, id) = match scope {
        Scope::Version(id) => ("version_id = $1", Some(id)),
        Scope::Batch(id) => ("batch_id = $1", Some(id)),
        Scope::All => ("1 = 1", None),
    };
    let (set, key) = match db {
        Db::Sqlite(_) => (
            "json_set(config, '$.api_key', NULL)",
            "json_extract(batch_versions.config, '$.api_key')",
        ),
        Db::Postgres(_) => (
            "jsonb_set(config::jsonb, '{api_key}', 'null'::jsonb)::text",
            "(batch_versions.config::jsonb ->> 'api_key')",
        ),
    };
    let sql = format!(
        "UPDATE batch_versions SET config = {set} WHERE {filter} AND {key} IS NOT NULL \
         AND batch_id IN (SELECT id FROM batches WHERE status IN ('completed', 'cancelled')) \
         AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.id = batch_versions.version_id \
         AND v.api_key = {key})"
    );
    (sql, id)
}

/// The statement that starts a transaction which holds the write lock on both tables from its
/// start, and a statement to take it where `BEGIN` cannot.
fn write_lock(db: &Db) -> (&'static str, Option<&'static str>) {
    match db {
        Db::Sqlite(_) => ("BEGIN IMMEDIATE", None),
        Db::Postgres(_) => (
            "BEGIN",
            Some("LOCK TABLE versions, batch_versions IN SHARE ROW EXCLUSIVE MODE"),
        ),
    }
}

const SELECT_VERSIONS: &str = "SELECT id, api_key FROM versions ORDER BY id";
const SELECT_SNAPSHOTS: &str =
    "SELECT batch_id, version_id, config FROM batch_versions ORDER BY batch_id, version_id";
const SELECT_JUDGES: &str = "SELECT id, api_key FROM judges ORDER BY id";
const UPDATE_JUDGE: &str = "UPDATE judges SET api_key = $2 WHERE id = $1";
const SELECT_WEBHOOKS: &str = "SELECT id, secret FROM webhooks ORDER BY id";
const UPDATE_WEBHOOK: &str = "UPDATE webhooks SET secret = $2 WHERE id = $1";
const UPDATE_VERSION: &str = "UPDATE versions SET api_key = $2 WHERE id = $1";
const UPDATE_SNAPSHOT: &str =
    "UPDATE batch_versions SET config = $3 WHERE batch_id = $1 AND version_id = $2";

/// Every stored key, as read in one transaction.
#[derive(Debug, Default)]
struct Rows {
    versions: Vec<(i64, String)>,
    snapshots: Vec<(i64, i64, String)>,
    /// Judges' keys: only their key ids are read from here; rotation re-seals them itself.
    judges: Vec<(i64, String)>,
    /// Webhooks' signing secrets: like judges' keys.
    webhooks: Vec<(i64, String)>,
}

/// The rows to write back.
#[derive(Debug, Default, PartialEq)]
struct Updates {
    versions: Vec<(i64, String)>,
    snapshots: Vec<(i64, i64, String)>,
    judges: Vec<(i64, String)>,
    webhooks: Vec<(i64, String)>,
}

/// Why one stored value could not be re-sealed.
#[derive(Debug)]
enum Failure {
    Open(OpenError),
    Seal(SealError),
}

fn version_label(id: i64) -> String {
    format!("version {id}'s API key")
}

fn snapshot_label(batch: i64, version: i64) -> String {
    format!("batch {batch}'s snapshot of version {version}")
}

fn at(label: String) -> impl FnOnce(Failure) -> StoreError {
    move |failure| match failure {
        Failure::Open(source) => StoreError::Sealed {
            what: label,
            source,
        },
        Failure::Seal(e) => StoreError::Seal(e),
    }
}

/// The key a snapshot holds, if it still holds one.
pub(super) fn snapshot_key(config: &str) -> StoreResult<Option<String>> {
    let value: serde_json::Value = super::parse_json("batch version snapshot", config)?;
    Ok(value
        .get("api_key")
        .and_then(|k| k.as_str())
        .map(str::to_string))
}

/// The snapshot with its key replaced; every other field is kept as it is.
fn with_snapshot_key(config: &str, key: &str) -> StoreResult<String> {
    let mut value: serde_json::Value = super::parse_json("batch version snapshot", config)?;
    let Some(object) = value.as_object_mut() else {
        return Err(StoreError::Corrupt(
            "batch version snapshot: not an object".into(),
        ));
    };
    object.insert("api_key".into(), serde_json::Value::from(key));
    Ok(super::to_json(&value))
}

impl Rows {
    /// Every stored value (version keys, then snapshot keys) with a label naming its row.
    fn values(&self) -> StoreResult<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = self
            .versions
            .iter()
            .map(|(id, key)| (version_label(*id), key.clone()))
            .collect();
        for (batch, version, config) in &self.snapshots {
            if let Some(key) = snapshot_key(config)? {
                out.push((snapshot_label(*batch, *version), key));
            }
        }
        for (id, key) in &self.judges {
            out.push((format!("judge {id}'s API key"), key.clone()));
        }
        for (id, secret) in &self.webhooks {
            out.push((format!("webhook {id}'s signing secret"), secret.clone()));
        }
        Ok(out)
    }

    /// The ids of the master keys the stored values were sealed under. Values that are not
    /// well-formed are left for whoever reads them to report, naming their row.
    fn key_ids(&self) -> StoreResult<BTreeSet<KeyId>> {
        Ok(self
            .values()?
            .iter()
            .filter_map(|(_, text)| Envelope::parse(text).ok().map(|e| e.key_id))
            .collect())
    }

    /// Applies `change` to every stored value; `Ok(None)` leaves a value as it is. Equal texts
    /// get equal results (each distinct text is changed once), so a snapshot stays equal to its
    /// version's key.
    fn reseal(
        &self,
        mut change: impl FnMut(&str) -> Result<Option<String>, Failure>,
    ) -> StoreResult<Updates> {
        let mut done: HashMap<String, Option<String>> = HashMap::new();
        let mut apply = |label: String, text: &str| -> StoreResult<Option<String>> {
            if let Some(known) = done.get(text) {
                return Ok(known.clone());
            }
            let result = change(text).map_err(at(label))?;
            done.insert(text.to_string(), result.clone());
            Ok(result)
        };
        let mut updates = Updates::default();
        for (id, key) in &self.versions {
            if let Some(new) = apply(version_label(*id), key)? {
                updates.versions.push((*id, new));
            }
        }
        for (batch, version, config) in &self.snapshots {
            let Some(key) = snapshot_key(config)? else {
                continue;
            };
            if let Some(new) = apply(snapshot_label(*batch, *version), &key)? {
                updates
                    .snapshots
                    .push((*batch, *version, with_snapshot_key(config, &new)?));
            }
        }
        Ok(updates)
    }
}

/// Which key opens the database, given the ids found in it.
#[derive(Debug, PartialEq, Eq)]
enum KeyChoice {
    Current,
    /// A cut-short rotation's new key: the database was re-encrypted under it.
    Next,
    Other(KeyId),
}

fn choose_key(found: &BTreeSet<KeyId>, current: &KeyId, next: Option<&KeyId>) -> KeyChoice {
    if found.iter().all(|id| id == current) {
        return KeyChoice::Current;
    }
    if let Some(next) = next {
        if found.iter().all(|id| id == next) {
            return KeyChoice::Next;
        }
    }
    match found.iter().find(|id| *id != current) {
        Some(other) => KeyChoice::Other(other.clone()),
        None => KeyChoice::Current,
    }
}

fn wrong_key_message(stored: &KeyId, loaded: &LoadedKey) -> String {
    let what = match (loaded.origin(), loaded.is_new()) {
        (KeyOrigin::File(path), true) => format!(
            ", and the key file {} does not exist (no new one was written)",
            path.display()
        ),
        (origin, _) => format!(" than {origin} (id {})", loaded.key().id()),
    };
    format!(
        "this database was encrypted with another secret key (id {stored}){what}; set \
         DIFY_BENCH_SECRET_KEY or --secret-key-file to the key it was written with"
    )
}

impl Store {
    /// Start-up: settles which key opens the database, saves a new key file, seals plain-text
    /// keys, and forgets stale keys in finished batches' snapshots.
    pub(super) async fn open_sealed(db: Db, mut loaded: LoadedKey) -> StoreResult<Store> {
        let mut store = Store {
            db,
            keys: Sealer::new(Arc::new(loaded.key().clone()), Purpose::API_KEY),
            key_origin: loaded.origin().clone(),
        };
        let (begin, lock) = write_lock(&store.db);
        let (forget, forget_id) = forget_stale_sql(&store.db, Scope::All);
        let (keys, sealed) = on_pool!(store, pool => {
            let mut tx = pool.begin_with(begin).await?;
            if let Some(lock) = lock {
                sqlx::query(lock).execute(&mut *tx).await?;
            }
            let rows = Rows {
                versions: sqlx::query_as(SELECT_VERSIONS).fetch_all(&mut *tx).await?,
                snapshots: sqlx::query_as(SELECT_SNAPSHOTS).fetch_all(&mut *tx).await?,
                judges: sqlx::query_as(SELECT_JUDGES).fetch_all(&mut *tx).await?,
                webhooks: sqlx::query_as(SELECT_WEBHOOKS).fetch_all(&mut *tx).await?,
            };
            let next_id = loaded.next().map(|k| k.id().clone());
            match choose_key(&rows.key_ids()?, loaded.key().id(), next_id.as_ref()) {
                KeyChoice::Current => loaded.discard_next()?,
                KeyChoice::Next => loaded.adopt_next()?,
                KeyChoice::Other(stored) => {
                    return Err(StoreError::Conflict(wrong_key_message(&stored, &loaded)));
                }
            }
            // On disk before anything is sealed under it.
            loaded.save_if_new()?;
            let keys = Sealer::new(Arc::new(loaded.key().clone()), Purpose::API_KEY);
            let updates = rows.reseal(|text| {
                if is_sealed(text) {
                    return Ok(None);
                }
                keys.seal(&Secret::new(text)).map(Some).map_err(Failure::Seal)
            })?;
            for (id, key) in &updates.versions {
                sqlx::query(UPDATE_VERSION).bind(id).bind(key).execute(&mut *tx).await?;
            }
            for (batch, version, config) in &updates.snapshots {
                sqlx::query(UPDATE_SNAPSHOT)
                    .bind(batch).bind(version).bind(config)
                    .execute(&mut *tx).await?;
            }
            let mut forget_stale = sqlx::query(&forget);
            if let Some(id) = forget_id {
                forget_stale = forget_stale.bind(id);
            }
            forget_stale.execute(&mut *tx).await?;
            tx.commit().await?;
            (keys, updates.versions.len() + updates.snapshots.len())
        });
        store.keys = keys;
        store.key_origin = loaded.origin().clone();
        if sealed > 0 {
            tracing::info!(
                count = sealed,
                "encrypted API keys that an earlier version stored in plain text"
            );
            if let Err(e) = store.purge_freed_pages().await {
                tracing::warn!("cannot compact the database after encrypting its keys: {e}");
            }
        }
        Ok(store)
    }

    /// Where the master key in use came from.
    pub fn secret_key_origin(&self) -> &KeyOrigin {
        &self.key_origin
    }

    /// The id of the master key in use (safe to show).
    pub fn secret_key_id(&self) -> &KeyId {
        self.keys.key_id()
    }

    pub(super) fn keys(&self) -> &Sealer {
        &self.keys
    }

    /// Seals every stored key under `new` in one transaction, then makes `new` the key: a key
    /// file is replaced (the new key is written beside it first, as `<file>.next`); a key from
    /// `DIFY_BENCH_SECRET_KEY` is the caller's to hand out. Refuses, changing nothing, if a
    /// stored value does not open under the current key. Stop every server using the database
    /// first: one still running would go on sealing with the old key. The store is closed
    /// afterwards.
    pub async fn rotate_secret_key(self, new: &MasterKey) -> StoreResult<Rotation> {
        let file = match &self.key_origin {
            KeyOrigin::Ephemeral => {
                return Err(StoreError::Conflict(
                    "an in-memory database keeps no keys: there is nothing to rotate".into(),
                ))
            }
            KeyOrigin::File(path) => Some(path.clone()),
            KeyOrigin::Env => None,
        };
        if let Some(path) = &file {
            stage_rotation(path, new)?;
        }
        let updates = match self.reseal_all(new).await {
            Ok(updates) => updates,
            Err(e) => {
                if let Some(path) = &file {
                    abandon_rotation(path);
                }
                return Err(StoreError::Conflict(format!(
                    "cannot rotate the secret key; nothing was changed: {e}"
                )));
            }
        };
        if let Some(path) = &file {
            finish_rotation(path).map_err(|e| {
                StoreError::Conflict(format!(
                    "the stored keys were re-encrypted, but {e}; the next start completes the \
                     rotation from the `.next` file beside it"
                ))
            })?;
        }
        // The old sealed values are what a leaked old key would open: leave none in freed pages.
        // The rotation itself is done by now, so a failure here is reported, not returned.
        if let Err(e) = self.purge_freed_pages().await {
            tracing::warn!("cannot compact the database after the rotation: {e}");
        }
        self.close().await;
        Ok(Rotation {
            old_key_id: self.keys.key_id().clone(),
            new_key_id: new.id().clone(),
            versions: updates.versions.len(),
            snapshots: updates.snapshots.len(),
            judges: updates.judges.len(),
            webhooks: updates.webhooks.len(),
            origin: self.key_origin.clone(),
        })
    }

    async fn reseal_all(&self, new: &MasterKey) -> StoreResult<Updates> {
        let new_keys = Sealer::new(Arc::new(new.clone()), Purpose::API_KEY);
        let (begin, lock) = write_lock(&self.db);
        let updates = on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            if let Some(lock) = lock {
                sqlx::query(lock).execute(&mut *tx).await?;
            }
            let rows = Rows {
                versions: sqlx::query_as(SELECT_VERSIONS).fetch_all(&mut *tx).await?,
                snapshots: sqlx::query_as(SELECT_SNAPSHOTS).fetch_all(&mut *tx).await?,
                judges: sqlx::query_as(SELECT_JUDGES).fetch_all(&mut *tx).await?,
                webhooks: sqlx::query_as(SELECT_WEBHOOKS).fetch_all(&mut *tx).await?,
            };
            let mut updates = rows.reseal(|text| {
                let secret = self.keys.open(text).map_err(Failure::Open)?;
                new_keys.seal(&secret).map(Some).map_err(Failure::Seal)
            })?;
            let (old_judge, new_judge) = (
                self.keys.for_purpose(Purpose::JUDGE_KEY),
                new_keys.for_purpose(Purpose::JUDGE_KEY),
            );
            for (id, text) in &rows.judges {
                let label = format!("judge {id}'s API key");
                let secret = old_judge.open(text).map_err(|e| at(label.clone())(Failure::Open(e)))?;
                let sealed = new_judge.seal(&secret).map_err(|e| at(label)(Failure::Seal(e)))?;
                updates.judges.push((*id, sealed));
            }
            for (id, key) in &updates.judges {
                sqlx::query(UPDATE_JUDGE).bind(id).bind(key).execute(&mut *tx).await?;
            }
            let (old_hook, new_hook) = (
                self.keys.for_purpose(Purpose::WEBHOOK_SECRET),
                new_keys.for_purpose(Purpose::WEBHOOK_SECRET),
            );
            for (id, text) in &rows.webhooks {
                let label = format!("webhook {id}'s signing secret");
                let secret = old_hook.open(text).map_err(|e| at(label.clone())(Failure::Open(e)))?;
                let sealed = new_hook.seal(&secret).map_err(|e| at(label)(Failure::Seal(e)))?;
                updates.webhooks.push((*id, sealed));
            }
            for (id, secret) in &updates.webhooks {
                sqlx::query(UPDATE_WEBHOOK).bind(id).bind(secret).execute(&mut *tx).await?;
            }
            for (id, key) in &updates.versions {
                sqlx::query(UPDATE_VERSION).bind(id).bind(key).execute(&mut *tx).await?;
            }
            for (batch, version, config) in &updates.snapshots {
                sqlx::query(UPDATE_SNAPSHOT)
                    .bind(batch).bind(version).bind(config)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            updates
        });
        Ok(updates)
    }

    /// SQLite keeps deleted and overwritten bytes in free pages and in the WAL until they are
    /// reused: rebuild the file and empty the WAL. PostgreSQL keeps old row versions until
    /// they are vacuumed and reused; `VACUUM FULL versions, batch_versions` rewrites them.
    async fn purge_freed_pages(&self) -> StoreResult<()> {
        if let Db::Sqlite(pool) = &self.db {
            let mut conn = pool.acquire().await?;
            sqlx::query("VACUUM").execute(&mut *conn).await?;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> KeyId {
        KeyId::from_stored(text).unwrap()
    }

    #[test]
    fn the_key_is_chosen_by_the_ids_found() {
        let (cur, next, other) = (id("0000000a"), id("0000000b"), id("0000000c"));
        let set = |ids: &[&KeyId]| ids.iter().map(|i| (*i).clone()).collect::<BTreeSet<_>>();
        assert_eq!(choose_key(&set(&[]), &cur, None), KeyChoice::Current);
        assert_eq!(choose_key(&set(&[]), &cur, Some(&next)), KeyChoice::Current);
        assert_eq!(
            choose_key(&set(&[&cur]), &cur, Some(&next)),
            KeyChoice::Current
        );
        assert_eq!(
            choose_key(&set(&[&next]), &cur, Some(&next)),
            KeyChoice::Next
        );
        assert_eq!(
            choose_key(&set(&[&other]), &cur, None),
            KeyChoice::Other(other.clone())
        );
        // Half under each would mean two writers with two keys: refused, naming the foreign one.
        assert_eq!(
            choose_key(&set(&[&cur, &next]), &cur, Some(&next)),
            KeyChoice::Other(next.clone())
        );
    }

    fn snap(key: Option<&str>) -> String {
        serde_json::json!({"name": "v", "api_key": key, "inputs": {"a": 1}}).to_string()
    }

    #[test]
    fn equal_texts_are_resealed_once_and_stay_equal() {
        let rows = Rows {
            versions: vec![(1, "k1".into()), (2, "enc:v1:0000000a:zz".into())],
            snapshots: vec![
                (10, 1, snap(Some("k1"))),
                (11, 1, snap(Some("k0"))),
                (12, 2, snap(None)),
            ],
            ..Rows::default()
        };
        let mut calls = 0;
        let updates = rows
            .reseal(|text| {
                calls += 1;
                Ok((!is_sealed(text)).then(|| format!("S({text}){calls}")))
            })
            .unwrap();
        assert_eq!(calls, 3, "k1 once, the sealed value once, k0 once");
        assert_eq!(updates.versions, vec![(1, "S(k1)1".to_string())]);
        assert_eq!(updates.snapshots.len(), 2);
        assert_eq!(
            snapshot_key(&updates.snapshots[0].2).unwrap().as_deref(),
            Some("S(k1)1")
        );
        let kept: serde_json::Value = serde_json::from_str(&updates.snapshots[1].2).unwrap();
        assert_eq!(kept["api_key"], "S(k0)3");
        assert_eq!(kept["inputs"]["a"], 1, "other fields are kept");
    }

    #[test]
    fn a_value_that_does_not_open_is_named_by_its_row() {
        let rows = Rows {
            versions: vec![],
            snapshots: vec![(7, 3, snap(Some("enc:v1:0000000a:zz")))],
            ..Rows::default()
        };
        let err = rows
            .reseal(|_| Err(Failure::Open(OpenError::Malformed)))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("batch 7's snapshot of version 3 cannot be decrypted"),
            "{err}"
        );
    }

    #[test]
    fn key_ids_come_from_both_tables_and_skip_plain_text() {
        let rows = Rows {
            versions: vec![(1, "app-plain".into()), (2, "enc:v1:0000000a:zz".into())],
            snapshots: vec![(1, 1, snap(Some("enc:v1:0000000b:zz"))), (2, 1, snap(None))],
            ..Rows::default()
        };
        let ids: Vec<String> = rows
            .key_ids()
            .unwrap()
            .iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(ids, ["0000000a", "0000000b"]);
    }
}
