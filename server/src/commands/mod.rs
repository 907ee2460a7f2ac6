//! What each subcommand does.

pub mod bench;
pub mod ops;
pub mod scim;
pub mod serve;
pub mod sso;
pub mod staff;
pub mod tenant;

use roster_shared::store::{Store, StoreOptions};

/// Connects to the database and applies pending migrations.
pub async fn open_store(database_url: &str) -> anyhow::Result<Store> {
    open_store_with(database_url, StoreOptions::default()).await
}

/// [`open_store`] with options.
pub async fn open_store_with(database_url: &str, options: StoreOptions) -> anyhow::Result<Store> {
    let store = Store::connect_with(database_url, options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    store.migrate().await.map_err(|e| anyhow::anyhow!("cannot migrate the database: {e}"))?;
    Ok(store)
}

/// A tenant id from the command line, or a clear error.
pub fn tenant_id(s: &str) -> anyhow::Result<roster_shared::ids::TenantId> {
    roster_shared::ids::TenantId::parse(s)
        .ok_or_else(|| anyhow::anyhow!("'{s}' is not a tenant id (a UUID, as `roster tenant list` prints)"))
}

/// The first line of standard input, without its line ending: how the CLI takes passwords, so
/// that they never appear in shell history or process lists.
pub fn read_password_stdin() -> anyhow::Result<String> {
    use std::io::BufRead;
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|e| anyhow::anyhow!("cannot read the password from standard input: {e}"))?;
    Ok(password.trim_end_matches(['\r', '\n']).to_string())
}
