//! Which results deserve a person's look (the review queue): pure, so the rules read as a table.

use crate::model::{QueueReason, ScoreDetail};

/// Points either side of the pass threshold that count as "near" it.
pub const NEAR_THRESHOLD_POINTS: f64 = 5.0;

/// The mean of the lexical components a result has (keyword coverage, similarity); None when it
/// has neither.
pub fn lexical_score(detail: &ScoreDetail) -> Option<f64> {
    let parts: Vec<f64> = [detail.keyword_score, detail.similarity_score]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.iter().sum::<f64>() / parts.len() as f64)
}

/// Why an answered result with `score` (of a test whose threshold is `threshold`) belongs in the
/// review queue; empty when it does not.
pub fn reasons(detail: &ScoreDetail, score: Option<f64>, threshold: f64) -> Vec<QueueReason> {
    let mut out = Vec::new();
    if let Some(judge) = &detail.judge {
        if judge.error.is_some() {
            out.push(QueueReason::JudgeError);
        } else if let (Some(passed), Some(lexical)) = (judge.passed, lexical_score(detail)) {
            if passed != (lexical >= threshold) {
                out.push(QueueReason::Disagreement);
            }
        }
    }
    if let Some(score) = score {
        if (score - threshold).abs() <= NEAR_THRESHOLD_POINTS {
            out.push(QueueReason::NearThreshold);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JudgeOutcome;

    fn detail(
        keyword: Option<f64>,
        similarity: Option<f64>,
        judge: Option<JudgeOutcome>,
    ) -> ScoreDetail {
        ScoreDetail {
            keyword_score: keyword,
            similarity_score: similarity,
            judge,
            ..ScoreDetail::default()
        }
    }

    fn judged(passed: bool) -> Option<JudgeOutcome> {
        Some(JudgeOutcome {
            score: Some(if passed { 90.0 } else { 10.0 }),
            passed: Some(passed),
            ..JudgeOutcome::default()
        })
    }

    #[test]
    fn the_queue_rules() {
        use QueueReason::*;
        let error = Some(JudgeOutcome {
            error: Some("the judge call failed".into()),
            ..JudgeOutcome::default()
        });
        let table: &[(ScoreDetail, Option<f64>, Vec<QueueReason>)] = &[
            // A paraphrase: the judge passes it, the words do not.
            (
                detail(Some(20.0), Some(30.0), judged(true)),
                Some(80.0),
                vec![Disagreement],
            ),
            // A negation: the words pass it, the judge does not.
            (
                detail(Some(100.0), Some(90.0), judged(false)),
                Some(30.0),
                vec![Disagreement],
            ),
            // Agreement far from the threshold: nothing to look at.
            (
                detail(Some(100.0), Some(90.0), judged(true)),
                Some(95.0),
                vec![],
            ),
            (
                detail(Some(80.0), None, error),
                Some(80.0),
                vec![JudgeError],
            ),
            (
                detail(Some(60.0), Some(62.0), None),
                Some(61.0),
                vec![NearThreshold],
            ),
            (
                detail(Some(60.0), Some(50.0), judged(true)),
                Some(57.0),
                vec![Disagreement, NearThreshold],
            ),
            // Without lexical components there is nothing to disagree with.
            (detail(None, None, judged(false)), Some(10.0), vec![]),
        ];
        for (d, score, want) in table {
            assert_eq!(&reasons(d, *score, 60.0), want, "{d:?} {score:?}");
        }
    }

    #[test]
    fn lexical_is_the_mean_of_what_exists() {
        assert_eq!(
            lexical_score(&detail(Some(20.0), Some(40.0), None)),
            Some(30.0)
        );
        assert_eq!(lexical_score(&detail(None, Some(40.0), None)), Some(40.0));
        assert_eq!(lexical_score(&detail(None, None, None)), None);
    }
}
