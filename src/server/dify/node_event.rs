//! `node_started` and `node_finished` read straight from the event's JSON text into borrowed,
//! typed fields, instead of a `serde_json::Value` tree each: a ten-node chatflow sends twenty of
//! them per answer, and building, walking and dropping a tree of owned strings for each was most
//! of what tracing cost per test (BENCHMARKS.md section l). Fields the trace does not keep
//! (`inputs`, `process_data`, `files`, …) are skipped unread.
//!
//! The reading is the one `Value::get`/`as_str` gives, so both paths fold an event the same way
//! (`trace.rs` reads a `Value` through the same types when an event came another way): a field of
//! another JSON type than expected is absent, not an error; a repeated key's last value wins;
//! outputs' string values are joined in key order (the order of `serde_json::Map`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The envelope of a node event: its name, the ids every Dify event carries, and `data`.
#[derive(Debug, Deserialize)]
pub(crate) struct NodeEvent<'a> {
    #[serde(borrow)]
    pub event: Text<'a>,
    #[serde(borrow, default)]
    pub task_id: Text<'a>,
    #[serde(borrow, default)]
    pub message_id: Text<'a>,
    #[serde(borrow, default)]
    pub conversation_id: Text<'a>,
    #[serde(borrow, default)]
    pub workflow_run_id: Text<'a>,
    #[serde(borrow, default)]
    pub data: NodeData<'a>,
}

impl<'a> NodeEvent<'a> {
    /// The event in `json` when it is a `node_started` or `node_finished` (and whether it is the
    /// latter); None for anything else, including JSON that is not an object, so the caller reads
    /// it the general way.
    pub fn parse(json: &'a str) -> Option<(NodeEvent<'a>, bool)> {
        // Cheap tests first: most events of a stream are answer chunks.
        if !json.starts_with('{') || !json.contains("\"node_") {
            return None;
        }
        let event: NodeEvent<'a> = serde_json::from_str(json).ok()?;
        let finished = match event.event.as_str()? {
            "node_started" => false,
            "node_finished" => true,
            _ => return None,
        };
        Some((event, finished))
    }
}

/// A node event's `data`: what the trace keeps of a node run.
#[derive(Debug, Default)]
pub(crate) struct NodeData<'a> {
    pub id: Text<'a>,
    pub node_id: Text<'a>,
    pub node_type: Text<'a>,
    pub title: Text<'a>,
    pub status: Text<'a>,
    pub error: Text<'a>,
    pub elapsed_time: Option<Value>,
    pub execution_metadata: Option<Value>,
    pub outputs: Outputs<'a>,
    /// Ids a workflow event may carry in `data`.
    pub workflow_run_id: Text<'a>,
    pub workflow_id: Text<'a>,
}

impl NodeData<'_> {
    /// The run's execution id (`id`); Dify always sends it, the node id stands in otherwise.
    pub fn exec_id(&self) -> &str {
        self.id
            .as_str()
            .or_else(|| self.node_id.as_str())
            .unwrap_or_default()
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum DataKey {
    Id,
    NodeId,
    NodeType,
    Title,
    Status,
    Error,
    ElapsedTime,
    ExecutionMetadata,
    Outputs,
    WorkflowRunId,
    WorkflowId,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for NodeData<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = NodeData<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a node event's data object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<NodeData<'a>, M::Error> {
                let mut d = NodeData::default();
                while let Some(key) = map.next_key::<DataKey>()? {
                    match key {
                        DataKey::Id => d.id = map.next_value()?,
                        DataKey::NodeId => d.node_id = map.next_value()?,
                        DataKey::NodeType => d.node_type = map.next_value()?,
                        DataKey::Title => d.title = map.next_value()?,
                        DataKey::Status => d.status = map.next_value()?,
                        DataKey::Error => d.error = map.next_value()?,
                        DataKey::ElapsedTime => d.elapsed_time = map.next_value()?,
                        DataKey::ExecutionMetadata => d.execution_metadata = map.next_value()?,
                        DataKey::Outputs => d.outputs = map.next_value()?,
                        DataKey::WorkflowRunId => d.workflow_run_id = map.next_value()?,
                        DataKey::WorkflowId => d.workflow_id = map.next_value()?,
                        DataKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(d)
            }
        }
        // Only an object: a `data` of another type is the caller's to treat as empty.
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The `visit_*` methods of a visitor for the JSON types it does not read (numbers, booleans,
/// null, arrays, skipped unread): each is `$absent`, never an error.
macro_rules! others_are {
    ($absent:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_seq<S: serde::de::SeqAccess<'de>>(
            self,
            mut seq: S,
        ) -> Result<Self::Value, S::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok($absent)
        }
    };
}
pub(super) use others_are;

/// A string field as `Value::as_str` reads it: a value of any other type is no string.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Text<'a>(pub Option<Cow<'a, str>>);

impl Text<'_> {
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// As an id: trimmed, and absent when empty.
    pub fn id(&self) -> Option<&str> {
        self.as_str().map(str::trim).filter(|s| !s.is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<Cow<'de, str>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Some(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Some(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(Some(Cow::Owned(s)))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(V)
            }
            others_are!(None);
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
        }
        d.deserialize_any(V).map(Text)
    }
}

/// A node's `outputs`, with its string values borrowed from the event's text.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum Outputs<'a> {
    #[default]
    Null,
    Str(Cow<'a, str>),
    /// Keys in `serde_json::Map`'s order; a repeated key's last value.
    Object(BTreeMap<Cow<'a, str>, Outputs<'a>>),
    /// A number, a bool or an array.
    Other(Value),
}

impl Outputs<'_> {
    /// The outputs as a person reads them: their string values, one per line (an LLM node's
    /// `text`, an answer node's `answer`); JSON when there are none (numbers, lists, objects).
    pub fn text(&self) -> Option<String> {
        match self {
            Outputs::Null => None,
            Outputs::Str(s) => Some(s.to_string()),
            Outputs::Object(map) if map.is_empty() => None,
            Outputs::Object(map) => {
                let strings: Vec<&str> = map
                    .values()
                    .filter_map(|v| match v {
                        Outputs::Str(s) => Some(s.as_ref()),
                        _ => None,
                    })
                    .collect();
                Some(if strings.is_empty() {
                    self.to_value().to_string()
                } else {
                    strings.join("\n")
                })
            }
            Outputs::Other(v) => Some(v.to_string()),
        }
    }

    /// One field of object outputs, as a `Value`.
    pub fn field(&self, key: &str) -> Option<Value> {
        match self {
            Outputs::Object(map) => map.get(key).map(Outputs::to_value),
            _ => None,
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Outputs::Null => Value::Null,
            Outputs::Str(s) => Value::String(s.to_string()),
            Outputs::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect::<Map<String, Value>>(),
            ),
            Outputs::Other(v) => v.clone(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Outputs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Outputs<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Outputs<'a>, E> {
                Ok(Outputs::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Outputs<'a>, E> {
                Ok(Outputs::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Outputs<'a>, E> {
                Ok(Outputs::Str(Cow::Owned(s)))
            }
            fn visit_bool<E>(self, b: bool) -> Result<Outputs<'a>, E> {
                Ok(Outputs::Other(Value::Bool(b)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Outputs<'a>, E> {
                Ok(Outputs::Other(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Outputs<'a>, E> {
                Ok(Outputs::Other(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Outputs<'a>, E> {
                Ok(Outputs::Other(n.into()))
            }
            fn visit_unit<E>(self) -> Result<Outputs<'a>, E> {
                Ok(Outputs::Null)
            }
            fn visit_none<E>(self) -> Result<Outputs<'a>, E> {
                Ok(Outputs::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Outputs<'a>, D::Error> {
                Outputs::deserialize(d)
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Outputs<'a>, S::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element::<Value>()? {
                    items.push(v);
                }
                Ok(Outputs::Other(Value::Array(items)))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Outputs<'a>, M::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<Text<'a>>()? {
                    let key = key
                        .0
                        .ok_or_else(|| de::Error::custom("an object key that is no string"))?;
                    out.insert(key, map.next_value::<Outputs<'a>>()?);
                }
                Ok(Outputs::Object(out))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_events_are_recognised_and_others_left_alone() {
        let text = r#"{"event": "node_finished", "task_id": "t1", "workflow_run_id": "w1",
            "data": {"id": "e1", "node_id": "llm", "node_type": "llm", "title": "LLM \u00e9",
            "inputs": {"q": [1, {"deep": true}]}, "process_data": null, "status": "succeeded",
            "elapsed_time": 1.5, "execution_metadata": {"total_tokens": 42, "total_price": "0.01"},
            "outputs": {"text": "你好", "n": 3}, "files": []}}"#;
        let (e, finished) = NodeEvent::parse(text).unwrap();
        assert!(finished);
        assert_eq!(
            (e.task_id.as_str(), e.workflow_run_id.as_str()),
            (Some("t1"), Some("w1"))
        );
        // Unescaped strings are borrowed from the text; an escaped one is decoded.
        assert!(matches!(e.data.node_id.0, Some(Cow::Borrowed("llm"))));
        assert_eq!(e.data.title.as_str(), Some("LLM é"));
        assert_eq!(e.data.elapsed_time, Some(json!(1.5)));
        assert_eq!(e.data.outputs.text().as_deref(), Some("你好"));

        for other in [
            r#"{"event": "message", "answer": "the node_ text"}"#,
            r#"{"event": "node_retry", "data": {"node_id": "n"}}"#,
            r#"["node_started"]"#,
            r#"{"node_started": 1}"#,
            r#"{"event": "node_started", "data": {"id": "x"}"#,
        ] {
            assert!(NodeEvent::parse(other).is_none(), "{other}");
        }
    }

    /// The typed reading of `data` agrees with reading the same JSON as a `Value` first.
    #[test]
    fn text_and_value_readings_agree() {
        let cases = [
            json!({"id": "e", "node_id": 7, "title": null, "status": ["x"], "error": "boom",
                   "elapsed_time": "0.25", "outputs": {"b": "2", "a": "1", "c": 3}}),
            json!({"id": "e", "outputs": {"n": 1, "list": [1, 2], "o": {"z": 1, "a": [true]}}}),
            json!({"outputs": "plain"}),
            json!({"outputs": [1, "a"]}),
            json!({"outputs": 4.5}),
            json!({"outputs": {}}),
            json!({"outputs": {"result": [{"content": "c", "metadata": {"score": 0.5}}]}}),
        ];
        for data in cases {
            let text = data.to_string();
            let typed: NodeData = serde_json::from_str(&text).unwrap();
            let via_value = NodeData::deserialize(&data).unwrap();
            for d in [&typed, &via_value] {
                assert_eq!(d.exec_id(), data["id"].as_str().unwrap_or(""));
                assert_eq!(d.node_id.as_str(), data["node_id"].as_str());
                assert_eq!(d.status.as_str(), data["status"].as_str());
                assert_eq!(d.error.as_str(), data["error"].as_str());
                assert_eq!(d.elapsed_time.as_ref(), data.get("elapsed_time"));
                assert_eq!(
                    d.outputs.field("result"),
                    data["outputs"].get("result").cloned()
                );
            }
            assert_eq!(typed.outputs.text(), via_value.outputs.text());
        }
        let strings: NodeData =
            serde_json::from_str(r#"{"outputs": {"b": "2", "a": "1", "c": 3}}"#).unwrap();
        assert_eq!(strings.outputs.text().as_deref(), Some("1\n2"));
        let none: NodeData = serde_json::from_str(r#"{"outputs": {"n": 1, "m": [2]}}"#).unwrap();
        assert_eq!(none.outputs.text().as_deref(), Some(r#"{"m":[2],"n":1}"#));
        let repeated: NodeData =
            serde_json::from_str(r#"{"id": "a", "id": "b", "outputs": {"k": "1", "k": "2"}}"#)
                .unwrap();
        assert_eq!(
            (repeated.exec_id(), repeated.outputs.text().as_deref()),
            ("b", Some("2"))
        );
        assert!(NodeData::deserialize(&json!("not an object")).is_err());
    }
}
