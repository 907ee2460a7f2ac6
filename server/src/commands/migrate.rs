//! `roster migrate`.

use crate::cli::DatabaseArgs;

/// Applies pending migrations and exits.
pub async fn run(args: DatabaseArgs) -> anyhow::Result<()> {
    let store = super::open_store(&args.database_url).await?;
    store.close().await;
    tracing::info!("database is up to date");
    Ok(())
}
