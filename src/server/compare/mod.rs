//! Comparing two runs (baseline A, candidate B): the statistics behind "is B better than A?".
//!
//! This module owns the arithmetic only — pure functions over plain data, no I/O, no store, no
//! Leptos — so that every number a user sees can be checked against an independent reference:
//!
//! - [`stats`]: the tests and intervals themselves (exact McNemar, Newcombe's paired interval,
//!   a seeded paired bootstrap, Fisher's exact test, Benjamini–Hochberg, Connor's sample size,
//!   percentiles), each documented with its convention and its source.
//! - [`verdict`]: per-case classes and the summary, verdict and sentence built from them.
//!
//! It does not own loading runs, matching cases or deciding that a case's snapshot changed (the
//! caller passes `changed`), nor paging, exports or the page; those call [`verdict::compare`].

pub mod stats;
pub mod verdict;
