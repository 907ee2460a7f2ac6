//! `roster staff create | disable | enable | list`: support staff accounts, made by operators
//! only (the dashboard has no way to make one).

use std::io::BufRead;

use roster_shared::support;
use serde_json::json;

use crate::cli::StaffCommand;

/// Runs a `roster staff` command.
pub async fn run(command: StaffCommand) -> anyhow::Result<()> {
    match command {
        StaffCommand::Create(args) => {
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .map_err(|e| anyhow::anyhow!("cannot read the password from standard input: {e}"))?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            let store = super::open_store(&args.database.database_url).await?;
            let result =
                support::create_staff(&store, &args.email, args.name.as_deref().unwrap_or_default(), password).await;
            store.close().await;
            let id = result.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{id}");
        }
        StaffCommand::Disable(args) | StaffCommand::Enable(args) if args.email.trim().is_empty() => {
            anyhow::bail!("give the account's --email");
        }
        StaffCommand::Disable(args) => {
            let store = super::open_store(&args.database.database_url).await?;
            let result = support::set_staff_disabled(&store, &args.email, true).await;
            store.close().await;
            result.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("disabled {}", args.email.trim());
        }
        StaffCommand::Enable(args) => {
            let store = super::open_store(&args.database.database_url).await?;
            let result = support::set_staff_disabled(&store, &args.email, false).await;
            store.close().await;
            result.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("enabled {}", args.email.trim());
        }
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
