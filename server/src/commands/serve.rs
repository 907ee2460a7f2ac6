//! `roster serve`: migrate, then serve until SIGTERM or Ctrl-C, finishing requests in flight.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use roster_shared::service::Services;

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
    let webhook_settings = roster_shared::service::webhooks::WebhookSettings {
        allow_loopback: args.webhook_allow_loopback,
        workers: args.webhook_workers.max(1),
        ..Default::default()
    };
    services.webhooks = roster_shared::service::webhooks::Sender::new(&webhook_settings);
    services.event_retention_days = i64::from(args.event_retention_days);
    services.email = roster_shared::service::email::Mailer::from_settings(&args.smtp.settings())
        .map_err(|e| anyhow::anyhow!("email settings: {e}"))?;
    match &services.email {
        Some(m) => tracing::info!(smtp = m.describe(), "email on"),
        None => tracing::info!("email off (no --smtp-host): invitation links are shown to copy, no notices are sent"),
    }
    let activity = services.activity.clone();
    if !std::path::Path::new(&args.site_root).join("pkg").exists() {
        tracing::warn!(
            site_root = %args.site_root,
            "dashboard assets not found: build them with `cargo leptos build --split` (pages will render without styles or interactivity)"
        );
    }

    // Background jobs (rule evaluations, the hourly maintenance) are rows any instance runs.
    let jobs = roster_shared::service::jobs::JobRunner::start(
        store.clone(),
        roster_shared::service::jobs::JobSettings {
            lease: Duration::from_secs(args.job_lease_seconds.max(3)),
            retention: roster_shared::service::jobs::Retention {
                scim_request_days: args.activity_retention_days,
                audit_days: args.audit_retention_days,
                sign_in_days: args.sign_in_retention_days,
                event_days: args.event_retention_days,
            },
            notices: services
                .email
                .clone()
                .map(|mailer| roster_shared::service::jobs::Notices { mailer, public_url: public_url.clone() }),
            ..Default::default()
        },
    );

    // Webhook deliveries: every instance runs workers that claim endpoints with events to send.
    let webhooks =
        roster_shared::service::webhooks::Dispatcher::start(store.clone(), services.sso.key.clone(), webhook_settings);

    // Metrics on an address of their own.
    let metrics_server = match args.metrics_bind {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics: {e}"))?;
            let app = crate::http::metrics::router(services.clone(), args.metrics_token.clone());
            tracing::info!(bind = %addr, "metrics at /metrics");
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("metrics listener stopped: {e}");
                }
            }))
        }
        None => None,
    };

    let app = router(
        services,
        WebOptions {
            site_root: args.site_root.clone(),
            site_addr: args.bind,
            scim: ScimLimits { rate_per_second: std::num::NonZeroU32::new(args.scim_rate_limit), request_timeout },
            // With its own address, /metrics is served there only.
            metrics_token: if args.metrics_bind.is_some() { None } else { args.metrics_token.clone() },
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

    // Jobs in hand stop after their current batch and go back to the queue for the others.
    jobs.stop(Duration::from_secs(10)).await;
    webhooks.stop(Duration::from_secs(10)).await;
    if let Some(m) = metrics_server {
        m.abort();
    }
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
