//! Sign-in throttling: at most so many failed attempts per username and per client address in a
//! sliding window, then refusals until the oldest failure leaves the window. Time is passed in,
//! so the rules are plain functions of their inputs and unit-tested without sleeping.
//!
//! A success clears the username's failures (not the address's: one address may be guessing at
//! many users). Memory is bounded: each key keeps at most `limit` instants and the map at most
//! [`MAX_KEYS`] keys, the stalest dropped first.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};

const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub limit: usize,
    pub window_ms: u64,
}

/// Failed sign-ins per username: 5 per 15 minutes (OWASP's authentication cheat sheet suggests
/// locking after a handful of failures; a timed lock cannot be used to lock someone out for good).
pub const PER_USER: Rule = Rule {
    limit: 5,
    window_ms: 15 * 60 * 1000,
};
/// Failed sign-ins per client address: 20 per 15 minutes (an office behind one NAT still works).
pub const PER_ADDRESS: Rule = Rule {
    limit: 20,
    window_ms: 15 * 60 * 1000,
};

#[derive(Default)]
struct Window {
    failures: VecDeque<u64>,
}

impl Window {
    fn prune(&mut self, rule: Rule, now: u64) {
        while self
            .failures
            .front()
            .is_some_and(|&t| now.saturating_sub(t) >= rule.window_ms)
        {
            self.failures.pop_front();
        }
    }

    /// Milliseconds until another attempt is allowed, or None if one is allowed now.
    fn wait(&self, rule: Rule, now: u64) -> Option<u64> {
        if self.failures.len() < rule.limit {
            return None;
        }
        let oldest = *self.failures.front()?;
        Some((oldest + rule.window_ms).saturating_sub(now).max(1))
    }
}

pub struct Throttle {
    rule: Rule,
    keys: Mutex<HashMap<String, Window>>,
}

impl Throttle {
    pub fn new(rule: Rule) -> Throttle {
        Throttle {
            rule,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Milliseconds to wait before `key` may try again; None when it may try now.
    pub fn check(&self, key: &str, now: u64) -> Option<u64> {
        let mut keys = self.keys.lock();
        let w = keys.get_mut(key)?;
        w.prune(self.rule, now);
        w.wait(self.rule, now)
    }

    pub fn fail(&self, key: &str, now: u64) {
        let mut keys = self.keys.lock();
        if !keys.contains_key(key) && keys.len() >= MAX_KEYS {
            let rule = self.rule;
            keys.retain(|_, w| {
                w.prune(rule, now);
                !w.failures.is_empty()
            });
            if keys.len() >= MAX_KEYS {
                let stalest = keys
                    .iter()
                    .min_by_key(|(_, w)| w.failures.back().copied().unwrap_or(0))
                    .map(|(k, _)| k.clone());
                if let Some(k) = stalest {
                    keys.remove(&k);
                }
            }
        }
        let w = keys.entry(key.to_string()).or_default();
        w.prune(self.rule, now);
        w.failures.push_back(now);
        while w.failures.len() > self.rule.limit {
            w.failures.pop_front();
        }
    }

    pub fn clear(&self, key: &str) {
        self.keys.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule {
        limit: 3,
        window_ms: 1000,
    };

    #[test]
    fn refuses_after_the_limit_until_the_oldest_failure_expires() {
        let t = Throttle::new(RULE);
        assert_eq!(t.check("alice", 0), None);
        t.fail("alice", 0);
        t.fail("alice", 100);
        assert_eq!(t.check("alice", 200), None);
        t.fail("alice", 200);
        assert_eq!(t.check("alice", 300), Some(700));
        assert_eq!(t.check("bob", 300), None, "keys are independent");
        assert_eq!(t.check("alice", 999), Some(1));
        assert_eq!(
            t.check("alice", 1000),
            None,
            "the first failure left the window"
        );
    }

    #[test]
    fn a_success_clears_and_memory_stays_bounded() {
        let t = Throttle::new(RULE);
        for i in 0..3 {
            t.fail("alice", i);
        }
        assert!(t.check("alice", 10).is_some());
        t.clear("alice");
        assert_eq!(t.check("alice", 10), None);
        for i in 0..10 {
            t.fail("alice", 20 + i);
        }
        assert_eq!(t.keys.lock()["alice"].failures.len(), 3);
        for i in 0..(MAX_KEYS as u64 + 10) {
            t.fail(&format!("k{i}"), 50);
        }
        assert!(t.keys.lock().len() <= MAX_KEYS);
    }
}
