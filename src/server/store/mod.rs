//! Persistence: versions, test cases, batches with their launch snapshots, and results.
//!
//! One SQL text serves both backends: SQLite (the zero-config default) and PostgreSQL. Queries use
//! `$n` placeholders, which both accept, and only portable types (BIGINT, DOUBLE PRECISION, TEXT,
//! BOOLEAN). The [`on_pool!`] macro instantiates each query once per backend, so decoding uses the
//! native drivers rather than sqlx's `Any` layer. Migrations live in `migrations/{sqlite,postgres}`.
//!
//! The store does not validate user input (the API and config loaders do) and never hands out
//! rows with keys except as [`VersionRecord`] / [`BatchPlan`], which carry a [`Secret`]. Keys are
//! stored sealed under the master key (see `sealed_keys`); the SQLite file is private
//! (`sqlite_file`) and served by one `serve` at a time (`instance_lock`).

mod accounts;
mod alerts;
mod authorship;
mod batches;
mod cases;
mod compare;
pub mod dashboard;
mod history;
mod identity;
mod instance_lock;
mod judges;
mod pg_copy;
mod results;
mod reviews;
mod sealed_keys;
mod sqlite_file;
pub mod totals;
mod versions;
mod webhooks;
mod work;

pub use accounts::UserCredentials;
pub use authorship::Authored;
pub use batches::{case_snapshot, BatchPlan, NewBatch, PendingBatch, PlannedVersion, RerunClaim};
pub use compare::{same_test, PairedCase, RunOutcome, RunRef, Side};
pub use history::Deleted;
pub use instance_lock::InstanceLock;
pub use judges::{CachedJudgement, JudgeRecord};
pub use results::{TestKey, TimelineRow, VersionTally};
pub use reviews::ReviewedJudgement;
pub use sealed_keys::Rotation;
pub use versions::VersionRecord;
pub use webhooks::{AttemptRecord, ClaimedDelivery, WebhookRecord};
pub use work::{
    claim_budget, ClaimOutcome, Claimed, InstanceId, LiveTally, StoredEnd, StoredGroup, VersionLoad,
};

use crate::server::secret::key_source::{KeyError, LoadedKey, POSTGRES_KEY_FILE};
use crate::server::secret::sealer::SealError;
use crate::server::secret::{KeyOrigin, OpenError, Sealer, SecretKeyConfig};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported DATABASE_URL `{0}`: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot make the database file private ({path}): {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "another dify-bench process{} is serving the SQLite database {db} (it holds {lock}). \
         One SQLite file serves one `dify-bench serve`: stop the other one, or use PostgreSQL \
         (DATABASE_URL=postgres://…) to run several instances",
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    InUse {
        db: String,
        lock: String,
        holder: Option<u32>,
    },
    #[error("cannot lock {path} for this server: {source}")]
    Lock {
        path: String,
        source: std::io::Error,
    },
    #[error("stored data is unreadable ({0})")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    /// Asked of a backend that cannot do it (shared work on SQLite).
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("{0}")]
    SecretKey(#[from] KeyError),
    #[error("{what} cannot be decrypted: {source}")]
    Sealed { what: String, source: OpenError },
    #[error(transparent)]
    Seal(#[from] SealError),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone, Debug)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle to the database; cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    /// Seals and opens the API keys in `versions` and `batch_versions`.
    keys: Sealer,
    key_origin: KeyOrigin,
}

/// Runs `$body` with `$pool` bound to the concrete pool of whichever backend is in use.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::server::store::Db::Sqlite($pool) => $body,
            $crate::server::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Store {
    /// [`Store::open`] with the secret key the environment names (`DIFY_BENCH_SECRET_KEY`,
    /// `DIFY_BENCH_SECRET_KEY_FILE`), else the default key file.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        Store::open(url, &SecretKeyConfig::from_env(None)).await
    }

    /// Connects, creating the SQLite file and its folder if needed (both private), runs the
    /// migrations, finds the master key (creating its file on first start), and seals any key a
    /// database from before encryption still holds in plain text.
    pub async fn open(url: &str, secret_key: &SecretKeyConfig) -> StoreResult<Store> {
        let (db, loaded) = if url.starts_with("sqlite:") {
            let file = sqlite_file::path_of(url);
            let key_home = file.as_deref().map(sqlite_file::key_file_beside);
            // The key is read before the database is touched: a bad key setting changes nothing.
            let loaded = LoadedKey::load(secret_key, key_home)?;
            (
                Db::Sqlite(connect_sqlite(url, file.as_deref()).await?),
                loaded,
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let loaded = LoadedKey::load(secret_key, Some(POSTGRES_KEY_FILE.into()))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            (Db::Postgres(pool), loaded)
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        Store::open_sealed(db, loaded).await
    }

    /// `sqlite` or `postgres`, for logs and health output.
    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// The PostgreSQL pool, for `LISTEN/NOTIFY` (`server::cluster`); None on SQLite.
    pub(crate) fn pg_pool(&self) -> Option<&PgPool> {
        match &self.db {
            Db::Postgres(pool) => Some(pool),
            Db::Sqlite(_) => None,
        }
    }

    pub async fn ping(&self) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

async fn connect_sqlite(url: &str, file: Option<&std::path::Path>) -> StoreResult<SqlitePool> {
    if let Some(file) = file {
        sqlite_file::prepare(file)?;
    }
    let in_memory = file.is_none();
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        // Freed space is zeroed where that costs no extra I/O: a replaced key's old sealed
        // value does not linger in the page it was on.
        .pragma("secure_delete", "FAST")
        // A new database gets 8 KiB pages (an existing one keeps the size it has: WAL mode
        // cannot change it). A result row with its answer and node trace is 2-3 KB: with
        // SQLite's 4 KiB default, one such row fills a page of its own (4.8 KB a traced test
        // in all); with 8 KiB three share one (BENCHMARKS.md, l).
        .page_size(8192);
    // WAL lets the SSE and page readers run while the runner writes; NORMAL sync is durable
    // across process crashes (the case resume cares about) and much faster than FULL.
    let options = if in_memory {
        options
    } else {
        options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
    };
    let mut pool = SqlitePoolOptions::new().acquire_timeout(Duration::from_secs(10));
    if in_memory {
        // Every connection to `:memory:`, or to the empty name (SQLite's private temporary
        // database, which `run` uses), is a new empty database: keep exactly one, forever.
        pool = pool
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    } else {
        pool = pool.max_connections(8);
    }
    let pool = pool.connect_with(options).await?;
    sqlx::migrate!("migrations/sqlite").run(&pool).await?;
    Ok(pool)
}

/// A URL fit for an error message: the password, if any, replaced.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The most values one multi-row `INSERT` binds. SQLite takes at most 32,766 parameters in one
/// statement and PostgreSQL 65,535; a statement of a few thousand keeps well under both and is
/// still one round trip per thousand-odd rows instead of one per row.
const MAX_BOUND_PER_STATEMENT: usize = 8_000;

/// How many rows of `columns` bound values each go in one multi-row `INSERT`.
pub(crate) fn rows_per_insert(columns: usize) -> usize {
    (MAX_BOUND_PER_STATEMENT / columns.max(1)).max(1)
}

/// The `VALUES` list of a multi-row `INSERT` of `rows` rows of `columns` bound values each, in
/// the backend's placeholders, numbered from 1: `($1, $2), ($3, $4)` on PostgreSQL, `(?, ?), (?, ?)`
/// on SQLite. SQLite's parser looks each `$N` up by name in the list of the names before it — a
/// statement's cost grows with the square of its parameters (8,000 of them took 0.4 s to prepare)
/// — while an anonymous `?` is simply the next one.
pub(crate) fn values_list(postgres: bool, rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 6);
    let mut n = 1;
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                out.push_str(", ");
            }
            if postgres {
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push('?');
            }
            n += 1;
        }
        out.push(')');
    }
    out
}

/// `items` in runs whose lengths are powers of two, at most `max` (rounded down to one): runs of
/// that size first, then what is left by its binary digits, largest first; in order.
///
/// A multi-row `INSERT` of n rows is a statement of its own, and the driver keeps every
/// statement it prepared (a hundred per connection). For a group of results SQLite's prepared
/// statement takes about 2 KB a row, so one cached statement per group size held 18 MB of a
/// 10,000-test `run`'s 33 MB heap (BENCHMARKS.md, j.3). In these runs a connection caches at most
/// log2(max) + 1 shapes (1 + 2 + … + 256 rows), and every group is still a few statements.
pub(crate) fn power_of_two_runs<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let top = 1usize << max.max(1).ilog2();
    let mut rest = items;
    std::iter::from_fn(move || {
        let len = rest.len();
        if len == 0 {
            return None;
        }
        let (run, tail) = rest.split_at(top.min(1 << len.ilog2()));
        rest = tail;
        Some(run)
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising our own plain data types cannot fail (no maps with non-string keys).
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lists_number_every_placeholder_once() {
        assert_eq!(values_list(true, 1, 1), "($1)");
        assert_eq!(values_list(true, 2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_list(false, 2, 2), "(?, ?), (?, ?)");
        assert!(rows_per_insert(13) * 13 <= MAX_BOUND_PER_STATEMENT);
        assert_eq!(rows_per_insert(0), MAX_BOUND_PER_STATEMENT);
    }

    #[test]
    fn runs_are_powers_of_two_in_order_with_few_shapes() {
        let lens = |n: usize, max: usize| {
            let items: Vec<usize> = (0..n).collect();
            let runs: Vec<&[usize]> = power_of_two_runs(&items, max).collect();
            assert_eq!(
                runs.concat(),
                items,
                "n = {n}, max = {max}: every item once, in order"
            );
            runs.iter().map(|r| r.len()).collect::<Vec<_>>()
        };
        assert_eq!(lens(0, 256), Vec::<usize>::new());
        assert_eq!(lens(1, 256), [1]);
        assert_eq!(lens(7, 256), [4, 2, 1]);
        assert_eq!(lens(100, 256), [64, 32, 4]);
        assert_eq!(lens(600, 256), [256, 256, 64, 16, 8]);
        // A maximum that is not a power of two rounds down; zero means one row at a time.
        assert_eq!(lens(600, 500), [256, 256, 64, 16, 8]);
        assert_eq!(lens(3, 0), [1, 1, 1]);
        let mut shapes = std::collections::BTreeSet::new();
        for n in 1..=2_000 {
            for len in lens(n, 256) {
                assert!(len.is_power_of_two() && len <= 256, "n = {n}: {len}");
                shapes.insert(len);
            }
        }
        assert_eq!(shapes.len(), 9, "1, 2, 4, ..., 256: {shapes:?}");
    }

    #[tokio::test]
    async fn a_new_sqlite_file_gets_8_kib_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let page_size = |store: &Store| {
            let Db::Sqlite(pool) = &store.db else {
                unreachable!()
            };
            let pool = pool.clone();
            async move {
                let (size,): (i64,) = sqlx::query_as("PRAGMA page_size")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                size
            }
        };
        let new = dir.path().join("new.db");
        let store = Store::connect(&format!("sqlite://{}", new.display()))
            .await
            .unwrap();
        assert_eq!(page_size(&store).await, 8192);
        store.close().await;
        // A database made with SQLite's default 4 KiB pages (by an earlier release) opens
        // as it is: WAL mode cannot change the page size, and nothing is rewritten.
        let old = dir.path().join("old.db");
        {
            use sqlx::ConnectOptions;
            let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", old.display()))
                .unwrap()
                .create_if_missing(true)
                .page_size(4096)
                .journal_mode(SqliteJournalMode::Wal)
                .connect()
                .await
                .unwrap();
            sqlx::query("CREATE TABLE t (x)")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let store = Store::connect(&format!("sqlite://{}", old.display()))
            .await
            .unwrap();
        assert_eq!(page_size(&store).await, 4096);
    }

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://bench:s3cret@127.0.0.1:5432/db"),
            "postgres://bench:***@127.0.0.1:5432/db"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
