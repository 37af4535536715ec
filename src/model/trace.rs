//! What a Dify app did on the way to an answer: the nodes a chatflow or workflow ran (in the order
//! they started), the tools an agent called, and the chunks the app retrieved. The client records it
//! from the stream; the runner checks node and retrieval assertions against it, then keeps a
//! compact copy with the result ([`Trace::compact`]) for the cell detail's timeline and for naming
//! the first node whose output differs between two runs ([`first_difference`]).
//!
//! Bounded everywhere: at most [`MAX_TRACE_NODES`] nodes and [`MAX_TRACE_CHUNKS`] chunks are kept;
//! an output is read up to [`MAX_NODE_OUTPUT_CHARS`] (what assertions see) and stored up to
//! [`STORED_OUTPUT_CHARS`]. What was left out is counted, never silently lost.

use serde::{Deserialize, Serialize};

/// Nodes kept per test; a loop or an iteration beyond it is counted in `nodes_dropped`.
pub const MAX_TRACE_NODES: usize = 64;
/// Retrieved chunks kept per test.
pub const MAX_TRACE_CHUNKS: usize = 20;
/// Characters of a node's output that node assertions see.
pub const MAX_NODE_OUTPUT_CHARS: usize = 4_000;
/// Characters of a node's output kept with the stored result (a preview, and what two runs are
/// compared by).
pub const STORED_OUTPUT_CHARS: usize = 160;
/// Characters of a retrieved chunk kept with the stored result.
pub const STORED_SNIPPET_CHARS: usize = 160;
/// Characters of a node's error kept.
pub const MAX_NODE_ERROR_CHARS: usize = 500;

/// One test's trace. Empty for apps and modes that report none (a blocking call, a plain chat app
/// without retrieval).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Trace {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeRun>,
    /// Nodes left out beyond [`MAX_TRACE_NODES`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nodes_dropped: u32,
    /// The tools an agent called (`agent_thought.tool`), each once, in the order first called.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// What the app retrieved, in Dify's order (`retriever_resources`, or a knowledge-retrieval
    /// node's `result`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retrieval: Vec<Chunk>,
}

/// One run of one node. Short field names: a trace is stored with every result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NodeRun {
    /// Dify's `node_id` (stable across runs of the same workflow).
    pub id: String,
    /// `llm`, `knowledge-retrieval`, `tool`, `code`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub title: String,
    /// `running` until it finished, then Dify's status: `succeeded`, `failed`, `exception`,
    /// `stopped`.
    pub status: String,
    /// When it started, in ms after the request was sent (as this client saw the event).
    #[serde(rename = "at", default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    /// Dify's `elapsed_time`, in ms.
    #[serde(rename = "ms", default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<i64>,
    #[serde(rename = "tok", default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(rename = "err", default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The node's outputs as text (string values joined, anything else as JSON), bounded.
    #[serde(rename = "out", default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Whether `output` was cut.
    #[serde(rename = "cut", default, skip_serializing_if = "std::ops::Not::not")]
    pub output_cut: bool,
    /// FNV-1a of the whole output ([`fnv1a`]): two runs are compared by it, so outputs that
    /// differ beyond the stored preview still differ.
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    pub output_hash: Option<u64>,
    /// `node_retry` events seen for it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Stored form only ([`Trace::to_stored_json`]): `output` and `output_cut` are the preview of
    /// the result's own answer and were left out of the stored copy (an LLM or answer node's
    /// output usually is the answer). Always false in a trace read back ([`Trace::expand_stored`]).
    #[serde(rename = "oa", default, skip_serializing_if = "std::ops::Not::not")]
    pub output_is_answer: bool,
}

/// One retrieved chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Chunk {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dataset: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub document: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The chunk's content, bounded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub snippet: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Trace {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.tools.is_empty() && self.retrieval.is_empty()
    }

    /// The copy kept with the stored result: outputs and snippets cut to a preview.
    pub fn compact(mut self) -> Trace {
        for n in &mut self.nodes {
            if let Some(out) = &mut n.output {
                if cut_chars(out, STORED_OUTPUT_CHARS) {
                    n.output_cut = true;
                }
            }
        }
        for c in &mut self.retrieval {
            cut_chars(&mut c.snippet, STORED_SNIPPET_CHARS);
        }
        self
    }

    /// The JSON kept with a stored result whose answer is `answer` (as stored): the trace, except
    /// that a node whose output preview is exactly the answer's own preview carries a marker
    /// instead of a second copy of it. [`Trace::expand_stored`] puts it back.
    pub fn to_stored_json(&self, answer: Option<&str>) -> String {
        let same = |n: &NodeRun, preview: &(String, bool)| {
            n.output.as_deref() == Some(preview.0.as_str()) && n.output_cut == preview.1
        };
        let preview = answer.map(output_preview).filter(|p| !p.0.is_empty());
        let json = |t: &Trace| serde_json::to_string(t).unwrap_or_else(|_| "null".into());
        match preview {
            Some(p) if self.nodes.iter().any(|n| same(n, &p)) => {
                let mut stored = self.clone();
                for n in stored.nodes.iter_mut().filter(|n| same(n, &p)) {
                    n.output = None;
                    n.output_cut = false;
                    n.output_is_answer = true;
                }
                json(&stored)
            }
            _ => json(self),
        }
    }

    /// Undoes [`Trace::to_stored_json`]'s markers with the stored result's answer.
    pub fn expand_stored(&mut self, answer: Option<&str>) {
        let preview = answer.map(output_preview);
        for n in self.nodes.iter_mut().filter(|n| n.output_is_answer) {
            n.output_is_answer = false;
            if let Some((out, cut)) = &preview {
                n.output = Some(out.clone());
                n.output_cut = *cut;
            }
        }
    }

    /// The runs of the node a user named: by node id, else by title (case-insensitively).
    pub fn node_runs<'t>(&'t self, name: &str) -> Vec<&'t NodeRun> {
        let by_id: Vec<&NodeRun> = self.nodes.iter().filter(|n| n.id == name).collect();
        if !by_id.is_empty() {
            return by_id;
        }
        let wanted = name.trim().to_lowercase();
        self.nodes
            .iter()
            .filter(|n| n.title.trim().to_lowercase() == wanted)
            .collect()
    }

    /// The best retrieval score, when any chunk had one.
    pub fn top_score(&self) -> Option<f64> {
        self.retrieval
            .iter()
            .filter_map(|c| c.score)
            .filter(|s| s.is_finite())
            .fold(None, |best: Option<f64>, s| {
                Some(best.map_or(s, |b| b.max(s)))
            })
    }

    /// Whether a chunk came from the named document (by name, case-insensitively, or by id).
    pub fn cites(&self, document: &str) -> bool {
        let wanted = document.trim().to_lowercase();
        !wanted.is_empty()
            && self.retrieval.iter().any(|c| {
                c.document.trim().to_lowercase() == wanted
                    || c.document_id.as_deref() == Some(document.trim())
            })
    }
}

/// A node output's stored preview: its first [`STORED_OUTPUT_CHARS`] characters, and whether that
/// cut it.
pub fn output_preview(text: &str) -> (String, bool) {
    let mut out = text.to_string();
    let cut = cut_chars(&mut out, STORED_OUTPUT_CHARS);
    (out, cut)
}

/// Cuts `s` to at most `max` characters; says whether it cut.
pub fn cut_chars(s: &mut String, max: usize) -> bool {
    match s.char_indices().nth(max) {
        Some((at, _)) => {
            s.truncate(at);
            true
        }
        None => false,
    }
}

/// 64-bit FNV-1a (the reference parameters: offset basis 0xcbf29ce484222325, prime
/// 0x100000001b3). Stable across builds and targets, unlike `std`'s hasher.
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Why two runs part ways at a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeDifference {
    /// The node ran in the first run only.
    Missing,
    /// The node ran in the second run only.
    Extra,
    /// It ended differently (`succeeded` vs `failed`).
    Status,
    /// Its output differs (within the stored preview).
    Output,
}

/// The first node, in the first run's order, where two runs differ: the node that ran in one and
/// not the other, ended differently, or gave a different output. The i-th run of a node id in
/// one trace is matched with the i-th run of that id in the other (loops and iterations run a
/// node several times). `None` when every node agrees, or when either trace has no nodes (nothing
/// to compare).
pub fn first_difference<'a>(a: &'a Trace, b: &'a Trace) -> Option<(&'a NodeRun, NodeDifference)> {
    if a.nodes.is_empty() || b.nodes.is_empty() {
        return None;
    }
    let nth_of =
        |nodes: &'a [NodeRun], id: &str, nth: usize| nodes.iter().filter(|n| n.id == id).nth(nth);
    for (i, node) in a.nodes.iter().enumerate() {
        let nth = a.nodes[..i].iter().filter(|n| n.id == node.id).count();
        let Some(other) = nth_of(&b.nodes, &node.id, nth) else {
            return Some((node, NodeDifference::Missing));
        };
        if other.status != node.status {
            return Some((node, NodeDifference::Status));
        }
        let differs = match (node.output_hash, other.output_hash) {
            (Some(x), Some(y)) => x != y,
            _ => other.output != node.output,
        };
        if differs {
            return Some((node, NodeDifference::Output));
        }
    }
    for (i, node) in b.nodes.iter().enumerate() {
        let nth = b.nodes[..i].iter().filter(|n| n.id == node.id).count();
        if nth_of(&a.nodes, &node.id, nth).is_none() {
            return Some((node, NodeDifference::Extra));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, status: &str, out: &str) -> NodeRun {
        NodeRun {
            id: id.into(),
            kind: "llm".into(),
            title: format!("Node {id}"),
            status: status.into(),
            output: Some(out.into()),
            ..NodeRun::default()
        }
    }

    fn trace(nodes: Vec<NodeRun>) -> Trace {
        Trace {
            nodes,
            ..Trace::default()
        }
    }

    #[test]
    fn first_difference_names_the_first_node_that_parts_ways() {
        let a = trace(vec![
            node("start", "succeeded", "q"),
            node("kb", "succeeded", "chunk 1"),
            node("llm", "succeeded", "answer A"),
        ]);
        let same = a.clone();
        assert_eq!(first_difference(&a, &same), None);

        let mut b = a.clone();
        b.nodes[2].output = Some("answer B".into());
        b.nodes[1].output = Some("chunk 2".into());
        let (n, why) = first_difference(&a, &b).unwrap();
        assert_eq!((n.id.as_str(), why), ("kb", NodeDifference::Output));

        let mut c = a.clone();
        c.nodes[2].status = "failed".into();
        let (n, why) = first_difference(&a, &c).unwrap();
        assert_eq!((n.id.as_str(), why), ("llm", NodeDifference::Status));

        let d = trace(vec![
            node("start", "succeeded", "q"),
            node("llm", "succeeded", "answer A"),
        ]);
        let (n, why) = first_difference(&a, &d).unwrap();
        assert_eq!((n.id.as_str(), why), ("kb", NodeDifference::Missing));
        let (n, why) = first_difference(&d, &a).unwrap();
        assert_eq!((n.id.as_str(), why), ("kb", NodeDifference::Extra));

        assert_eq!(first_difference(&a, &Trace::default()), None);
    }

    #[test]
    fn outputs_differing_past_the_preview_still_differ() {
        // Reference values from the FNV specification's test suite (draft-eastlake-fnv).
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a("foobar"), 0x8594_4171_f739_67e8);
        let same = "p".repeat(STORED_OUTPUT_CHARS);
        let run = |tail: &str| {
            let full = format!("{same}{tail}");
            trace(vec![NodeRun {
                output_hash: Some(fnv1a(&full)),
                ..node("llm", "succeeded", &full)
            }])
            .compact()
        };
        let (a, b) = (run("x"), run("y"));
        assert_eq!(a.nodes[0].output, b.nodes[0].output);
        assert_eq!(first_difference(&a, &b).unwrap().1, NodeDifference::Output);
        assert_eq!(first_difference(&a, &run("x")), None);
    }

    #[test]
    fn repeated_nodes_are_matched_run_by_run() {
        let a = trace(vec![
            node("it", "succeeded", "1"),
            node("it", "succeeded", "2"),
        ]);
        let b = trace(vec![
            node("it", "succeeded", "1"),
            node("it", "succeeded", "3"),
        ]);
        let (n, why) = first_difference(&a, &b).unwrap();
        assert_eq!(
            (n.output.as_deref(), why),
            (Some("2"), NodeDifference::Output)
        );
        let c = trace(vec![node("it", "succeeded", "1")]);
        assert_eq!(first_difference(&a, &c).unwrap().1, NodeDifference::Missing);
    }

    #[test]
    fn compact_cuts_previews_on_char_boundaries() {
        let long = "界".repeat(STORED_OUTPUT_CHARS + 5);
        let t = Trace {
            nodes: vec![node("llm", "succeeded", &long)],
            retrieval: vec![Chunk {
                snippet: "x".repeat(STORED_SNIPPET_CHARS * 2),
                ..Chunk::default()
            }],
            ..Trace::default()
        }
        .compact();
        assert_eq!(
            t.nodes[0].output.as_ref().unwrap().chars().count(),
            STORED_OUTPUT_CHARS
        );
        assert!(t.nodes[0].output_cut);
        assert_eq!(t.retrieval[0].snippet.len(), STORED_SNIPPET_CHARS);
        let short = trace(vec![node("a", "succeeded", "ok")]).compact();
        assert!(!short.nodes[0].output_cut);
    }

    #[test]
    fn nodes_are_found_by_id_or_title_and_documents_by_name_or_id() {
        let t = Trace {
            nodes: vec![node("1711", "succeeded", "x"), node("1712", "failed", "y")],
            retrieval: vec![
                Chunk {
                    document: "Fiber-Handbook.pdf".into(),
                    document_id: Some("doc-1".into()),
                    score: Some(0.71),
                    ..Chunk::default()
                },
                Chunk {
                    score: Some(0.93),
                    ..Chunk::default()
                },
            ],
            ..Trace::default()
        };
        assert_eq!(t.node_runs("1712")[0].status, "failed");
        assert_eq!(t.node_runs("  node 1711 ")[0].id, "1711");
        assert!(t.node_runs("nope").is_empty());
        assert!(t.cites("fiber-handbook.pdf") && t.cites("doc-1"));
        assert!(!t.cites("") && !t.cites("other.pdf"));
        assert_eq!(t.top_score(), Some(0.93));
        assert_eq!(Trace::default().top_score(), None);
    }

    #[test]
    fn an_output_that_is_the_answer_is_stored_once() {
        let answer = "答".repeat(STORED_OUTPUT_CHARS + 40);
        let full = |out: &str| NodeRun {
            output_hash: Some(fnv1a(out)),
            ..node("llm", "succeeded", out)
        };
        let t = trace(vec![
            full("step 1"),
            full(&answer),
            NodeRun {
                id: "answer".into(),
                ..full(&answer)
            },
            // The same preview with a different tail is still the answer's preview: stored once.
            full(&format!("{answer}!")),
        ])
        .compact();
        let json = t.to_stored_json(Some(&answer));
        assert_eq!(json.matches('答').count(), 0, "{json}");
        assert_eq!(json.matches(r#""oa":true"#).count(), 3);
        assert!(json.contains(&format!(r#""h":{}"#, fnv1a(&format!("{answer}!")))));
        let mut back: Trace = serde_json::from_str(&json).unwrap();
        back.expand_stored(Some(&answer));
        assert_eq!(back, t);
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&t).unwrap()
        );

        // A short answer, an answer no node gave, and no answer: stored as is.
        let short = trace(vec![full("ok")]).compact();
        assert!(short.to_stored_json(Some("ok")).contains(r#""oa":true"#));
        let mut back: Trace = serde_json::from_str(&short.to_stored_json(Some("ok"))).unwrap();
        back.expand_stored(Some("ok"));
        assert_eq!(back, short);
        for answer in [Some("other"), Some(""), None] {
            assert_eq!(t.to_stored_json(answer), serde_json::to_string(&t).unwrap());
        }
        let empty = trace(vec![NodeRun {
            output: Some(String::new()),
            ..node("n", "succeeded", "")
        }]);
        assert_eq!(
            empty.to_stored_json(Some("")),
            serde_json::to_string(&empty).unwrap()
        );
    }

    #[test]
    fn stored_form_is_compact_and_round_trips() {
        let t = trace(vec![NodeRun {
            elapsed_ms: Some(120),
            start_ms: Some(3),
            ..node("llm", "succeeded", "hi")
        }]);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"{"nodes":[{"id":"llm","type":"llm","title":"Node llm","status":"succeeded","at":3,"ms":120,"out":"hi"}]}"#
        );
        assert_eq!(serde_json::from_str::<Trace>(&json).unwrap(), t);
        assert_eq!(serde_json::to_string(&Trace::default()).unwrap(), "{}");
    }
}
