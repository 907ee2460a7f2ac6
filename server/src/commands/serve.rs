//! `roster serve`: migrate, then serve until SIGTERM or Ctrl-C, finishing requests in flight.

use std::net::SocketAddr;
use std::time::Duration;

use roster_shared::services::Services;
use tower_sessions::ExpiredDeletion;

use crate::app::{router, WebOptions};
use crate::cli::ServeArgs;

/// Runs the server.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let store = super::open_store(&args.database.database_url).await?;
    let public_url = args.public_url();
    let services = Services {
        store: store.clone(),
        public_url: public_url.clone(),
        trust_forwarded_for: args.trust_forwarded_for,
    };
    if !std::path::Path::new(&args.site_root).join("pkg").exists() {
        tracing::warn!(
            site_root = %args.site_root,
            "dashboard assets not found: build them with `cargo leptos build` (pages will render without styles or interactivity)"
        );
    }

    // Expired dashboard sessions are deleted hourly.
    let sessions = store.session_store();
    let cleanup = tokio::spawn(async move {
        if let Err(e) = sessions.continuously_delete_expired(Duration::from_secs(3600)).await {
            tracing::error!("expired-session cleanup stopped: {e}");
        }
    });

    let app = router(services, WebOptions { site_root: args.site_root.clone(), site_addr: args.bind });
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.bind))?;
    tracing::info!(bind = %args.bind, public_url = %public_url, "Roster is listening");
    println!("Roster is running at {public_url}");

    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    cleanup.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
