//! Persistence: versions, test cases, batches with their launch snapshots, and results.
//!
//! One SQL text serves both backends: SQLite (the zero-config default) and PostgreSQL. Queries use
//! `$n` placeholders, which both accept, and only portable types (BIGINT, DOUBLE PRECISION, TEXT,
//! BOOLEAN). The [`on_pool!`] macro instantiates each query once per backend, so decoding uses the
//! native drivers rather than sqlx's `Any` layer. Migrations live in `migrations/{sqlite,postgres}`.
//!
//! The store does not validate user input (the API and config loaders do) and never hands out
//! rows with keys except as [`VersionRecord`] / [`BatchPlan`], which carry a [`Secret`].

mod accounts;
mod batches;
mod cases;
mod results;
mod versions;

pub use accounts::UserCredentials;
pub use batches::{BatchPlan, NewBatch, PlannedVersion};
pub use results::VersionTally;
pub use versions::VersionRecord;

use crate::server::secret::Secret;
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
    #[error("stored data is unreadable ({0})")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
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
    /// Connects, creating the SQLite file and its folder if needed, and runs the migrations.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        let db = if url.starts_with("sqlite:") {
            Db::Sqlite(connect_sqlite(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            Db::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        Ok(Store { db })
    }

    /// `sqlite` or `postgres`, for logs and health output.
    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
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

async fn connect_sqlite(url: &str) -> StoreResult<SqlitePool> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if !in_memory {
        if let Some(parent) = sqlite_path(url).and_then(|p| p.parent().map(|d| d.to_path_buf())) {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(&parent).map_err(|source| StoreError::Folder {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
        }
    }
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
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
        // Every connection to `:memory:` is a new empty database: keep exactly one, forever.
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

fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty()).then(|| std::path::PathBuf::from(path))
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

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising our own plain data types cannot fail (no maps with non-string keys).
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn secret_of(key: String) -> Secret {
    Secret::new(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://bench:s3cret@127.0.0.1:5432/db"),
            "postgres://bench:***@127.0.0.1:5432/db"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[test]
    fn finds_the_sqlite_file() {
        assert_eq!(
            sqlite_path("sqlite://data/dify-bench.db?mode=rwc"),
            Some("data/dify-bench.db".into())
        );
        assert_eq!(sqlite_path("sqlite:x.db"), Some("x.db".into()));
    }
}
