//! The `users`, `sessions`, `api_tokens` and `auth_epoch` tables.
//!
//! The store keeps only hashes of session ids and tokens (computed by [`crate::server::auth`]);
//! it never sees a password, only its Argon2id hash. Every change that makes a credential
//! invalid bumps `auth_epoch` in the same statement batch, so open progress streams re-check.

use super::{now_ms, on_pool, Store, StoreError, StoreResult};
use crate::model::{ApiToken, Role, User};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    role: String,
    created_at: i64,
    updated_at: i64,
}

fn role_of(what: &str, id: i64, role: &str) -> StoreResult<Role> {
    Role::parse(role).ok_or_else(|| StoreError::Corrupt(format!("{what} {id}: role `{role}`")))
}

impl UserRow {
    fn into_user(self) -> StoreResult<User> {
        Ok(User {
            role: role_of("user", self.id, &self.role)?,
            id: self.id,
            username: self.username,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    name: String,
    prefix: String,
    role: String,
    created_by: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TokenRow {
    fn into_token(self) -> StoreResult<ApiToken> {
        Ok(ApiToken {
            role: role_of("token", self.id, &self.role)?,
            id: self.id,
            name: self.name,
            prefix: self.prefix,
            created_by: self.created_by,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// A user with the hash their password is checked against.
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

const USER_COLUMNS: &str = "id, username, role, created_at, updated_at";
const TOKEN_COLUMNS: &str =
    "id, name, prefix, role, created_by, created_at, last_used_at, revoked_at";

fn username_taken(e: sqlx::Error, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("a user named `{name}` already exists"))
        }
        _ => StoreError::Database(e),
    }
}

impl Store {
    // ---- users ----

    pub async fn count_users(&self) -> StoreResult<i64> {
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(pool).await)?;
        Ok(n)
    }

    pub async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        let rows: Vec<UserRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    pub async fn get_user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let row: Option<UserRow> = on_pool!(self, pool =>
            sqlx::query_as(&sql).bind(username).fetch_optional(pool).await)?;
        row.map(UserRow::into_user).transpose()
    }

    pub async fn user_credentials(&self, username: &str) -> StoreResult<Option<UserCredentials>> {
        let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1");
        let row: Option<(i64, String, String, i64, i64, String)> = on_pool!(self, pool =>
            sqlx::query_as(&sql).bind(username).fetch_optional(pool).await)?;
        row.map(
            |(id, username, role, created_at, updated_at, password_hash)| {
                Ok(UserCredentials {
                    user: UserRow {
                        id,
                        username,
                        role,
                        created_at,
                        updated_at,
                    }
                    .into_user()?,
                    password_hash,
                })
            },
        )
        .transpose()
    }

    /// Creates a user; a taken name is a `Conflict`.
    pub async fn insert_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> StoreResult<User> {
        let now = now_ms();
        let sql = "INSERT INTO users (username, password_hash, role, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $4) RETURNING id";
        let id: i64 = on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(username).bind(password_hash).bind(role.as_str()).bind(now)
            .fetch_one(pool).await)
        .map_err(|e| username_taken(e, username))?;
        Ok(User {
            id,
            username: username.to_string(),
            role,
            created_at: now,
            updated_at: now,
        })
    }

    /// Creates the first user only if there is none yet, atomically: two setup links used at
    /// once cannot both create an admin. False when a user already exists.
    pub async fn insert_first_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> StoreResult<bool> {
        let now = now_ms();
        let sql = "INSERT INTO users (username, password_hash, role, created_at, updated_at) \
                   SELECT $1, $2, $3, $4, $4 WHERE NOT EXISTS (SELECT 1 FROM users)";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(username).bind(password_hash).bind(role.as_str()).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))
        .map_err(|e| username_taken(e, username))?;
        Ok(done == 1)
    }

    /// Sets a user's role; a lower role ends their sessions' old rights at once (the layer reads
    /// the role on every request), and open streams re-check. False if there is no such user.
    pub async fn set_user_role(&self, username: &str, role: Role) -> StoreResult<bool> {
        let sql = "UPDATE users SET role = $2, updated_at = $3 WHERE username = $1";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(username).bind(role.as_str()).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if done == 1 {
            self.bump_auth_epoch().await?;
        }
        Ok(done == 1)
    }

    /// Replaces a password hash and ends every session of that user (a changed password signs
    /// everyone out, including whoever knew the old one). False if there is no such user.
    pub async fn set_user_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> StoreResult<bool> {
        let sql = "UPDATE users SET password_hash = $2, updated_at = $3 WHERE username = $1";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(username).bind(password_hash).bind(now_ms())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if done == 1 {
            let sql = "DELETE FROM sessions WHERE user_id = \
                       (SELECT id FROM users WHERE username = $1)";
            on_pool!(self, pool => sqlx::query(sql).bind(username).execute(pool).await.map(|_| ()))?;
            self.bump_auth_epoch().await?;
        }
        Ok(done == 1)
    }

    /// Removes a user; their sessions go with them (ON DELETE CASCADE). Tokens they created
    /// stay: a token is a credential of its own, revoked on its own.
    pub async fn delete_user(&self, username: &str) -> StoreResult<bool> {
        // Sessions first: SQLite enforces the cascade only with foreign keys on, and PostgreSQL
        // pools may differ; deleting them explicitly does not depend on either.
        let sql = "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = $1)";
        on_pool!(self, pool => sqlx::query(sql).bind(username).execute(pool).await.map(|_| ()))?;
        let done = on_pool!(self, pool => sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username).execute(pool).await.map(|r| r.rows_affected()))?;
        self.bump_auth_epoch().await?;
        Ok(done == 1)
    }

    /// How many admins there are: the last one may not be removed or demoted.
    pub async fn count_admins(&self) -> StoreResult<i64> {
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE role = 'admin'").fetch_one(pool).await)?;
        Ok(n)
    }

    // ---- sessions ----

    pub async fn insert_session(
        &self,
        id_hash: &str,
        user_id: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4)";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(id_hash).bind(user_id).bind(now_ms()).bind(expires_at)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The user a live (unexpired) session belongs to.
    pub async fn session_user(&self, id_hash: &str) -> StoreResult<Option<User>> {
        let sql = "SELECT u.id, u.username, u.role, u.created_at, u.updated_at \
                   FROM sessions s JOIN users u ON u.id = s.user_id \
                   WHERE s.id_hash = $1 AND s.expires_at > $2";
        let row: Option<UserRow> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(id_hash).bind(now_ms()).fetch_optional(pool).await)?;
        row.map(UserRow::into_user).transpose()
    }

    pub async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash).execute(pool).await.map(|_| ()))?;
        self.bump_auth_epoch().await
    }

    /// Drops expired sessions; returns how many.
    pub async fn purge_expired_sessions(&self) -> StoreResult<u64> {
        let n = on_pool!(self, pool => sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }

    // ---- API tokens ----

    pub async fn insert_token(
        &self,
        name: &str,
        token_hash: &str,
        prefix: &str,
        role: Role,
        created_by: &str,
    ) -> StoreResult<ApiToken> {
        let now = now_ms();
        let sql =
            "INSERT INTO api_tokens (name, token_hash, prefix, role, created_by, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        let id: i64 = on_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(name).bind(token_hash).bind(prefix).bind(role.as_str()).bind(created_by).bind(now)
            .fetch_one(pool).await)?;
        Ok(ApiToken {
            id,
            name: name.to_string(),
            prefix: prefix.to_string(),
            role,
            created_by: created_by.to_string(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// Every token, revoked ones included (newest first).
    pub async fn list_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id DESC");
        let rows: Vec<TokenRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(TokenRow::into_token).collect()
    }

    /// The live (not revoked) token with this hash.
    pub async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        );
        let row: Option<TokenRow> = on_pool!(self, pool =>
            sqlx::query_as(&sql).bind(token_hash).fetch_optional(pool).await)?;
        row.map(TokenRow::into_token).transpose()
    }

    /// The token with this id, if it is not revoked.
    pub async fn live_token(&self, id: i64) -> StoreResult<Option<ApiToken>> {
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1 AND revoked_at IS NULL");
        let row: Option<TokenRow> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?;
        row.map(TokenRow::into_token).transpose()
    }

    pub async fn touch_token(&self, id: i64, at: i64) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id).bind(at).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Revokes a token at once. False if there is no live token with that id.
    pub async fn revoke_token(&self, id: i64) -> StoreResult<bool> {
        let sql = "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(now_ms()).execute(pool).await.map(|r| r.rows_affected()))?;
        if done == 1 {
            self.bump_auth_epoch().await?;
        }
        Ok(done == 1)
    }

    // ---- the epoch ----

    pub async fn auth_epoch(&self) -> StoreResult<i64> {
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT epoch FROM auth_epoch WHERE id = 1").fetch_one(pool).await)?;
        Ok(n)
    }

    async fn bump_auth_epoch(&self) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1")
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }
}
