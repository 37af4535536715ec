//! Server-function argument decoding: the JSON drafts the API accepts (versions, cases, scoring)
//! decode or fail, and their validation answers or refuses, without a panic.
#![no_main]

use dify_bench::model::{CaseDraft, ScoringConfig, VersionDraft};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<VersionDraft>(data) {
        let _ = v.normalized();
    }
    if let Ok(c) = serde_json::from_slice::<CaseDraft>(data) {
        let _ = c.normalized();
    }
    if let Ok(s) = serde_json::from_slice::<ScoringConfig>(data) {
        let _ = s.validate();
    }
});
