//! The simulated LLM judge: reads the prompt our judge's prompt builder writes, grades the
//! answer by its rubric from the texts alone, and words the verdict the way a key asks. Pure;
//! the HTTP side (auth, faults, latency, the OpenAI body) is `openai`'s.
//!
//! # The prompt it reads
//! The last message holding an `<answer>` section, with these sections in any order, other text
//! between them ignored, a section's text trimmed and `<\/name>` in it read as `</name>`:
//! `<rubric>` (correctness | faithfulness | completeness | language; anything else is graded as
//! correctness, the instructions being a custom rubric it cannot read), `<instructions>`,
//! `<question>`, `<expected_answer>`, `<context>` (optional), `<answer>`. Without an `<answer>`
//! (or without the reference a rubric needs) it answers prose with no score, as a confused LLM
//! would.
//!
//! # How it grades (facts as `facts` defines them)
//! - **correctness**: the facts of the expected answer — the knowledge-base keywords it states
//!   when the question is a knowledge-base question (so it knows the simulated apps' right
//!   answers), else the quantities and names it extracts. Score = the weighted share the answer
//!   states (a quantity weighs 2, a name or word 1), so a paraphrase keeping every fact scores
//!   100 whatever its wording. A fact the answer negates where the expected answer does not is
//!   a contradiction: the score drops to at most 10 and the verdict is fail, the reason naming it.
//! - **completeness**: the same facts, each weighing 1; a negated fact is not covered.
//! - **faithfulness**: the answer's own facts (quantities and names beyond the question), each
//!   checked against the retrieved context (else the expected answer); score = the share it
//!   supports, an answer with no specific claim is faithful (100), a negated supported fact is a
//!   contradiction as above.
//! - **language**: the question's script against the answer's (`script`): 100 when the answer
//!   is in the question's language and script, else 0 (a Traditional Chinese question answered in
//!   Simplified Chinese or English fails).
//!
//! Pass is score ≥ [`PASS_SCORE`] with no contradiction. Scores are whole numbers 0–100.
//!
//! # As a Dify app
//! An app key with the `judge` token is a judge built in Dify: it grades the same way from its
//! `question` / `expected_answer` / `answer` / `rubric` / `context` inputs (or from the prompt
//! contract in its query) and answers the strict-JSON verdict ([`as_dify_app`]).

use serde_json::{json, Value};

use super::facts::{self, canonical, Fact, FactKind};
use super::knowledge;
use super::script::script_of;
use crate::model::Rubric;

pub(super) const PASS_SCORE: u8 = 60;
/// The highest score an answer that contradicts its reference gets.
const CONTRADICTED_CAP: u8 = 10;
/// Reasons name at most this many facts per list.
const LISTED: usize = 10;

const SECTIONS: [&str; 6] = [
    "rubric",
    "instructions",
    "question",
    "expected_answer",
    "context",
    "answer",
];

/// What the judge was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Prompt {
    pub rubric: Rubric,
    pub question: String,
    pub expected: String,
    pub context: Option<String>,
    pub answer: String,
}

/// What the judge says instead of a verdict when the prompt gives it nothing to grade.
pub(super) const NOTHING_TO_GRADE: &str =
    "I need an answer in <answer> tags, with the question and \
     the expected answer, before I can grade anything.";

/// Reads the prompt contract out of the message texts (see the module doc).
pub(super) fn read_prompt<'a>(
    messages: impl DoubleEndedIterator<Item = &'a str>,
) -> Option<Prompt> {
    let text = messages.rev().find(|m| m.contains("<answer>"))?;
    let mut found: [Option<String>; 6] = Default::default();
    let mut at = 0;
    while let Some((open, index)) = SECTIONS
        .iter()
        .enumerate()
        .filter_map(|(i, name)| text[at..].find(&format!("<{name}>")).map(|p| (at + p, i)))
        .min()
    {
        let name = SECTIONS[index];
        let body = open + name.len() + 2;
        let close = format!("</{name}>");
        let Some(len) = text[body..].find(&close) else {
            break;
        };
        if found[index].is_none() {
            found[index] = Some(unescape(&text[body..body + len]).trim().to_string());
        }
        at = body + len + close.len();
    }
    let [rubric, _instructions, question, expected, context, answer] = found;
    Some(Prompt {
        rubric: rubric
            .and_then(|r| Rubric::parse(&r.to_lowercase()))
            .unwrap_or(Rubric::Correctness),
        question: question.unwrap_or_default(),
        expected: expected.unwrap_or_default(),
        context: context.filter(|c| !c.is_empty()),
        answer: answer?,
    })
}

/// Whether a Dify judge app's inputs carry what it grades (an `answer` string).
pub(super) fn has_inputs(inputs: &Value) -> bool {
    inputs.get("answer").is_some_and(Value::is_string)
}

/// What a Dify app with the `judge` token answers: the strict-JSON verdict for its `question`,
/// `expected_answer`, `answer`, `rubric` and `context` inputs, or, without an `answer` input,
/// for the prompt contract in its query.
pub(super) fn as_dify_app(query: &str, inputs: &Value) -> String {
    let text = |name: &str| {
        inputs
            .get(name)
            .and_then(Value::as_str)
            .map(|s| s.trim().to_string())
    };
    let prompt = match text("answer") {
        Some(answer) => Some(Prompt {
            rubric: text("rubric")
                .and_then(|r| Rubric::parse(&r.to_lowercase()))
                .unwrap_or(Rubric::Correctness),
            question: text("question").unwrap_or_default(),
            expected: text("expected_answer").unwrap_or_default(),
            context: text("context").filter(|c| !c.is_empty()),
            answer,
        }),
        None => read_prompt(std::iter::once(query)),
    };
    let verdict = prompt.ok_or(NOTHING_TO_GRADE).and_then(|p| grade(&p));
    render(&verdict, Shape::Json)
}

/// `<\/answer>` → `</answer>`, for the section names only.
fn unescape(text: &str) -> String {
    let mut out = text.to_string();
    for name in SECTIONS {
        out = out.replace(&format!("<\\/{name}>"), &format!("</{name}>"));
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Verdict {
    pub score: u8,
    pub pass: bool,
    pub reason: String,
}

/// The verdict, or the prose a judge answers when the prompt lacks what the rubric needs.
pub(super) fn grade(p: &Prompt) -> Result<Verdict, &'static str> {
    match p.rubric {
        Rubric::Language => Ok(language(&p.question, &p.answer)),
        Rubric::Faithfulness => {
            let (reference, source) = match &p.context {
                Some(context) => (context.as_str(), "the retrieved context"),
                None if !p.expected.is_empty() => (p.expected.as_str(), "the expected answer"),
                None => {
                    return Err(
                        "There is no context or expected answer to check the answer's \
                                claims against, so I cannot grade its faithfulness.",
                    )
                }
            };
            Ok(faithfulness(&p.question, reference, source, &p.answer))
        }
        Rubric::Correctness | Rubric::Completeness => {
            if p.expected.is_empty() {
                return Err(
                    "There is no expected answer to compare the answer with, so I \
                            cannot grade it.",
                );
            }
            let checked = check(
                &reference_facts(&p.question, &p.expected),
                &p.expected,
                &p.answer,
            );
            Ok(if p.rubric == Rubric::Correctness {
                correctness(&checked)
            } else {
                completeness(&checked)
            })
        }
    }
}

/// The knowledge-base keywords the expected answer states when the question is a knowledge-base
/// question, else the facts extracted from it.
fn reference_facts(question: &str, expected: &str) -> Vec<Fact> {
    let canon = canonical(expected);
    let known: Vec<Fact> = knowledge::find(question)
        .map(|entry| {
            entry
                .keywords
                .iter()
                .map(|k| {
                    let kind = if k.starts_with(|c: char| c.is_ascii_digit()) {
                        FactKind::Quantity
                    } else {
                        FactKind::Name
                    };
                    Fact::new(k, kind)
                })
                .filter(|f| f.stated_in(&canon))
                .collect()
        })
        .unwrap_or_default();
    if known.is_empty() {
        facts::extract(expected, question)
    } else {
        known
    }
}

/// One reference fact, and what the answer does with it.
struct Checked {
    fact: Fact,
    stated: bool,
    contradicted: bool,
}

fn check(reference_facts: &[Fact], reference: &str, answer: &str) -> Vec<Checked> {
    let reference = canonical(reference);
    let answer = canonical(answer);
    reference_facts
        .iter()
        .map(|fact| {
            let stated = fact.stated_in(&answer);
            Checked {
                fact: fact.clone(),
                stated,
                contradicted: stated && fact.negated_in(&answer) && !fact.negated_in(&reference),
            }
        })
        .collect()
}

fn weight(kind: FactKind) -> u32 {
    match kind {
        FactKind::Quantity => 2,
        FactKind::Name | FactKind::Word => 1,
    }
}

/// `part / whole` as a whole percentage; 100 when there is nothing to have.
fn percent(part: u32, whole: u32) -> u8 {
    if whole == 0 {
        return 100;
    }
    u8::try_from((part * 100 + whole / 2) / whole).unwrap_or(100)
}

fn correctness(checked: &[Checked]) -> Verdict {
    let total: u32 = checked.iter().map(|c| weight(c.fact.kind)).sum();
    let kept: u32 = checked
        .iter()
        .filter(|c| c.stated && !c.contradicted)
        .map(|c| weight(c.fact.kind))
        .sum();
    let contradicted = shown(checked.iter().filter(|c| c.contradicted));
    let found = shown(checked.iter().filter(|c| c.stated && !c.contradicted));
    let missing = shown(checked.iter().filter(|c| !c.stated));
    let mut score = percent(kept, total);
    let mut reason = String::new();
    if !contradicted.is_empty() {
        score = score.min(CONTRADICTED_CAP);
        reason.push_str(&format!(
            "The answer contradicts the expected answer: it negates {}, which the expected answer \
             states. ",
            list(&contradicted)
        ));
    }
    reason.push_str(&if contradicted.is_empty() {
        tally(
            "The answer states",
            found.len(),
            checked.len(),
            "key facts of the expected answer",
            &found,
            &missing,
            "it misses",
        )
    } else {
        tally(
            "Otherwise it states",
            found.len(),
            checked.len() - contradicted.len(),
            "other key facts",
            &found,
            &missing,
            "it misses",
        )
    });
    if contradicted.is_empty() && score >= PASS_SCORE && !missing.is_empty() {
        reason.push_str(" What it states is correct, so the gaps cost it only part of the score.");
    }
    Verdict {
        score,
        pass: contradicted.is_empty() && score >= PASS_SCORE,
        reason: reason.trim_end().to_string(),
    }
}

fn completeness(checked: &[Checked]) -> Verdict {
    let covered: Vec<&Checked> = checked
        .iter()
        .filter(|c| c.stated && !c.contradicted)
        .collect();
    let score = percent(
        u32::try_from(covered.len()).unwrap_or(u32::MAX),
        u32::try_from(checked.len()).unwrap_or(u32::MAX),
    );
    let found = shown(covered.iter().copied());
    let missing = shown(checked.iter().filter(|c| !c.stated || c.contradicted));
    let mut reason = tally(
        "The answer covers",
        found.len(),
        checked.len(),
        "points of the expected answer",
        &found,
        &missing,
        "it leaves out",
    );
    let negated = shown(checked.iter().filter(|c| c.contradicted));
    if !negated.is_empty() {
        reason.push_str(&format!(
            " It negates {}, which does not count as covering it.",
            list(&negated)
        ));
    }
    Verdict {
        score,
        pass: score >= PASS_SCORE,
        reason,
    }
}

fn faithfulness(question: &str, reference: &str, source: &str, answer: &str) -> Verdict {
    let claims: Vec<Fact> = facts::extract(answer, question)
        .into_iter()
        .filter(|f| f.kind != FactKind::Word)
        .collect();
    if claims.is_empty() {
        return Verdict {
            score: 100,
            pass: true,
            reason: format!(
                "The answer makes no specific claim (no figure or name beyond the question), so \
                 it asserts nothing that {source} does not support."
            ),
        };
    }
    let reference_canon = canonical(reference);
    let answer_canon = canonical(answer);
    let checked: Vec<Checked> = claims
        .into_iter()
        .map(|fact| {
            let stated = fact.stated_in(&reference_canon);
            let contradicted =
                stated && fact.negated_in(&answer_canon) && !fact.negated_in(&reference_canon);
            Checked {
                fact,
                stated,
                contradicted,
            }
        })
        .collect();
    let supported = shown(checked.iter().filter(|c| c.stated && !c.contradicted));
    let unsupported = shown(checked.iter().filter(|c| !c.stated));
    let contradicted = shown(checked.iter().filter(|c| c.contradicted));
    let mut score = percent(
        u32::try_from(supported.len()).unwrap_or(u32::MAX),
        u32::try_from(checked.len()).unwrap_or(u32::MAX),
    );
    let mut reason = String::new();
    if !contradicted.is_empty() {
        score = score.min(CONTRADICTED_CAP);
        reason.push_str(&format!(
            "The answer contradicts {source}: it negates {}. ",
            list(&contradicted)
        ));
    }
    reason.push_str(&format!(
        "{} of the answer's {} specific claims {} supported by {source}",
        supported.len(),
        checked.len(),
        if supported.len() == 1 { "is" } else { "are" }
    ));
    if !supported.is_empty() {
        reason.push_str(&format!(" ({})", list(&supported)));
    }
    if unsupported.is_empty() {
        reason.push('.');
    } else {
        reason.push_str(&format!(
            "; {} not found there: {}.",
            if unsupported.len() == 1 {
                "one is"
            } else {
                "these are"
            },
            list(&unsupported)
        ));
    }
    Verdict {
        score,
        pass: contradicted.is_empty() && score >= PASS_SCORE,
        reason,
    }
}

fn language(question: &str, answer: &str) -> Verdict {
    let (asked, _) = script_of(question);
    let (answered, evidence) = script_of(answer);
    let pass = answered.answers(asked);
    let evidence = if evidence.is_empty() {
        String::new()
    } else {
        let chars: Vec<String> = evidence.iter().map(char::to_string).collect();
        format!(" (it writes {})", chars.join(", "))
    };
    let reason = if pass {
        format!(
            "The question is in {} and the answer is in {}{evidence}, so it answers in the \
             question's language and script.",
            asked.name(),
            answered.name()
        )
    } else {
        format!(
            "The question is in {} but the answer is in {}{evidence}; it should answer in the \
             question's language and script.",
            asked.name(),
            answered.name()
        )
    };
    Verdict {
        score: if pass { 100 } else { 0 },
        pass,
        reason,
    }
}

fn shown<'a>(checked: impl Iterator<Item = &'a Checked>) -> Vec<&'a str> {
    checked.map(|c| c.fact.shown.as_str()).collect()
}

/// "a", "a and b", "a, b and c", at most [`LISTED`] then "and N more".
fn list(items: &[&str]) -> String {
    let shown = &items[..items.len().min(LISTED)];
    let more = items.len() - shown.len();
    match (shown.split_last(), more) {
        (None, _) => String::new(),
        (Some((last, [])), 0) => (*last).to_string(),
        (Some((last, rest)), 0) => format!("{} and {last}", rest.join(", ")),
        (Some(_), more) => format!("{} and {more} more", shown.join(", ")),
    }
}

/// "The answer states 3 of the 5 key facts of the expected answer (a, b and c); it misses d and e."
fn tally(
    lead: &str,
    found: usize,
    total: usize,
    what: &str,
    found_items: &[&str],
    missing: &[&str],
    missing_verb: &str,
) -> String {
    if total == 0 {
        return String::new();
    }
    let mut out = if found == 0 {
        format!("{lead} none of the {total} {what}")
    } else {
        format!(
            "{lead} {found} of the {total} {what} ({})",
            list(found_items)
        )
    };
    if missing.is_empty() {
        out.push_str(" and misses none.");
    } else {
        out.push_str(&format!("; {missing_verb} {}.", list(missing)));
    }
    out
}

/// How a judge key has the verdict worded (`keys::JudgeToken`'s output shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// `{"score":N,"pass":bool,"reason":"…"}` and nothing else.
    Json,
    /// A sentence, then the JSON inside a ```json fence.
    Fenced,
    /// `Score: 4/5`, `Verdict: PASS`, `Reason: …`.
    Text,
    /// Prose with no score at all.
    Malformed,
}

/// The message content the judge answers with.
pub(super) fn render(verdict: &Result<Verdict, &'static str>, shape: Shape) -> String {
    let v = match verdict {
        Err(prose) => return (*prose).to_string(),
        Ok(v) => v,
    };
    let object = json!({"score": v.score, "pass": v.pass, "reason": v.reason});
    match shape {
        Shape::Json => object.to_string(),
        Shape::Fenced => format!(
            "Here is my assessment of the answer against the rubric.\n\n```json\n{}\n```",
            serde_json::to_string_pretty(&object).unwrap_or_else(|_| object.to_string())
        ),
        Shape::Text => format!(
            "Score: {}/5\nVerdict: {}\nReason: {}",
            five_point(v.score),
            if v.pass { "PASS" } else { "FAIL" },
            v.reason
        ),
        Shape::Malformed => "I think the answer is fine.".to_string(),
    }
}

/// 0–100 onto 1–5 by nearest quarter: 0–12 → 1, 13–37 → 2, 38–62 → 3, 63–87 → 4, 88–100 → 5.
fn five_point(score: u8) -> u8 {
    1 + (score.min(100) + 12) / 25
}

#[cfg(test)]
mod tests {
    use super::super::answer;
    use super::super::knowledge::{entries, KbEntry};
    use super::super::rng::StableHash;
    use super::super::script::to_simplified;
    use super::*;

    fn prompt(rubric: &str, question: &str, expected: &str, answer: &str) -> String {
        format!(
            "<rubric>{rubric}</rubric>\n<instructions>\nGrade the <answer> below.\n</instructions>\n\
             <question>\n{question}\n</question>\n<expected_answer>\n{expected}\n</expected_answer>\n\
             <answer>\n{answer}\n</answer>"
        )
    }

    fn verdict(rubric: &str, question: &str, expected: &str, answer: &str) -> Verdict {
        let text = prompt(rubric, question, expected, answer);
        let p = read_prompt(std::iter::once(text.as_str())).expect("a prompt");
        grade(&p).expect("a verdict")
    }

    fn app_answer(entry: &KbEntry, quality: u8, seed: u64) -> String {
        let mut rng = StableHash::new("judge-test")
            .u64(seed)
            .str(entry.query)
            .rng();
        answer::compose(Some(entry), quality, &mut rng)
    }

    #[test]
    fn reads_the_contract_in_any_order_and_unescapes() {
        let text = "Please grade.\n<rubric>Language</rubric><question>Q?</question>\n\
                    <instructions>Say <answer> and <question> freely.</instructions>\n\
                    <answer>\nIt says <\\/answer> inside.\n</answer>\n<expected_answer>E</expected_answer>";
        let p = read_prompt(["system text", text].into_iter()).expect("a prompt");
        assert_eq!(
            p,
            Prompt {
                rubric: Rubric::Language,
                question: "Q?".into(),
                expected: "E".into(),
                context: None,
                answer: "It says </answer> inside.".into(),
            }
        );
        let custom = read_prompt(std::iter::once(
            "<rubric>tone</rubric><context> </context><answer>a</answer>",
        ))
        .expect("a prompt");
        assert_eq!((custom.rubric, custom.context), (Rubric::Correctness, None));
        assert_eq!(read_prompt(std::iter::once("<question>q</question>")), None);
        assert_eq!(read_prompt(std::iter::once("<answer>unclosed")), None);
    }

    #[test]
    fn a_paraphrase_keeping_every_fact_passes_correctness() {
        // The KB's C-PHY question: its keywords are the facts.
        let c_phy = &entries()[7];
        let paraphrase = "Per lane, C-PHY 2.0 signals at 6 Gsps; since every symbol holds 2.28 \
                          bits, that works out near 13.7 Gbps. A lane is three wires carrying an \
                          embedded clock, removing any need for a dedicated clock lane.";
        let v = verdict(
            "correctness",
            c_phy.query,
            c_phy.expected_answer,
            paraphrase,
        );
        assert_eq!((v.score, v.pass), (100, true), "{}", v.reason);
        // A question the knowledge base does not know: the quantities and names are the facts.
        let v = verdict(
            "correctness",
            "What is the top lane rate of MIPI D-PHY v2.5?",
            "MIPI D-PHY v2.5 reaches up to 4.5 Gbps per data lane.",
            "Each data lane tops out at 4.5Gbps.",
        );
        assert_eq!((v.score, v.pass), (100, true), "{}", v.reason);
        let v = verdict(
            "correctness",
            "D-PHY 的速率？",
            "MIPI D-PHY v2.5 每條資料通道最高速率為 4.5 Gbps，低功耗模式使用 1.2 V。",
            "2.5 版的 D-PHY 單一通道可跑到 4.5 Gbps，省電時改用 1.2 V 訊號，規格由 MIPI 制定。",
        );
        assert_eq!((v.score, v.pass), (100, true), "{}", v.reason);
    }

    #[test]
    fn a_negated_fact_fails_correctness_though_the_words_match() {
        let expected = "MIPI D-PHY v2.5 reaches up to 4.5 Gbps per data lane.";
        let v = verdict(
            "correctness",
            "What is the top lane rate of MIPI D-PHY v2.5?",
            expected,
            "MIPI D-PHY v2.5 is not 4.5 Gbps per data lane.",
        );
        assert!(!v.pass && v.score <= 20, "{v:?}");
        assert_eq!(
            v.reason,
            "The answer contradicts the expected answer: it negates 4.5 Gbps, which the expected \
             answer states."
        );

        let d_phy = &entries()[0];
        let negated = d_phy
            .expected_answer
            .replace("最高速率為 4.5 Gbps", "最高速率不是 4.5 Gbps");
        assert_ne!(negated, d_phy.expected_answer);
        let v = verdict("correctness", d_phy.query, d_phy.expected_answer, &negated);
        assert!(!v.pass && v.score <= 20, "{v:?}");
        assert!(v.reason.contains("4.5 Gbps"), "{}", v.reason);
        // Completeness does not count the negated fact as covered.
        let v = verdict("completeness", d_phy.query, d_phy.expected_answer, &negated);
        assert_eq!(v.score, 80, "{}", v.reason);
    }

    #[test]
    fn simulated_apps_pass_at_q100_and_fail_at_q0() {
        for entry in entries() {
            for seed in 0..3 {
                let good = app_answer(entry, 100, seed);
                let v = verdict("correctness", entry.query, entry.expected_answer, &good);
                assert_eq!(
                    (v.score, v.pass),
                    (100, true),
                    "{}: {}",
                    entry.name,
                    v.reason
                );
                let v = verdict("completeness", entry.query, entry.expected_answer, &good);
                assert!(v.pass, "{}: {}", entry.name, v.reason);
                let bad = app_answer(entry, 0, seed);
                let v = verdict("correctness", entry.query, entry.expected_answer, &bad);
                assert_eq!((v.score, v.pass), (0, false), "{}: {bad}", entry.name);
                let v = verdict("language", entry.query, entry.expected_answer, &good);
                assert!(v.pass, "{}: {}", entry.name, v.reason);
            }
        }
    }

    #[test]
    fn judge_scores_rise_with_app_quality() {
        let mean = |q: u8| -> u32 {
            let scores: Vec<u32> = entries()
                .iter()
                .flat_map(|e| {
                    (0..4).map(move |seed| {
                        let a = app_answer(e, q, seed);
                        u32::from(verdict("correctness", e.query, e.expected_answer, &a).score)
                    })
                })
                .collect();
            scores.iter().sum::<u32>() / u32::try_from(scores.len()).unwrap_or(1)
        };
        let (q90, q50, q20) = (mean(90), mean(50), mean(20));
        assert!(q90 > q50 && q50 > q20, "q90 {q90}, q50 {q50}, q20 {q20}");
    }

    #[test]
    fn language_follows_the_questions_script() {
        let usb4 = &entries()[1];
        let traditional = usb4.expected_answer;
        let v = verdict("language", usb4.query, "", traditional);
        assert_eq!((v.score, v.pass), (100, true), "{}", v.reason);
        let v = verdict("language", usb4.query, "", &to_simplified(traditional));
        assert_eq!((v.score, v.pass), (0, false));
        assert!(v.reason.contains("Simplified Chinese"), "{}", v.reason);
        let v = verdict("language", usb4.query, "", "USB4 tops out at 40 Gbps.");
        assert_eq!((v.score, v.pass), (0, false));
        assert!(v.reason.contains("English"), "{}", v.reason);
        let v = verdict(
            "language",
            "What is USB4's bandwidth?",
            "",
            "40 Gbps over two lanes.",
        );
        assert!(v.pass, "{}", v.reason);
        let v = verdict("language", "What is USB4's bandwidth?", "", traditional);
        assert!(!v.pass, "{}", v.reason);
    }

    #[test]
    fn faithfulness_checks_the_answers_claims_against_the_context() {
        let context = "SATA III signals at a 6 Gbps line rate with 8b/10b encoding.";
        let faithful = format!(
            "<rubric>faithfulness</rubric><question>SATA III?</question>\
             <context>{context}</context><answer>It runs at 6 Gbps using 8b/10b.</answer>"
        );
        let p = read_prompt(std::iter::once(faithful.as_str())).expect("a prompt");
        let v = grade(&p).expect("a verdict");
        assert_eq!((v.score, v.pass), (100, true), "{}", v.reason);
        let invented = faithful.replace("using 8b/10b", "using 128b/130b and 12 Gbps bursts");
        let p = read_prompt(std::iter::once(invented.as_str())).expect("a prompt");
        let v = grade(&p).expect("a verdict");
        assert!(!v.pass, "{v:?}");
        assert!(v.reason.contains("128b/130b and 12 Gbps"), "{}", v.reason);
        let hedged = faithful.replace("It runs at 6 Gbps using 8b/10b.", "I am not sure.");
        let p = read_prompt(std::iter::once(hedged.as_str())).expect("a prompt");
        assert!(grade(&p).expect("a verdict").pass);
    }

    #[test]
    fn a_dify_judge_app_grades_its_inputs_or_its_query() {
        let v = |text: String| -> serde_json::Value {
            serde_json::from_str(&text).expect("strict JSON")
        };
        let inputs = json!({
            "question": "What is the top lane rate of MIPI D-PHY v2.5?",
            "expected_answer": "MIPI D-PHY v2.5 reaches up to 4.5 Gbps per data lane.",
            "answer": "It is not 4.5 Gbps.",
            "rubric": "correctness",
        });
        assert!(has_inputs(&inputs));
        assert_eq!(v(as_dify_app("", &inputs))["pass"], false);
        let query = prompt("correctness", "q?", "It is 10 Gbps.", "10 Gbps it is.");
        assert!(!has_inputs(&json!({"query": query})));
        assert_eq!(v(as_dify_app(&query, &json!({})))["score"], 100);
        assert_eq!(as_dify_app("hello", &json!({})), NOTHING_TO_GRADE);
    }

    #[test]
    fn missing_references_get_prose_not_a_score() {
        let p = read_prompt(std::iter::once(
            "<rubric>correctness</rubric><answer>a</answer>",
        ))
        .expect("a prompt");
        let said = grade(&p);
        assert!(said.is_err());
        assert!(!render(&said, Shape::Json).contains("score"));
    }

    #[test]
    fn shapes_word_the_same_verdict() {
        let v = Ok(Verdict {
            score: 80,
            pass: true,
            reason: "It says \"4.5 Gbps\".".into(),
        });
        let json: serde_json::Value =
            serde_json::from_str(&render(&v, Shape::Json)).expect("strict JSON");
        assert_eq!(
            json,
            json!({"score": 80, "pass": true, "reason": "It says \"4.5 Gbps\"."})
        );
        let fenced = render(&v, Shape::Fenced);
        let inner = fenced
            .split("```json\n")
            .nth(1)
            .and_then(|rest| rest.split("\n```").next())
            .expect("a fence");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(inner).ok(),
            Some(json)
        );
        assert_eq!(
            render(&v, Shape::Text),
            "Score: 4/5\nVerdict: PASS\nReason: It says \"4.5 Gbps\"."
        );
        assert!(!render(&v, Shape::Malformed)
            .chars()
            .any(|c| c.is_ascii_digit()));
    }

    #[test]
    fn five_point_scale_by_nearest_quarter() {
        let mapped: Vec<u8> = [0, 12, 13, 37, 38, 62, 63, 87, 88, 100]
            .into_iter()
            .map(five_point)
            .collect();
        assert_eq!(mapped, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    }

    #[test]
    fn lists_read_as_prose() {
        assert_eq!(list(&["a"]), "a");
        assert_eq!(list(&["a", "b", "c"]), "a, b and c");
        let many: Vec<String> = (0..12).map(|i| i.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(list(&many), "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2 more");
    }
}
