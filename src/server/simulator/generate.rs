//! One simulated generation: the ids, the answer, and the exact JSON Dify sends for it — the
//! blocking body, or the plan of SSE events per app mode (chat, agent, chatflow, completion,
//! workflow) with faults and key quirks woven in. Timing values come in from `handlers`;
//! playing the plan out is `stream`'s job.

use std::time::Duration;

use bytes::Bytes;
use rand::rngs::SmallRng;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::answer;
use super::faults::{Fault, StreamError};
use super::knowledge::KbEntry;
use super::rng::{stable_uuid, uuid, StableHash};
use super::stream::{PlanBuilder, Step};
use crate::model::AppMode;

/// The three endpoint families, which also differ in the base fields of their events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Chat,
    Completion,
    Workflow,
}

impl Family {
    pub(super) fn of(mode: AppMode) -> Family {
        match mode {
            AppMode::Chat | AppMode::AgentChat | AppMode::AdvancedChat => Family::Chat,
            AppMode::Completion => Family::Completion,
            AppMode::Workflow => Family::Workflow,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    /// Blocking: the whole response time.
    pub latency: Duration,
    /// Streaming: until the first answer chunk.
    pub ttft: Duration,
    pub token_delay: Duration,
}

/// Behaviour a key token asks for that is not a fault.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Quirks {
    /// Chatflow: `message_end` before `workflow_finished`.
    pub message_end_first: bool,
    /// An unknown event type before the answer and one after the terminal event, and (where
    /// the mode has it) a `message_replace` that corrects a streamed draft.
    pub unknown_events: bool,
    /// Nodes a chatflow/workflow stream reports (`nodes<N>`): 0 none, else at least 4; None the
    /// usual four.
    pub nodes: Option<u32>,
}

/// What the handler knows about the request.
pub(super) struct Ask {
    pub mode: AppMode,
    pub quality: u8,
    pub question: String,
    pub inputs: Value,
    pub conversation_id: Option<String>,
    pub entry: Option<&'static KbEntry>,
    pub answer: String,
    pub workflow_id: String,
    pub quirks: Quirks,
}

pub(super) struct Generation {
    ask: Ask,
    family: Family,
    task_id: String,
    message_id: String,
    conversation_id: String,
    workflow_run_id: String,
    created_at: i64,
    rng: SmallRng,
}

struct Node {
    node_id: &'static str,
    node_type: &'static str,
    title: &'static str,
}

const START: Node = Node {
    node_id: "1711528708197",
    node_type: "start",
    title: "Start",
};
const RETRIEVAL: Node = Node {
    node_id: "1711528715643",
    node_type: "knowledge-retrieval",
    title: "Knowledge Retrieval",
};
const LLM: Node = Node {
    node_id: "1711528770123",
    node_type: "llm",
    title: "LLM",
};
const ANSWER: Node = Node {
    node_id: "answer",
    node_type: "answer",
    title: "Answer",
};
const END: Node = Node {
    node_id: "1711528802005",
    node_type: "end",
    title: "End",
};

/// Streamed before a `message_replace` corrects it, so a client that ignores the replace (or
/// appends it) ends up with a visibly wrong answer.
const DRAFT_MARK: &str = " [draft: pending output moderation]";

/// A ping after every this many answer chunks (Dify pings on a timer; a count keeps plans fixed).
const PING_EVERY: usize = 8;

#[derive(Serialize)]
struct AnswerChunk<'a> {
    event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_id: Option<&'a str>,
    message_id: &'a str,
    created_at: i64,
    task_id: &'a str,
    id: &'a str,
    answer: &'a str,
}

#[derive(Serialize)]
struct TextChunk<'a> {
    event: &'static str,
    task_id: &'a str,
    workflow_run_id: &'a str,
    data: TextChunkData<'a>,
}

#[derive(Serialize)]
struct TextChunkData<'a> {
    text: &'a str,
    from_variable_selector: [&'static str; 2],
}

/// A node event, written straight from borrowed fields (a ten-node stream has twenty of them; a
/// `Value` tree each cost the colocated simulator as much CPU as the rest of the stream). The
/// envelope is `workflow_event`'s: the family's fields, then `workflow_run_id` and `data`.
#[derive(Serialize)]
struct NodeEventOut<'a, D> {
    event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<i64>,
    task_id: &'a str,
    workflow_run_id: &'a str,
    data: D,
}

/// `data` of a node event; the fields after `created_at` are those of one event kind only.
#[derive(Serialize)]
struct NodeData<'a, O, M> {
    id: &'a str,
    node_id: &'a str,
    node_type: &'static str,
    title: &'a str,
    index: u32,
    predecessor_node_id: Option<&'static str>,
    inputs: (),
    #[serde(skip_serializing_if = "Option::is_none")]
    process_data: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outputs: Option<O>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    elapsed_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_metadata: Option<M>,
    created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<[(); 0]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extras: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iteration_id: Option<Option<()>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    loop_id: Option<Option<()>>,
}

/// `{}`.
#[derive(Serialize)]
struct Empty {}

/// An object of one field: `{"text": "…"}`, `{"answer": "…"}`, `{"result": […]}`.
struct OneField<'a, T: ?Sized>(&'static str, &'a T);

impl<T: Serialize + ?Sized> Serialize for OneField<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

impl Generation {
    /// `rng` is the request's id/detail stream (seeded per attempt).
    pub(super) fn new(ask: Ask, mut rng: SmallRng) -> Generation {
        let family = Family::of(ask.mode);
        let task_id = uuid(&mut rng);
        let message_id = uuid(&mut rng);
        let workflow_run_id = uuid(&mut rng);
        let conversation_id = match &ask.conversation_id {
            Some(id) => id.clone(),
            None => uuid(&mut rng),
        };
        Generation {
            ask,
            family,
            task_id,
            message_id,
            conversation_id,
            workflow_run_id,
            created_at: unix_now(),
            rng,
        }
    }

    /// The conversation the answer is in (chat family): the one asked for, else a new one.
    pub(super) fn conversation_id(&self) -> &str {
        &self.conversation_id
    }

    pub(super) fn task_id(&self) -> &str {
        &self.task_id
    }

    /// The 200 body of a blocking call that took `elapsed`.
    pub(super) fn blocking_body(&mut self, elapsed: Duration) -> Value {
        let secs = elapsed.as_secs_f64();
        if self.family == Family::Workflow {
            return json!({
                "task_id": self.task_id,
                "workflow_run_id": self.workflow_run_id,
                "data": self.workflow_data("succeeded", secs, false),
            });
        }
        let mut body = Map::new();
        body.insert("event".into(), "message".into());
        body.insert("task_id".into(), self.task_id.clone().into());
        body.insert("id".into(), self.message_id.clone().into());
        body.insert("message_id".into(), self.message_id.clone().into());
        if self.family == Family::Chat {
            body.insert(
                "conversation_id".into(),
                self.conversation_id.clone().into(),
            );
        }
        body.insert("mode".into(), self.ask.mode.as_str().into());
        body.insert("answer".into(), self.ask.answer.clone().into());
        body.insert("metadata".into(), self.metadata(secs));
        body.insert("created_at".into(), self.created_at.into());
        Value::Object(body)
    }

    /// The SSE plan, plus the frames a stop request ends the stream with.
    pub(super) fn stream_plan(&mut self, t: &Timing, fault: Option<Fault>) -> (Vec<Step>, Bytes) {
        let mode = self.ask.mode;
        let quirks = self.ask.quirks;
        let workflowish = matches!(mode, AppMode::AdvancedChat | AppMode::Workflow);
        let exec: [String; 4] = std::array::from_fn(|_| uuid(&mut self.rng));
        let mut b = PlanBuilder::default();

        b.ping();
        if quirks.unknown_events {
            b.event(&self.unknown_event("sim_future_event"));
        }
        let node_events = quirks.nodes != Some(0);
        if workflowish {
            b.event(&self.workflow_started());
        }
        if workflowish && node_events {
            b.event(&self.node_started(&START, &exec[0], 1, None));
            b.event(&self.node_finished(&START, &exec[0], 1, None, &self.ask.inputs, 0.01, ()));
            b.event(&self.node_started(&RETRIEVAL, &exec[1], 2, Some(&START)));
            let hits = self.retriever_resources();
            b.event(&self.node_finished(
                &RETRIEVAL,
                &exec[1],
                2,
                Some(&START),
                OneField("result", &hits),
                0.12,
                (),
            ));
            for step in 0..quirks.nodes.map_or(0, |n| n.saturating_sub(4)) {
                let exec = uuid(&mut self.rng);
                self.code_node(&mut b, step, &exec);
            }
            b.event(&self.node_started(&LLM, &exec[2], 3, Some(&RETRIEVAL)));
        } else if mode == AppMode::AgentChat {
            let tool_input = json!({"dataset_retrieval": {"query": self.ask.question}}).to_string();
            let observation = self.ask.entry.map_or("", |e| e.expected_answer);
            b.event(&self.agent_thought(1, "", "dataset_retrieval", &tool_input, observation));
        }

        b.wait(t.ttft);
        let replaces = quirks.unknown_events && mode != AppMode::Workflow;
        let streamed = if replaces {
            format!("{}{DRAFT_MARK}", self.ask.answer)
        } else {
            self.ask.answer.clone()
        };
        let chunks = answer::chunks(&streamed, &mut self.rng);
        let gaps = u32::try_from(chunks.len().saturating_sub(1)).unwrap_or(u32::MAX);
        let elapsed = t.ttft.saturating_add(t.token_delay.saturating_mul(gaps));
        let secs = elapsed.as_secs_f64();
        let break_at = chunks.len() / 2;
        let bad_at = chunks.len() / 3;
        for (i, chunk) in chunks.iter().enumerate() {
            if i > 0 {
                b.wait(t.token_delay);
                if i % PING_EVERY == 0 {
                    b.ping();
                }
            }
            if i == break_at && self.break_stream(&mut b, fault) {
                return (b.finish(), self.stopped_tail(secs));
            }
            if i == bad_at && fault == Some(Fault::BadJson) {
                b.raw(self.malformed_frame().as_bytes());
            }
            self.push_chunk(&mut b, chunk);
        }
        if chunks.is_empty() && self.break_stream(&mut b, fault) {
            return (b.finish(), self.stopped_tail(secs));
        }

        let answer = self.ask.answer.clone();
        if replaces {
            let mut replace = self.base("message_replace", true);
            replace.insert("answer".into(), answer.clone().into());
            replace.insert("reason".into(), "output_moderation".into());
            b.event(&replace);
        }
        match mode {
            AppMode::Chat | AppMode::Completion => b.event(&self.message_end(secs)),
            AppMode::AgentChat => {
                b.event(&self.agent_thought(2, &answer, "", "", ""));
                b.event(&self.message_end(secs));
            }
            AppMode::AdvancedChat | AppMode::Workflow if !node_events => {
                let finished = self.workflow_finished("succeeded", secs);
                if mode == AppMode::AdvancedChat {
                    b.event(&self.message_end(secs));
                }
                b.event(&finished);
            }
            AppMode::AdvancedChat | AppMode::Workflow => {
                let usage = self.llm_usage_metadata(secs);
                b.event(&self.node_finished(
                    &LLM,
                    &exec[2],
                    3,
                    Some(&RETRIEVAL),
                    OneField("text", &answer),
                    secs,
                    usage,
                ));
                let last = if mode == AppMode::Workflow {
                    &END
                } else {
                    &ANSWER
                };
                b.event(&self.node_started(last, &exec[3], 4, Some(&LLM)));
                b.event(&self.node_finished(
                    last,
                    &exec[3],
                    4,
                    Some(&LLM),
                    OneField("answer", &answer),
                    0.0,
                    (),
                ));
                let finished = self.workflow_finished("succeeded", secs);
                if mode == AppMode::Workflow {
                    b.event(&finished);
                } else if quirks.message_end_first {
                    b.event(&self.message_end(secs));
                    b.event(&finished);
                } else {
                    b.event(&finished);
                    b.event(&self.message_end(secs));
                }
            }
        }
        if quirks.unknown_events {
            if self.family == Family::Workflow {
                b.event(&self.unknown_event("sim_after_finish"));
            } else {
                let mut tts = self.base("tts_message_end", true);
                tts.insert("audio".into(), "".into());
                b.event(&tts);
            }
        }
        (b.finish(), self.stopped_tail(secs))
    }

    /// Mid-stream error and cut faults; true when the plan ends here.
    fn break_stream(&self, b: &mut PlanBuilder, fault: Option<Fault>) -> bool {
        match fault {
            Some(Fault::MidStream(e)) => {
                b.event(&self.error_event(e));
                true
            }
            Some(Fault::Cut) => {
                b.cut();
                true
            }
            _ => false,
        }
    }

    fn push_chunk(&self, b: &mut PlanBuilder, text: &str) {
        if self.family == Family::Workflow {
            b.event(&TextChunk {
                event: "text_chunk",
                task_id: &self.task_id,
                workflow_run_id: &self.workflow_run_id,
                data: TextChunkData {
                    text,
                    from_variable_selector: [LLM.node_id, "text"],
                },
            });
        } else {
            b.event(&AnswerChunk {
                event: if self.ask.mode == AppMode::AgentChat {
                    "agent_message"
                } else {
                    "message"
                },
                conversation_id: (self.family == Family::Chat)
                    .then_some(self.conversation_id.as_str()),
                message_id: &self.message_id,
                created_at: self.created_at,
                task_id: &self.task_id,
                id: &self.message_id,
                answer: text,
            });
        }
    }

    /// A frame whose JSON never closes; the frame itself is well delimited.
    fn malformed_frame(&self) -> String {
        if self.family == Family::Workflow {
            format!(
                "data: {{\"event\": \"text_chunk\", \"task_id\": \"{}\", \"data\": {{\"text\": \"unterminated\n\n",
                self.task_id
            )
        } else {
            format!("data: {{\"event\": \"message\", \"task_id\": \"{}\", \"answer\": \"unterminated\n\n", self.task_id)
        }
    }

    /// Frames that end a stopped stream: the terminal events, reporting status `stopped`.
    fn stopped_tail(&mut self, secs: f64) -> Bytes {
        let mut b = PlanBuilder::default();
        match self.ask.mode {
            AppMode::Workflow => b.event(&self.workflow_finished("stopped", secs)),
            AppMode::AdvancedChat => {
                b.event(&self.workflow_finished("stopped", secs));
                b.event(&self.message_end(secs));
            }
            _ => b.event(&self.message_end(secs)),
        }
        b.into_bytes()
    }

    /// Event fields every event of this family has; `task_id` is left out of `error` events.
    fn base(&self, event: &str, with_task: bool) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("event".into(), event.into());
        match self.family {
            Family::Chat => {
                m.insert(
                    "conversation_id".into(),
                    self.conversation_id.clone().into(),
                );
                m.insert("message_id".into(), self.message_id.clone().into());
                m.insert("created_at".into(), self.created_at.into());
            }
            Family::Completion => {
                m.insert("message_id".into(), self.message_id.clone().into());
                m.insert("created_at".into(), self.created_at.into());
            }
            Family::Workflow => {
                m.insert(
                    "workflow_run_id".into(),
                    self.workflow_run_id.clone().into(),
                );
            }
        }
        if with_task {
            m.insert("task_id".into(), self.task_id.clone().into());
        }
        m
    }

    /// Workflow and node events: in a chatflow they also carry the chat base fields.
    fn workflow_event(&self, event: &str, data: Value) -> Value {
        let mut m = self.base(event, true);
        m.insert(
            "workflow_run_id".into(),
            self.workflow_run_id.clone().into(),
        );
        m.insert("data".into(), data);
        Value::Object(m)
    }

    fn error_event(&self, e: StreamError) -> Value {
        let mut m = self.base("error", false);
        m.insert("code".into(), e.code.into());
        m.insert("message".into(), e.message.into());
        m.insert("status".into(), e.status.into());
        Value::Object(m)
    }

    fn unknown_event(&self, event: &str) -> Value {
        let mut m = self.base(event, true);
        m.insert(
            "data".into(),
            json!({"note": "an event type this client has not seen"}),
        );
        Value::Object(m)
    }

    fn message_end(&mut self, secs: f64) -> Value {
        let mut m = self.base("message_end", true);
        m.insert("id".into(), self.message_id.clone().into());
        m.insert("metadata".into(), self.metadata(secs));
        Value::Object(m)
    }

    fn agent_thought(
        &mut self,
        position: u32,
        thought: &str,
        tool: &str,
        tool_input: &str,
        observation: &str,
    ) -> Value {
        let mut m = self.base("agent_thought", true);
        m.insert("id".into(), uuid(&mut self.rng).into());
        m.insert("position".into(), position.into());
        m.insert("thought".into(), thought.into());
        m.insert("observation".into(), observation.into());
        m.insert("tool".into(), tool.into());
        let labels = if tool.is_empty() {
            json!({})
        } else {
            json!({tool: {"en_US": "Dataset Retrieval", "zh_Hans": "知识检索"}})
        };
        m.insert("tool_labels".into(), labels);
        m.insert("tool_input".into(), tool_input.into());
        m.insert("message_files".into(), json!([]));
        Value::Object(m)
    }

    fn workflow_started(&self) -> Value {
        self.workflow_event(
            "workflow_started",
            json!({
                "id": self.workflow_run_id,
                "workflow_id": self.ask.workflow_id,
                "inputs": self.ask.inputs,
                "created_at": self.created_at,
                "reason": "initial",
            }),
        )
    }

    fn workflow_finished(&mut self, status: &str, secs: f64) -> Value {
        let data = self.workflow_data(status, secs, true);
        self.workflow_event("workflow_finished", data)
    }

    fn workflow_data(&mut self, status: &str, secs: f64, streamed: bool) -> Value {
        let outputs = if status == "succeeded" {
            json!({"answer": self.ask.answer})
        } else {
            json!({})
        };
        let mut data = json!({
            "id": self.workflow_run_id,
            "workflow_id": self.ask.workflow_id,
            "status": status,
            "outputs": outputs,
            "error": null,
            "elapsed_time": secs,
            "total_tokens": self.prompt_tokens() + self.completion_tokens(),
            "total_steps": 4,
            "created_at": self.created_at,
            "finished_at": self.created_at + secs.ceil() as i64,
        });
        if streamed {
            data["exceptions_count"] = 0.into();
            data["files"] = json!([]);
        }
        data
    }

    fn node_event<D: Serialize>(&self, event: &'static str, data: D) -> NodeEventOut<'_, D> {
        let chat = self.family == Family::Chat;
        let message = self.family != Family::Workflow;
        NodeEventOut {
            event,
            conversation_id: chat.then_some(self.conversation_id.as_str()),
            message_id: message.then_some(self.message_id.as_str()),
            created_at: message.then_some(self.created_at),
            task_id: &self.task_id,
            workflow_run_id: &self.workflow_run_id,
            data,
        }
    }

    fn node_started<'a>(
        &'a self,
        node: &'a Node,
        exec_id: &'a str,
        index: u32,
        predecessor: Option<&Node>,
    ) -> NodeEventOut<'a, NodeData<'a, (), ()>> {
        self.node_event(
            "node_started",
            NodeData {
                extras: Some(Empty {}),
                iteration_id: Some(None),
                loop_id: Some(None),
                ..self.node_data_of(node, exec_id, index, predecessor)
            },
        )
    }

    fn node_data_of<'a, O, M>(
        &self,
        node: &'a Node,
        exec_id: &'a str,
        index: u32,
        predecessor: Option<&Node>,
    ) -> NodeData<'a, O, M> {
        self.node_data(
            node.node_id,
            node.node_type,
            node.title,
            exec_id,
            index,
            predecessor,
        )
    }

    /// The fields every node event's `data` has; the others absent.
    fn node_data<'a, O, M>(
        &self,
        node_id: &'a str,
        node_type: &'static str,
        title: &'a str,
        exec_id: &'a str,
        index: u32,
        predecessor: Option<&Node>,
    ) -> NodeData<'a, O, M> {
        NodeData {
            id: exec_id,
            node_id,
            node_type,
            title,
            index,
            predecessor_node_id: predecessor.map(|p| p.node_id),
            inputs: (),
            process_data: None,
            outputs: None,
            status: None,
            error: None,
            elapsed_time: None,
            execution_metadata: None,
            created_at: self.created_at,
            finished_at: None,
            files: None,
            extras: None,
            iteration_id: None,
            loop_id: None,
        }
    }

    /// A code node between retrieval and the LLM (`nodes<N>`): its start and finish events, with
    /// an output that depends on the question, as a real preprocessing step's does.
    fn code_node(&self, b: &mut PlanBuilder, step: u32, exec_id: &str) {
        let node_id = format!("code-{step}");
        let title = format!("Preprocess {}", step + 1);
        let index = 3 + step;
        let started =
            self.node_data::<(), ()>(&node_id, "code", &title, exec_id, index, Some(&RETRIEVAL));
        b.event(&self.node_event("node_started", started));
        let words = self.ask.question.split_whitespace().count();
        let result = format!(
            "step {} of {words} words: {}",
            step + 1,
            self.ask.question.chars().take(40).collect::<String>()
        );
        b.event(&self.node_event(
            "node_finished",
            NodeData {
                outputs: Some(OneField("result", result.as_str())),
                status: Some("succeeded"),
                elapsed_time: Some(0.002),
                execution_metadata: Some(()),
                ..self.node_data(&node_id, "code", &title, exec_id, index, Some(&RETRIEVAL))
            },
        ));
    }

    #[allow(clippy::too_many_arguments)] // mirrors the fields of Dify's event one to one
    fn node_finished<'a, O: Serialize, M: Serialize>(
        &'a self,
        node: &'a Node,
        exec_id: &'a str,
        index: u32,
        predecessor: Option<&Node>,
        outputs: O,
        elapsed: f64,
        execution_metadata: M,
    ) -> NodeEventOut<'a, NodeData<'a, O, M>> {
        self.node_event(
            "node_finished",
            NodeData {
                process_data: Some(()),
                outputs: Some(outputs),
                status: Some("succeeded"),
                error: Some(()),
                elapsed_time: Some(elapsed),
                execution_metadata: Some(execution_metadata),
                finished_at: Some(self.created_at + elapsed.ceil() as i64),
                files: Some([]),
                ..self.node_data_of(node, exec_id, index, predecessor)
            },
        )
    }

    fn llm_usage_metadata(&self, secs: f64) -> Value {
        let usage = super::wire::usage(self.prompt_tokens(), self.completion_tokens(), secs);
        json!({
            "total_tokens": usage["total_tokens"],
            "total_price": usage["total_price"],
            "currency": "USD",
        })
    }

    fn metadata(&mut self, secs: f64) -> Value {
        json!({
            "usage": super::wire::usage(self.prompt_tokens(), self.completion_tokens(), secs),
            "retriever_resources": self.retriever_resources(),
        })
    }

    fn retriever_resources(&mut self) -> Value {
        let Some(entry) = self.ask.entry else {
            return json!([]);
        };
        // The same question against the same knowledge base retrieves the same way each time: the
        // score depends on the case and the version's quality only (not the call's randomness), so
        // two runs of one version agree at the retrieval node and two versions differ there.
        let spread = StableHash::new("retrieval-score")
            .str(entry.name)
            .u64(u64::from(self.ask.quality))
            .finish()
            % 6001;
        let score =
            0.45 + 0.5 * f64::from(self.ask.quality) / 100.0 + (spread as f64 - 3000.0) / 1e5;
        json!([{
            "position": 1,
            "dataset_id": stable_uuid(StableHash::new("dataset")),
            "dataset_name": "Hardware Spec Library",
            "document_id": stable_uuid(StableHash::new("document").str(entry.category)),
            "document_name": format!("{}-handbook.pdf", entry.category),
            "segment_id": stable_uuid(StableHash::new("segment").str(entry.name)),
            "score": (score * 1e6).round() / 1e6,
            "content": entry.expected_answer,
        }])
    }

    fn prompt_tokens(&self) -> u64 {
        let retrieved = self
            .ask
            .entry
            .map_or(0, |e| 180 + token_estimate(e.expected_answer));
        320 + token_estimate(&self.ask.question) + retrieved
    }

    fn completion_tokens(&self) -> u64 {
        token_estimate(&self.ask.answer)
    }
}

/// Roughly what a BPE tokenizer gives: one token per CJK character, four per three words.
pub(super) fn token_estimate(s: &str) -> u64 {
    let cjk = s.chars().filter(|c| answer::is_cjk(*c)).count() as u64;
    let words = s.split_whitespace().count() as u64;
    cjk + words * 4 / 3 + 1
}

pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::super::knowledge::entries;
    use super::*;

    fn generation(mode: AppMode, quirks: Quirks) -> Generation {
        let entry = entries().first();
        let ask = Ask {
            mode,
            quality: 80,
            question: "q".into(),
            inputs: json!({}),
            conversation_id: None,
            entry,
            answer: "Hello there, this is a fairly long answer with many words in it.".into(),
            workflow_id: "wf".into(),
            quirks,
        };
        Generation::new(ask, StableHash::new("t").rng())
    }

    fn events(steps: &[Step]) -> Vec<String> {
        let text: String = steps
            .iter()
            .filter_map(|s| match s {
                Step::Emit(b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            })
            .collect();
        text.split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| match f.strip_prefix("data: ") {
                Some(json) => serde_json::from_str::<Value>(json)
                    .ok()
                    .and_then(|v| v["event"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "<malformed>".into()),
                None => f.to_string(),
            })
            .collect()
    }

    const T: Timing = Timing {
        latency: Duration::ZERO,
        ttft: Duration::from_millis(5),
        token_delay: Duration::from_millis(1),
    };

    #[test]
    fn chatflow_end_order_follows_the_quirk() {
        let (steps, _) = generation(AppMode::AdvancedChat, Quirks::default()).stream_plan(&T, None);
        let ev = events(&steps);
        assert_eq!(ev.first().map(String::as_str), Some("event: ping"));
        assert_eq!(&ev[ev.len() - 2..], ["workflow_finished", "message_end"]);
        let quirks = Quirks {
            message_end_first: true,
            ..Quirks::default()
        };
        let (steps, _) = generation(AppMode::AdvancedChat, quirks).stream_plan(&T, None);
        let ev = events(&steps);
        assert_eq!(&ev[ev.len() - 2..], ["message_end", "workflow_finished"]);
    }

    #[test]
    fn each_mode_ends_with_its_terminal_event() {
        for (mode, last, chunk) in [
            (AppMode::Chat, "message_end", "message"),
            (AppMode::AgentChat, "message_end", "agent_message"),
            (AppMode::Completion, "message_end", "message"),
            (AppMode::Workflow, "workflow_finished", "text_chunk"),
        ] {
            let (steps, _) = generation(mode, Quirks::default()).stream_plan(&T, None);
            let ev = events(&steps);
            assert_eq!(ev.last().map(String::as_str), Some(last), "{mode}");
            assert!(
                ev.iter().filter(|e| *e == chunk).count() > 3,
                "{mode}: {ev:?}"
            );
            assert!(
                ev.iter().filter(|e| *e == "event: ping").count() >= 2,
                "{mode}"
            );
        }
    }

    #[test]
    fn faults_change_the_plan() {
        let plan = |fault| {
            events(
                &generation(AppMode::Chat, Quirks::default())
                    .stream_plan(&T, Some(fault))
                    .0,
            )
        };
        let ev = plan(Fault::MidStream(super::super::faults::STREAM_INTERNAL));
        assert_eq!(ev.last().map(String::as_str), Some("error"));
        assert!(ev.contains(&"message".to_string()));
        let (steps, _) =
            generation(AppMode::Chat, Quirks::default()).stream_plan(&T, Some(Fault::Cut));
        assert!(matches!(steps.last(), Some(Step::Cut)));
        assert!(plan(Fault::BadJson).contains(&"<malformed>".to_string()));
    }

    #[test]
    fn unknown_events_add_replace_and_extras() {
        let quirks = Quirks {
            unknown_events: true,
            ..Quirks::default()
        };
        let ev = events(&generation(AppMode::Chat, quirks).stream_plan(&T, None).0);
        for e in [
            "sim_future_event",
            "message_replace",
            "message_end",
            "tts_message_end",
        ] {
            assert!(ev.contains(&e.to_string()), "{e}: {ev:?}");
        }
    }
}
