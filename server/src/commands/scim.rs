//! `roster scim enable`, `roster scim token create`, `roster scim token revoke`.

use roster_shared::ids::CredentialId;
use roster_shared::service::credentials;
use serde_json::json;

use crate::cli::{ScimEnableArgs, ScimTokenCreateArgs, ScimTokenRevokeArgs};

use super::tenant_id;

/// Switches SCIM on or off.
pub async fn enable(args: ScimEnableArgs) -> anyhow::Result<()> {
    let tenant = tenant_id(&args.tenant)?;
    let store = super::open_store(&args.database.database_url).await?;
    let result = credentials::set_scim_enabled(&store, &tenant, !args.disable).await;
    store.close().await;
    result.map_err(|e| anyhow::anyhow!("cannot change tenant {tenant}: {e}"))?;
    println!("SCIM is {} for tenant {tenant}", if args.disable { "off" } else { "on" });
    Ok(())
}

/// Creates a token and prints it once.
pub async fn create_token(args: ScimTokenCreateArgs) -> anyhow::Result<()> {
    let tenant = tenant_id(&args.tenant)?;
    let store = super::open_store(&args.database.database_url).await?;
    let result = credentials::create_token(&store, &tenant, &args.name, "cli", args.expires_in).await;
    store.close().await;
    let (record, secret) = result.map_err(|e| anyhow::anyhow!("cannot create a token for tenant {tenant}: {e}"))?;
    let base_url = roster_shared::service::scim_setup::base_url(&args.public_url, &tenant);
    if args.json {
        println!(
            "{}",
            json!({
                "scim_base_url": base_url,
                "token": secret.expose(),
                "token_id": record.id.as_str(),
                "name": record.name,
                "expires_at_ms": record.expires_at,
            })
        );
    } else {
        println!("SCIM base URL: {base_url}");
        println!("Token:         {}", secret.expose());
        println!("Token id:      {} (to revoke it)", record.id);
        println!("The token is shown only now: store it in your identity provider.");
    }
    Ok(())
}

/// Creates an HTTP Basic credential and prints it once.
pub async fn create_basic(args: ScimTokenCreateArgs) -> anyhow::Result<()> {
    let tenant = tenant_id(&args.tenant)?;
    let store = super::open_store(&args.database.database_url).await?;
    let result = credentials::create_basic(&store, &tenant, &args.name, "cli", args.expires_in).await;
    store.close().await;
    let (record, secret) =
        result.map_err(|e| anyhow::anyhow!("cannot create a credential for tenant {tenant}: {e}"))?;
    let base_url = roster_shared::service::scim_setup::base_url(&args.public_url, &tenant);
    if args.json {
        println!(
            "{}",
            json!({"scim_base_url": base_url, "username": record.id.as_str(), "password": secret.expose(), "name": record.name})
        );
    } else {
        println!("SCIM base URL: {base_url}");
        println!("User name:     {}", record.id);
        println!("Password:      {}", secret.expose());
        println!("The password is shown only now: store it in your identity provider.");
    }
    Ok(())
}

/// Creates an OAuth client and prints it once.
pub async fn create_oauth_client(args: ScimTokenCreateArgs) -> anyhow::Result<()> {
    let tenant = tenant_id(&args.tenant)?;
    let store = super::open_store(&args.database.database_url).await?;
    let result = credentials::create_oauth_client(&store, &tenant, &args.name, "cli").await;
    store.close().await;
    let (record, secret) = result.map_err(|e| anyhow::anyhow!("cannot create a client for tenant {tenant}: {e}"))?;
    let base_url = roster_shared::service::scim_setup::base_url(&args.public_url, &tenant);
    let token_url = format!("{base_url}/oauth/token");
    if args.json {
        println!(
            "{}",
            json!({"scim_base_url": base_url, "token_endpoint": token_url, "client_id": record.id.as_str(), "client_secret": secret.expose()})
        );
    } else {
        println!("SCIM base URL:  {base_url}");
        println!("Token endpoint: {token_url}");
        println!("Client id:      {}", record.id);
        println!("Client secret:  {}", secret.expose());
        println!("The secret is shown only now: store it in your identity provider.");
    }
    Ok(())
}

/// Revokes a token.
pub async fn revoke_token(args: ScimTokenRevokeArgs) -> anyhow::Result<()> {
    let tenant = tenant_id(&args.tenant)?;
    let id =
        CredentialId::parse(&args.token_id).ok_or_else(|| anyhow::anyhow!("'{}' is not a token id", args.token_id))?;
    let store = super::open_store(&args.database.database_url).await?;
    let result = credentials::revoke(&store, &tenant, &id).await;
    store.close().await;
    if result.map_err(|e| anyhow::anyhow!("{e}"))? {
        println!("Token {id} is revoked.");
        Ok(())
    } else {
        Err(anyhow::anyhow!("tenant {tenant} has no active token {id}"))
    }
}

/// Lists the tenant's credentials (never their secrets).
pub async fn list_tokens(args: crate::cli::TenantIdArgs) -> anyhow::Result<()> {
    let tenant = tenant_id(&args.tenant)?;
    let store = super::open_store(&args.database.database_url).await?;
    let result = store.tenant(&tenant).credentials().await;
    store.close().await;
    let all = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    // OAuth access tokens (issued by the token endpoint, an hour each) are left out.
    let all: Vec<_> = all.into_iter().filter(|c| !c.created_by.starts_with("oauth:")).collect();
    if args.json {
        for c in &all {
            println!("{}", roster_shared::service::tenants::credential_json(c));
        }
        return Ok(());
    }
    if all.is_empty() {
        println!("No credentials: `roster scim token create` makes one.");
        return Ok(());
    }
    let t = super::ops::time;
    println!(
        "{:<36}  {:<12} {:<24} {:<12} {:<10} {:<20} LAST USED",
        "ID", "KIND", "NAME", "PREFIX", "STATE", "EXPIRES"
    );
    for c in &all {
        let now = roster_shared::clock::now_ms();
        let state = if c.revoked_at.is_some() {
            "revoked"
        } else if c.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        };
        println!(
            "{:<36}  {:<12} {:<24} {:<12} {:<10} {:<20} {}",
            c.id.as_str(),
            c.kind.as_str(),
            c.name.chars().take(24).collect::<String>(),
            c.prefix,
            state,
            c.expires_at.map_or("never".into(), t),
            c.last_used_at.map_or("never".into(), t)
        );
    }
    Ok(())
}
