//! `roster tenant create | list | show | disable | enable | export | delete`.

use roster_shared::service::accounts::{self, SignUp};
use roster_shared::service::tenants;

use super::tenant_id;
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

fn not_found(tenant: &str) -> impl Fn(roster_shared::error::DomainError) -> anyhow::Error + '_ {
    move |e| match e {
        roster_shared::error::DomainError::NotFound => anyhow::anyhow!("there is no organization {tenant}"),
        e => anyhow::anyhow!("{e}"),
    }
}

/// `roster tenant list`.
pub async fn list(args: crate::cli::TenantListArgs) -> anyhow::Result<()> {
    let store = super::open_store(&args.database.database_url).await?;
    let all = tenants::list(&store).await;
    store.close().await;
    let all = all.map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        for t in &all {
            println!("{}", serde_json::to_string(t)?);
        }
        return Ok(());
    }
    if all.is_empty() {
        println!("No organizations yet: `roster tenant create` makes one.");
        return Ok(());
    }
    println!(
        "{:<36}  {:<28} {:<9} {:>8} {:>7} {:>6} {:>4}  CREATED",
        "ID", "NAME", "STATE", "USERS", "GROUPS", "ADMINS", "SSO"
    );
    for t in &all {
        println!(
            "{:<36}  {:<28} {:<9} {:>8} {:>7} {:>6} {:>4}  {}",
            t.id,
            t.name.chars().take(28).collect::<String>(),
            if t.disabled_at.is_some() { "disabled" } else { "active" },
            t.users,
            t.groups,
            t.admins,
            t.sso_connections,
            super::ops::time(t.created_at)
        );
    }
    Ok(())
}

/// `roster tenant show`.
pub async fn show(args: crate::cli::TenantIdArgs) -> anyhow::Result<()> {
    let tenant = tenant_id(&args.tenant)?;
    let store = super::open_store(&args.database.database_url).await?;
    let detail = tenants::show(&store, &tenant).await;
    store.close().await;
    let d = detail.map_err(not_found(&args.tenant))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(());
    }
    let f = &d.facts;
    println!("Organization  {} ({})", f.name, f.id);
    println!("Created       {}", super::ops::time(f.created_at));
    println!(
        "State         {}",
        f.disabled_at.map_or("active".to_string(), |at| format!("disabled since {}", super::ops::time(at)))
    );
    println!("SCIM          {}", if f.scim_enabled { "on" } else { "off" });
    println!("Directory     {} users, {} groups", f.users, f.groups);
    println!("Admins        {}", f.admins);
    println!("SSO           {} connection(s)", f.sso_connections);
    println!("Last SCIM     {}", d.last_scim_request_at.map_or("never".to_string(), super::ops::time));
    println!("Credentials   {}", if d.credentials.is_empty() { "none" } else { "" });
    for c in &d.credentials {
        println!(
            "  {} {} \"{}\" ({}…){}{}",
            c["id"].as_str().unwrap_or_default(),
            c["kind"].as_str().unwrap_or_default(),
            c["name"].as_str().unwrap_or_default(),
            c["prefix"].as_str().unwrap_or_default(),
            c["revoked_at"].as_i64().map(|t| format!(", revoked {}", super::ops::time(t))).unwrap_or_default(),
            c["expires_at"].as_i64().map(|t| format!(", expires {}", super::ops::time(t))).unwrap_or_default(),
        );
    }
    println!("Domains       {}", if d.domains.is_empty() { "none" } else { "" });
    for dm in &d.domains {
        println!(
            "  {} {}",
            dm["domain"].as_str().unwrap_or_default(),
            if dm["verified_at"].is_null() { "(not verified)" } else { "(verified)" }
        );
    }
    println!("Recent jobs   {}", if d.jobs.is_empty() { "none" } else { "" });
    for j in &d.jobs {
        println!(
            "  {} {} {} (try {}){}",
            j["id"].as_str().unwrap_or_default(),
            j["kind"].as_str().unwrap_or_default(),
            j["state"].as_str().unwrap_or_default(),
            j["attempts"],
            j["error"].as_str().map(|e| format!(": {e}")).unwrap_or_default()
        );
    }
    Ok(())
}

/// `roster tenant disable | enable`.
pub async fn set_disabled(args: crate::cli::TenantIdArgs, disabled: bool) -> anyhow::Result<()> {
    let tenant = tenant_id(&args.tenant)?;
    let store = super::open_store(&args.database.database_url).await?;
    let result = tenants::set_disabled(&store, &tenant, disabled, "operator (roster CLI)").await;
    store.close().await;
    result.map_err(not_found(&args.tenant))?;
    if disabled {
        println!(
            "Organization {tenant} is disabled: its SCIM requests get 403 and its people cannot sign in (`roster tenant enable` undoes it)."
        );
    } else {
        println!("Organization {tenant} is enabled again.");
    }
    Ok(())
}

/// `roster tenant safety`: prints the settings, after changing those given.
pub async fn safety(args: crate::cli::TenantSafetyArgs) -> anyhow::Result<()> {
    use roster_shared::dto::DeletePolicy;
    use roster_shared::service::safety;
    let tenant = tenant_id(&args.tenant.tenant)?;
    let store = super::open_store(&args.tenant.database.database_url).await?;
    let result = async {
        store.tenant(&tenant).summary().await?.ok_or(roster_shared::error::DomainError::NotFound)?;
        let mut s = safety::settings(&store, &tenant).await?;
        let before = s.clone();
        if let Some(b) = &args.brake {
            s.brake_enabled = b == "on";
        }
        s.brake_percent = args.brake_percent.unwrap_or(s.brake_percent);
        s.brake_min_users = args.brake_min_users.unwrap_or(s.brake_min_users);
        s.brake_window_minutes = args.brake_window_minutes.unwrap_or(s.brake_window_minutes);
        if let Some(p) = &args.delete_policy {
            s.delete_policy = if p == "soft" { DeletePolicy::Soft } else { DeletePolicy::Delete };
        }
        s.soft_delete_days = args.soft_delete_days.unwrap_or(s.soft_delete_days);
        if s != before {
            let actor =
                roster_shared::service::activity::Actor { kind: "system", name: "operator (roster CLI)".into() };
            safety::save_settings(&store, &tenant, &actor, &s).await?;
        }
        Ok::<_, roster_shared::error::DomainError>(s)
    }
    .await;
    store.close().await;
    let s = result.map_err(not_found(&args.tenant.tenant))?;
    if args.tenant.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!("{}", s.describe());
    }
    Ok(())
}

/// `roster tenant export`.
pub async fn export(args: crate::cli::TenantExportArgs) -> anyhow::Result<()> {
    let tenant = tenant_id(&args.tenant)?;
    let store = super::open_store(&args.database.database_url).await?;
    let started = std::time::Instant::now();
    let result = if args.to == "-" {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        tenants::export(&store, &tenant, &mut out).await
    } else {
        let partial = format!("{}.partial", args.to);
        let file = std::fs::File::create(&partial).map_err(|e| anyhow::anyhow!("cannot write {partial}: {e}"))?;
        let mut out = std::io::BufWriter::new(file);
        let r = tenants::export(&store, &tenant, &mut out).await;
        drop(out);
        match r {
            Ok(c) => {
                std::fs::rename(&partial, &args.to).map_err(|e| anyhow::anyhow!("cannot name {}: {e}", args.to))?;
                Ok(c)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    };
    store.close().await;
    let counts = result.map_err(not_found(&args.tenant))?;
    if args.to != "-" {
        println!(
            "Exported {} users, {} groups and {} activity records of {tenant} to {} in {:.1} s.",
            counts.users,
            counts.groups,
            counts.activity,
            args.to,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// `roster tenant delete`.
pub async fn delete(args: crate::cli::TenantDeleteArgs) -> anyhow::Result<()> {
    let tenant = tenant_id(&args.tenant)?;
    if args.confirm.trim() != args.tenant.trim() {
        anyhow::bail!("--confirm must repeat the tenant id: nothing was deleted");
    }
    let store = super::open_store(&args.database.database_url).await?;
    let started = std::time::Instant::now();
    let mut last = std::time::Instant::now();
    let result = tenants::delete(&store, &tenant, |table, n| {
        if last.elapsed() > std::time::Duration::from_secs(2) {
            eprintln!("  {table}: {n} rows deleted so far");
            last = std::time::Instant::now();
        }
    })
    .await;
    store.close().await;
    let deleted = result.map_err(not_found(&args.tenant))?;
    let total: u64 = deleted.iter().map(|(_, n)| n).sum();
    println!("Deleted organization {tenant}: {total} rows in {:.1} s.", started.elapsed().as_secs_f64());
    for (table, n) in deleted.iter().filter(|(_, n)| *n > 0) {
        println!("  {table:<20} {n}");
    }
    Ok(())
}
