//! The dashboard's built files and pages, compressed and cached as a browser should get them.

use axum::body::Body;
use http::{header, Request, StatusCode};
use tower::ServiceExt;

use crate::both_backends;
use crate::common::*;

both_backends!(pages_are_compressed_but_server_function_answers_are_not);

#[test]
fn built_files_are_served_precompressed_and_cached_by_their_hashing() {
    crate::common::run("built_files_are_served_precompressed_and_cached_by_their_hashing", async {
        let site = tempfile::tempdir().expect("temp dir");
        let pkg = site.path().join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("roster.abc123.js"), "console.log('plain')").unwrap();
        std::fs::write(pkg.join("roster.abc123.js.br"), "brotli bytes").unwrap();
        std::fs::write(pkg.join("roster.abc123.js.gz"), "gzip bytes").unwrap();
        let root = site.path().to_str().unwrap();

        let get = |router: axum::Router, encoding: &'static str| async move {
            let req = Request::get("/pkg/roster.abc123.js")
                .header(header::ACCEPT_ENCODING, encoding)
                .body(Body::empty())
                .unwrap();
            router.oneshot(req).await.unwrap()
        };
        let hashed = roster_server::http::assets::router(root, "pkg", true);
        let res = get(hashed.clone(), "gzip, deflate, br").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "br");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(res.headers()[header::VARY], "accept-encoding");
        assert_eq!(body_text(res).await, "brotli bytes");
        let res = get(hashed.clone(), "gzip").await;
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
        let res = get(hashed, "identity").await;
        assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(body_text(res).await, "console.log('plain')");

        // Files that keep their names from build to build are revalidated on every load.
        let plain = roster_server::http::assets::router(root, "pkg", false);
        let res = get(plain, "br").await;
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
    });
}

async fn pages_are_compressed_but_server_function_answers_are_not(db: Db) {
    let app = TestApp::new(db).await;
    let cookie = app.sign_up("Acme", "ada@acme.test", PASSWORD).await;
    let req = Request::get("/scim")
        .header(header::HOST, "roster.test")
        .header(header::ACCEPT, "text/html")
        .header(header::ACCEPT_ENCODING, "gzip, br")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let res = app.send(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_ENCODING], "br", "pages are compressed");

    // A server function's answer can carry a new secret: never compressed (BREACH).
    let req = Request::post("/api/scim_credential_create")
        .header(header::HOST, "roster.test")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .header(header::ACCEPT_ENCODING, "gzip, br")
        .header("sec-fetch-site", "same-origin")
        .header(header::COOKIE, &cookie)
        .body(Body::from(r#"{"kind":"bearer","name":"Okta","expires_in_days":30}"#))
        .unwrap();
    let res = app.send(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
    assert!(body_text(res).await.contains("rst_"));
}
