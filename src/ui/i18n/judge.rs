//! The strings of the judge: the admin's judges page and calibration, the launch form's judge
//! settings, the judge's part of a result, human review, the review queue and case revisions.

pub struct JudgeStrings {
    pub f_case_rubric: &'static str,
    pub f_case_rubric_help: &'static str,
}

pub static EN: JudgeStrings = JudgeStrings {
    f_case_rubric: "Rubric for the judge (optional)",
    f_case_rubric_help: "Added to the batch's rubric when an LLM judge grades this case",
};

pub static ZH_TW: JudgeStrings = JudgeStrings {
    f_case_rubric: "評審準則（選填）",
    f_case_rubric_help: "由 LLM 評審評分時，附加在批次準則之後",
};
