//! `roster staff create | disable | enable | list`: support staff accounts, made by operators
//! only (the dashboard has no way to make one).

use roster_shared::service::support;
use serde_json::json;

use crate::cli::{StaffCommand, StaffEmailArgs};

/// Runs a `roster staff` command.
pub async fn run(command: StaffCommand) -> anyhow::Result<()> {
    match command {
        StaffCommand::Create(args) => {
            let password = super::read_password_stdin()?;
            let store = super::open_store(&args.database.database_url).await?;
            let result =
                support::create_staff(&store, &args.email, args.name.as_deref().unwrap_or_default(), password).await;
            store.close().await;
            let id = result.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{id}");
        }
        StaffCommand::Disable(args) => set_disabled(&args, true).await?,
        StaffCommand::Enable(args) => set_disabled(&args, false).await?,
        StaffCommand::List(args) => {
            let store = super::open_store(&args.database.database_url).await?;
            let result = support::staff(&store).await;
            store.close().await;
            for a in result.map_err(|e| anyhow::anyhow!("{e}"))? {
                if args.json {
                    println!(
                        "{}",
                        json!({"id": a.id.as_str(), "email": a.email, "name": a.name, "disabled": a.disabled,
                               "created_at_ms": a.created_at_ms, "last_sign_in_at_ms": a.last_sign_in_at_ms})
                    );
                } else {
                    println!("{}\t{}\t{}", a.email, a.name, if a.disabled { "disabled" } else { "active" });
                }
            }
        }
    }
    Ok(())
}

async fn set_disabled(args: &StaffEmailArgs, disabled: bool) -> anyhow::Result<()> {
    if args.email.trim().is_empty() {
        anyhow::bail!("give the account's --email");
    }
    let store = super::open_store(&args.database.database_url).await?;
    let result = support::set_staff_disabled(&store, &args.email, disabled).await;
    store.close().await;
    result.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{} {}", if disabled { "disabled" } else { "enabled" }, args.email.trim());
    Ok(())
}
