//! The LLM judge: grades an answer by a rubric through an OpenAI-compatible chat-completions
//! endpoint or a Dify app, and scores it by embedding similarity through an OpenAI-compatible
//! `/embeddings` endpoint.
//!
//! Pure parts (no I/O, unit-tested against reference values): [`rubric`] the prompts, [`parse`]
//! what a judge's reply means, [`calibration`] agreement with human reviews, [`vector`] cosine
//! similarity.

pub mod calibration;
mod judging;
pub mod parse;
pub mod review;
pub mod rubric;
pub mod vector;
pub use judging::{judgement_key, BatchJudging, Judging};
