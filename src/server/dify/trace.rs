//! Folds the stream's node, agent and retrieval events into a [`Trace`]: `node_started` opens a
//! node run (keyed by its execution id, so a loop's runs stay apart), `node_finished` closes it
//! with Dify's status, elapsed time, tokens, price, error and outputs, `node_retry` counts a retry;
//! `agent_thought.tool` names the tools an agent called; `metadata.retriever_resources` (chat
//! family) or a knowledge-retrieval node's `result` (workflows) are the retrieved chunks.
//! Everything is optional and bounded (see `model::trace`); nothing here fails a call.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::node_event::{NodeData, Text};
use super::outcome::{as_f64, as_i64};
use crate::model::trace::{
    cut_chars, fnv1a, Chunk, NodeRun, Trace, MAX_NODE_ERROR_CHARS, MAX_NODE_OUTPUT_CHARS,
    MAX_TRACE_CHUNKS, MAX_TRACE_NODES, STORED_SNIPPET_CHARS,
};

#[derive(Debug, Default)]
pub(crate) struct TraceBuilder {
    nodes: Vec<NodeRun>,
    dropped: u32,
    /// Execution id → index in `nodes`.
    by_exec: HashMap<String, usize>,
    tools: Vec<String>,
    /// From `metadata.retriever_resources`: what the answer cites. Preferred when present.
    resources: Vec<Chunk>,
    /// From knowledge-retrieval nodes' outputs.
    node_chunks: Vec<Chunk>,
    /// Milliseconds since the request was sent, as of the event being applied.
    clock_ms: Option<i64>,
}

impl TraceBuilder {
    /// The time the next events arrived at (ms after the request was sent).
    pub fn set_clock(&mut self, ms: i64) {
        self.clock_ms = Some(ms);
    }

    pub fn apply(&mut self, name: &str, event: &Value) {
        let data = event.get("data").unwrap_or(&Value::Null);
        match name {
            "node_started" | "node_finished" => {
                // The same reading as the typed path's ([`NodeData`]); a `data` that is no object
                // reads as one with no fields, as `Value::get` would have it.
                let data = NodeData::deserialize(data).unwrap_or_default();
                self.node(name == "node_finished", &data);
            }
            "node_retry" => {
                let node_id = text(data, "node_id").unwrap_or_default();
                if let Some(node) = self.nodes.iter_mut().rev().find(|n| n.id == node_id) {
                    node.retries += 1;
                }
            }
            "agent_thought" => {
                let tools = event.get("tool").and_then(Value::as_str).unwrap_or("");
                for tool in tools.split(';').map(str::trim).filter(|t| !t.is_empty()) {
                    if !self.tools.iter().any(|t| t == tool) && self.tools.len() < MAX_TRACE_NODES {
                        self.tools.push(tool.to_string());
                    }
                }
            }
            _ => {}
        }
    }

    /// Folds a `node_started` (`finished` false) or `node_finished` event's `data` in.
    pub fn node(&mut self, finished: bool, data: &NodeData<'_>) {
        let exec = data.exec_id();
        if !finished {
            if let Some(i) = self.open(exec, data) {
                self.nodes[i].start_ms = self.clock_ms;
            }
            return;
        }
        let Some(i) = self
            .by_exec
            .get(exec)
            .copied()
            .or_else(|| self.open(exec, data))
        else {
            return;
        };
        let node = &mut self.nodes[i];
        node.status = data.status.as_str().unwrap_or("succeeded").to_string();
        node.elapsed_ms = data
            .elapsed_time
            .as_ref()
            .and_then(as_f64)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| (s * 1000.0).round() as i64);
        let meta = data.execution_metadata.as_ref();
        node.tokens = meta.and_then(|m| m.get("total_tokens")).and_then(as_i64);
        node.price = meta.and_then(|m| m.get("total_price")).and_then(as_f64);
        node.error = data
            .error
            .as_str()
            .filter(|e| !e.trim().is_empty())
            .map(|e| bounded(e, MAX_NODE_ERROR_CHARS).0);
        if let Some(out) = data.outputs.text() {
            node.output_hash = Some(fnv1a(&out));
            let (out, cut) = bounded(&out, MAX_NODE_OUTPUT_CHARS);
            node.output = Some(out);
            node.output_cut = cut;
        }
        if node.kind == "knowledge-retrieval" {
            if let Some(Value::Array(result)) = data.outputs.field("result") {
                self.node_chunks.extend(result.iter().map(chunk_of));
            }
        }
    }

    /// A message's `metadata` (`message_end`, or a blocking body).
    pub fn metadata(&mut self, metadata: Option<&Value>) {
        self.resources(metadata.and_then(|m| m.get("retriever_resources")));
    }

    /// [`TraceBuilder::metadata`]'s `retriever_resources` list itself.
    pub fn resources(&mut self, resources: Option<&Value>) {
        if let Some(list) = resources.and_then(Value::as_array) {
            self.resources = list.iter().map(chunk_of).collect();
        }
    }

    pub fn finish(self) -> Trace {
        let mut retrieval = if self.resources.is_empty() {
            self.node_chunks
        } else {
            self.resources
        };
        retrieval.truncate(MAX_TRACE_CHUNKS);
        Trace {
            nodes: self.nodes,
            nodes_dropped: self.dropped,
            tools: self.tools,
            retrieval,
        }
    }

    /// Starts a node run; None (and counted) beyond the bound.
    fn open(&mut self, exec: &str, data: &NodeData<'_>) -> Option<usize> {
        if self.nodes.len() >= MAX_TRACE_NODES {
            self.dropped += 1;
            return None;
        }
        let label = |text: &Text<'_>| bounded(text.as_str().unwrap_or_default(), 200).0;
        self.nodes.push(NodeRun {
            id: label(&data.node_id),
            kind: label(&data.node_type),
            title: label(&data.title),
            status: "running".to_string(),
            ..NodeRun::default()
        });
        let i = self.nodes.len() - 1;
        self.by_exec.insert(exec.to_string(), i);
        Some(i)
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `s` within `max` characters, and whether it was cut.
fn bounded(s: &str, max: usize) -> (String, bool) {
    let mut owned = s.to_string();
    let cut = cut_chars(&mut owned, max);
    (owned, cut)
}

/// One retrieved chunk, from either shape Dify uses: a `retriever_resources` entry (fields at the
/// top) or a knowledge-retrieval node's result (`{content, title, metadata: {…}}`).
fn chunk_of(r: &Value) -> Chunk {
    let meta = r.get("metadata").filter(|m| m.is_object());
    let field = |key: &str| meta.and_then(|m| m.get(key)).or_else(|| r.get(key));
    let string = |key: &str| field(key).and_then(Value::as_str).map(str::to_string);
    Chunk {
        dataset: string("dataset_name").unwrap_or_default(),
        document: string("document_name")
            .or_else(|| text(r, "title").map(str::to_string))
            .unwrap_or_default(),
        document_id: string("document_id"),
        score: field("score").and_then(as_f64).filter(|s| s.is_finite()),
        snippet: bounded(text(r, "content").unwrap_or_default(), STORED_SNIPPET_CHARS).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fold(events: &[Value]) -> Trace {
        let mut b = TraceBuilder::default();
        for (i, e) in events.iter().enumerate() {
            b.set_clock(i as i64 * 10);
            b.apply(e["event"].as_str().unwrap(), e);
        }
        b.finish()
    }

    // Event shapes as `shared/reference/dify-service-api.md` lists them (node_started /
    // node_finished: elapsed_time in seconds, execution_metadata.total_price a decimal string;
    // node_retry like node_finished plus retry_index; a knowledge-retrieval node's `result`).
    #[test]
    fn node_events_become_a_timeline() {
        let t = fold(&[
            json!({"event": "node_started", "data": {"id": "e1", "node_id": "1711", "node_type": "start", "title": "Start"}}),
            json!({"event": "node_finished", "data": {"id": "e1", "node_id": "1711", "node_type": "start", "title": "Start",
                "status": "succeeded", "elapsed_time": 0.0123, "outputs": {"sys.query": "hi"}}}),
            json!({"event": "node_started", "data": {"id": "e2", "node_id": "kb", "node_type": "knowledge-retrieval", "title": "Knowledge"}}),
            json!({"event": "node_finished", "data": {"id": "e2", "node_id": "kb", "node_type": "knowledge-retrieval", "title": "Knowledge",
                "status": "succeeded", "elapsed_time": 0.2, "outputs": {"result": [
                    {"content": "Wi-Fi 7 peaks at 46 Gbps", "title": "wifi.pdf",
                     "metadata": {"dataset_name": "Specs", "document_name": "wifi.pdf", "document_id": "d1", "score": "0.82"}}]}}}),
            json!({"event": "node_started", "data": {"id": "e3", "node_id": "llm", "node_type": "llm", "title": "LLM"}}),
            json!({"event": "node_retry", "data": {"id": "e3r", "node_id": "llm", "retry_index": 1}}),
            json!({"event": "node_finished", "data": {"id": "e3", "node_id": "llm", "node_type": "llm", "title": "LLM",
                "status": "failed", "error": "model quota exceeded", "elapsed_time": 1.5,
                "execution_metadata": {"total_tokens": 42, "total_price": "0.0012", "currency": "USD"},
                "outputs": null}}),
        ]);
        assert_eq!(t.nodes.len(), 3);
        let start = &t.nodes[0];
        assert_eq!(
            (start.id.as_str(), start.kind.as_str(), start.title.as_str()),
            ("1711", "start", "Start")
        );
        assert_eq!(
            (start.status.as_str(), start.elapsed_ms, start.start_ms),
            ("succeeded", Some(12), Some(0))
        );
        assert_eq!(start.output.as_deref(), Some("hi"));
        let llm = &t.nodes[2];
        assert_eq!(
            (llm.status.as_str(), llm.error.as_deref()),
            ("failed", Some("model quota exceeded"))
        );
        assert_eq!(
            (llm.tokens, llm.price, llm.retries, llm.elapsed_ms),
            (Some(42), Some(0.0012), 1, Some(1500))
        );
        assert_eq!(llm.start_ms, Some(40));
        assert_eq!(llm.output, None);
        assert_eq!(
            t.retrieval,
            vec![Chunk {
                dataset: "Specs".into(),
                document: "wifi.pdf".into(),
                document_id: Some("d1".into()),
                score: Some(0.82),
                snippet: "Wi-Fi 7 peaks at 46 Gbps".into(),
            }]
        );
    }

    #[test]
    fn a_node_that_never_finished_stays_running_and_bounds_hold() {
        let mut events = vec![
            json!({"event": "node_started", "data": {"id": "x", "node_id": "n", "title": "Loop"}}),
        ];
        for i in 0..MAX_TRACE_NODES + 5 {
            events.push(json!({"event": "node_started", "data": {"id": format!("i{i}"), "node_id": "body"}}));
        }
        let t = fold(&events);
        assert_eq!(t.nodes.len(), MAX_TRACE_NODES);
        assert_eq!(t.nodes_dropped, 6);
        assert_eq!(t.nodes[0].status, "running");

        let long = "y".repeat(MAX_NODE_OUTPUT_CHARS + 1);
        let t = fold(&[
            json!({"event": "node_finished", "data": {"id": "z", "node_id": "n", "outputs": {"text": long}}}),
        ]);
        assert!(t.nodes[0].output_cut);
        assert_eq!(
            t.nodes[0].output.as_ref().unwrap().len(),
            MAX_NODE_OUTPUT_CHARS
        );
    }

    #[test]
    fn tools_and_cited_resources() {
        let mut b = TraceBuilder::default();
        b.apply(
            "agent_thought",
            &json!({"event": "agent_thought", "tool": "dataset_retrieval; web_search"}),
        );
        b.apply(
            "agent_thought",
            &json!({"event": "agent_thought", "tool": "web_search"}),
        );
        b.apply(
            "agent_thought",
            &json!({"event": "agent_thought", "tool": ""}),
        );
        // retriever_resources win over a node's result: they are what the answer cites.
        b.apply("node_finished", &json!({"event": "node_finished", "data": {"id": "k", "node_id": "k",
            "node_type": "knowledge-retrieval", "outputs": {"result": [{"content": "a"}, {"content": "b"}]}}}));
        b.metadata(Some(&json!({"retriever_resources": [{"position": 1, "dataset_name": "D", "document_name": "doc.pdf",
            "document_id": "d9", "score": 0.5, "content": "c"}]})));
        let t = b.finish();
        assert_eq!(t.tools, vec!["dataset_retrieval", "web_search"]);
        assert_eq!(t.retrieval.len(), 1);
        assert_eq!(t.retrieval[0].document, "doc.pdf");

        let mut b = TraceBuilder::default();
        b.metadata(Some(&json!({"usage": {}})));
        assert!(b.finish().is_empty());
    }

    fn output_text(outputs: &Value) -> Option<String> {
        super::super::node_event::Outputs::deserialize(outputs)
            .unwrap()
            .text()
    }

    #[test]
    fn outputs_read_as_text() {
        assert_eq!(
            output_text(&json!({"text": "a", "n": 1})).as_deref(),
            Some("a")
        );
        assert_eq!(output_text(&json!({"n": 1})).as_deref(), Some(r#"{"n":1}"#));
        assert_eq!(output_text(&json!({})), None);
        assert_eq!(output_text(&Value::Null), None);
        assert_eq!(output_text(&json!([1])).as_deref(), Some("[1]"));
    }
}
