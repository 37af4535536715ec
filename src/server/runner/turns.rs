//! A multi-turn test (see [`crate::model::turns`]): turn 1 starts a conversation, each later
//! turn is sent with the `conversation_id` Dify gave the answer before it. Every turn is scored
//! by the case's plan for that turn; the test's score is their mean and it passes only when
//! every turn passes. Its answer, ids, trace and score detail are the last turn's; latency,
//! tokens, price and attempts are summed over the turns. An error on turn k ends the test as an
//! error "turn k of n: …" (the turns before it kept in the result). The judge, when the batch
//! has one, grades the last turn, reading the conversation so far as its question.
//!
//! Throttles: turn 1 may hand a throttle back to the dispatcher like any test (nothing is lost:
//! the conversation starts again); later turns retry in place, so a conversation is never
//! abandoned halfway. The test keeps its place among the calls in flight for all its turns.

use tokio::sync::{mpsc, OwnedSemaphorePermit};

use super::{signal_of, Job, JobEnd, Signal};
use crate::model::{turns, AppMode, TestResult, TurnResult, Usage};
use crate::server::dify::{Answer, DifyClient, Failure, Throttles};
use crate::server::progress::Registry;
use crate::server::scoring::Scored;

/// The error code of a multi-turn case run on an app without conversations.
pub const CONVERSATION_UNSUPPORTED: &str = "conversation_unsupported";

impl Job {
    pub(super) async fn run_conversation(
        self,
        client: &DifyClient,
        registry: &Registry,
        tx: &mpsc::Sender<TestResult>,
        call: OwnedSemaphorePermit,
    ) -> JobEnd {
        let n = self.case.turn_count();
        if let AppMode::Completion | AppMode::Workflow = self.endpoint.app_mode {
            drop(call);
            let failure = unsupported(self.endpoint.app_mode, n);
            let result = self.result(Err(failure));
            return send(tx, result, Signal::Refused).await;
        }
        let mut done: Vec<TurnResult> = Vec::with_capacity(n);
        let mut scores: Vec<(f64, bool)> = Vec::with_capacity(n);
        let mut earlier: Vec<(String, String)> = Vec::with_capacity(n);
        let mut sum = Sum::default();
        let mut conversation: Option<String> = None;
        let mut last: Option<(Answer, Scored)> = None;
        for k in 1..=n {
            let Some(case) = self.case.turn_case(k) else {
                break;
            };
            let throttles = if k == 1 {
                self.throttles
            } else {
                Throttles::Retry
            };
            let outcome = client
                .call_in(
                    &self.endpoint,
                    &case.query,
                    &case.inputs,
                    conversation.as_deref(),
                    throttles,
                )
                .await;
            let answer = match outcome {
                Ok(answer) => answer,
                Err(failure) => {
                    if k == 1 {
                        if let Some(end) = self.handed_back(&failure, registry) {
                            return end;
                        }
                    }
                    drop(call);
                    let signal = signal_of(Some(&failure));
                    done.push(TurnResult {
                        turn: k as u32,
                        query: case.query,
                        error: Some(format!("{}: {}", failure.code, failure.message)),
                        conversation_id: conversation,
                        ..Default::default()
                    });
                    let attempts = sum.attempts + failure.attempts;
                    let failure = Failure {
                        message: format!("turn {k} of {n}: {}", failure.message),
                        attempts,
                        ..failure
                    };
                    let result = TestResult {
                        usage: sum.usage,
                        turns: done,
                        ..self.result(Err(failure))
                    };
                    return send(tx, result, signal).await;
                }
            };
            if let Some(id) = &answer.ids.conversation_id {
                conversation = Some(id.clone());
            }
            // The judge grades the last turn only, reading the whole conversation.
            let semantic = if k == n {
                let mut judged = case.clone();
                judged.query = turns::transcript(&earlier, &case.query);
                self.semantic(&judged, &answer).await
            } else {
                self.seen.note(answer.workflow_id.as_deref());
                Default::default()
            };
            let Some((answer, scored)) = self.score(k, answer, semantic).await else {
                return JobEnd::Unsaved;
            };
            sum.add(&answer);
            scores.push((scored.score, scored.passed));
            done.push(TurnResult {
                turn: k as u32,
                query: case.query.clone(),
                answer: Some(answer.answer.clone()),
                score: Some(scored.score),
                passed: scored.passed,
                latency_ms: Some(answer.latency_ms),
                total_tokens: answer.usage.total_tokens,
                error: None,
                conversation_id: answer.ids.conversation_id.clone(),
            });
            earlier.push((case.query, answer.answer.clone()));
            last = Some((answer, scored));
        }
        drop(call);
        let (Some((answer, scored)), Some((score, passed))) = (last, turns::combine(&scores))
        else {
            return JobEnd::Unsaved;
        };
        let answer = Answer {
            latency_ms: sum.latency_ms,
            ttft_ms: sum.ttft_ms,
            usage: sum.usage,
            attempts: sum.attempts,
            ..answer
        };
        let scored = Scored {
            score,
            passed,
            ..scored
        };
        let result = TestResult {
            turns: done,
            ..self.result(Ok((answer, scored)))
        };
        send(tx, result, Signal::Answered).await
    }
}

async fn send(tx: &mpsc::Sender<TestResult>, result: TestResult, signal: Signal) -> JobEnd {
    match tx.send(result).await {
        Ok(()) => JobEnd::Stored(signal),
        Err(_) => JobEnd::Unsaved,
    }
}

/// A multi-turn case on an app that has no conversations: no call is made.
fn unsupported(mode: AppMode, turns: usize) -> Failure {
    Failure {
        code: CONVERSATION_UNSUPPORTED.to_string(),
        message: format!(
            "this case is a conversation of {turns} turns, but a {mode} app has no \
             conversations (Dify gives no conversation_id to continue); run multi-turn cases \
             on chat, agent or chatflow apps"
        ),
        http_status: None,
        attempts: 0,
        ids: Default::default(),
        retry_after: None,
        trace: None,
    }
}

/// What a conversation's turns add up to: time, tokens, price and calls.
#[derive(Default)]
struct Sum {
    latency_ms: i64,
    ttft_ms: Option<i64>,
    usage: Usage,
    attempts: u32,
}

impl Sum {
    fn add(&mut self, answer: &Answer) {
        self.latency_ms += answer.latency_ms;
        // The conversation's first token is its first turn's.
        self.ttft_ms = self.ttft_ms.or(answer.ttft_ms);
        self.attempts += answer.attempts;
        let u = &mut self.usage;
        let a = &answer.usage;
        u.prompt_tokens = plus(u.prompt_tokens, a.prompt_tokens);
        u.completion_tokens = plus(u.completion_tokens, a.completion_tokens);
        u.total_tokens = plus(u.total_tokens, a.total_tokens);
        u.total_price = match (u.total_price, a.total_price) {
            (None, None) => None,
            (x, y) => Some(x.unwrap_or(0.0) + y.unwrap_or(0.0)),
        };
        if u.currency.is_none() {
            u.currency = a.currency.clone();
        }
    }
}

fn plus(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (None, None) => None,
        (x, y) => Some(x.unwrap_or(0).saturating_add(y.unwrap_or(0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(latency: i64, ttft: Option<i64>, tokens: Option<i64>, price: Option<f64>) -> Answer {
        Answer {
            answer: "a".into(),
            latency_ms: latency,
            ttft_ms: ttft,
            usage: Usage {
                prompt_tokens: tokens,
                completion_tokens: None,
                total_tokens: tokens,
                total_price: price,
                currency: price.map(|_| "USD".into()),
            },
            ids: Default::default(),
            attempts: 1,
            retrieved: vec![],
            trace: Default::default(),
            workflow_id: None,
        }
    }

    #[test]
    fn turns_add_up_time_tokens_price_and_calls() {
        let mut sum = Sum::default();
        sum.add(&answer(100, Some(20), Some(10), None));
        sum.add(&answer(250, Some(30), None, Some(0.5)));
        sum.add(&answer(50, None, Some(5), Some(0.25)));
        assert_eq!(sum.latency_ms, 400);
        assert_eq!(sum.ttft_ms, Some(20));
        assert_eq!(sum.attempts, 3);
        assert_eq!(sum.usage.total_tokens, Some(15));
        assert_eq!(sum.usage.completion_tokens, None);
        assert_eq!(sum.usage.total_price, Some(0.75));
        assert_eq!(sum.usage.currency.as_deref(), Some("USD"));
    }

    #[test]
    fn the_unsupported_error_names_the_mode_and_what_to_do() {
        let f = unsupported(AppMode::Completion, 3);
        assert_eq!(f.code, "conversation_unsupported");
        assert!(f.message.contains("3 turns"), "{}", f.message);
        assert!(f.message.contains("a completion app"), "{}", f.message);
        assert!(
            f.message.contains("chat, agent or chatflow"),
            "{}",
            f.message
        );
    }
}
