//! Dify's "Run Batch" CSV, read as test cases and written from them. Dify's Run Batch template
//! (`web/app/components/share/text-generation/run-batch/csv-download`) has a header of the form's
//! variable labels, one column per input variable, and one row per run. Here a column may be
//! named by a field's label or its variable (any order); a `query` column carries the question of
//! a chat app (whose query is not a form input); for text generators and workflows the question is
//! the `query` input, as dify-bench sends it. Every cell is read as its field's type and checked as
//! Dify checks it, so one bad cell refuses the whole file, named by row and column.
//!
//! The export writes the same layout for a version's form (labels as the header, with a UTF-8
//! byte-order mark as Dify's template has), so an export imports back to the same cases.

use serde_json::{Map, Value};

use crate::model::inputs::{
    check_inputs, check_value, effective_inputs, value_from_text, value_to_text, FormField,
    InputForm,
};
use crate::model::{AppMode, CaseDraft, TestCase};
use crate::server::csv_safe::{neutralize, restore};
use crate::server::import::{check, csv_error, MAX_IMPORT_BYTES, MAX_IMPORT_ROWS};

/// What one column of the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    /// The case's query.
    Query,
    /// The form's field at this index.
    Field(usize),
}

/// Whether the app's query is its form's `query` input (text generators and workflows).
fn query_is_input(mode: AppMode) -> bool {
    matches!(mode, AppMode::Completion | AppMode::Workflow)
}

fn columns(form: &InputForm, headers: &csv::StringRecord) -> Result<Vec<Column>, String> {
    let mut out: Vec<Column> = Vec::with_capacity(headers.len());
    for (i, raw) in headers.iter().enumerate() {
        let h = raw.trim();
        let by_label = form.fields.iter().position(|f| f.label == h);
        let by_variable = || form.fields.iter().position(|f| f.variable == h);
        let col = match by_label.or_else(by_variable) {
            Some(k) if query_is_input(form.app_mode) && form.fields[k].variable == "query" => {
                Column::Query
            }
            Some(k) => Column::Field(k),
            None if h.eq_ignore_ascii_case("query") => Column::Query,
            None => {
                let mut known: Vec<String> = form
                    .fields
                    .iter()
                    .map(|f| format!("`{}`", f.label))
                    .collect();
                known.push("`query`".into());
                return Err(format!(
                    "row 1, column {} `{h}`: not an input of version {}'s form; its columns are {}",
                    i + 1,
                    form.version_id,
                    known.join(", ")
                ));
            }
        };
        if let Some(j) = out.iter().position(|c| *c == col) {
            return Err(format!(
                "row 1, column {} `{h}`: the same input as column {} `{}`",
                i + 1,
                j + 1,
                headers.get(j).unwrap_or_default().trim()
            ));
        }
        out.push(col);
    }
    if !out.contains(&Column::Query) {
        return Err(if query_is_input(form.app_mode) {
            "row 1: the header has no `query` column (the form's `query` input)".into()
        } else {
            "row 1: the header has no `query` column (a chat app's question)".into()
        });
    }
    Ok(out)
}

/// Reads a Run Batch CSV as cases for version `form`'s app, `version_inputs` being the version's
/// own configured inputs (which fill what a row leaves out). All or nothing.
pub fn parse(
    form: &InputForm,
    version_inputs: &Value,
    content: &str,
) -> Result<Vec<CaseDraft>, String> {
    if content.len() > MAX_IMPORT_BYTES {
        return Err(format!(
            "the file is {} bytes; the limit is {MAX_IMPORT_BYTES}",
            content.len()
        ));
    }
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::None)
        .from_reader(content.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("row 1: the header cannot be read: {e}"))?
        .clone();
    let cols = columns(form, &headers)?;
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let fallback = i + 2;
        let record = record.map_err(|e| {
            let row = e.position().map_or(fallback, |p| p.line() as usize);
            format!("row {row}: {}", csv_error(&e))
        })?;
        let row = record.position().map_or(fallback, |p| p.line() as usize);
        if out.len() >= MAX_IMPORT_ROWS {
            return Err(format!(
                "row {row}: the file has more cases than the limit, {MAX_IMPORT_ROWS}"
            ));
        }
        out.push(parse_row(
            form,
            version_inputs,
            &headers,
            &cols,
            &record,
            row,
        )?);
    }
    if out.is_empty() {
        return Err("the file has no test cases".into());
    }
    Ok(out)
}

fn parse_row(
    form: &InputForm,
    version_inputs: &Value,
    headers: &csv::StringRecord,
    cols: &[Column],
    record: &csv::StringRecord,
    row: usize,
) -> Result<CaseDraft, String> {
    let at = |j: usize| {
        format!(
            "row {row}, column `{}`",
            headers.get(j).unwrap_or_default().trim()
        )
    };
    let mut draft = CaseDraft::default();
    let mut inputs = Map::new();
    for (j, (raw, col)) in record.iter().zip(cols).enumerate() {
        let cell = restore(raw);
        match col {
            Column::Query => draft.query = cell.to_string(),
            Column::Field(k) => {
                let field = &form.fields[*k];
                let value = value_from_text(field, cell).map_err(|e| format!("{}: {e}", at(j)))?;
                if let Some(value) = value {
                    check_value(field, Some(&value)).map_err(|e| format!("{}: {e}", at(j)))?;
                    inputs.insert(field.variable.clone(), value);
                }
            }
        }
    }
    if draft.query.trim().is_empty() {
        let j = cols.iter().position(|c| *c == Column::Query).unwrap_or(0);
        return Err(format!("{}: the query is empty", at(j)));
    }
    draft.inputs = (!inputs.is_empty()).then_some(Value::Object(inputs));
    // What a row leaves out may be filled by the version's own inputs; what is still missing is
    // refused as Dify would refuse the call.
    let sent = effective_inputs(
        form.app_mode,
        version_inputs,
        draft.inputs.as_ref(),
        &draft.query,
    );
    if let Some(e) = check_inputs(&form.fields, &sent).into_iter().next() {
        let column = column_name(&form.fields, &e.variable);
        return Err(format!("row {row}, column `{column}`: {}", e.message));
    }
    check(draft).map_err(|e| format!("row {row}: {e}"))
}

fn column_name<'a>(fields: &'a [FormField], variable: &'a str) -> &'a str {
    fields
        .iter()
        .find(|f| f.variable == variable)
        .map_or(variable, |f| f.label.as_str())
}

/// Cases as a Run Batch CSV for `form`: a header of the form's labels (with `query` first for a
/// chat app, or when a text generator's form has no `query` input), then one row per case.
pub fn export(form: &InputForm, cases: &[TestCase]) -> String {
    let query_field = form
        .fields
        .iter()
        .position(|f| query_is_input(form.app_mode) && f.variable == "query");
    let mut header: Vec<String> = Vec::new();
    if query_field.is_none() {
        header.push("query".into());
    }
    header.extend(form.fields.iter().map(|f| f.label.clone()));
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(&header);
    for c in cases {
        let mut cells: Vec<String> = Vec::with_capacity(header.len());
        if query_field.is_none() {
            cells.push(neutralize(&c.query).into_owned());
        }
        for (k, f) in form.fields.iter().enumerate() {
            let text = if Some(k) == query_field {
                c.query.clone()
            } else {
                c.inputs
                    .get(&f.variable)
                    .map(value_to_text)
                    .unwrap_or_default()
            };
            cells.push(neutralize(&text).into_owned());
        }
        let _ = w.write_record(&cells);
    }
    let body = w
        .into_inner()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    format!("\u{feff}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::inputs::parse_form;
    use crate::model::VersionId;
    use serde_json::json;

    fn form(mode: AppMode) -> InputForm {
        let mut fields = vec![];
        if query_is_input(mode) {
            fields.push(
                json!({"text-input": {"label": "Query", "variable": "query", "required": true}}),
            );
        }
        fields.extend([
            json!({"select": {"label": "Region", "variable": "region", "required": true, "options": ["eu", "us"]}}),
            json!({"number": {"label": "Maximum words", "variable": "max_words", "required": false}}),
            json!({"file": {"label": "Attachment", "variable": "attachment", "required": false}}),
        ]);
        InputForm {
            version_id: VersionId(7),
            app_mode: mode,
            fields: parse_form(&Value::Array(fields)).unwrap(),
        }
    }

    #[test]
    fn a_chat_apps_file_maps_labels_and_variables_to_typed_inputs() {
        let csv = "\u{feff}query,Region,max_words,Attachment\n\
                   What is USB4?,eu,120,https://example.com/a.pdf\n\
                   \"Wi-Fi 7, briefly\",us,,\n";
        let cases = parse(&form(AppMode::Chat), &json!({}), csv).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].query, "What is USB4?");
        let inputs = cases[0].inputs.as_ref().unwrap();
        assert_eq!(inputs["region"], "eu");
        assert_eq!(inputs["max_words"], 120);
        assert_eq!(inputs["attachment"]["url"], "https://example.com/a.pdf");
        assert_eq!(inputs["attachment"]["transfer_method"], "remote_url");
        assert_eq!(cases[1].inputs, Some(json!({"region": "us"})));
    }

    #[test]
    fn bad_cells_and_columns_are_named_by_row_and_column() {
        let f = form(AppMode::Chat);
        let err = parse(&f, &json!({}), "query,Region,Colour\nq,eu,red\n").unwrap_err();
        assert!(
            err.starts_with("row 1, column 3 `Colour`: not an input"),
            "{err}"
        );
        let err = parse(&f, &json!({}), "query,Region\nq,eu\nq2,mars\n").unwrap_err();
        assert_eq!(
            err,
            "row 3, column `Region`: region in input form must be one of the following: ['eu', 'us']"
        );
        let err = parse(&f, &json!({}), "query,Region,Maximum words\nq,eu,many\n").unwrap_err();
        assert_eq!(
            err,
            "row 2, column `Maximum words`: max_words in input form must be a valid number"
        );
        let err = parse(&f, &json!({}), "query,Maximum words\nq,3\n").unwrap_err();
        assert_eq!(
            err,
            "row 2, column `Region`: region is required in input form"
        );
        // The version's own inputs may fill a column the file leaves out.
        assert!(parse(&f, &json!({"region": "us"}), "query,Maximum words\nq,3\n").is_ok());
        let err = parse(&f, &json!({}), "Region\neu\n").unwrap_err();
        assert!(err.contains("no `query` column"), "{err}");
        let err = parse(&f, &json!({}), "query,Region,region\nq,eu,eu\n").unwrap_err();
        assert!(err.contains("the same input as column 2"), "{err}");
        let err = parse(&f, &json!({}), "query,Region\n,eu\n").unwrap_err();
        assert_eq!(err, "row 2, column `query`: the query is empty");
    }

    #[test]
    fn export_reads_back_as_the_same_cases() {
        for mode in [AppMode::Chat, AppMode::Workflow] {
            let f = form(mode);
            let csv = "query,Region,Maximum words,Attachment\n\
                       =1+1 is?,eu,4.5,https://example.com/a.pdf\n";
            let csv = if query_is_input(mode) {
                csv.replacen("query", "Query", 1)
            } else {
                csv.to_string()
            };
            let drafts = parse(&f, &json!({}), &csv).unwrap();
            let cases: Vec<TestCase> = drafts
                .iter()
                .map(|d| TestCase::from_draft(crate::model::CaseId(1), d.clone(), 0))
                .collect();
            let text = export(&f, &cases);
            assert!(text.starts_with('\u{feff}'));
            assert!(
                text.contains("'=1+1 is?"),
                "a formula is neutralised: {text}"
            );
            let again = parse(&f, &json!({}), &text).unwrap();
            assert_eq!(again, drafts, "{mode:?}");
        }
    }
}
