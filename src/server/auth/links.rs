//! One-time links printed to the server's terminal: the first-admin setup link (when no user
//! exists) and, in demo mode, a sign-in link for the demo admin. They live in memory only — a
//! restart prints new ones — and each works once, within its lifetime.

use super::credential;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a printed link stays usable.
pub const LINK_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Create the first admin (only while no user exists).
    Setup,
    /// Sign in as this user (the demo admin).
    SignIn { username: String },
}

#[derive(Default)]
pub struct Links {
    live: Mutex<HashMap<String, (LinkPurpose, Instant)>>,
}

impl Links {
    /// A new link secret for `purpose`; the caller prints it as part of a URL.
    pub fn issue(&self, purpose: LinkPurpose) -> String {
        let secret = credential::new_link_secret();
        let mut live = self.live.lock();
        live.retain(|_, (_, at)| at.elapsed() < LINK_TTL);
        live.insert(credential::digest(&secret), (purpose, Instant::now()));
        secret
    }

    /// What a link is for, if it is live; it is not used up (see [`Links::take`]).
    pub fn peek(&self, secret: &str) -> Option<LinkPurpose> {
        let live = self.live.lock();
        live.get(&credential::digest(secret))
            .filter(|(_, at)| at.elapsed() < LINK_TTL)
            .map(|(p, _)| p.clone())
    }

    /// Uses a link up: its purpose, once.
    pub fn take(&self, secret: &str) -> Option<LinkPurpose> {
        let (purpose, at) = self.live.lock().remove(&credential::digest(secret))?;
        (at.elapsed() < LINK_TTL).then_some(purpose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_once() {
        let links = Links::default();
        let s = links.issue(LinkPurpose::Setup);
        assert_eq!(links.peek(&s), Some(LinkPurpose::Setup));
        assert_eq!(links.take(&s), Some(LinkPurpose::Setup));
        assert_eq!(links.take(&s), None);
        assert_eq!(links.peek("made-up"), None);
    }
}
