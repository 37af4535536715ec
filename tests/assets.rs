//! Static assets are served gzipped to browsers that accept it; pages, JSON and the progress
//! stream never are (they are streamed, or small). Needs a built site (`cargo leptos build`, as
//! `make test` runs first).

mod common;

use common::{sqlite_url, Server};
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};

#[tokio::test]
async fn assets_are_gzipped_and_streams_are_not() {
    let css = std::path::Path::new("target/site/pkg/dify-bench.css");
    let on_disk = std::fs::read(css).unwrap_or_else(|_| {
        panic!(
            "{} is missing: build the site first (cargo leptos build)",
            css.display()
        )
    });
    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    let http = common::bearer_client(&server.token);
    let get = |path: &str, gzip: bool| {
        let mut req = http.get(format!("{}{path}", server.base));
        if gzip {
            req = req.header(ACCEPT_ENCODING, "gzip");
        }
        req.send()
    };

    let res = get("/pkg/dify-bench.css", true).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get(CONTENT_ENCODING).map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    let body = res.bytes().await.unwrap();
    assert_eq!(&body[..2], &[0x1f, 0x8b], "not a gzip stream");
    assert!(body.len() < on_disk.len(), "compressed, yet not smaller");

    // A client that does not ask gets the file as it is.
    let res = get("/pkg/dify-bench.css", false).await.unwrap();
    assert!(res.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(res.bytes().await.unwrap().as_ref(), on_disk.as_slice());

    for path in ["/", "/batches"] {
        let res = get(path, true).await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(
            res.headers().get(CONTENT_ENCODING).is_none(),
            "the page {path} was compressed"
        );
    }
    let res = http
        .post(format!("{}/api/list_versions", server.base))
        .header(ACCEPT_ENCODING, "gzip")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get(CONTENT_ENCODING).is_none());
}
