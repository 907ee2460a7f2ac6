//! What each subcommand does.

pub mod bench;
pub mod migrate;
pub mod scim;
pub mod serve;
pub mod staff;
pub mod tenant;

use roster_shared::store::Store;

/// Connects to the database and applies pending migrations.
pub async fn open_store(database_url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(database_url).await.map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    store.migrate().await.map_err(|e| anyhow::anyhow!("cannot migrate the database: {e}"))?;
    Ok(store)
}
