//! Accounts as the API shows them: users, roles, API tokens, the signed-in principal. Password
//! hashes, session ids and token hashes never live here; a token's secret appears exactly once,
//! in [`CreatedToken`], in the response that created it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a user or token may do. Ordered: each role may do everything the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read everything (keys excepted) and watch progress.
    Viewer,
    /// Also edit cases, start, cancel and re-run batches.
    Editor,
    /// Also versions and their keys, users and tokens.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person who signs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Who is asking: a signed-in user or an API token, with the role the request is judged by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    /// `alice`, or `token:ci` for an API token: the name recorded on what it creates.
    pub name: String,
    pub role: Role,
    /// True for a browser session (it can sign out); false for an API token.
    pub session: bool,
}

/// An API token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// The token's first characters (`dbt_AbCd`), to tell tokens apart.
    pub prefix: String,
    pub role: Role,
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// The answer to creating a token: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: ApiToken,
    pub secret: String,
}

/// Usernames: 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
pub fn check_username(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("username is empty".into());
    }
    if name.chars().count() > 64 {
        return Err("username is longer than 64 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
    {
        return Err(format!(
            "username may hold letters, digits, `.`, `_`, `-` and `@` only, not `{c}`"
        ));
    }
    Ok(())
}

/// Shortest password accepted. Length is what makes a password hard to guess (NIST SP 800-63B
/// §5.1.1.2 asks for at least 8 and no composition rules); 10 leaves a margin.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest accepted, so that hashing cannot be used to burn CPU.
pub const MAX_PASSWORD_CHARS: usize = 256;

pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password is too short: at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(format!(
            "the password is too long: at most {MAX_PASSWORD_CHARS} characters"
        ));
    }
    Ok(())
}

/// Token names: 1–64 printable characters.
pub fn check_token_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the token name is empty".into());
    }
    if name.chars().count() > 64 {
        return Err("the token name is longer than 64 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("the token name holds a control character".into());
    }
    Ok(())
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3): a return path for
/// `/login?next=`.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_return_path() {
        assert_eq!(
            encode_component("/batches/3?page=2"),
            "%2Fbatches%2F3%3Fpage%3D2"
        );
        assert_eq!(encode_component("a-b_c.d~"), "a-b_c.d~");
    }

    #[test]
    fn roles_are_ordered_and_round_trip() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn usernames_and_passwords_are_checked() {
        assert!(check_username("alice.b-c_d@x").is_ok());
        assert!(check_username("").is_err());
        assert!(check_username("a b").unwrap_err().contains("` `"));
        assert!(check_username(&"a".repeat(65)).is_err());
        assert!(check_password("short").unwrap_err().contains("at least 10"));
        assert!(check_password("long enough pass").is_ok());
        assert!(check_password(&"x".repeat(257)).is_err());
        assert!(check_token_name("ci").is_ok());
        assert!(check_token_name("  ").is_err());
    }
}
