//! The site's static assets (WASM, JS, CSS) go out gzipped to browsers that accept it: the WASM
//! shrinks to about a third (BENCHMARKS.md, f). Only those content types: pages and the progress
//! stream are streamed, and a compressor would hold their chunks back; JSON answers are small.

use axum::http::{header, Extensions, HeaderMap, StatusCode, Version};
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;

const COMPRESSED_TYPES: [&str; 4] = [
    "application/wasm",
    "text/javascript",
    "application/javascript",
    "text/css",
];

/// gzip (the only encoding built in) for the static asset types, at the default level: the
/// WASM costs tens of ms of CPU once per browser, which then revalidates it with a 304.
pub fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new().compress_when(DefaultPredicate::new().and(is_static_asset))
}

fn is_static_asset(_: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| COMPRESSED_TYPES.iter().any(|t| ct.starts_with(t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_type(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    #[test]
    fn only_static_asset_types_are_compressed() {
        let ok = |ct: &str| {
            is_static_asset(
                StatusCode::OK,
                Version::HTTP_11,
                &with_type(ct),
                &Extensions::new(),
            )
        };
        assert!(ok("application/wasm"));
        assert!(ok("text/javascript; charset=utf-8"));
        assert!(ok("text/css"));
        assert!(!ok("text/html; charset=utf-8"), "pages are streamed");
        assert!(!ok("text/event-stream"), "the progress stream is live");
        assert!(!ok("application/json"));
        assert!(!is_static_asset(
            StatusCode::OK,
            Version::HTTP_11,
            &HeaderMap::new(),
            &Extensions::new()
        ));
    }
}
