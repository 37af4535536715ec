//! The strings of the version form (a dialog of the versions page, loaded on demand).

pub struct VersionFormStrings {
    pub new_version_title: &'static str,
    pub edit_version_title: &'static str,
    pub f_description: &'static str,
    pub f_app_mode: &'static str,
    pub f_response_mode: &'static str,
    pub f_answer_field: &'static str,
    pub f_answer_field_help: &'static str,
}

pub static EN: VersionFormStrings = VersionFormStrings {
    new_version_title: "New version",
    edit_version_title: "Edit version",
    f_description: "Description",
    f_app_mode: "App mode",
    f_response_mode: "Response mode",
    f_answer_field: "Answer field (workflow apps)",
    f_answer_field_help: "Empty: the only string output, else answer / text / result",
};

pub static ZH_TW: VersionFormStrings = VersionFormStrings {
    new_version_title: "新增版本",
    edit_version_title: "編輯版本",
    f_description: "說明",
    f_app_mode: "應用類型",
    f_response_mode: "回應模式",
    f_answer_field: "答案欄位（工作流應用）",
    f_answer_field_help: "留空：唯一的字串輸出，否則 answer / text / result",
};
