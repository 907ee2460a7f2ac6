//! `roster serve`: migrate, then serve until SIGTERM or Ctrl-C, finishing requests in flight.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use roster_shared::service::Services;
use tower_sessions::ExpiredDeletion;

use crate::app::{router, WebOptions};
use crate::cli::ServeArgs;
use crate::scim::ScimLimits;

/// Runs the server.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let request_timeout = Duration::from_secs(args.scim_request_timeout.max(1));
    // A scan statement stops in the database by the time its request is abandoned.
    let store = super::open_store_with(
        &args.database.database_url,
        roster_shared::store::StoreOptions { scan_timeout: request_timeout },
    )
    .await?;
    store.listen_for_tenant_changes();
    let public_url = args.public_url();
    let mut services = Services::new(store.clone(), public_url.clone(), args.trust_forwarded_for);
    services.sign_ups_per_hour = i64::from(args.sign_ups_per_hour);
    services.sso = args.sso.settings()?;
    let activity = services.activity.clone();
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

    // Old activity records are deleted hourly.
    let retention_store = store.clone();
    let retention_ms = i64::from(args.activity_retention_days) * 86_400_000;
    let retention = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match retention_store.delete_activity_before(roster_shared::clock::now_ms() - retention_ms).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "old activity records deleted"),
                Ok(_) => {}
                Err(e) => tracing::error!("activity retention: {e}"),
            }
            match retention_store.purge_expired_sso(roster_shared::clock::now_ms()).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "expired SSO flows and assertion ids deleted"),
                Ok(_) => {}
                Err(e) => tracing::error!("purging SSO flows: {e}"),
            }
            match retention_store.purge_expired(roster_shared::clock::now_ms()).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "expired access tokens and sign-up records deleted"),
                Ok(_) => {}
                Err(e) => tracing::error!("purging expired rows: {e}"),
            }
        }
    });

    let app = router(
        services,
        WebOptions {
            site_root: args.site_root.clone(),
            site_addr: args.bind,
            scim: ScimLimits { rate_per_second: std::num::NonZeroU32::new(args.scim_rate_limit), request_timeout },
        },
    );
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.bind))?;
    tracing::info!(bind = %args.bind, public_url = %public_url, "Roster is listening");
    println!("Roster is running at {public_url}");

    // After SIGTERM, requests in flight get the grace period to finish; a client that keeps a
    // request open longer (a trickled body, a stuck connection) does not hold the process.
    let shutdown_grace = Duration::from_secs(args.shutdown_grace);
    let (stopping_tx, mut stopping) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            let _ = stopping_tx.send(true);
        })
        .into_future();
    let grace = async {
        let _ = stopping.wait_for(|s| *s).await;
        tokio::time::sleep(shutdown_grace).await;
    };
    tokio::select! {
        served = server => served?,
        () = grace => tracing::warn!("requests still in flight {} s after the signal: stopping anyway", shutdown_grace.as_secs()),
    }

    cleanup.abort();
    retention.abort();
    // Every request answered has its activity record written before the database closes.
    activity.flush().await;
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
