//! What one Dify response said, whatever its shape: stream events are folded into an [`Outcome`] one
//! by one, a blocking body becomes the same record in one step, and [`Outcome::finish`] then decides
//! answer or failure. Keeping both paths on one record means a streamed and a blocking call of the
//! same app are judged by the same rules. No I/O here (`attempt.rs` does it).
//!
//! Dify's bodies are read as `serde_json::Value`, or straight into borrowed typed fields that read
//! the same way (a blocking body: `blocking.rs`; node events: `node_event.rs`): every field is
//! optional, unknown keys and events are normal (new ones appear each release), numbers sometimes
//! arrive as strings.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::blocking::{BlockingBody, Obj};
use super::error::{body_kind, codes, one_line, truncate_chars, AttemptError, MAX_MESSAGE_CHARS};
use super::node_event::NodeEvent;
use super::sse::SseFrame;
use super::trace::TraceBuilder;
use crate::model::{AppMode, DifyIds, Trace, Usage};

/// A successful call's content, before timing is added.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    pub answer: String,
    pub usage: Usage,
    pub ids: DifyIds,
    /// The `content` of the chunks Dify retrieved (`metadata.retriever_resources`), bounded.
    pub retrieved: Vec<String>,
    /// Nodes, tools and retrieval as the response reported them.
    pub trace: Trace,
    /// The published workflow version that ran, as workflow events name it
    /// (`workflow_started.data.workflow_id`); None for apps without a workflow.
    pub workflow_id: Option<String>,
}

/// Retrieved chunks kept per answer, and their total size: what a judge reads as the context.
const MAX_RETRIEVED_CHUNKS: usize = 20;
const MAX_RETRIEVED_BYTES: usize = 64 << 10;

/// The `content` of each of `metadata.retriever_resources`, in order, within the bounds above
/// (a chunk that does not fit is left out, not cut).
fn retrieved_of(metadata: Option<&Value>) -> Vec<String> {
    retrieved_from(metadata.and_then(|m| m.get("retriever_resources")))
}

/// [`retrieved_of`] from the `retriever_resources` list itself.
fn retrieved_from(resources: Option<&Value>) -> Vec<String> {
    let Some(list) = resources.and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut total = 0;
    for content in list
        .iter()
        .filter_map(|r| r.get("content").and_then(Value::as_str))
        .filter(|c| !c.trim().is_empty())
    {
        if out.len() == MAX_RETRIEVED_CHUNKS || total + content.len() > MAX_RETRIEVED_BYTES {
            break;
        }
        total += content.len();
        out.push(content.to_string());
    }
    out
}

/// Everything recorded so far. Terminal events are *recorded*, never taken as the end: chatflows send
/// `message_end` and `workflow_finished` in either order depending on the Dify release, and TTS
/// chunks may follow `message_end`, so the caller reads to EOF and decides afterwards.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    message_text: String,
    text_chunks: String,
    usage: Usage,
    ids: DifyIds,
    retrieved: Vec<String>,
    trace: TraceBuilder,
    workflow_id: Option<String>,
    message_end: bool,
    workflow_end: Option<WorkflowEnd>,
    error: Option<StreamError>,
    paused: bool,
    events: usize,
}

#[derive(Debug, Default)]
struct WorkflowEnd {
    status: Option<String>,
    outputs: Value,
    error: Option<String>,
    usage: Usage,
}

#[derive(Debug)]
struct StreamError {
    code: String,
    message: String,
    status: Option<u16>,
}

/// Turns one SSE frame into a Dify event object. `Ok(None)` for frames that carry nothing: the bare
/// `event: ping`, empty data, and the `[DONE]` sentinel that Dify never sends but OpenAI-style
/// proxies in front of it do.
pub(crate) fn decode_frame(frame: &SseFrame) -> Result<Option<Value>, AttemptError> {
    let Some(data) = frame.data.as_deref().map(str::trim) else {
        return Ok(None);
    };
    if data.is_empty() || data == "[DONE]" {
        return Ok(None);
    }
    // Not quoted: a stream that is not Dify's may carry anything.
    let mut value: Value = serde_json::from_str(data).map_err(|e| {
        AttemptError::new(
            codes::INVALID_RESPONSE,
            format!("malformed stream event (not JSON: {e})"),
        )
    })?;
    let Some(obj) = value.as_object_mut() else {
        return Err(AttemptError::new(
            codes::INVALID_RESPONSE,
            "malformed stream event (JSON but not an object)",
        ));
    };
    // Dify names the event inside the JSON; a generic SSE server may use the `event:` line instead.
    if !obj.contains_key("event") {
        if let Some(name) = &frame.event {
            obj.insert("event".into(), Value::String(name.clone()));
        }
    }
    Ok(Some(value))
}

impl Outcome {
    /// Folds one SSE frame in: a node event straight from its text ([`NodeEvent`]), anything
    /// else through [`decode_frame`] and [`Outcome::apply`]. Returns whether it carried answer
    /// text; an error when the frame is not a JSON object.
    pub fn apply_frame(&mut self, frame: &SseFrame) -> Result<bool, AttemptError> {
        if let Some((event, finished)) = frame
            .data
            .as_deref()
            .and_then(|d| NodeEvent::parse(d.trim()))
        {
            self.events += 1;
            self.fill_ids(EventIds {
                task_id: event.task_id.id(),
                message_id: event.message_id.id(),
                conversation_id: event.conversation_id.id(),
                workflow_run_id: event.workflow_run_id.id(),
                data_workflow_run_id: event.data.workflow_run_id.id(),
                workflow_id: event.data.workflow_id.id(),
            });
            self.trace.node(finished, &event.data);
            return Ok(false);
        }
        Ok(match decode_frame(frame)? {
            Some(event) => self.apply(&event),
            None => false,
        })
    }

    /// Folds one stream event in. Returns whether it carried answer text (the first one that does
    /// marks time to first token).
    pub fn apply(&mut self, event: &Value) -> bool {
        self.events += 1;
        let name = str_field(event, "event").unwrap_or_default();
        let message_like = matches!(
            name,
            "message" | "agent_message" | "message_replace" | "message_end" | "error"
        );
        self.harvest_ids(event, message_like);
        self.trace.apply(name, event);
        match name {
            "message" | "agent_message" => {
                let delta = event.get("answer").and_then(Value::as_str).unwrap_or("");
                self.message_text.push_str(delta);
                return !delta.is_empty();
            }
            // Output moderation rewrote the answer: what was streamed so far no longer counts.
            "message_replace" => {
                let answer = event.get("answer").and_then(Value::as_str).unwrap_or("");
                self.message_text = answer.to_string();
            }
            "text_chunk" => {
                let delta = event
                    .pointer("/data/text")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                self.text_chunks.push_str(delta);
                return !delta.is_empty();
            }
            "message_end" => {
                self.message_end = true;
                if let Some(usage) = event.pointer("/metadata/usage") {
                    self.usage = parse_usage(usage);
                }
                self.retrieved = retrieved_of(event.get("metadata"));
                self.trace.metadata(event.get("metadata"));
            }
            "workflow_finished" => {
                self.workflow_end = Some(WorkflowEnd::from_data(event.get("data")));
            }
            "workflow_paused" => self.paused = true,
            "error" => self.error = Some(StreamError::from_event(event)),
            _ => {}
        }
        false
    }

    /// A blocking body as it came: read straight into borrowed fields ([`BlockingBody`]) when it
    /// is an object without repeated keys, else — an error envelope too — as a `Value` by
    /// [`Outcome::from_blocking`], whose messages (malformed JSON, not an object) are the ones to
    /// give.
    pub fn read_blocking(body: &[u8], content_type: Option<&str>) -> Result<Outcome, AttemptError> {
        if let Ok(Obj(Some(typed))) = serde_json::from_slice::<Obj<BlockingBody>>(body) {
            if !typed.is_error() {
                return Outcome::from_body(typed);
            }
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|e| not_json_error(content_type, body, &e))?;
        Outcome::from_blocking(&value)
    }

    /// A blocking body: chat-family and completion apps answer `{answer, metadata.usage, …}`,
    /// workflow apps `{task_id, workflow_run_id, data{status, outputs, error, …}}` with no `event`.
    pub fn from_blocking(body: &Value) -> Result<Outcome, AttemptError> {
        let typed = match Obj::<BlockingBody>::deserialize(body) {
            Ok(Obj(Some(typed))) => typed,
            _ => {
                return Err(AttemptError::new(
                    codes::INVALID_RESPONSE,
                    "HTTP 200 with JSON that is not an object",
                ))
            }
        };
        if typed.is_error() {
            let mut outcome = Outcome::default();
            outcome.apply(body);
            return Ok(outcome);
        }
        Outcome::from_body(typed)
    }

    fn from_body(body: BlockingBody<'_>) -> Result<Outcome, AttemptError> {
        let mut outcome = Outcome::default();
        let data = body.data.as_ref();
        outcome.fill_ids(EventIds {
            task_id: body.task_id.id(),
            message_id: body.message_id.id().or_else(|| body.id.id()),
            conversation_id: body.conversation_id.id(),
            workflow_run_id: body.workflow_run_id.id(),
            data_workflow_run_id: data.and_then(|d| str_field(d, "workflow_run_id")),
            workflow_id: data.and_then(|d| str_field(d, "workflow_id")),
        });
        let workflow_data =
            data.filter(|d| d.get("status").is_some() || d.get("outputs").is_some());
        if let Some(data) = workflow_data {
            outcome.workflow_end = Some(WorkflowEnd::from_data(Some(data)));
        } else if let Some(answer) = body.answer.0 {
            outcome.message_text = answer.into_owned();
            outcome.message_end = true;
            if let Some(metadata) = body.metadata.0 {
                if let Some(usage) = metadata.usage.0 {
                    outcome.usage = usage_from(
                        usage.prompt_tokens.as_ref(),
                        usage.completion_tokens.as_ref(),
                        usage.total_tokens.as_ref(),
                        usage.total_price.as_ref(),
                        usage.currency.id(),
                    );
                }
                let resources = metadata.retriever_resources.as_ref();
                outcome.retrieved = retrieved_from(resources);
                outcome.trace.resources(resources);
            }
        } else {
            return Err(AttemptError::new(
                codes::INVALID_RESPONSE,
                "HTTP 200 JSON with neither `answer` nor workflow `data`",
            )
            .with_ids(outcome.ids));
        }
        Ok(outcome)
    }

    /// Whether an event that settles the call arrived; after one, a lost tail is harmless.
    pub fn has_terminal(&self) -> bool {
        self.message_end || self.workflow_end.is_some() || self.error.is_some() || self.paused
    }

    pub fn ids(&self) -> &DifyIds {
        &self.ids
    }

    /// When the next events arrived, in ms after the request was sent (a node's start time).
    pub fn set_clock(&mut self, ms: i64) {
        self.trace.set_clock(ms);
    }

    /// Decides. A failed workflow outranks the `error` event a chatflow sends after it (that event
    /// only says "Run failed: …" as `invalid_param`); the node's own error is the useful message.
    pub fn finish(
        mut self,
        mode: AppMode,
        answer_field: Option<&str>,
    ) -> Result<Parsed, AttemptError> {
        let ids = self.ids.clone();
        if let Some(wf) = &self.workflow_end {
            match wf.status.as_deref() {
                Some(status @ ("failed" | "stopped")) => {
                    let message = wf
                        .error
                        .as_deref()
                        .map(|e| truncate_chars(&one_line(e), MAX_MESSAGE_CHARS))
                        .unwrap_or_else(|| format!("workflow run {status}"));
                    return Err(AttemptError::new(codes::WORKFLOW_FAILED, message)
                        .with_status(Some(200))
                        .with_ids(ids)
                        .with_trace(self.trace.finish()));
                }
                Some("paused") => return Err(paused_error(ids)),
                _ => {}
            }
        }
        if let Some(e) = self.error {
            return Err(AttemptError::new(&e.code, e.message)
                .with_status(e.status)
                .with_ids(ids));
        }
        if self.paused {
            return Err(paused_error(ids));
        }
        if !self.message_end && self.workflow_end.is_none() {
            return Err(AttemptError::new(
                codes::STREAM_INCOMPLETE,
                format!(
                    "the stream ended after {} events without message_end, workflow_finished or \
                     error (connection cut?)",
                    self.events
                ),
            )
            .with_status(Some(200))
            .with_ids(ids));
        }

        let outputs = self.workflow_end.as_ref().map(|wf| &wf.outputs);
        let selected = || outputs.and_then(|o| select_output(o, answer_field));
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let answer = match mode {
            AppMode::Workflow => selected()
                .or_else(|| non_empty(self.text_chunks.clone()))
                .or_else(|| non_empty(self.message_text.clone()))
                .or_else(|| outputs.and_then(outputs_as_json)),
            _ => non_empty(self.message_text.clone())
                .or_else(selected)
                .or_else(|| non_empty(self.text_chunks.clone())),
        }
        .unwrap_or_default();

        let mut usage = self.usage;
        if let Some(wf) = &self.workflow_end {
            usage.total_tokens = usage.total_tokens.or(wf.usage.total_tokens);
            usage.total_price = usage.total_price.or(wf.usage.total_price);
            usage.currency = usage.currency.or_else(|| wf.usage.currency.clone());
        }
        Ok(Parsed {
            answer,
            usage,
            ids,
            retrieved: std::mem::take(&mut self.retrieved),
            trace: self.trace.finish(),
            workflow_id: self.workflow_id.take(),
        })
    }

    /// The first non-empty value of each id wins. `id` means the message id only on message events
    /// (workflow events keep their run id under `data.id`).
    fn harvest_ids(&mut self, v: &Value, message_like: bool) {
        let data = v.get("data");
        self.fill_ids(EventIds {
            task_id: str_field(v, "task_id"),
            message_id: str_field(v, "message_id")
                .or_else(|| message_like.then(|| str_field(v, "id")).flatten()),
            conversation_id: str_field(v, "conversation_id"),
            workflow_run_id: str_field(v, "workflow_run_id"),
            data_workflow_run_id: data.and_then(|d| str_field(d, "workflow_run_id")),
            workflow_id: data.and_then(|d| str_field(d, "workflow_id")),
        });
    }

    fn fill_ids(&mut self, e: EventIds<'_>) {
        fill(&mut self.ids.task_id, e.task_id);
        fill(&mut self.ids.message_id, e.message_id);
        fill(&mut self.ids.conversation_id, e.conversation_id);
        fill(&mut self.ids.workflow_run_id, e.workflow_run_id);
        fill(&mut self.ids.workflow_run_id, e.data_workflow_run_id);
        // `workflow_started` / `workflow_finished` events and a workflow's blocking body.
        fill(&mut self.workflow_id, e.workflow_id);
    }
}

/// The ids one event carries, trimmed, empty ones absent.
struct EventIds<'a> {
    task_id: Option<&'a str>,
    message_id: Option<&'a str>,
    conversation_id: Option<&'a str>,
    workflow_run_id: Option<&'a str>,
    /// `data.workflow_run_id`, used when the top level has none.
    data_workflow_run_id: Option<&'a str>,
    workflow_id: Option<&'a str>,
}

fn paused_error(ids: DifyIds) -> AttemptError {
    AttemptError::new(
        codes::WORKFLOW_PAUSED,
        "the workflow paused for human input (a Human Input node); a batch cannot answer it",
    )
    .with_status(Some(200))
    .with_ids(ids)
}

impl WorkflowEnd {
    fn from_data(data: Option<&Value>) -> WorkflowEnd {
        let Some(data) = data else {
            return WorkflowEnd::default();
        };
        WorkflowEnd {
            status: str_field(data, "status").map(str::to_string),
            outputs: data.get("outputs").cloned().unwrap_or(Value::Null),
            error: str_field(data, "error").map(str::to_string),
            usage: parse_usage(data),
        }
    }
}

impl StreamError {
    fn from_event(v: &Value) -> StreamError {
        let status = v.get("status").and_then(as_i64).and_then(http_status);
        let code = str_field(v, "code").map(str::to_string).unwrap_or_else(|| {
            match status {
                Some(s) if s >= 500 => codes::INTERNAL_SERVER_ERROR,
                _ => "unknown_error",
            }
            .to_string()
        });
        let message = str_field(v, "message")
            .map(|m| truncate_chars(&one_line(m), MAX_MESSAGE_CHARS))
            .unwrap_or_else(|| format!("Dify sent an error event ({code}) without a message"));
        StreamError {
            code,
            message,
            status,
        }
    }
}

/// `metadata.usage` (or a workflow's `data`): token counts as integers or numeric strings, prices as
/// Dify's decimal strings ("0.0012890") or plain numbers.
pub(crate) fn parse_usage(v: &Value) -> Usage {
    usage_from(
        v.get("prompt_tokens"),
        v.get("completion_tokens"),
        v.get("total_tokens"),
        v.get("total_price"),
        str_field(v, "currency"),
    )
}

/// [`parse_usage`] from the fields, however they were found (`currency` trimmed, not empty).
pub(super) fn usage_from(
    prompt_tokens: Option<&Value>,
    completion_tokens: Option<&Value>,
    total_tokens: Option<&Value>,
    total_price: Option<&Value>,
    currency: Option<&str>,
) -> Usage {
    let prompt_tokens = prompt_tokens.and_then(as_i64);
    let completion_tokens = completion_tokens.and_then(as_i64);
    let total_tokens = total_tokens.and_then(as_i64).or_else(|| {
        prompt_tokens
            .zip(completion_tokens)
            .and_then(|(p, c)| p.checked_add(c))
    });
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens,
        total_price: total_price.and_then(as_f64),
        currency: currency.map(str::to_string),
    }
}

/// The workflow output that is the answer: the configured field; else the only string output; else
/// `answer`, `text`, `result`, in that order. Non-string values are rendered as compact JSON.
pub(crate) fn select_output(outputs: &Value, answer_field: Option<&str>) -> Option<String> {
    let obj = outputs.as_object()?;
    if let Some(field) = answer_field.map(str::trim).filter(|f| !f.is_empty()) {
        return obj.get(field).and_then(output_text);
    }
    let strings: Vec<&str> = obj.values().filter_map(Value::as_str).collect();
    if let [only] = strings.as_slice() {
        return Some(only.to_string());
    }
    ["answer", "text", "result"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(output_text))
}

fn output_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Last resort for a workflow whose outputs name no answer: the outputs themselves, so the scorer
/// still sees the content rather than an empty string.
fn outputs_as_json(outputs: &Value) -> Option<String> {
    outputs
        .as_object()
        .filter(|o: &&Map<String, Value>| !o.is_empty())
        .map(|o| Value::Object(o.clone()).to_string())
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn fill(slot: &mut Option<String>, value: Option<&str>) {
    if slot.is_none() {
        *slot = value.map(str::to_string);
    }
}

pub(super) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(f64_to_i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(f64_to_i64))
        }
        _ => None,
    }
}

fn f64_to_i64(f: f64) -> Option<i64> {
    // `as` saturates, so the range check is what keeps nonsense out, not what avoids UB.
    (f.is_finite() && f.abs() < 9.0e15).then(|| f.round() as i64)
}

pub(super) fn as_f64(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    f.is_finite().then_some(f)
}

fn http_status(n: i64) -> Option<u16> {
    u16::try_from(n).ok().filter(|s| (100..=599).contains(s))
}

/// A 200 whose body is not JSON: a proxy's page, or a body cut short (then the parser's position
/// says where it ended). The body is named, never quoted: it may not be Dify's.
pub(crate) fn not_json_error(
    content_type: Option<&str>,
    body: &[u8],
    err: &serde_json::Error,
) -> AttemptError {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    let message = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        format!("HTTP 200 OK with malformed JSON ({err})")
    } else {
        format!(
            "HTTP 200 OK with {} where Dify sends JSON",
            body_kind(content_type, &text)
        )
    };
    AttemptError::new(codes::INVALID_RESPONSE, message).with_status(Some(200))
}

#[cfg(test)]
mod tests {
    #[test]
    fn retrieved_chunks_are_kept_in_order_within_bounds() {
        let meta = serde_json::json!({"retriever_resources": [
            {"content": "first"}, {"content": "  "}, {"score": 0.5}, {"content": "second"},
        ]});
        assert_eq!(retrieved_of(Some(&meta)), vec!["first", "second"]);
        assert!(retrieved_of(Some(&serde_json::json!({}))).is_empty());
        assert!(retrieved_of(None).is_empty());
        let many: Vec<Value> = (0..50)
            .map(|i| serde_json::json!({"content": format!("chunk {i}")}))
            .collect();
        let meta = serde_json::json!({"retriever_resources": many});
        assert_eq!(retrieved_of(Some(&meta)).len(), MAX_RETRIEVED_CHUNKS);
        let big = "x".repeat(MAX_RETRIEVED_BYTES - 10);
        let meta = serde_json::json!({"retriever_resources": [
            {"content": big}, {"content": "does not fit"},
        ]});
        assert_eq!(retrieved_of(Some(&meta)).len(), 1);
    }

    use super::*;
    use serde_json::json;

    fn fold(events: &[Value]) -> Outcome {
        let mut o = Outcome::default();
        for e in events {
            o.apply(e);
        }
        o
    }

    #[test]
    fn usage_prices_as_strings_or_numbers() {
        let u = parse_usage(&json!({
            "prompt_tokens": 1033, "completion_tokens": 128, "total_tokens": 1161,
            "prompt_price": "0.0010330", "total_price": "0.0012890", "currency": "USD", "latency": 0.77
        }));
        assert_eq!(u.prompt_tokens, Some(1033));
        assert_eq!(u.total_tokens, Some(1161));
        assert_eq!(u.total_price, Some(0.001289));
        assert_eq!(u.currency.as_deref(), Some("USD"));

        let u = parse_usage(
            &json!({"prompt_tokens": "10", "completion_tokens": 5.0, "total_price": 0.5}),
        );
        assert_eq!(u.prompt_tokens, Some(10));
        assert_eq!(u.completion_tokens, Some(5));
        assert_eq!(u.total_tokens, Some(15), "derived from the parts");
        assert_eq!(u.total_price, Some(0.5));

        let u = parse_usage(&json!({"total_tokens": null, "total_price": "n/a", "currency": ""}));
        assert_eq!(u, Usage::default());
        let u = parse_usage(&json!({"total_tokens": 1e300, "total_price": "NaN"}));
        assert_eq!(u, Usage::default());
        assert_eq!(parse_usage(&json!("not an object")), Usage::default());
    }

    #[test]
    fn workflow_answer_field_selection() {
        let o = json!({"summary": "S", "count": 3});
        assert_eq!(
            select_output(&o, None).as_deref(),
            Some("S"),
            "the only string"
        );
        let o = json!({"answer": "A", "text": "T", "result": "R"});
        assert_eq!(select_output(&o, None).as_deref(), Some("A"));
        let o = json!({"text": "T", "result": "R"});
        assert_eq!(select_output(&o, None).as_deref(), Some("T"));
        let o = json!({"result": {"k": 1}, "other": [1]});
        assert_eq!(select_output(&o, None).as_deref(), Some(r#"{"k":1}"#));
        let o = json!({"a": "x", "b": "y"});
        assert_eq!(select_output(&o, None), None, "two strings, no known name");
        let o = json!({"answer": "A", "final": "F"});
        assert_eq!(select_output(&o, Some("final")).as_deref(), Some("F"));
        assert_eq!(select_output(&o, Some(" final ")).as_deref(), Some("F"));
        assert_eq!(select_output(&o, Some("missing")), None);
        assert_eq!(select_output(&o, Some("")).as_deref(), Some("A"));
        assert_eq!(
            select_output(&json!({"n": 42}), Some("n")).as_deref(),
            Some("42")
        );
        assert_eq!(select_output(&Value::Null, None), None);
        assert_eq!(select_output(&json!({}), None), None);
    }

    #[test]
    fn chat_stream_concatenates_and_replaces() {
        let o = fold(&[
            json!({"event": "message", "task_id": "t1", "id": "m1", "conversation_id": "c1", "answer": "Hel"}),
            json!({"event": "ping"}),
            json!({"event": "agent_thought", "id": "th1", "thought": "hmm"}),
            json!({"event": "message", "answer": "lo"}),
            json!({"event": "message_end", "metadata": {"usage": {"total_tokens": 7, "total_price": "0.01"}}}),
            json!({"event": "tts_message_end", "audio": ""}),
        ]);
        let p = o.finish(AppMode::Chat, None).unwrap();
        assert_eq!(p.answer, "Hello");
        assert_eq!(p.usage.total_tokens, Some(7));
        assert_eq!(p.usage.total_price, Some(0.01));
        assert_eq!(p.ids.task_id.as_deref(), Some("t1"));
        assert_eq!(p.ids.message_id.as_deref(), Some("m1"));
        assert_eq!(p.ids.conversation_id.as_deref(), Some("c1"));

        let o = fold(&[
            json!({"event": "message", "answer": "bad words"}),
            json!({"event": "message_replace", "answer": "[redacted]"}),
            json!({"event": "message_end"}),
        ]);
        assert_eq!(o.finish(AppMode::Chat, None).unwrap().answer, "[redacted]");
    }

    #[test]
    fn apply_reports_answer_bearing_deltas_only() {
        let mut o = Outcome::default();
        assert!(!o.apply(&json!({"event": "workflow_started", "data": {}})));
        assert!(!o.apply(&json!({"event": "message", "answer": ""})));
        assert!(o.apply(&json!({"event": "agent_message", "answer": "x"})));
        assert!(o.apply(&json!({"event": "text_chunk", "data": {"text": "y"}})));
        assert!(!o.apply(&json!({"event": "message_end"})));
    }

    #[test]
    fn the_workflow_version_that_ran_is_read_from_events_and_blocking_bodies() {
        let o = fold(&[
            json!({"event": "workflow_started", "workflow_run_id": "r",
                   "data": {"id": "r", "workflow_id": "wf-1"}}),
            json!({"event": "node_started", "data": {"node_id": "n", "workflow_id": "wf-x"}}),
            json!({"event": "workflow_finished", "workflow_run_id": "r",
                   "data": {"status": "succeeded", "workflow_id": "wf-2", "outputs": {"answer": "a"}}}),
        ]);
        let p = o.finish(AppMode::Workflow, None).unwrap();
        assert_eq!(p.workflow_id.as_deref(), Some("wf-1"));
        let body = json!({"task_id": "t", "workflow_run_id": "r",
                          "data": {"id": "r", "workflow_id": "wf-3", "status": "succeeded",
                                   "outputs": {"answer": "a"}}});
        let p = Outcome::from_blocking(&body)
            .unwrap()
            .finish(AppMode::Workflow, None)
            .unwrap();
        assert_eq!(p.workflow_id.as_deref(), Some("wf-3"));
        let chat = json!({"event": "message", "answer": "a", "message_id": "m"});
        let p = Outcome::from_blocking(&chat)
            .unwrap()
            .finish(AppMode::Chat, None)
            .unwrap();
        assert_eq!(p.workflow_id, None);
    }

    #[test]
    fn chatflow_end_orders_both_work() {
        let deltas = [
            json!({"event": "workflow_started", "task_id": "t", "workflow_run_id": "w", "data": {"id": "w"}}),
            json!({"event": "message", "message_id": "m", "conversation_id": "c", "answer": "42"}),
        ];
        let wf = json!({"event": "workflow_finished", "workflow_run_id": "w",
                        "data": {"status": "succeeded", "outputs": {"answer": "42"}, "total_tokens": 9}});
        let end = json!({"event": "message_end", "message_id": "m",
                         "metadata": {"usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_price": 0.2}}});
        for tail in [[wf.clone(), end.clone()], [end.clone(), wf.clone()]] {
            let o = fold(&[deltas.to_vec(), tail.to_vec()].concat());
            let p = o.finish(AppMode::AdvancedChat, None).unwrap();
            assert_eq!(p.answer, "42");
            assert_eq!(p.usage.total_tokens, Some(9));
            assert_eq!(p.usage.total_price, Some(0.2));
            assert_eq!(p.ids.workflow_run_id.as_deref(), Some("w"));
            assert_eq!(p.ids.message_id.as_deref(), Some("m"));
        }
    }

    /// Node events read from their text (the fast path) fold to what reading them as values does.
    #[test]
    fn node_events_from_frames_fold_as_values_do() {
        let node = |event: &str, data: Value| json!({"event": event, "task_id": "t", "workflow_run_id": "w", "data": data});
        let events = [
            json!({"event": "workflow_started", "task_id": "t", "workflow_run_id": "w",
                   "data": {"id": "w", "workflow_id": "wf-1"}}),
            node(
                "node_started",
                json!({"id": "e1", "node_id": "kb", "node_type": "knowledge-retrieval", "title": "KB"}),
            ),
            node(
                "node_finished",
                json!({"id": "e1", "node_id": "kb", "node_type": "knowledge-retrieval",
                "title": "KB", "status": "succeeded", "elapsed_time": "0.12", "inputs": {"q": "x"},
                "outputs": {"result": [{"content": "c", "title": "d.pdf", "metadata": {"score": 0.5}}]}}),
            ),
            node(
                "node_started",
                json!({"id": "e2", "node_id": "llm", "node_type": "llm", "title": "LLM"}),
            ),
            json!({"event": "message", "message_id": "m", "conversation_id": "c", "answer": "你好 node_"}),
            node(
                "node_finished",
                json!({"id": "e2", "node_id": "llm", "node_type": "llm", "title": 5,
                "status": "failed", "error": "quota", "elapsed_time": 1.5,
                "execution_metadata": {"total_tokens": "42", "total_price": 0.01},
                "outputs": {"text": "你好 node_", "extra": {"n": [1]}}}),
            ),
            node(
                "node_finished",
                json!({"node_id": "code", "outputs": {"n": 1}}),
            ),
            node("node_finished", json!("not an object")),
            json!({"event": "node_retry", "data": {"node_id": "llm"}}),
            json!({"event": "message_end", "message_id": "m"}),
        ];
        let mut from_frames = Outcome::default();
        let mut answered = Vec::new();
        for e in &events {
            let frame = SseFrame {
                data: Some(e.to_string()),
                ..SseFrame::default()
            };
            answered.push(from_frames.apply_frame(&frame).unwrap());
        }
        let mut from_values = Outcome::default();
        let answered_too: Vec<bool> = events.iter().map(|e| from_values.apply(e)).collect();
        assert_eq!(answered, answered_too);
        let (a, b) = (
            from_frames.finish(AppMode::AdvancedChat, None).unwrap(),
            from_values.finish(AppMode::AdvancedChat, None).unwrap(),
        );
        assert_eq!(a, b);
        assert_eq!(a.trace.nodes.len(), 4);
        assert_eq!(a.trace.nodes[1].tokens, Some(42));
        assert_eq!(a.trace.nodes[1].retries, 1);
        assert_eq!(a.trace.retrieval.len(), 1);
        assert_eq!(a.workflow_id.as_deref(), Some("wf-1"));
    }

    #[test]
    fn workflow_stream_prefers_outputs_then_text_chunks() {
        let chunks = [
            json!({"event": "text_chunk", "workflow_run_id": "w", "data": {"text": "Bon"}}),
            json!({"event": "text_chunk", "data": {"text": "jour"}}),
        ];
        let finished = |outputs: Value| json!({"event": "workflow_finished", "data": {"status": "succeeded", "outputs": outputs}});
        let o = fold(
            &[
                chunks.to_vec(),
                vec![finished(json!({"result": "Bonjour!"}))],
            ]
            .concat(),
        );
        assert_eq!(
            o.finish(AppMode::Workflow, None).unwrap().answer,
            "Bonjour!"
        );
        let o = fold(&[chunks.to_vec(), vec![finished(Value::Null)]].concat());
        assert_eq!(o.finish(AppMode::Workflow, None).unwrap().answer, "Bonjour");
        let o = fold(&[finished(json!({"score": 3}))]);
        assert_eq!(
            o.finish(AppMode::Workflow, None).unwrap().answer,
            r#"{"score":3}"#
        );
        let o = fold(&[finished(json!({}))]);
        assert_eq!(o.finish(AppMode::Workflow, None).unwrap().answer, "");
    }

    #[test]
    fn failures_from_events() {
        // Chatflow failure: workflow_finished(failed) then the generic error event.
        let o = fold(&[
            json!({"event": "workflow_finished", "workflow_run_id": "w",
                   "data": {"status": "failed", "error": "LLM node: timeout", "outputs": null}}),
            json!({"event": "error", "code": "invalid_param", "message": "Run failed: LLM node: timeout", "status": 400}),
        ]);
        let e = o.finish(AppMode::AdvancedChat, None).unwrap_err();
        assert_eq!(e.code, codes::WORKFLOW_FAILED);
        assert_eq!(e.message, "LLM node: timeout");
        assert_eq!(e.ids.workflow_run_id.as_deref(), Some("w"));

        let o = fold(&[
            json!({"event": "message", "answer": "par", "message_id": "m"}),
            json!({"event": "error", "code": "completion_request_error", "message": "[openai] boom", "status": 400}),
        ]);
        let e = o.finish(AppMode::Chat, None).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.http_status),
            ("completion_request_error", Some(400))
        );
        assert_eq!(e.message, "[openai] boom");
        assert_eq!(e.ids.message_id.as_deref(), Some("m"));

        let o = fold(&[json!({"event": "error", "status": "500"})]);
        let e = o.finish(AppMode::Chat, None).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.http_status),
            ("internal_server_error", Some(500))
        );

        let o = fold(&[json!({"event": "workflow_finished", "data": {"status": "stopped"}})]);
        let e = o.finish(AppMode::Workflow, None).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("workflow_failed", "workflow run stopped")
        );

        let o = fold(&[json!({"event": "workflow_paused", "data": {"workflow_run_id": "w"}})]);
        let e = o.finish(AppMode::Workflow, None).unwrap_err();
        assert_eq!(e.code, codes::WORKFLOW_PAUSED);
        assert_eq!(e.ids.workflow_run_id.as_deref(), Some("w"));
    }

    #[test]
    fn no_terminal_event_is_an_incomplete_stream() {
        let o = fold(&[
            json!({"event": "message", "task_id": "t", "answer": "half"}),
            json!({"event": "something_new"}),
        ]);
        assert!(!o.has_terminal());
        let e = o.finish(AppMode::Chat, None).unwrap_err();
        assert_eq!(e.code, codes::STREAM_INCOMPLETE);
        assert_eq!(e.ids.task_id.as_deref(), Some("t"));
        assert!(e.message.contains("after 2 events"));
    }

    #[test]
    fn blocking_bodies() {
        let chat = json!({"event": "message", "task_id": "t", "id": "i", "message_id": "m",
            "conversation_id": "c", "mode": "chat", "answer": "A",
            "metadata": {"usage": {"total_tokens": 3, "total_price": "0.5", "currency": "USD"}}});
        let p = Outcome::from_blocking(&chat)
            .unwrap()
            .finish(AppMode::Chat, None)
            .unwrap();
        assert_eq!(p.answer, "A");
        assert_eq!(
            p.ids.message_id.as_deref(),
            Some("m"),
            "message_id beats id"
        );
        assert_eq!(p.usage.total_price, Some(0.5));

        let wf = json!({"task_id": "t", "workflow_run_id": "w",
            "data": {"id": "w", "status": "succeeded", "outputs": {"result": "R"}, "total_tokens": 150}});
        let p = Outcome::from_blocking(&wf)
            .unwrap()
            .finish(AppMode::Workflow, None)
            .unwrap();
        assert_eq!(p.answer, "R");
        assert_eq!(p.usage.total_tokens, Some(150));
        assert_eq!(p.ids.workflow_run_id.as_deref(), Some("w"));

        let failed = json!({"data": {"status": "failed", "error": "node X failed", "outputs": {}}});
        let e = Outcome::from_blocking(&failed)
            .unwrap()
            .finish(AppMode::Workflow, None)
            .unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("workflow_failed", "node X failed")
        );

        for bad in [json!([1]), json!({"foo": 1}), json!("x")] {
            assert_eq!(
                Outcome::from_blocking(&bad).unwrap_err().code,
                codes::INVALID_RESPONSE
            );
        }
    }

    /// A blocking body read from its text (typed, or as a `Value` when it has to be) decides as
    /// the same body read as a `Value` first: ids, answer, usage, retrieval, failures.
    #[test]
    fn blocking_bodies_read_from_text_as_from_values() {
        let bodies = [
            // The simulator's chat answer, usage prices as strings, one retrieved chunk.
            r#"{"event": "message", "task_id": " t ", "id": "i", "message_id": "m",
                "conversation_id": "c", "mode": "chat", "answer": "A \"q\" \u00e9",
                "metadata": {"usage": {"prompt_tokens": 10, "completion_tokens": "5",
                    "total_price": "0.0012890", "currency": "USD", "latency": 0.7},
                    "retriever_resources": [{"position": 1, "dataset_name": "D",
                        "document_name": "d.pdf", "score": 0.5, "content": "chunk"}]},
                "created_at": 1}"#,
            r#"{"answer": "", "message_id": "", "id": "i", "metadata": null}"#,
            r#"{"answer": "A", "metadata": [{"usage": {"total_tokens": 3}}]}"#,
            r#"{"answer": "A", "metadata": {"usage": "x", "retriever_resources": {"a": 1}}}"#,
            r#"{"answer": "A", "metadata": {"usage": null, "retriever_resources": null}}"#,
            r#"{"answer": "A", "metadata": {"usage": {"total_tokens": 1e300, "currency": 5}}}"#,
            r#"{"answer": 5, "task_id": "t"}"#,
            r#"{"answer": "first", "answer": "last", "task_id": "t"}"#,
            r#"{"answer": "A", "metadata": {"usage": {"total_tokens": 1, "total_tokens": 2}}}"#,
            r#"{"task_id": "t", "workflow_run_id": "w", "data": {"id": "w", "workflow_id": "wf",
                "status": "succeeded", "outputs": {"result": "R"}, "total_tokens": "150"}}"#,
            r#"{"data": {"workflow_run_id": "w2", "outputs": null}, "answer": "ignored"}"#,
            r#"{"data": {"status": "failed", "error": "node X failed"}}"#,
            r#"{"data": "x", "answer": "A"}"#,
            r#"{"data": null}"#,
            r#"{"event": " error ", "code": "provider_not_initialize", "message": "M",
                "status": 400, "answer": "A"}"#,
            r#"{"event": 7, "answer": "A"}"#,
            r#"[{"answer": "A"}]"#,
            r#""text""#,
            "null",
            r#"{"answer": "A"} trailing"#,
        ];
        for text in bodies {
            let from_text = || Outcome::read_blocking(text.as_bytes(), Some("application/json"));
            let from_value = || {
                serde_json::from_str::<Value>(text)
                    .map_err(|e| not_json_error(Some("application/json"), text.as_bytes(), &e))
                    .and_then(|v| Outcome::from_blocking(&v))
            };
            for mode in [AppMode::Chat, AppMode::Workflow] {
                let decide =
                    |o: Result<Outcome, AttemptError>| o.and_then(|o| o.finish(mode, None));
                assert_eq!(decide(from_text()), decide(from_value()), "{text} {mode:?}");
            }
        }
        let p = Outcome::read_blocking(bodies[0].as_bytes(), None)
            .unwrap()
            .finish(AppMode::Chat, None)
            .unwrap();
        assert_eq!(p.answer, "A \"q\" é");
        assert_eq!(p.ids.task_id.as_deref(), Some("t"));
        assert_eq!(p.usage.total_tokens, Some(15));
        assert_eq!(p.usage.total_price, Some(0.001289));
        assert_eq!(p.retrieved, vec!["chunk"]);
        assert_eq!(p.trace.retrieval.len(), 1);
        // A repeated key's last value wins, as in a `Value`.
        let p = Outcome::read_blocking(bodies[7].as_bytes(), None)
            .unwrap()
            .finish(AppMode::Chat, None)
            .unwrap();
        assert_eq!(p.answer, "last");
        let e = Outcome::read_blocking(b"[1]", None).unwrap_err();
        assert_eq!(e.message, "HTTP 200 with JSON that is not an object");
    }

    /// The usual bodies take the typed path, with their strings borrowed from the text.
    #[test]
    fn usual_blocking_bodies_are_read_typed() {
        let text = r#"{"event": "message", "task_id": "t", "answer": "plain",
            "metadata": {"usage": {"currency": "USD"}}}"#;
        let Ok(Obj(Some(body))) = serde_json::from_str::<Obj<BlockingBody>>(text) else {
            panic!("not read typed");
        };
        assert!(!body.is_error());
        assert!(matches!(
            body.answer.0,
            Some(std::borrow::Cow::Borrowed("plain"))
        ));
        let usage = body.metadata.0.and_then(|m| m.usage.0).unwrap();
        assert!(matches!(
            usage.currency.0,
            Some(std::borrow::Cow::Borrowed("USD"))
        ));
        for not_objects in ["[1]", "1", "\"x\"", "null"] {
            let read = serde_json::from_str::<Obj<BlockingBody>>(not_objects).unwrap();
            assert!(read.0.is_none(), "{not_objects}");
        }
    }

    #[test]
    fn frames_decode_tolerantly() {
        let frame = |event: Option<&str>, data: Option<&str>| SseFrame {
            event: event.map(Into::into),
            data: data.map(Into::into),
            ..Default::default()
        };
        assert_eq!(decode_frame(&frame(Some("ping"), None)).unwrap(), None);
        assert_eq!(decode_frame(&frame(None, Some(" [DONE] "))).unwrap(), None);
        assert_eq!(decode_frame(&frame(None, Some(""))).unwrap(), None);
        let v = decode_frame(&frame(None, Some(r#"{"event":"ping"}"#)))
            .unwrap()
            .unwrap();
        assert_eq!(v["event"], "ping");
        let v = decode_frame(&frame(Some("message"), Some(r#"{"answer":"x"}"#)))
            .unwrap()
            .unwrap();
        assert_eq!(v["event"], "message");
        let e = decode_frame(&frame(None, Some(r#"{"event": "mess"#))).unwrap_err();
        assert_eq!(e.code, codes::INVALID_RESPONSE);
        // A stream that is not Dify's is not quoted.
        let e = decode_frame(&frame(None, Some("MARKER-not-json"))).unwrap_err();
        assert!(!e.message.contains("MARKER"), "{}", e.message);
        assert!(decode_frame(&frame(None, Some("[1,2]"))).is_err());
    }

    #[test]
    fn truncated_json_says_where_it_ended() {
        let body = "{\"answer\": \"你好".as_bytes();
        let err = serde_json::from_slice::<Value>(body).unwrap_err();
        let e = not_json_error(Some("application/json"), body, &err);
        assert_eq!(e.code, codes::INVALID_RESPONSE);
        assert_eq!(
            e.message,
            "HTTP 200 OK with malformed JSON (EOF while parsing a string at line 1 column 18)"
        );
        let err = serde_json::from_slice::<Value>(b"nope").unwrap_err();
        let e = not_json_error(None, b"nope", &err);
        assert_eq!(
            e.message,
            "HTTP 200 OK with a body that is not JSON where Dify sends JSON"
        );
        let page = b"<html><title>Dify</title></html>";
        let err = serde_json::from_slice::<Value>(page).unwrap_err();
        let e = not_json_error(Some("text/html"), page, &err);
        assert_eq!(
            e.message,
            "HTTP 200 OK with an HTML page where Dify sends JSON"
        );
    }

    #[test]
    fn arbitrary_events_never_panic() {
        let weird = [
            json!(null),
            json!({"event": 5}),
            json!({"event": "message", "answer": 5}),
            json!({"event": "message_end", "metadata": "x"}),
            json!({"event": "workflow_finished", "data": "x"}),
            json!({"event": "workflow_finished"}),
            json!({"event": "error", "status": -1, "code": 7}),
            json!({"event": "text_chunk", "data": {"text": null}}),
        ];
        for mode in AppMode::ALL {
            let _ = fold(&weird).finish(mode, Some("x"));
        }
    }
}
