//! The Dify stream parser: never panics, and the frames do not depend on how the bytes were
//! split into chunks (the network splits anywhere, even inside a UTF-8 sequence or a CRLF).
#![no_main]

use dify_bench::server::dify::SseParser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let mut whole = SseParser::new();
    let mut expected = whole.push(body);
    expected.extend(whole.finish());

    // Chunk sizes 1..=8 from the first byte, cycling through a pattern so that splits fall
    // everywhere relative to line ends.
    let mut chunked = SseParser::new();
    let mut got = Vec::new();
    let mut rest = body;
    let mut k = split as usize;
    while !rest.is_empty() {
        let n = (k % 8 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        got.extend(chunked.push(chunk));
        rest = tail;
        k = k.wrapping_mul(31).wrapping_add(7);
    }
    got.extend(chunked.finish());
    assert_eq!(expected, got, "chunking changed the frames");
    // Nothing is left buffered after finish.
    assert_eq!(chunked.buffered_len(), 0);
});
