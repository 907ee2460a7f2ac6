//! `roster tenant create`.

use roster_shared::service::accounts::{self, SignUp};
use serde_json::json;

use crate::cli::TenantCreateArgs;

/// Creates an organization and its first admin; prints the tenant id (or JSON).
pub async fn create(args: TenantCreateArgs) -> anyhow::Result<()> {
    let password = super::read_password_stdin()?;
    let name =
        args.admin_name.clone().unwrap_or_else(|| args.admin_email.split('@').next().unwrap_or_default().to_string());

    let store = super::open_store(&args.database.database_url).await?;
    let result = accounts::sign_up(
        &store,
        SignUp { organization: args.name.clone(), name, email: args.admin_email.clone(), password, throttle: None },
    )
    .await;
    store.close().await;
    let created = result.map_err(|e| anyhow::anyhow!("{e}"))?;

    if args.json {
        println!(
            "{}",
            json!({
                "tenant_id": created.tenant_id.as_str(),
                "name": args.name.trim(),
                "admin_account_id": created.account_id.as_str(),
                "admin_email": args.admin_email.trim(),
            })
        );
    } else {
        println!("{}", created.tenant_id);
    }
    Ok(())
}
