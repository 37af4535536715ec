//! Comparing two runs (baseline A, candidate B): the statistics behind "is B better than A?".
//!
//! `stats` and `verdict` are the arithmetic only — pure functions over plain data, no I/O, no
//! store, no Leptos — so that every number a user sees can be checked against an independent reference:
//!
//! - [`stats`]: the tests and intervals themselves (exact McNemar, Newcombe's paired interval,
//!   a seeded paired bootstrap, Fisher's exact test, Benjamini–Hochberg, Connor's sample size,
//!   percentiles), each documented with its convention and its source.
//! - [`verdict`]: per-case classes and the summary, verdict and sentence built from them.
//!
//! - [`view`]: the one part with I/O — loads two runs from the store, matches cases by id, marks
//!   changed snapshots, runs the verdict and pages the case table for `compare_runs`.
//! - [`case`]: one case opened for `compare_case` — both sides' results and the diff of their
//!   answers ([`crate::model::diff`]).

pub mod case;
pub mod stats;
pub mod verdict;
pub mod view;

pub use case::case;
pub use view::{view, CompareError};
