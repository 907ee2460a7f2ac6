//! The dashboard's built files and pages, compressed and cached as a browser should get them.

use axum::body::Body;
use http::{header, Request, StatusCode};
use tower::ServiceExt;

use crate::both_backends;
use crate::common::*;

both_backends!(
    pages_are_compressed_but_server_function_answers_are_not,
    every_page_names_exactly_its_own_modules_files,
);

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

/// The split modules of a made-up build: each module's files, with a file of its own, files
/// shared with some others and one every module has (as cargo-leptos cuts them).
const MODULES: [(&str, &[&str]); 7] = [
    ("sign_in_page", &["chunk_1", "chunk_9", "split_sign_in_page"]),
    ("sign_up_page", &["chunk_1", "chunk_2", "chunk_10", "split_sign_up_page"]),
    ("signed_out_pages", &["chunk_1", "chunk_2", "split_signed_out_pages"]),
    ("overview_page", &["chunk_1", "chunk_3", "split_overview_page"]),
    ("directory_pages", &["chunk_1", "chunk_3", "chunk_4", "split_directory_pages"]),
    ("settings_pages", &["chunk_1", "chunk_5", "split_settings_pages"]),
    ("support_pages", &["chunk_1", "chunk_6", "split_support_pages"]),
];

/// What a page's `<head>` names for the browser to fetch early: its preloaded wasm files (the
/// main wasm, then the split modules') and its module scripts, in order.
fn preloads(html: &str) -> (Vec<String>, Vec<String>) {
    let head = &html[..html.find("</head>").expect("a head")];
    let mut wasm = Vec::new();
    let mut scripts = Vec::new();
    for tag in head.split('<').filter(|t| t.starts_with("link ")) {
        let href = tag.split("href=\"").nth(1).and_then(|h| h.split('"').next()).unwrap_or_default().to_string();
        if tag.contains(r#"rel="modulepreload""#) {
            scripts.push(href);
        } else if tag.contains(r#"rel="preload""#) {
            wasm.push(href);
        }
    }
    (wasm, scripts)
}

/// Every page the server renders names, in its `<head>`, the files of the split modules its
/// route loads and nothing else, the loader script once, however many pages render at the same
/// time. (Leptos' own tags went through whatever reactive owner a thread had last: pages
/// rendered side by side got none, or another page's.)
async fn every_page_names_exactly_its_own_modules_files(db: Db) {
    let site = tempfile::tempdir().expect("temp dir");
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let manifest: serde_json::Map<String, serde_json::Value> =
        MODULES.iter().map(|(m, files)| (m.to_string(), serde_json::json!(files))).collect();
    std::fs::write(pkg.join("__wasm_split_manifest.json"), serde_json::to_string(&manifest).unwrap()).unwrap();
    let app = TestApp::with_site(db, site.path().to_str().unwrap()).await;

    let admin = app.sign_up("Acme", "ada@acme.test", PASSWORD).await;
    let tenant = app.viewer(Some(&admin)).await["tenant"]["id"].as_str().expect("tenant").to_string();
    roster_shared::service::support::create_staff(&app.store, "sam@support.test", "Sam Support", PASSWORD.to_string())
        .await
        .expect("staff account");
    let res = app.call("sign_in", &[("email", "sam@support.test"), ("password", PASSWORD)], None).await;
    let staff = session_cookie(&res).expect("staff cookie");

    let pages: Vec<(String, Option<String>, Vec<&str>)> = vec![
        ("/sign-in".into(), None, vec!["sign_in_page"]),
        ("/sign-up".into(), None, vec!["sign_up_page"]),
        ("/forgot-password".into(), None, vec!["signed_out_pages"]),
        ("/".into(), Some(admin.clone()), vec!["overview_page"]),
        ("/users".into(), Some(admin.clone()), vec!["directory_pages"]),
        ("/activity".into(), Some(admin.clone()), vec!["directory_pages"]),
        ("/scim".into(), Some(admin.clone()), vec!["settings_pages"]),
        ("/admins".into(), Some(admin.clone()), vec!["settings_pages"]),
        ("/support".into(), Some(staff.clone()), vec!["support_pages"]),
        // An organization's tab: its frame and the tab are one module, named once.
        (format!("/support/t/{tenant}/users"), Some(staff.clone()), vec!["support_pages"]),
        // Its activity tab is the admins' activity page in the support frame: two modules.
        (format!("/support/t/{tenant}/activity"), Some(staff.clone()), vec!["support_pages", "directory_pages"]),
    ];
    let expected = |modules: &[&str]| -> Vec<String> {
        let mut files = Vec::new();
        for module in modules {
            let (_, names) = MODULES.iter().find(|(m, _)| m == module).expect("module");
            files.extend(names.iter().map(|n| format!("/pkg/{n}.wasm")));
        }
        files
    };

    // Every page eight times, all rendering at once on the runtime's threads.
    let mut renders = tokio::task::JoinSet::new();
    for round in 0..8 {
        for (path, cookie, modules) in &pages {
            let router = app.router.clone();
            let (path, cookie, want) = (path.clone(), cookie.clone(), expected(modules));
            renders.spawn(async move {
                let mut b = Request::get(&path).header(header::HOST, "roster.test").header(header::ACCEPT, "text/html");
                if let Some(c) = &cookie {
                    b = b.header(header::COOKIE, c);
                }
                let mut req = b.body(Body::empty()).unwrap();
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40000 + round))));
                let res = router.oneshot(req).await.expect("router is infallible");
                assert_eq!(res.status(), StatusCode::OK, "{path}");
                let (wasm, scripts) = preloads(&body_text(res).await);
                (path, wasm, want, scripts)
            });
        }
    }
    let mut checked = 0;
    while let Some(done) = renders.join_next().await {
        let (path, wasm, want, scripts) = done.expect("render");
        // The main wasm's own preload (Leptos' hydration scripts) comes first.
        assert!(wasm.first().is_some_and(|w| w.starts_with("/pkg/roster")), "{path}: {wasm:?}");
        let wasm = wasm[1..].to_vec();
        assert_eq!(wasm, want, "{path}: the wasm files it names");
        assert_eq!(scripts.len(), 2, "{path}: the main script and the loader, once each: {scripts:?}");
        assert_eq!(scripts[1], "/pkg/__wasm_split.______________________.js", "{path}");
        checked += 1;
    }
    assert_eq!(checked, 8 * pages.len());
}
