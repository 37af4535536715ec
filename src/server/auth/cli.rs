//! `dify-bench user …` and `dify-bench token …`: account administration from a shell on the
//! server, against the same database `serve` uses (it may be running: changes apply at once,
//! and open progress streams re-check through `auth_epoch`).
//!
//! Output is meant for people and scripts: `token create` prints only the secret on stdout.

use super::{add_user, credential, issue_token, AccountError};
use crate::model::Role;
use crate::server::store::Store;

/// The database `serve` uses, and the secret key it opens with (`--secret-key-file` or the
/// environment): opening the store checks the key, so a command must name the same one.
pub struct Db {
    pub url: String,
    pub secret_key: crate::server::secret::SecretKeyConfig,
}

async fn open(db: &Db) -> Result<Store, String> {
    Store::open(&db.url, &db.secret_key)
        .await
        .map_err(|e| e.to_string())
}

fn account_error(e: AccountError) -> String {
    e.to_string()
}

pub async fn user_add(db: &Db, username: &str, password: &str, role: Role) -> Result<(), String> {
    let store = open(db).await?;
    let user = add_user(&store, username.trim(), password, role)
        .await
        .map_err(account_error)?;
    eprintln!("added {} ({})", user.username, user.role);
    Ok(())
}

pub async fn user_list(db: &Db) -> Result<(), String> {
    let store = open(db).await?;
    let users = store.list_users().await.map_err(|e| e.to_string())?;
    if users.is_empty() {
        eprintln!("no users yet: add one with `dify-bench user add NAME --role admin`");
    }
    for u in users {
        println!("{}\t{}", u.username, u.role);
    }
    Ok(())
}

pub async fn user_remove(db: &Db, username: &str) -> Result<(), String> {
    let store = open(db).await?;
    let user = store
        .get_user_by_name(username)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("user `{username}` does not exist"))?;
    if user.role == Role::Admin && store.count_admins().await.map_err(|e| e.to_string())? <= 1 {
        return Err(format!(
            "`{username}` is the last admin; add another admin first"
        ));
    }
    store
        .delete_user(username)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("removed {username}; their sessions have ended");
    Ok(())
}

pub async fn user_passwd(db: &Db, username: &str, password: &str) -> Result<(), String> {
    crate::model::check_password(password)?;
    let store = open(db).await?;
    let hash = credential::hash_password_blocking(password.to_string()).await?;
    if !store
        .set_user_password(username, &hash)
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(format!("user `{username}` does not exist"));
    }
    eprintln!("password of {username} changed; their sessions have ended");
    Ok(())
}

pub async fn token_create(db: &Db, name: &str, role: Role) -> Result<(), String> {
    let store = open(db).await?;
    let created = issue_token(&store, name, role, "cli")
        .await
        .map_err(account_error)?;
    eprintln!(
        "token {} `{}` ({}) created; it is shown only now:",
        created.token.id, created.token.name, created.token.role
    );
    println!("{}", created.secret);
    Ok(())
}

pub async fn token_list(db: &Db) -> Result<(), String> {
    let store = open(db).await?;
    for t in store.list_tokens().await.map_err(|e| e.to_string())? {
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else {
            "live"
        };
        println!(
            "{}\t{}\t{}…\t{}\t{}\tcreated by {}",
            t.id, t.name, t.prefix, t.role, state, t.created_by
        );
    }
    Ok(())
}

pub async fn token_revoke(db: &Db, id: i64) -> Result<(), String> {
    let store = open(db).await?;
    if !store.revoke_token(id).await.map_err(|e| e.to_string())? {
        return Err(format!("no live token with id {id}"));
    }
    eprintln!("token {id} revoked");
    Ok(())
}
