//! Conversations the simulator remembers, so a multi-turn test is answered correctly only when
//! its turns really travel in one conversation. A chat-family call without `conversation_id`
//! starts one (its id is in the answer); a call with an id continues it — an id the simulator
//! never gave (or gave another app or user, or has forgotten) is Dify's 404 `not_found`
//! "Conversation Not Exists.".
//!
//! What a conversation remembers is scripted: a query starting `Remember:` (any case) stores the
//! rest as a fact and is answered `Noted. I will remember: <fact>`; a query starting `Recall`
//! is answered with every fact of the conversation so far, `You asked me to remember: <fact>;
//! <fact>.`, or that there is nothing to recall. Any other query is answered as before.
//!
//! Bounded: at most [`MAX_CONVERSATIONS`]; beyond, the least recently used is forgotten (a
//! 404 at its next turn, as Dify answers for a deleted conversation). The key token `forget`
//! makes an app keep no conversation at all.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Conversations kept at once.
pub const MAX_CONVERSATIONS: usize = 4096;
/// Facts one conversation keeps (later ones are dropped).
const MAX_FACTS: usize = 64;

#[derive(Default)]
pub(super) struct Conversations {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Conversation>,
    /// (id, stamp) in use order; an entry whose stamp is not its conversation's is stale.
    order: VecDeque<(String, u64)>,
    clock: u64,
}

struct Conversation {
    /// Dify scopes a conversation to its app and its `user`.
    key: String,
    user: String,
    facts: Vec<String>,
    stamp: u64,
}

impl Conversations {
    /// The facts of a conversation this app and user may continue; None when it does not exist
    /// for them.
    pub(super) fn facts(&self, id: &str, key: &str, user: &str) -> Option<Vec<String>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let c = inner.map.get(&id.to_ascii_lowercase())?;
        (c.key == key && c.user == user).then(|| c.facts.clone())
    }

    /// Records a turn of conversation `id` (started by it, or continued): what it asks to
    /// remember is kept, and the conversation becomes the most recently used.
    pub(super) fn record(&self, id: &str, key: &str, user: &str, question: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.clock += 1;
        let stamp = inner.clock;
        let id = id.to_ascii_lowercase();
        let c = inner.map.entry(id.clone()).or_insert_with(|| Conversation {
            key: key.to_string(),
            user: user.to_string(),
            facts: Vec::new(),
            stamp,
        });
        c.stamp = stamp;
        if let Some(fact) = fact_of(question) {
            if c.facts.len() < MAX_FACTS && !c.facts.iter().any(|f| f == fact) {
                c.facts.push(fact.to_string());
            }
        }
        inner.order.push_back((id, stamp));
        inner.evict();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map(|i| i.map.len()).unwrap_or(0)
    }
}

impl Inner {
    fn evict(&mut self) {
        while self.map.len() > MAX_CONVERSATIONS {
            let Some((id, stamp)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&id).is_some_and(|c| c.stamp == stamp) {
                self.map.remove(&id);
            }
        }
        // Stale entries pile up when the same conversations are used over and over.
        if self.order.len() > 4 * MAX_CONVERSATIONS {
            let map = &self.map;
            self.order
                .retain(|(id, stamp)| map.get(id).is_some_and(|c| c.stamp == *stamp));
        }
    }
}

/// `Remember: <fact>` → the fact.
fn fact_of(question: &str) -> Option<&str> {
    let rest = strip_word(question, "remember")?;
    let fact = rest.trim_start_matches([':', ' ']).trim();
    (!fact.is_empty()).then_some(fact)
}

fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let text = text.trim_start();
    let head = text.get(..word.len())?;
    head.eq_ignore_ascii_case(word).then(|| &text[word.len()..])
}

/// The scripted answer of a remember or recall turn, given the conversation's facts before
/// it; None for any other question.
pub(super) fn reply(question: &str, facts: &[String]) -> Option<String> {
    if let Some(fact) = fact_of(question) {
        return Some(format!("Noted. I will remember: {fact}"));
    }
    strip_word(question, "recall")?;
    Some(if facts.is_empty() {
        "I have nothing to recall: you asked me to remember nothing in this conversation.".into()
    } else {
        format!("You asked me to remember: {}.", facts.join("; "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_recalls_only_its_own_facts_for_its_own_app_and_user() {
        let c = Conversations::default();
        c.record("ID-1", "k", "u", "Remember: the code word is falcon");
        c.record("id-1", "k", "u", "remember the launch day is Tuesday");
        c.record("id-1", "k", "u", "Remember: the code word is falcon");
        c.record("id-2", "k", "u", "Recall");
        let facts = c.facts("id-1", "k", "u").unwrap();
        assert_eq!(
            facts,
            vec!["the code word is falcon", "the launch day is Tuesday"]
        );
        assert_eq!(
            reply("Recall everything", &facts).unwrap(),
            "You asked me to remember: the code word is falcon; the launch day is Tuesday."
        );
        assert_eq!(c.facts("id-2", "k", "u").unwrap(), Vec::<String>::new());
        assert!(c.facts("id-1", "other-app", "u").is_none());
        assert!(c.facts("id-1", "k", "other-user").is_none());
        assert!(c.facts("id-3", "k", "u").is_none());
    }

    #[test]
    fn replies_are_scripted_for_remember_and_recall_only() {
        assert_eq!(
            reply("Remember: x = 4", &[]).unwrap(),
            "Noted. I will remember: x = 4"
        );
        assert!(reply("recall", &[]).unwrap().starts_with("I have nothing"));
        assert_eq!(reply("What is RAG?", &[]), None);
        assert_eq!(reply("Remember:", &[]), None);
        assert_eq!(reply("rec", &[]), None);
    }

    #[test]
    fn the_least_recently_used_conversation_is_forgotten_beyond_the_bound() {
        let c = Conversations::default();
        for i in 0..MAX_CONVERSATIONS {
            c.record(&format!("c{i}"), "k", "u", "hi");
        }
        // c0 is used again, so c1 is the oldest when one more arrives.
        c.record("c0", "k", "u", "again");
        c.record("new", "k", "u", "hi");
        assert_eq!(c.len(), MAX_CONVERSATIONS);
        assert!(c.facts("c0", "k", "u").is_some());
        assert!(c.facts("c1", "k", "u").is_none());
        assert!(c.facts("new", "k", "u").is_some());
        // Many touches of one conversation do not grow the use order without bound.
        for _ in 0..5 * MAX_CONVERSATIONS {
            c.record("c0", "k", "u", "again");
        }
        let order = c.inner.lock().unwrap().order.len();
        assert!(order <= 4 * MAX_CONVERSATIONS + 1, "{order}");
    }
}
