//! A blocking answer's body read straight from its JSON text into borrowed, typed fields — the
//! ones [`Outcome`](super::outcome::Outcome) keeps — instead of a `serde_json::Value` tree: one
//! per test, and building, walking and dropping that tree was a good part of what a blocking
//! test cost the runner (BENCHMARKS.md section a, "CPU per test").
//!
//! The reading is the one `Value::get`/`as_str` gives (as `node_event.rs`'s is): a field of
//! another JSON type than expected is absent, not an error; an object field that is no object
//! has no fields. The one difference, a repeated key (an error here, the last value for a
//! `Value`), is left to the caller, which then reads the body as a `Value`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::node_event::{others_are, Text};

/// The fields of a blocking body that decide the outcome: chat-family and completion apps
/// answer `{event, task_id, id, message_id, conversation_id, answer, metadata}`, workflow apps
/// `{task_id, workflow_run_id, data}`.
#[derive(Debug, Deserialize)]
pub(super) struct BlockingBody<'a> {
    #[serde(borrow, default)]
    pub event: Text<'a>,
    #[serde(borrow, default)]
    pub task_id: Text<'a>,
    #[serde(borrow, default)]
    pub id: Text<'a>,
    #[serde(borrow, default)]
    pub message_id: Text<'a>,
    #[serde(borrow, default)]
    pub conversation_id: Text<'a>,
    #[serde(borrow, default)]
    pub workflow_run_id: Text<'a>,
    #[serde(borrow, default)]
    pub answer: Text<'a>,
    /// A workflow's run: read whole, as its outputs may be anything.
    #[serde(default)]
    pub data: Option<Value>,
    #[serde(borrow, default)]
    pub metadata: Obj<Metadata<'a>>,
}

impl BlockingBody<'_> {
    /// Whether it is Dify's error envelope (`event: error`), which is read as a stream event.
    pub fn is_error(&self) -> bool {
        self.event.id() == Some("error")
    }
}

/// A message's `metadata`.
#[derive(Debug, Deserialize)]
pub(super) struct Metadata<'a> {
    #[serde(borrow, default)]
    pub usage: Obj<UsageFields<'a>>,
    /// Read whole: each resource's fields are looked up in its `metadata` first, then at its top.
    #[serde(default)]
    pub retriever_resources: Option<Value>,
}

/// `metadata.usage`: numbers as Dify sends them (integers, floats or numeric strings), read by
/// [`usage_from`](super::outcome::usage_from).
#[derive(Debug, Deserialize)]
pub(super) struct UsageFields<'a> {
    #[serde(default)]
    pub prompt_tokens: Option<Value>,
    #[serde(default)]
    pub completion_tokens: Option<Value>,
    #[serde(default)]
    pub total_tokens: Option<Value>,
    #[serde(default)]
    pub total_price: Option<Value>,
    #[serde(borrow, default)]
    pub currency: Text<'a>,
}

/// An object's fields, or None for a value of any other JSON type (as `Value::get` finds no
/// field in one): never an error for the type alone.
#[derive(Debug)]
pub(super) struct Obj<T>(pub Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Obj<T>, M::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|t| Obj(Some(t)))
            }
            fn visit_str<E>(self, _: &str) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            others_are!(Obj(None));
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Obj<T>, D::Error> {
                d.deserialize_any(self)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}
