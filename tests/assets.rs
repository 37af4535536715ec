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

/// The split build's chunks (`cargo leptos build --split`, scripts/build.sh) are static assets
/// like the main WASM: public (a signed-out visitor's sign-in page loads one), gzipped, and the
/// page of a lazily loaded route names its chunks for preloading, so hydration does not wait on
/// a fetch it could have started with the page.
#[tokio::test]
async fn split_chunks_are_public_gzipped_and_preloaded() {
    let manifest_path = std::path::Path::new("target/site/pkg/__wasm_split_manifest.json");
    let manifest: std::collections::BTreeMap<String, Vec<String>> = serde_json::from_str(
        &std::fs::read_to_string(manifest_path).unwrap_or_else(|_| {
            panic!(
                "{} is missing: build the site first (scripts/build.sh: cargo leptos build --release --split)",
                manifest_path.display()
            )
        }),
    )
    .expect("the split manifest is JSON");
    let dashboard = manifest
        .iter()
        .find(|(k, _)| k.starts_with("__dashboard_route_view_"))
        .map(|(_, files)| files.clone())
        .expect("the dashboard is a lazily loaded route");
    assert!(
        dashboard
            .iter()
            .any(|f| f.starts_with("split___dashboard_route_view_")),
        "{dashboard:?}"
    );

    let (dir, url) = sqlite_url();
    let server = Server::start(&url, &dir.path().join("server.log"), &[]);
    // No credentials: static assets are public.
    let anonymous = reqwest::Client::new();
    for file in &dashboard {
        let res = anonymous
            .get(format!("{}/pkg/{file}.wasm", server.base))
            .header(ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{file}");
        assert_eq!(res.headers()[CONTENT_TYPE], "application/wasm", "{file}");
        assert_eq!(
            res.headers().get(CONTENT_ENCODING).map(|v| v.as_bytes()),
            Some(&b"gzip"[..]),
            "{file}"
        );
    }
    let loader = anonymous
        .get(format!(
            "{}/pkg/__wasm_split.______________________.js",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(loader.status(), 200);

    // A direct load of the dashboard names its own chunk; the versions page (in the main WASM)
    // names none.
    let http = common::bearer_client(&server.token);
    let page = |path: &'static str| {
        let http = http.clone();
        let base = server.base.clone();
        async move {
            let res = http.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            res.text().await.unwrap()
        }
    };
    let html = page("/dashboard").await;
    assert!(
        html.contains("split___dashboard_route_view_"),
        "the dashboard's page does not preload its chunk"
    );
    let html = page("/").await;
    assert!(
        !html.contains("split___"),
        "the versions page preloads a chunk"
    );
}
