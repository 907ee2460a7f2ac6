//! Pages render to the end under concurrency: a render that waits for a wake-up that never
//! comes hangs until the server's request deadline answers 408. Routers built while others
//! were rendering did that now and then (see `app::router`); these tests make it show.

use axum::http::StatusCode;

use crate::both_backends;
use crate::common::{Db, TestApp, PASSWORD};

both_backends!(pages_always_finish_rendering, fresh_apps_render_their_first_pages);

async fn pages_always_finish_rendering(db: Db) {
    let app = std::sync::Arc::new(TestApp::new(db).await);
    let cookie = app.sign_up("Acme", "ada@acme.test", PASSWORD).await;
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let app = app.clone();
        let cookie = cookie.clone();
        tasks.push(tokio::spawn(async move {
            let mut bad = Vec::new();
            for i in 0..40 {
                let signed_in = (i + worker) % 2 == 0;
                let res = app.page("/", signed_in.then_some(cookie.as_str())).await;
                let want = if signed_in { StatusCode::OK } else { StatusCode::FOUND };
                if res.status() != want {
                    bad.push(format!("/ signed_in={signed_in}: {}", res.status()));
                }
            }
            bad
        }));
    }
    let mut bad = Vec::new();
    for t in tasks {
        bad.extend(t.await.expect("worker"));
    }
    assert!(bad.is_empty(), "{bad:?}");
}

async fn fresh_apps_render_their_first_pages(db: Db) {
    let mut tasks = Vec::new();
    for _ in 0..3 {
        tasks.push(tokio::spawn(async move {
            let mut bad = Vec::new();
            for _ in 0..15 {
                let app = TestApp::new(db).await;
                let res = app.page("/", None).await;
                if res.status() != StatusCode::FOUND {
                    bad.push(format!("/ signed out: {}", res.status()));
                }
                let cookie = app.sign_up("Acme", "ada@acme.test", PASSWORD).await;
                let res = app.page("/", Some(&cookie)).await;
                if res.status() != StatusCode::OK {
                    bad.push(format!("/ signed in: {}", res.status()));
                }
            }
            bad
        }));
    }
    let mut bad = Vec::new();
    for t in tasks {
        bad.extend(t.await.expect("worker"));
    }
    assert!(bad.is_empty(), "{bad:?}");
}
