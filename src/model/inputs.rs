//! A Dify app's input form (`GET /parameters` → `user_input_form`) as typed fields, and the
//! checks Dify applies to a call's `inputs` against it, with Dify's own wording, so a case is
//! refused here rather than by a 400 in the middle of a batch. Pure and shared with the WASM
//! client (the case form shows the same messages as the server). The rules follow Dify's
//! `BaseAppGenerator._validate_inputs` (`api/core/app/apps/base_app_generator.py`): a missing
//! required variable, a non-string text, a select value outside its options, a text longer than
//! `max_length` (counted in characters), a number that does not parse, a file that is not an
//! object, a file list that is not a list of objects or has more than `max_length` files.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A form field's type, as Dify names it in `user_input_form` (the key around each field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldType {
    #[serde(rename = "text-input")]
    TextInput,
    #[serde(rename = "paragraph")]
    Paragraph,
    #[serde(rename = "select")]
    Select,
    #[serde(rename = "number")]
    Number,
    #[serde(rename = "file")]
    File,
    #[serde(rename = "file-list")]
    FileList,
    #[serde(rename = "checkbox")]
    Checkbox,
    #[serde(rename = "json_object")]
    JsonObject,
    /// A type this release of dify-bench does not know: its value is taken as given.
    #[serde(rename = "other")]
    Other,
}

impl FieldType {
    pub fn parse(s: &str) -> FieldType {
        match s {
            "text-input" => FieldType::TextInput,
            "paragraph" => FieldType::Paragraph,
            "select" => FieldType::Select,
            "number" => FieldType::Number,
            "file" => FieldType::File,
            "file-list" => FieldType::FileList,
            "checkbox" => FieldType::Checkbox,
            "json_object" => FieldType::JsonObject,
            _ => FieldType::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::TextInput => "text-input",
            FieldType::Paragraph => "paragraph",
            FieldType::Select => "select",
            FieldType::Number => "number",
            FieldType::File => "file",
            FieldType::FileList => "file-list",
            FieldType::Checkbox => "checkbox",
            FieldType::JsonObject => "json_object",
            FieldType::Other => "other",
        }
    }

    /// Takes a string (Dify refuses anything else for these).
    fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::TextInput | FieldType::Paragraph | FieldType::Select
        )
    }
}

/// One field of an app's input form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormField {
    pub variable: String,
    /// The label Dify shows (the variable when the form has none).
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Dify's type name as sent (for an `Other` field, the unknown name).
    pub type_name: String,
    pub required: bool,
    /// Characters for text, files for a file list; None: no limit.
    pub max_length: Option<u64>,
    /// A select's choices.
    pub options: Vec<String>,
    pub default: Option<Value>,
    /// A file field's `allowed_file_types` (`document`, `image`, `audio`, `video`, `custom`).
    pub allowed_file_types: Vec<String>,
    /// A file field's `allowed_file_upload_methods` (`remote_url`, `local_file`).
    pub allowed_upload_methods: Vec<String>,
}

/// The input form of one version, as `version_input_form` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InputForm {
    pub version_id: super::VersionId,
    pub app_mode: super::AppMode,
    pub fields: Vec<FormField>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads `user_input_form` (a list of `{"<type>": {variable, label, required, …}}`). A field
/// without a variable name is refused, naming its position.
pub fn parse_form(form: &Value) -> Result<Vec<FormField>, String> {
    let items = form.as_array().ok_or("`user_input_form` is not a list")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (type_name, field) = item
            .as_object()
            .and_then(|o| o.iter().next())
            .filter(|(_, f)| f.is_object())
            .ok_or_else(|| format!("`user_input_form` item {} is not a typed field", i + 1))?;
        let variable = field
            .get("variable")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("`user_input_form` item {} has no variable", i + 1))?
            .to_string();
        let label = field
            .get("label")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .unwrap_or(&variable)
            .to_string();
        out.push(FormField {
            label,
            kind: FieldType::parse(type_name),
            type_name: type_name.clone(),
            required: field
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            max_length: field
                .get("max_length")
                .and_then(Value::as_u64)
                .filter(|n| *n > 0),
            options: strings(field.get("options")),
            default: field.get("default").filter(|d| !d.is_null()).cloned(),
            allowed_file_types: strings(field.get("allowed_file_types")),
            allowed_upload_methods: strings(field.get("allowed_file_upload_methods")),
            variable,
        });
    }
    Ok(out)
}

/// A list as Python prints it (`['en', 'zh-TW']`), which is how Dify's message shows options.
fn python_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// Checks one value as Dify does; `Ok(None)` when the field is left out (not required, no
/// value). The error is Dify's message.
pub fn check_value(field: &FormField, value: Option<&Value>) -> Result<Option<Value>, String> {
    let var = &field.variable;
    let value = match value.filter(|v| !v.is_null()) {
        Some(v) => v.clone(),
        None if field.required => return Err(format!("{var} is required in input form")),
        // Dify goes on with the default; `/parameters` spells "no default" as `""`, which a
        // select would then refuse for every call leaving it out, so an empty default is none.
        None => match &field.default {
            Some(d) if d.as_str() != Some("") => d.clone(),
            _ => return Ok(None),
        },
    };
    if matches!(field.kind, FieldType::File | FieldType::FileList)
        && !field.required
        && value.as_str() == Some("")
    {
        return Ok(None);
    }
    if field.kind.is_text() && !value.is_string() {
        return Err(format!(
            "(type '{}') {var} in input form must be a string",
            field.type_name
        ));
    }
    match field.kind {
        FieldType::Number => match &value {
            Value::Number(_) => Ok(Some(value)),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => parse_number(s)
                .map(Some)
                .ok_or_else(|| format!("{var} in input form must be a valid number")),
            other => Err(format!(
                "expected value type int, float or str, got {}, value: {other}",
                json_type(other)
            )),
        },
        FieldType::Select => {
            let s = value.as_str().unwrap_or_default();
            if field.options.iter().any(|o| o == s) {
                Ok(Some(value))
            } else {
                Err(format!(
                    "{var} in input form must be one of the following: {}",
                    python_list(&field.options)
                ))
            }
        }
        FieldType::TextInput | FieldType::Paragraph => {
            let len = value.as_str().unwrap_or_default().chars().count() as u64;
            match field.max_length {
                Some(max) if len > max => Err(format!(
                    "{var} in input form must be less than {max} characters"
                )),
                _ => Ok(Some(value)),
            }
        }
        FieldType::File => {
            if !value.is_object() {
                return Err(format!("{var} in input form must be a file"));
            }
            check_file(field, &value)?;
            Ok(Some(value))
        }
        FieldType::FileList => {
            let Some(items) = value.as_array().filter(|a| a.iter().all(Value::is_object)) else {
                return Err(format!("{var} in input form must be a list of files"));
            };
            if let Some(max) = field.max_length {
                if items.len() as u64 > max {
                    return Err(format!("{var} in input form must be less than {max} files"));
                }
            }
            for item in items {
                check_file(field, item)?;
            }
            Ok(Some(value))
        }
        FieldType::JsonObject if !value.is_object() && !is_empty(&value) => {
            Err(format!("{var} in input form must be a dict"))
        }
        _ => Ok(Some(value)),
    }
}

fn is_empty(v: &Value) -> bool {
    matches!(v, Value::Null | Value::Bool(false))
        || v.as_str() == Some("")
        || v.as_array().is_some_and(Vec::is_empty)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<class 'NoneType'>",
        Value::Bool(_) => "<class 'bool'>",
        Value::Number(_) => "<class 'int'>",
        Value::String(_) => "<class 'str'>",
        Value::Array(_) => "<class 'list'>",
        Value::Object(_) => "<class 'dict'>",
    }
}

/// Dify's number parsing: with a `.`, a float; else an integer.
fn parse_number(s: &str) -> Option<Value> {
    let s = s.trim();
    if s.contains('.') {
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
    } else {
        s.parse::<i64>().ok().map(Value::from)
    }
}

/// A file given to a file field: dify-bench sends files by remote URL
/// (`{"type", "transfer_method": "remote_url", "url"}`) or by an id uploaded earlier.
fn check_file(field: &FormField, file: &Value) -> Result<(), String> {
    let var = &field.variable;
    let method = file
        .get("transfer_method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !field.allowed_upload_methods.is_empty()
        && !field.allowed_upload_methods.iter().any(|m| m == method)
    {
        return Err(format!(
            "{var}: transfer method `{method}` is not one of {}",
            python_list(&field.allowed_upload_methods)
        ));
    }
    match method {
        "remote_url" => {
            let url = file.get("url").and_then(Value::as_str).unwrap_or_default();
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
                return Err(format!("{var}: Invalid file url"));
            }
        }
        "local_file" | "tool_file" => {
            if file
                .get("upload_file_id")
                .or_else(|| file.get("tool_file_id"))
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(format!("{var}: Invalid upload file id"));
            }
        }
        other => return Err(format!("{var}: unknown transfer method `{other}`")),
    }
    if let Some(kind) = file.get("type").and_then(Value::as_str) {
        if !field.allowed_file_types.is_empty()
            && !field
                .allowed_file_types
                .iter()
                .any(|t| t == kind || t == "custom")
        {
            return Err(format!("{var}: file type `{kind}` is not allowed"));
        }
    }
    Ok(())
}

/// A file input by remote URL, as Dify's API takes it.
pub fn remote_file(kind: &str, url: &str) -> Value {
    serde_json::json!({"type": kind, "transfer_method": "remote_url", "url": url.trim()})
}

/// One invalid input: its variable and Dify's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputError {
    pub variable: String,
    pub message: String,
}

/// Every field's check over a call's `inputs`, in form order; empty when Dify would take them.
pub fn check_inputs(form: &[FormField], inputs: &Map<String, Value>) -> Vec<InputError> {
    form.iter()
        .filter_map(|f| {
            check_value(f, inputs.get(&f.variable))
                .err()
                .map(|message| InputError {
                    variable: f.variable.clone(),
                    message,
                })
        })
        .collect()
}

/// The required variables a call's `inputs` leave out (or leave empty), in form order.
pub fn missing_required(form: &[FormField], inputs: &Map<String, Value>) -> Vec<String> {
    form.iter()
        .filter(|f| f.required && inputs.get(&f.variable).is_none_or(is_empty))
        .map(|f| f.variable.clone())
        .collect()
}

/// What a call to a version's app sends as `inputs` for a case: the version's configured inputs,
/// the case's over them, and, for text generators and workflows, the case's query as the
/// `query` input (as `server::dify::request` builds the call).
pub fn effective_inputs(
    mode: super::AppMode,
    version_inputs: &Value,
    case_inputs: Option<&Value>,
    query: &str,
) -> Map<String, Value> {
    let mut out = version_inputs.as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(case)) = case_inputs {
        for (k, v) in case {
            out.insert(k.clone(), v.clone());
        }
    }
    if matches!(mode, super::AppMode::Completion | super::AppMode::Workflow) && !query.is_empty() {
        out.insert("query".into(), Value::String(query.to_string()));
    }
    out
}

/// Reads a text cell (a CSV cell, a form's text box) as a field's value: numbers parsed, a file
/// given as its URL (a list of files as URLs separated by whitespace), text as is. An empty cell
/// is no value. The result still goes through [`check_value`].
pub fn value_from_text(field: &FormField, text: &str) -> Result<Option<Value>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let file_kind = || {
        field
            .allowed_file_types
            .iter()
            .find(|k| *k != "custom")
            .map_or("document", String::as_str)
            .to_string()
    };
    Ok(Some(match field.kind {
        FieldType::Number => parse_number(t)
            .ok_or_else(|| format!("{} in input form must be a valid number", field.variable))?,
        FieldType::File if t.starts_with('{') => serde_json::from_str(t)
            .map_err(|e| format!("{}: not a file object: {e}", field.variable))?,
        FieldType::File => remote_file(&file_kind(), t),
        FieldType::FileList if t.starts_with('[') => serde_json::from_str(t)
            .map_err(|e| format!("{}: not a list of files: {e}", field.variable))?,
        FieldType::FileList => Value::Array(
            t.split_whitespace()
                .map(|u| remote_file(&file_kind(), u))
                .collect(),
        ),
        FieldType::Checkbox => match t.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::Bool(true),
            "false" | "0" | "no" | "off" => Value::Bool(false),
            _ => Value::String(text.to_string()),
        },
        FieldType::JsonObject => serde_json::from_str(t)
            .map_err(|e| format!("{} in input form must be a dict: {e}", field.variable))?,
        _ => Value::String(text.to_string()),
    }))
}

/// The reverse of [`value_from_text`], for a text box or a CSV cell.
pub fn value_to_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(o)
            if o.get("transfer_method").and_then(Value::as_str) == Some("remote_url") =>
        {
            o.get("url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        }
        Value::Array(items)
            if !items.is_empty()
                && items.iter().all(|i| {
                    i.get("transfer_method").and_then(Value::as_str) == Some("remote_url")
                }) =>
        {
            items
                .iter()
                .map(value_to_text)
                .collect::<Vec<_>>()
                .join(" ")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    //! Checked against Dify's `api/core/app/apps/base_app_generator.py`
    //! (`BaseAppGenerator._validate_inputs`): the messages are its f-strings.
    use super::*;
    use serde_json::json;

    fn form() -> Vec<FormField> {
        parse_form(&json!([
            {"text-input": {"label": "Query", "variable": "query", "required": true, "max_length": 5}},
            {"paragraph": {"label": "Context", "variable": "context", "required": false, "default": ""}},
            {"select": {"label": "Lang", "variable": "lang", "required": false, "default": "", "options": ["en", "zh-TW"]}},
            {"number": {"label": "Words", "variable": "n", "required": false}},
            {"file": {"label": "Doc", "variable": "doc", "required": false,
                "allowed_file_types": ["document"], "allowed_file_upload_methods": ["remote_url"]}},
            {"file-list": {"variable": "docs", "required": false, "max_length": 2}},
            {"rating": {"variable": "stars"}}
        ]))
        .unwrap()
    }

    fn check(inputs: Value) -> Vec<String> {
        check_inputs(&form(), inputs.as_object().unwrap())
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn the_form_is_read_with_types_labels_and_limits() {
        let f = form();
        assert_eq!(f.len(), 7);
        assert_eq!(f[0].kind, FieldType::TextInput);
        assert_eq!((f[0].required, f[0].max_length), (true, Some(5)));
        assert_eq!(f[2].options, ["en", "zh-TW"]);
        assert_eq!(f[5].label, "docs", "no label: the variable");
        assert_eq!(
            (f[6].kind, f[6].type_name.as_str()),
            (FieldType::Other, "rating")
        );
        assert!(parse_form(&json!([{"text-input": {"label": "x"}}]))
            .unwrap_err()
            .contains("item 1 has no variable"));
        assert!(parse_form(&json!({"a": 1})).is_err());
    }

    #[test]
    fn dify_messages_for_each_rule() {
        assert_eq!(check(json!({})), ["query is required in input form"]);
        assert!(
            check(json!({"query": "abcde"})).is_empty(),
            "5 of 5 characters"
        );
        assert!(
            check(json!({"query": "日本語です"})).is_empty(),
            "characters, not bytes"
        );
        assert_eq!(
            check(json!({"query": "abcdef"})),
            ["query in input form must be less than 5 characters"]
        );
        assert_eq!(
            check(json!({"query": 3})),
            ["(type 'text-input') query in input form must be a string"]
        );
        assert_eq!(
            check(json!({"query": "a", "lang": "fr"})),
            ["lang in input form must be one of the following: ['en', 'zh-TW']"]
        );
        assert_eq!(
            check(json!({"query": "a", "n": "12x"})),
            ["n in input form must be a valid number"]
        );
        assert!(check(json!({"query": "a", "n": "1.5", "lang": "en"})).is_empty());
        assert!(
            check(json!({"query": "a"})).is_empty(),
            "an empty default is no default"
        );
        assert!(
            check(json!({"query": "a", "n": " "})).is_empty(),
            "blank number: unset"
        );
        assert_eq!(
            check(json!({"query": "a", "doc": "http://x"})),
            ["doc in input form must be a file"]
        );
        assert!(
            check(json!({"query": "a", "doc": ""})).is_empty(),
            "optional file left blank"
        );
        assert_eq!(
            check(json!({"query": "a", "docs": [{}, {}, {}]})),
            ["docs in input form must be less than 2 files"]
        );
        assert_eq!(
            check(json!({"query": "a", "docs": "x"})),
            ["docs in input form must be a list of files"]
        );
    }

    #[test]
    fn files_by_remote_url() {
        let ok = remote_file("document", "https://example.com/a.pdf");
        assert!(check(json!({"query": "a", "doc": ok})).is_empty());
        let bad = remote_file("document", "ftp://x/a.pdf");
        assert_eq!(
            check(json!({"query": "a", "doc": bad})),
            ["doc: Invalid file url"]
        );
        let image = remote_file("image", "https://example.com/a.png");
        assert_eq!(
            check(json!({"query": "a", "doc": image})),
            ["doc: file type `image` is not allowed"]
        );
        let local =
            json!({"type": "document", "transfer_method": "local_file", "upload_file_id": "u"});
        assert!(
            check(json!({"query": "a", "doc": local}))[0].contains("`local_file` is not one of")
        );
    }

    #[test]
    fn text_cells_become_typed_values_and_back() {
        let f = form();
        assert_eq!(value_from_text(&f[3], "42").unwrap(), Some(json!(42)));
        assert_eq!(value_from_text(&f[3], "4.5").unwrap(), Some(json!(4.5)));
        assert!(value_from_text(&f[3], "four").is_err());
        assert_eq!(value_from_text(&f[0], "  ").unwrap(), None);
        let doc = value_from_text(&f[4], "https://example.com/a.pdf")
            .unwrap()
            .unwrap();
        assert_eq!(doc, remote_file("document", "https://example.com/a.pdf"));
        assert_eq!(value_to_text(&doc), "https://example.com/a.pdf");
        let docs = value_from_text(&f[5], "https://a.example/1 https://a.example/2")
            .unwrap()
            .unwrap();
        assert_eq!(docs.as_array().unwrap().len(), 2);
        assert_eq!(
            value_to_text(&docs),
            "https://a.example/1 https://a.example/2"
        );
        assert_eq!(value_to_text(&json!(7)), "7");
    }

    #[test]
    fn missing_required_and_effective_inputs() {
        let f = form();
        let merged = effective_inputs(
            super::super::AppMode::Workflow,
            &json!({"lang": "en"}),
            Some(&json!({"lang": "zh-TW"})),
            "Q",
        );
        assert_eq!(merged["lang"], "zh-TW");
        assert_eq!(merged["query"], "Q");
        assert!(missing_required(&f, &merged).is_empty());
        let chat = effective_inputs(super::super::AppMode::Chat, &json!({}), None, "Q");
        assert_eq!(missing_required(&f, &chat), ["query"]);
        let blank = json!({"query": ""});
        assert_eq!(missing_required(&f, blank.as_object().unwrap()), ["query"]);
    }
}
