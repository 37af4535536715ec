//! Multi-turn cases: a case may be a conversation. Turn 1 is the case's own query, expected
//! answer, keywords and assertions (so every case without `turns` is a one-turn case, unchanged);
//! `turns` holds turns 2 to [`MAX_TURNS_PER_CASE`](limits::MAX_TURNS_PER_CASE), each with its own
//! query and grading. The runner sends each turn with the `conversation_id` Dify gave the answer
//! before it, scores every turn alike, and combines them ([`combine`]): the case's score is the
//! mean of its turns', and it passes only when every turn passes.

use serde::{Deserialize, Serialize};

use super::{clean_list, limits, Assertion, TestCase};

/// One turn after the first of a conversation case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Turn {
    pub query: String,
    pub expected_answer: String,
    pub keywords: Vec<String>,
    pub assertions: Vec<Assertion>,
    /// Extra `inputs` for this turn, merged over the case's (a JSON object). Dify reads a
    /// conversation's inputs at its first turn; a chatflow may read them at every turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Value>,
}

/// How one turn of a multi-turn test went (stored with its result; turn 1 included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TurnResult {
    /// 1-based.
    pub turn: u32,
    pub query: String,
    pub answer: Option<String>,
    /// 0–100; None when the turn had no answer (or was never sent).
    pub score: Option<f64>,
    pub passed: bool,
    pub latency_ms: Option<i64>,
    pub total_tokens: Option<i64>,
    /// Dify's error for this turn (`code: message`), when it had no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The conversation Dify answered the turn in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

impl TestCase {
    /// 1 for a plain case, else 1 + its extra turns.
    pub fn turn_count(&self) -> usize {
        1 + self.turns.len()
    }

    /// Turn `n` (1-based) as a one-turn case: the case itself for turn 1, else the case with
    /// that turn's query, expected answer, keywords, assertions and inputs (merged over the
    /// case's). Name, rubric and threshold stay the case's. None beyond the last turn.
    pub fn turn_case(&self, n: usize) -> Option<TestCase> {
        if n == 1 {
            let mut one = self.clone();
            one.turns.clear();
            return Some(one);
        }
        let turn = self.turns.get(n.checked_sub(2)?)?;
        let mut inputs = self.inputs.clone();
        if let (Some(serde_json::Value::Object(extra)), serde_json::Value::Object(base)) =
            (&turn.inputs, &mut inputs)
        {
            for (k, v) in extra {
                base.insert(k.clone(), v.clone());
            }
        } else if let Some(extra @ serde_json::Value::Object(_)) = &turn.inputs {
            inputs = extra.clone();
        }
        Some(TestCase {
            query: turn.query.clone(),
            expected_answer: turn.expected_answer.clone(),
            keywords: turn.keywords.clone(),
            assertions: turn.assertions.clone(),
            inputs,
            turns: Vec::new(),
            ..self.clone()
        })
    }
}

/// Trims every turn's texts and refuses what cannot work, naming the turn (2-based, as the user
/// counts them: turn 1 is the case's own query) and the field: "turn 3: `query` is empty".
pub fn normalize_turns(turns: Vec<Turn>) -> Result<Vec<Turn>, String> {
    let max_extra = limits::MAX_TURNS_PER_CASE - 1;
    if turns.len() > max_extra {
        return Err(format!(
            "`turns` has {} turns after the first; a conversation has at most {} turns in all",
            turns.len(),
            limits::MAX_TURNS_PER_CASE
        ));
    }
    turns
        .into_iter()
        .enumerate()
        .map(|(i, mut t)| {
            let n = i + 2;
            t.query = t.query.trim().to_string();
            t.expected_answer = t.expected_answer.trim().to_string();
            if t.query.is_empty() {
                return Err(format!("turn {n}: `query` is empty"));
            }
            let at = |field: &str| format!("turn {n}: `{field}`");
            limits::check_chars(&at("query"), &t.query, limits::MAX_QUERY_CHARS)?;
            limits::check_chars(
                &at("expected_answer"),
                &t.expected_answer,
                limits::MAX_EXPECTED_ANSWER_CHARS,
            )?;
            t.keywords = clean_list(t.keywords);
            limits::check_count(
                &at("keywords"),
                t.keywords.len(),
                limits::MAX_KEYWORDS_PER_CASE,
            )?;
            for (k, word) in t.keywords.iter().enumerate() {
                limits::check_chars(
                    &format!("turn {n}: `keywords`: keyword {}", k + 1),
                    word,
                    limits::MAX_KEYWORD_CHARS,
                )?;
            }
            super::check_assertions(&format!("turn {n}: "), &t.assertions)?;
            match &t.inputs {
                None | Some(serde_json::Value::Object(_)) => {}
                Some(serde_json::Value::Null) => t.inputs = None,
                Some(_) => return Err(format!("turn {n}: `inputs` must be a JSON object")),
            }
            Ok(t)
        })
        .collect()
}

/// A conversation's score and pass from its turns' (score, passed): the mean score, and a pass
/// only when every turn passed. None for no turns.
pub fn combine(turns: &[(f64, bool)]) -> Option<(f64, bool)> {
    if turns.is_empty() {
        return None;
    }
    let mean = turns.iter().map(|(s, _)| s).sum::<f64>() / turns.len() as f64;
    Some((mean, turns.iter().all(|(_, p)| *p)))
}

/// What a judge reads for the last turn of a conversation: the turns before it, then its query.
pub fn transcript(earlier: &[(String, String)], last_query: &str) -> String {
    let mut text = String::new();
    for (q, a) in earlier {
        text.push_str("User: ");
        text.push_str(q);
        text.push_str("\nAssistant: ");
        text.push_str(a);
        text.push_str("\n\n");
    }
    text.push_str("User: ");
    text.push_str(last_query);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CaseDraft;

    fn turn(q: &str) -> Turn {
        Turn {
            query: q.into(),
            ..Default::default()
        }
    }

    #[test]
    fn turns_are_trimmed_and_errors_name_the_turn_and_field() {
        let ok = normalize_turns(vec![Turn {
            query: "  second ".into(),
            keywords: vec![" a ".into(), "a".into(), "".into()],
            ..Default::default()
        }])
        .unwrap();
        assert_eq!(ok[0].query, "second");
        assert_eq!(ok[0].keywords, vec!["a".to_string()]);

        let err = normalize_turns(vec![turn("two"), turn("  ")]).unwrap_err();
        assert_eq!(err, "turn 3: `query` is empty");

        let long = "x".repeat(limits::MAX_QUERY_CHARS + 1);
        let err = normalize_turns(vec![turn(&long)]).unwrap_err();
        assert!(
            err.starts_with("turn 2: `query` is 20,001 characters"),
            "{err}"
        );

        let err = normalize_turns(vec![Turn {
            query: "q".into(),
            keywords: vec!["k".repeat(limits::MAX_KEYWORD_CHARS + 1)],
            ..Default::default()
        }])
        .unwrap_err();
        assert!(err.starts_with("turn 2: `keywords`: keyword 1 is"), "{err}");

        let err = normalize_turns(vec![Turn {
            query: "q".into(),
            assertions: vec![Assertion::Regex {
                pattern: "r".repeat(limits::MAX_REGEX_CHARS + 1),
            }],
            ..Default::default()
        }])
        .unwrap_err();
        assert!(
            err.starts_with("turn 2: assertion 1: the regex is"),
            "{err}"
        );

        let err = normalize_turns(vec![Turn {
            query: "q".into(),
            inputs: Some(serde_json::json!([1])),
            ..Default::default()
        }])
        .unwrap_err();
        assert_eq!(err, "turn 2: `inputs` must be a JSON object");
    }

    #[test]
    fn at_most_twenty_turns_in_all() {
        let max = vec![turn("q"); limits::MAX_TURNS_PER_CASE - 1];
        assert_eq!(normalize_turns(max).unwrap().len(), 19);
        let over = vec![turn("q"); limits::MAX_TURNS_PER_CASE];
        let err = normalize_turns(over).unwrap_err();
        assert_eq!(
            err,
            "`turns` has 20 turns after the first; a conversation has at most 20 turns in all"
        );
    }

    #[test]
    fn a_draft_checks_its_turns_and_old_json_has_none() {
        let draft: CaseDraft = serde_json::from_str(r#"{"query": "q"}"#).unwrap();
        assert!(draft.turns.is_empty());
        let draft = CaseDraft {
            query: "q".into(),
            turns: vec![turn("")],
            ..Default::default()
        };
        assert_eq!(draft.normalized().unwrap_err(), "turn 2: `query` is empty");
    }

    #[test]
    fn scores_combine_as_the_mean_and_all_must_pass() {
        assert_eq!(combine(&[]), None);
        assert_eq!(combine(&[(80.0, true)]), Some((80.0, true)));
        assert_eq!(
            combine(&[(100.0, true), (50.0, true), (90.0, true)]),
            Some((80.0, true))
        );
        // A high mean does not pass a conversation one of whose turns failed.
        assert_eq!(
            combine(&[(100.0, true), (100.0, true), (40.0, false)]),
            Some((80.0, false))
        );
    }

    #[test]
    fn a_turn_case_carries_the_turn_and_merges_inputs() {
        let case = TestCase {
            id: crate::model::CaseId(1),
            name: "conv".into(),
            query: "first".into(),
            expected_answer: "one".into(),
            keywords: vec!["k1".into()],
            category: String::new(),
            tags: vec![],
            pass_threshold: Some(70.0),
            assertions: vec![],
            inputs: serde_json::json!({"a": 1, "b": 2}),
            enabled: true,
            created_at: 0,
            updated_at: 0,
            created_by: None,
            updated_by: None,
            rubric: None,
            revision: 1,
            turns: vec![Turn {
                query: "second".into(),
                expected_answer: "two".into(),
                keywords: vec!["k2".into()],
                assertions: vec![],
                inputs: Some(serde_json::json!({"b": 3})),
            }],
        };
        assert_eq!(case.turn_count(), 2);
        let first = case.turn_case(1).unwrap();
        assert_eq!((first.query.as_str(), first.turns.len()), ("first", 0));
        let second = case.turn_case(2).unwrap();
        assert_eq!(second.query, "second");
        assert_eq!(second.expected_answer, "two");
        assert_eq!(second.keywords, vec!["k2".to_string()]);
        assert_eq!(second.inputs, serde_json::json!({"a": 1, "b": 3}));
        assert_eq!(second.pass_threshold, Some(70.0));
        assert!(case.turn_case(3).is_none());
        assert!(case.turn_case(0).is_none());
    }

    #[test]
    fn the_transcript_lists_earlier_turns_then_the_last_query() {
        let t = transcript(&[("Hi".into(), "Hello".into())], "And then?");
        assert_eq!(t, "User: Hi\nAssistant: Hello\n\nUser: And then?");
    }
}
